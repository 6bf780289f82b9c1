"""Grant a compliance override from the violations log (issue 6).

A compliance manager may let one blocked payment or portfolio pass one blocking rule, once, at
its next check within a validity window. The dialog shows what was blocked (the rule, its limit
and the actual figure the check recorded, the operation) so the manager decides on the facts the
check saw, asks for the reason the audit trail and the report will carry, and the validity
(1 hour to 14 days). The grant is MFA-gated: it runs through ``run_sensitive``; the service
validates the reason and the validity, and its words are shown in the dialog, which stays open
until the grant succeeds or the user cancels.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Sequence

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QSpinBox, QVBoxLayout, QWidget)

from cio_desktop.services.compliance import CheckResultView, CheckView, OverrideView
from cio_desktop.ui.dialogs.common import (hint_label, inline_error, primary_button, show_status, status_label,
                                           title_label)
from cio_desktop.ui.dialogs.mfa import SensitiveRun, run_sensitive

MIN_HOURS, MAX_HOURS, DEFAULT_HOURS = 1, 24 * 14, 24
ENTITIES = ("payment", "portfolio")


def blocking_results(check: CheckView) -> tuple[CheckResultView, ...]:
    """The rules that blocked ``check`` (an override is granted per rule)."""
    return tuple(r for r in check.results if r.outcome == "block")


def overridable(check: CheckView | None) -> str | None:
    """Why ``check`` cannot be overridden, or None when it can: only a blocked check of an
    existing payment or portfolio (a payment refused at creation was never stored, so there is
    nothing an override could attach to)."""
    if check is None:
        return "select a blocked payment or portfolio in the violations log"
    if check.outcome != "block":
        return f"this check was not blocked ({check.outcome}): nothing to override"
    if check.entity not in ENTITIES:
        return f"overrides are for payments and portfolios, not {check.entity}"
    if not str(check.entity_id).isdigit():
        return ("the payment was refused before it was created, so there is nothing to override: save it as a "
                "draft, submit it, and override that check")
    if not blocking_results(check):
        return "the check names no blocking rule"
    return None


STEPS = {"schedule": "Scheduling", "approve": "Approval", "execute": "Execution", "rebalance": "Rebalancing plan"}


def operation_text(check: CheckView) -> str:
    """The blocked operation in words: ``Approval · payment 12: 8,000.00 EUR to …`` (the step,
    then what the check was about, which names the payment or portfolio)."""
    step = check.operation.split(".", 1)[-1]
    return f"{STEPS.get(step, step)} · {check.subject}"


class OverrideDialog(QDialog):
    """Rule, limit, actual figure and operation of a blocked check; reason and validity; grant."""

    def __init__(self, ui_ctx: Any, service: Any, check: CheckView, parent: QWidget | None = None,
                 active: Sequence[OverrideView] = ()) -> None:
        super().__init__(parent)
        self.ui_ctx, self.service, self.check = ui_ctx, service, check
        self.active = tuple(active)
        self.results = blocking_results(check)
        self.granted: OverrideView | None = None
        self.run: SensitiveRun | None = None
        self.setObjectName("overrideDialog")
        self.setWindowTitle("Grant compliance override")
        self.setMinimumWidth(620)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(10)
        layout.addWidget(title_label("Let this operation pass a blocking rule once"))

        facts = QFormLayout()
        facts.setSpacing(6)
        self.rule_choice = QComboBox()
        self.rule_choice.setObjectName("overrideRule")
        for r in self.results:
            self.rule_choice.addItem(f"{r.rule_name} (version {r.rule_version})", r.rule_id)
        self.rule_choice.currentIndexChanged.connect(self._rule_changed)
        self.rule_label = self._fact("overrideRuleName")
        self.rule_label.setStyleSheet("font-weight: 600;")
        # several blocking rules: choose which one to override; one: just name it
        facts.addRow("Rule", self.rule_choice if len(self.results) > 1 else self.rule_label)
        self.rule_choice.setVisible(len(self.results) > 1)
        self.limit_label = self._fact("overrideLimit")
        facts.addRow("Limit", self.limit_label)
        self.actual_label = self._fact("overrideActual")
        facts.addRow("Actual", self.actual_label)
        self.operation_label = self._fact("overrideOperation", operation_text(check))
        facts.addRow("Operation", self.operation_label)
        at = check.checked_at.astimezone().strftime("%Y-%m-%d %H:%M") if check.checked_at else ""
        facts.addRow("Blocked", self._fact("overrideBlocked", f"{at} · {check.actor}"))
        if len(self.results) > 1:
            facts.addRow(hint_label(f"{len(self.results)} rules blocked this check: the operation passes only "
                                    "when each of them has an override. Grant one rule at a time."))
        layout.addLayout(facts)
        form = facts                       # one label column for the facts and the inputs
        self.reason = QLineEdit()
        self.reason.setObjectName("overrideReason")
        self.reason.setPlaceholderText("why this operation may pass the rule (at least 5 characters)")
        self.reason.setMaxLength(500)
        form.addRow("Reason", self.reason)
        self.hours = QSpinBox()
        self.hours.setObjectName("overrideHours")
        self.hours.setRange(MIN_HOURS, MAX_HOURS)
        self.hours.setValue(DEFAULT_HOURS)
        self.hours.setSuffix(" h")
        self.hours.setToolTip("1 hour to 14 days (336 h)")
        self.hours.valueChanged.connect(self._hours_changed)
        self.hours.setMinimumWidth(110)
        self.until_label = hint_label("")
        self.until_label.setObjectName("overrideUntil")
        validity = QHBoxLayout()
        validity.setSpacing(10)
        validity.addWidget(self.hours)
        validity.addWidget(self.until_label, 1)
        form.addRow("Valid for", validity)

        self.warning = QLabel("")
        self.warning.setObjectName("overrideWarning")
        self.warning.setWordWrap(True)
        self.warning.setProperty("warning", True)
        layout.addWidget(self.warning)
        self.existing = hint_label("")
        self.existing.setObjectName("overrideExisting")
        layout.addWidget(self.existing)
        self.error_label = status_label("error")
        self.error_label.setObjectName("overrideError")
        layout.addWidget(self.error_label)

        buttons = QDialogButtonBox()
        self.grant_button = primary_button("Grant override")
        self.grant_button.setObjectName("overrideGrant")
        self.grant_button.setDefault(True)
        buttons.addButton(self.grant_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._rule_changed()
        self._hours_changed()
        self.reason.setFocus()
        self.adjustSize()

    @staticmethod
    def _fact(name: str, text: str = "") -> QLabel:
        label = QLabel(text)
        label.setObjectName(name)
        label.setWordWrap(True)
        return label

    def selected(self) -> CheckResultView:
        return self.results[max(self.rule_choice.currentIndex(), 0)]

    def _rule_changed(self, *_: Any) -> None:
        r = self.selected()
        self.rule_label.setText(f"{r.rule_name} (version {r.rule_version})")
        self.limit_label.setText(r.limit or "—")
        self.actual_label.setText(r.actual or "—")
        self.actual_label.setToolTip(r.message)
        what = f"{self.check.entity} {self.check.entity_id}"
        self.warning.setText(f"This lets {what} pass “{r.rule_name}” once: at its next compliance check within "
                             "the validity, that rule is waived for it and the check is recorded as "
                             "overridden; after that, or when the validity ends, the rule applies again. "
                             "The override is written to the audit trail and the compliance report with your "
                             "name and reason, and needs a fresh two-factor code.")
        same = [o for o in self.active if o.rule_id == r.rule_id and o.entity == self.check.entity
                and o.entity_id == str(self.check.entity_id)]
        self.existing.setText(
            f"Note: an override for this rule and {what} is already active until "
            f"{same[0].expires_at.astimezone():%Y-%m-%d %H:%M} (granted by {same[0].approved_by})." if same else "")
        self.existing.setVisible(bool(same))

    def _hours_changed(self, *_: Any) -> None:
        until = self.ui_ctx.workspace.ctx.now() + timedelta(hours=self.hours.value())
        days = self.hours.value() / 24
        span = f"{days:g} day{'s' if days != 1 else ''}" if self.hours.value() % 24 == 0 else \
            f"{self.hours.value()} hour{'s' if self.hours.value() != 1 else ''}"
        self.until_label.setText(f"{span}, until {until.astimezone():%Y-%m-%d %H:%M} (local time)")

    # -- granting ---------------------------------------------------------------------------
    def submit(self) -> None:
        """Grant through the service (MFA asked when needed); its refusal is shown here."""
        if not self.grant_button.isEnabled():
            return
        r = self.selected()
        reason, hours, svc, check = self.reason.text(), self.hours.value(), self.service, self.check
        self.grant_button.setEnabled(False)
        show_status(self.error_label, "")
        self.run = run_sensitive(
            self.ui_ctx, self,
            lambda: svc.grant_override(r.rule_id, check.entity, check.entity_id, reason, hours=hours),
            self._granted, self._failed, self._cancelled)

    def _granted(self, view: OverrideView) -> None:
        self.grant_button.setEnabled(True)
        self.granted = view
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.grant_button.setEnabled(True)
        show_status(self.error_label, f"Not granted: {inline_error(self.ui_ctx, exc)}")
        self.adjustSize()                  # room for the message without squeezing the facts

    def _cancelled(self) -> None:
        self.grant_button.setEnabled(True)
        show_status(self.error_label, "Not granted: the two-factor check was cancelled")
        self.adjustSize()
