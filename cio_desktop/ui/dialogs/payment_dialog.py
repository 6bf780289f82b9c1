"""New payment: a form with live validation, the funds on the chosen date, and the controls.

Checked as you type, each with its message under the field: the beneficiary's IBAN (or, for an
account number that is not an IBAN, that a BIC and country are given), the BIC, the amount
(more than zero, within the debit account's currency decimals), the execution date (not in the
past). The available funds of the chosen account on the chosen date come from
``payments.verify_funds`` (worker pool) and are shown with what would remain after the payment.

"Create" calls ``payments.schedule_transaction`` (submitted for approval unless "save as draft"
is ticked). A suspected duplicate asks for confirmation (``self.confirm``, replaceable in tests)
and retries with ``confirm_duplicate=True``; a control refusal is shown with the control's name.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QCheckBox, QComboBox, QCompleter, QDateEdit, QDialog,
                               QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLayout, QLineEdit,
                               QVBoxLayout, QWidget)

from cio_desktop.domain import bank_ids
from cio_desktop.domain import payments as dp
from cio_desktop.domain.masking import mask_account_number
from cio_desktop.errors import CioError, ValidationError
from cio_desktop.ui.dialogs.common import (confirm, hint_label, inline_error, primary_button,
                                           show_status, status_label, title_label)
from cio_desktop.ui.widgets.format import date_format, format_date, is_dark, negative_color, qdate

_IBAN_SHAPE = re.compile(r"^[A-Z]{2}[0-9]{2}")


def _field_status() -> QLabel:
    """A message under a field: plain coloured text (no box), wrapped, hidden while empty."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setVisible(False)
    label.setProperty("fieldStatus", True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def show_field(label: QLabel, text: str, kind: str = "error") -> None:
    """Fill a field message: red for an error, green for a confirmation."""
    colour = negative_color().name() if kind == "error" else ("#4ade80" if is_dark() else "#12805c")
    label.setProperty("error", kind == "error")
    label.setProperty("ok", kind == "ok")
    label.setStyleSheet(f"QLabel {{ color: {colour}; background: transparent; border: none; padding: 0 0 2px 0; }}")
    label.setText(text)
    label.setVisible(bool(text))
    # QFormLayout under a minimum-size constraint ignores height-for-width: reserve the lines
    width = label.property("fieldWidth") or 0
    label.setMinimumHeight(label.heightForWidth(int(width)) if text and width > 100 else 0)


class PaymentDialog(QDialog):
    """Create one external payment. ``result_value`` is the ``ScheduleResult`` once saved."""

    def __init__(self, ui_ctx: Any, parent: QWidget | None = None, *, account_id: int | None = None) -> None:
        super().__init__(parent)
        self.ui_ctx = ui_ctx
        self.payments = ui_ctx.workspace.payments
        self.result_value: Any = None
        self.accounts: list[Any] = []
        self.beneficiaries: list[Any] = []
        self.funds: Any = None
        self.errors: dict[str, str] = {}
        self.duplicate_prompts = 0
        self._busy = False
        self._funds_generation = 0
        self._preferred_account = account_id
        #: (title, text, action) → bool; tests replace it
        self.confirm: Callable[[str, str, str], bool] = lambda title, text, action: confirm(
            self, title, text, action)
        self.today: date = ui_ctx.workspace.ctx.now().date()

        self.setObjectName("paymentDialog")
        self.setWindowTitle("New payment")
        self.setMinimumWidth(600)
        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)  # grows with the messages
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(8)
        layout.addWidget(title_label("New payment"))
        layout.addWidget(hint_label("The payment is submitted for approval: another user approves it "
                                    "before it can be executed or exported."))
        form = QFormLayout()
        form.setVerticalSpacing(4)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.account_combo = QComboBox()
        self.account_combo.setObjectName("payAccount")
        form.addRow("From account", self.account_combo)
        self.funds_label = hint_label("")
        self.funds_label.setObjectName("payFunds")
        self.funds_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("", self.funds_label)

        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("payName")
        self.name_edit.setMaxLength(70)
        self.name_edit.setPlaceholderText("as on the beneficiary's bank account")
        form.addRow("Beneficiary", self.name_edit)
        self.name_status = _field_status()
        form.addRow("", self.name_status)

        self.iban_edit = QLineEdit()
        self.iban_edit.setObjectName("payIban")
        self.iban_edit.setPlaceholderText("IBAN, e.g. DE89 3704 0044 0532 0130 00")
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.iban_edit.setFont(mono)
        form.addRow("IBAN / account", self.iban_edit)
        self.iban_status = _field_status()
        self.iban_status.setObjectName("payIbanStatus")
        form.addRow("", self.iban_status)

        row = QHBoxLayout()
        self.bic_edit = QLineEdit()
        self.bic_edit.setObjectName("payBic")
        self.bic_edit.setPlaceholderText("8 or 11 characters")
        self.bic_edit.setMaxLength(14)
        self.country_edit = QLineEdit()
        self.country_edit.setObjectName("payCountry")
        self.country_edit.setPlaceholderText("DE")
        self.country_edit.setMaxLength(2)
        self.country_edit.setFixedWidth(60)
        row.addWidget(self.bic_edit, 1)
        row.addWidget(QLabel("Country"))
        row.addWidget(self.country_edit)
        form.addRow("BIC", row)
        self.bic_status = _field_status()
        self.bic_status.setObjectName("payBicStatus")
        form.addRow("", self.bic_status)

        row = QHBoxLayout()
        self.amount_edit = QLineEdit()
        self.amount_edit.setObjectName("payAmount")
        self.amount_edit.setPlaceholderText("0.00")
        self.amount_edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.currency_label = QLabel("")
        self.currency_label.setObjectName("payCurrency")
        self.currency_label.setMinimumWidth(40)
        row.addWidget(self.amount_edit, 1)
        row.addWidget(self.currency_label)
        form.addRow("Amount", row)
        self.amount_status = _field_status()
        self.amount_status.setObjectName("payAmountStatus")
        form.addRow("", self.amount_status)

        self.date_edit = QDateEdit()
        self.date_edit.setObjectName("payDate")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat(date_format())
        self.date_edit.setDate(qdate(self.today))
        form.addRow("Execution date", self.date_edit)
        self.date_status = _field_status()
        self.date_status.setObjectName("payDateStatus")
        form.addRow("", self.date_status)

        self.purpose_edit = QLineEdit()
        self.purpose_edit.setObjectName("payPurpose")
        self.purpose_edit.setMaxLength(140)
        self.purpose_edit.setPlaceholderText("remittance information, e.g. invoice number")
        form.addRow("Purpose", self.purpose_edit)
        self.batch_edit = QLineEdit()
        self.batch_edit.setObjectName("payBatch")
        self.batch_edit.setPlaceholderText("optional: payments of one batch execute together")
        form.addRow("Batch", self.batch_edit)
        self.draft_check = QCheckBox("Save as draft (submit for approval later)")
        self.draft_check.setObjectName("payDraft")
        form.addRow("", self.draft_check)
        layout.addLayout(form)

        self.error_label = status_label("error")
        self.error_label.setObjectName("payError")
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox()
        self.create_button = primary_button("Create")
        self.create_button.setObjectName("payCreate")
        self.create_button.setDefault(True)
        self.buttons.addButton(self.create_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.account_combo.currentIndexChanged.connect(lambda _i: self._account_changed())
        self.name_edit.textChanged.connect(lambda _t: self._check_name())
        self.iban_edit.textChanged.connect(lambda _t: self._check_iban())
        self.bic_edit.textChanged.connect(lambda _t: self._check_bic())
        self.country_edit.textChanged.connect(lambda _t: self._check_iban())
        self.amount_edit.textChanged.connect(lambda _t: self._check_amount())
        self.date_edit.dateChanged.connect(lambda _d: self._date_changed())
        self._load()

    # -- data -------------------------------------------------------------------------------------
    def _load(self) -> None:
        ws = self.ui_ctx.workspace
        self.ui_ctx.workers.run(ws.accounts.list_accounts, self._fill_accounts,
                                lambda exc: self._fail(inline_error(self.ui_ctx, exc)))
        self.ui_ctx.workers.run(self.payments.list_beneficiaries, self._fill_beneficiaries,
                                lambda _exc: None)

    def _fill_accounts(self, accounts: list[Any]) -> None:
        self.accounts = list(accounts)
        self.account_combo.blockSignals(True)
        self.account_combo.clear()
        for a in self.accounts:
            self.account_combo.addItem(f"{a.name} · {a.number_masked} · {a.currency}", a.id)
        if self._preferred_account is not None:
            i = self.account_combo.findData(self._preferred_account)
            if i >= 0:
                self.account_combo.setCurrentIndex(i)
        self.account_combo.blockSignals(False)
        self._account_changed()

    def _fill_beneficiaries(self, beneficiaries: list[Any]) -> None:
        self.beneficiaries = list(beneficiaries)
        completer = QCompleter([b.name for b in self.beneficiaries], self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.activated.connect(self._beneficiary_chosen)
        self.name_edit.setCompleter(completer)

    def _beneficiary_chosen(self, name: str) -> None:
        b = next((b for b in self.beneficiaries if b.name == name), None)
        if b is None:
            return
        if not self.bic_edit.text().strip():
            self.bic_edit.setText(b.bic)
        if not self.country_edit.text().strip():
            self.country_edit.setText(b.country)
        show_field(self.name_status, f"known beneficiary, account {b.account_masked}: enter the full "
                    "IBAN again (stored numbers are never shown)", "ok")

    def account(self) -> Any:
        account_id = self.account_combo.currentData()
        return next((a for a in self.accounts if a.id == account_id), None)

    def currency(self) -> str:
        a = self.account()
        return a.currency if a is not None else ""

    def execution_date(self) -> date:
        d = self.date_edit.date()
        return date(d.year(), d.month(), d.day())

    # -- live validation ------------------------------------------------------------------------------
    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        width = self.iban_edit.width()
        for label in (self.name_status, self.iban_status, self.bic_status, self.amount_status, self.date_status):
            if label.property("fieldWidth") != width:
                label.setProperty("fieldWidth", width)
                if label.text():
                    label.setMinimumHeight(label.heightForWidth(width))

    def _set(self, key: str, label: QLabel, error: str | None, ok: str = "") -> None:
        if error:
            self.errors[key] = error
            show_field(label, error, "error")
        else:
            self.errors.pop(key, None)
            show_field(label, ok, "ok")

    def _check_name(self) -> str | None:
        text = " ".join(self.name_edit.text().split())
        if not text:
            self.errors["name"] = "enter the beneficiary's name"
            show_field(self.name_status, self.errors["name"] if self.name_edit.isModified() else "", "error")
            return self.errors["name"]
        error = None
        try:
            from cio_desktop.integrations.payment_files import transliterate
            if len(transliterate(text)) > 70:
                error = "at most 70 characters in the bank's character set"
        except ValueError as exc:
            error = f"{exc}: use the name in Latin letters as the bank knows it"
        self._set("name", self.name_status, error)
        return error

    def _check_iban(self) -> str | None:
        raw = bank_ids.normalise_identifier(self.iban_edit.text())
        if not raw:
            self.errors["iban"] = "enter the beneficiary's IBAN or account number"
            show_field(self.iban_status, "")
            return self.errors["iban"]
        if _IBAN_SHAPE.match(raw):
            try:
                iban = bank_ids.validate_iban(raw, field="IBAN")
            except ValidationError as exc:
                self._set("iban", self.iban_status, exc.reason)
                return exc.reason
            country = bank_ids.iban_country(iban)
            sepa = "" if bank_ids.is_sepa_country(country) else " (outside the SEPA zone)"
            self._set("iban", self.iban_status, None, f"✓ valid IBAN {mask_account_number(iban)}, "
                      f"{bank_ids._country_name(country)}{sepa}")  # noqa: SLF001 — display name
            return None
        # not an IBAN: a plain account number needs the BIC and the country
        if not re.fullmatch(r"[A-Z0-9]{5,34}", raw):
            error = "an account number has 5 to 34 letters and digits"
        elif not self.bic_edit.text().strip() or len(self.country_edit.text().strip()) != 2:
            error = "this is not an IBAN: for an account number also enter the BIC and the country"
        else:
            error = None
        self._set("iban", self.iban_status, error, "account number (not an IBAN): paid via the BIC")
        return error

    def _check_bic(self) -> str | None:
        raw = bank_ids.normalise_identifier(self.bic_edit.text())
        if not raw:
            self._set("bic", self.bic_status, None, "")
        else:
            try:
                bic = bank_ids.validate_bic(raw, field="BIC")
                self._set("bic", self.bic_status, None, f"✓ valid BIC {bic}")
            except ValidationError as exc:
                self._set("bic", self.bic_status, exc.reason)
        if bank_ids.normalise_identifier(self.iban_edit.text()):
            self._check_iban()
        return self.errors.get("bic")

    def _check_amount(self) -> str | None:
        text = self.amount_edit.text().strip().replace(",", "").replace(" ", "")
        cur = self.currency()
        if not text:
            self.errors["amount"] = "enter the amount"
            show_field(self.amount_status, "")
            self._show_funds()
            return self.errors["amount"]
        if not cur:
            return None
        try:
            dp.validate_amount(text, cur)
        except ValidationError as exc:
            self._set("amount", self.amount_status, exc.reason)
        else:
            self._set("amount", self.amount_status, None, "")
        self._show_funds()
        return self.errors.get("amount")

    def amount(self) -> Decimal | None:
        if "amount" in self.errors:
            return None
        try:
            return Decimal(self.amount_edit.text().strip().replace(",", "").replace(" ", ""))
        except Exception:  # noqa: BLE001
            return None

    def _check_date(self) -> str | None:
        try:
            dp.validate_execution_date(self.execution_date(), self.today)
        except ValidationError as exc:
            self._set("date", self.date_status, exc.reason)
        else:
            ahead = (self.execution_date() - self.today).days
            self._set("date", self.date_status, None,
                      "today" if ahead == 0 else "tomorrow" if ahead == 1 else f"in {ahead} days")
        return self.errors.get("date")

    def _account_changed(self) -> None:
        self.currency_label.setText(self.currency())
        if self.amount_edit.text().strip():
            self._check_amount()
        self.refresh_funds()

    def _date_changed(self) -> None:
        self._check_date()
        self.refresh_funds()

    def validate(self) -> bool:
        """Check every field (showing each message); True when the form can be sent."""
        self.name_edit.setModified(True)
        checks = (self._check_name(), self._check_iban(), self._check_bic(), self._check_amount(),
                  self._check_date())
        if self.account() is None:
            self.errors["account"] = "choose the account to pay from"
        else:
            self.errors.pop("account", None)
        for label, text in ((self.iban_status, self.errors.get("iban")),
                            (self.amount_status, self.errors.get("amount"))):
            if text:
                show_field(label, text, "error")
        return not self.errors and not any(checks)

    # -- funds ----------------------------------------------------------------------------------------
    def refresh_funds(self) -> None:
        a = self.account()
        self._funds_generation += 1
        generation = self._funds_generation
        if a is None:
            self.funds = None
            self._show_funds()
            return
        if "date" in self.errors:
            self.funds = None
            self.funds_label.setText("choose a date from today on to see the available funds")
            return
        day = self.execution_date()
        self.funds_label.setText("checking the funds…")

        def done(check: Any) -> None:
            if generation == self._funds_generation:
                self.funds = check
                self._show_funds()

        def failed(exc: BaseException) -> None:
            if generation == self._funds_generation:
                self.funds = None
                self.funds_label.setText(f"funds not available: {inline_error(self.ui_ctx, exc)}")

        self.ui_ctx.workers.run(lambda: self.payments.verify_funds(a.id, 0, day), done, failed)

    def _show_funds(self) -> None:
        check = self.funds
        if check is None:
            if "date" in self.errors:
                self.funds_label.setText("choose a date from today on to see the available funds")
            elif not self.funds_label.text().startswith(("checking", "funds not")):
                self.funds_label.setText("")
            return
        text = f"Available on {format_date(check.on_date)}: {check.available.format()}"
        amount = self.amount()
        colour = ""
        if amount is not None and amount > 0 and check.available.currency == self.currency():
            after = check.available.amount - amount
            text += f" · after this payment: {after:,.2f} {check.available.currency}"
            if after < 0:
                text += " — not enough funds at today's figures"
                colour = "error"
        self.funds_label.setToolTip(check.sentence())
        self.funds_label.setText(text)
        for k in ("error", "ok", "warning"):
            self.funds_label.setProperty(k, k == colour)
        self.funds_label.setProperty("hint", not colour)
        self.funds_label.style().unpolish(self.funds_label)
        self.funds_label.style().polish(self.funds_label)

    # -- saving -----------------------------------------------------------------------------------------
    def _fail(self, text: str) -> None:
        show_status(self.error_label, text, "error")

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.create_button.setEnabled(not busy)

    def submit(self, *, confirm_duplicate: bool = False) -> None:
        if self._busy:
            return
        if not self.validate():
            first = next(iter(self.errors.values()), "check the form")
            self._fail(f"Not created: {first}")
            return
        show_status(self.error_label, "")
        a = self.account()
        kwargs = dict(account_id=a.id, beneficiary_name=" ".join(self.name_edit.text().split()),
                      beneficiary_account=bank_ids.normalise_identifier(self.iban_edit.text()),
                      amount=self.amount_edit.text().strip().replace(",", "").replace(" ", ""),
                      execution_date=self.execution_date(), currency=a.currency,
                      beneficiary_bic=bank_ids.normalise_identifier(self.bic_edit.text()),
                      country=self.country_edit.text().strip().upper(),
                      purpose=self.purpose_edit.text().strip(), batch=self.batch_edit.text().strip(),
                      confirm_duplicate=confirm_duplicate, submit=not self.draft_check.isChecked())
        self._set_busy(True)
        payments = self.payments
        self.ui_ctx.workers.run(lambda: payments.schedule_transaction(**kwargs), self._saved, self._failed)

    def _saved(self, result: Any) -> None:
        self._set_busy(False)
        self.result_value = result
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        if isinstance(exc, dp.DuplicatePaymentSuspected):
            self.duplicate_prompts += 1
            ids = ", ".join(str(i) for i in exc.duplicates)
            if self.confirm("Possible duplicate payment",
                            f"{exc}.\n\nPayment(s) {ids} look the same. Create this payment anyway?",
                            "Create anyway"):
                self.submit(confirm_duplicate=True)
            else:
                self._fail("Not created: it looks like a duplicate of payment(s) " + ids)
            return
        if isinstance(exc, dp.ControlRefused):
            self._fail(f"Refused by the “{exc.control}” control: {exc}")
            return
        if isinstance(exc, CioError):
            field = getattr(exc, "field", None)
            reason = getattr(exc, "reason", None) or str(exc)
            self._fail(f"Not created ({field}): {reason}" if field else f"Not created: {reason}")
            return
        self._fail(inline_error(self.ui_ctx, exc))

