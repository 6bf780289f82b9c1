"""Payments panel, new-payment dialog and approval inbox on the demo company (workers run at once)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from cio_desktop.domain.payments import PaymentStatus
from cio_desktop.integrations.payment_files import validate_pain001
from cio_desktop.security import totp
from cio_desktop.services.demo import iban
from cio_desktop.ui.dialogs.payment_dialog import PaymentDialog
from cio_desktop.ui.main_window import MainWindow
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.panels.payments import ALL, INBOX, TABS, PaymentsPanel, awaiting
from cio_desktop.ui.panels.registry import PANELS
from cio_desktop.ui.widgets.format import qdate
from tests.conftest import TEST_TOTP_SECRET, login
from tests.ui.shell_helpers import make_prefs, make_ui

RHENUS_IBAN = iban("DE", "500105175407324931")     # a known demo beneficiary (no extra approval)
MINSK_IBAN = iban("BY", "NBRB3600900000002Z00AB00")  # Belarus is on the demo's blocked list
BAD_IBAN = "DE89 3704 0044 0532 0130 01"            # check digits wrong


def logout(ws) -> None:  # noqa: ANN001
    if ws.ctx.session is not None and not ws.ctx.session.ended:
        ws.auth.logout()


@pytest.fixture
def window_for(qtbot, demo_ws, tmp_path):  # noqa: ANN001, ANN201
    made = []

    def make(role: str, panels=(PaymentsPanel,), *, show: bool = True) -> MainWindow:  # noqa: ANN001
        logout(demo_ws)
        login(demo_ws, role)  # no MFA yet: sensitive actions must ask for a code
        ui = make_ui(demo_ws)
        window = MainWindow(ui, list(panels), prefs=make_prefs(tmp_path))
        qtbot.addWidget(window)
        window.resize(1400, 900)
        window.show()
        if show and "payments" in window.panel_names:
            window.show_panel("payments")
        made.append(window)
        return window

    yield make
    for w in made:
        w.teardown()


def answer_mfa(ws, clock, run) -> None:  # noqa: ANN001
    """Type a fresh code into the prompt (codes are single-use: move the clock on first)."""
    assert run is not None and run.dialog is not None, "no two-factor prompt"
    clock.advance(seconds=30)
    run.dialog.code_edit.setText(totp.code_at(TEST_TOTP_SECRET, ws.ctx.now()))
    run.dialog.submit()


def focus(qtbot, window: MainWindow, widget) -> None:  # noqa: ANN001
    qtbot.waitExposed(window)
    with qtbot.waitActive(window, timeout=2000):
        window.activateWindow()
    widget.setFocus()


def errors(window: MainWindow) -> list[BaseException]:
    return window.ui_ctx.extra["errors"]


def eur_account(ws) -> int:  # noqa: ANN001
    """The EUR account the demo pays suppliers from."""
    return next(v.debit_account_id for v in ws.payments.list_payments() if v.amount.currency == "EUR"
                and v.kind == "external")


def fill(dialog: PaymentDialog, *, name: str, account: str, amount: str, bic: str = "", days: int = 0,
         account_id: int | None = None) -> None:
    if account_id is not None:
        dialog.account_combo.setCurrentIndex(dialog.account_combo.findData(account_id))
    dialog.name_edit.setText(name)
    dialog.iban_edit.setText(account)
    dialog.bic_edit.setText(bic)
    dialog.amount_edit.setText(amount)
    dialog.date_edit.setDate(qdate(dialog.today + timedelta(days=days)))


def create_as_treasurer(ws, amount: str = "4321.00", purpose: str = "Invoice T-1") -> int:  # noqa: ANN001
    """A payment to a known beneficiary (one approval needed), requested by the treasurer."""
    logout(ws)
    login(ws, "treasurer")
    account = eur_account(ws)
    p = ws.payments.schedule_transaction(account_id=account, beneficiary_name="Rhenus Logistik GmbH",
                                         beneficiary_account=RHENUS_IBAN, beneficiary_bic="COBADEFFXXX",
                                         amount=amount, execution_date=ws.ctx.now().date(),
                                         purpose=purpose).payment
    ws.auth.logout()
    assert p.status == PaymentStatus.PENDING_APPROVAL and p.required_approvals == 1
    return p.id


# -- contract ------------------------------------------------------------------------------------------
def test_panel_contract_and_registry() -> None:
    assert (PaymentsPanel.NAME, PaymentsPanel.TITLE, PaymentsPanel.SHORTCUT) == ("payments", "Payments", "Ctrl+6")
    assert PaymentsPanel.PERMISSION.value == "payments.read"
    assert PaymentsPanel.TOPICS == ("payments.changed", "approvals.changed", "beneficiaries.changed")
    assert PaymentsPanel in PANELS and issubclass(PaymentsPanel, Panel)
    names = [p.NAME for p in PANELS]
    assert names.index("payments") == names.index("ledger") + 1
    shortcuts = [p.SHORTCUT for p in PANELS if p.SHORTCUT]
    assert len(shortcuts) == len(set(shortcuts))


# -- the table per status tab ------------------------------------------------------------------------------
def test_tabs_show_what_list_payments_returns(window_for, demo_ws) -> None:  # noqa: ANN001
    window = window_for("treasurer")
    panel: PaymentsPanel = window.panel("payments")
    ws = demo_ws
    counts = ws.payments.status_counts()
    assert all(counts[s.value] >= 1 for s in PaymentStatus)  # the demo has every status
    assert sorted(panel.shown_ids()) == sorted(v.id for v in ws.payments.list_payments())
    assert panel.tab_text(ALL) == f"All ({sum(counts.values())})"
    assert panel.tabs.isTabVisible(panel.tab_index(INBOX)) is False  # a treasurer approves nothing
    for key, title in TABS:
        if key in (ALL, INBOX):
            continue
        panel.set_tab(key)
        expected = ws.payments.list_payments(status=key)
        assert sorted(panel.shown_ids()) == sorted(v.id for v in expected), key
        assert panel.tab_text(key) == f"{title} ({counts[key]})"
        assert {r["Status"] for r in panel.row_texts()} == {key.replace("_", " ")}
    # row contents: masked account, right-aligned amount, approvals n/required
    panel.set_tab(PaymentStatus.PENDING_APPROVAL.value)
    v = ws.payments.list_payments(status="pending_approval")[0]
    row = next(r for r in panel.row_texts() if r["End-to-end id"] == v.end_to_end_id)
    assert row["Beneficiary account"] == v.beneficiary_account_masked and "*" in row["Beneficiary account"]
    assert row["Approvals"] == f"{len(v.approvals)}/{v.required_approvals}"
    assert row["Requested by"] == "treasurer" and row["Currency"] == v.amount.currency
    from cio_desktop.ui.models.payments_model import C_AMOUNT
    align = panel.proxy.index(0, C_AMOUNT).data(Qt.ItemDataRole.TextAlignmentRole)
    assert align & int(Qt.AlignmentFlag.AlignRight)
    # account filter goes to the service; the date range filters what is shown
    panel.set_tab(ALL)
    gbp = next(a.id for a in ws.accounts.list_accounts() if a.currency == "GBP")
    panel.set_account_filter(gbp)
    assert sorted(panel.shown_ids()) == sorted(v.id for v in ws.payments.list_payments(account_id=gbp))
    panel.clear_filters()
    dates = sorted({v.execution_date for v in ws.payments.list_payments()})
    panel.set_date_range(dates[-1], dates[-1])
    assert sorted(panel.shown_ids()) == sorted(v.id for v in ws.payments.list_payments()
                                               if v.execution_date == dates[-1])
    panel.clear_filters()
    assert len(panel.shown_ids()) == sum(counts.values())
    assert not errors(window)


def test_detail_shows_history_and_funds(window_for, demo_ws) -> None:  # noqa: ANN001
    window = window_for("treasurer")
    panel: PaymentsPanel = window.panel("payments")
    reversed_ = demo_ws.payments.list_payments(status="reversed")[0]
    panel.set_tab("reversed")
    assert panel.select_payment(reversed_.id)
    changes = [panel.history_table.item(r, 1).text() for r in range(panel.history_table.rowCount())]
    assert changes[0] == "draft" and "executed → reversed" in changes
    assert [e.id for e in panel.history] == [e.id for e in demo_ws.payments.history(reversed_.id)]
    assert panel.funds_label.text() == ""  # nothing left to check for a reversed payment
    panel.set_tab("approved")
    approved = demo_ws.payments.list_payments(status="approved")[0]
    assert panel.select_payment(approved.id)
    assert panel.funds is not None and panel.funds.account_id == approved.debit_account_id
    assert "Funds check on" in panel.funds_label.text()
    assert panel.detail_box.title() == f"Payment {approved.id}"
    assert panel.open_detail().id == approved.id


# -- creating a payment ------------------------------------------------------------------------------------------
def test_treasurer_creates_payment_with_live_validation(qtbot, window_for, demo_ws) -> None:  # noqa: ANN001
    window = window_for("treasurer")
    panel: PaymentsPanel = window.panel("payments")
    assert panel.new_button.isVisible() and not panel.approve_button.isVisible()
    dialog = panel.open_new()
    qtbot.addWidget(dialog)
    account = eur_account(demo_ws)
    fill(dialog, name="Rhenus Logistik GmbH", account=BAD_IBAN, amount="12.345", account_id=account)
    # live messages as typed
    assert not dialog.iban_status.isHidden() and dialog.iban_status.property("error")
    assert "IBAN" in dialog.iban_status.text() and "iban" in dialog.errors
    assert "decimal" in dialog.amount_status.text() and "amount" in dialog.errors
    assert dialog.currency_label.text() == "EUR"
    assert dialog.funds_label.text().startswith("Available on")
    dialog.bic_edit.setText("C0BA")
    assert "bic" in dialog.errors and dialog.bic_status.property("error")
    dialog.bic_edit.setText("COBADEFFXXX")
    assert "bic" not in dialog.errors and "valid BIC" in dialog.bic_status.text()
    dialog.date_edit.setDate(qdate(dialog.today - timedelta(days=1)))
    assert "past" in dialog.date_status.text()
    dialog.create_button.click()
    assert dialog.result() != QDialog.DialogCode.Accepted and dialog.result_value is None
    assert dialog.error_label.text().startswith("Not created")
    # fix everything
    dialog.iban_edit.setText(RHENUS_IBAN)
    assert "iban" not in dialog.errors and dialog.iban_status.text().startswith("✓ valid IBAN")
    assert RHENUS_IBAN[-4:] in dialog.iban_status.text() and RHENUS_IBAN[4:12] not in dialog.iban_status.text()
    assert "from today on" in dialog.funds_label.text()
    dialog.date_edit.setDate(qdate(dialog.today))
    assert "date" not in dialog.errors and dialog.date_status.text() == "today"
    dialog.amount_edit.setText("1234.50")
    assert "amount" not in dialog.errors and "after this payment" in dialog.funds_label.text()
    dialog.purpose_edit.setText("Invoice 2026-1201 freight")
    dialog.create_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.error_label.text()
    p = dialog.result_value.payment
    assert p.status == PaymentStatus.PENDING_APPROVAL and p.requested_by == "treasurer"
    assert demo_ws.payments.get_payment(p.id).status == "pending_approval"
    assert panel.selected().id == p.id
    row = next(r for r in panel.row_texts() if r["End-to-end id"] == p.end_to_end_id)
    assert row["Status"] == "pending approval" and row["Approvals"] == "0/1"
    assert f"Payment {p.id} created" in panel.last_message

    # the same again: a duplicate warning → confirm → created with confirm_duplicate
    again = panel.open_new()
    qtbot.addWidget(again)
    prompts = []
    again.confirm = lambda title, text, action: prompts.append(text) or True
    fill(again, name="Rhenus Logistik GmbH", account=RHENUS_IBAN, bic="COBADEFFXXX", amount="1234.50",
         account_id=account)
    again.create_button.click()
    assert again.duplicate_prompts == 1 and str(p.id) in prompts[0]
    assert again.result() == QDialog.DialogCode.Accepted and again.result_value.payment.id != p.id

    # a control refusal names the control
    blocked = panel.open_new()
    qtbot.addWidget(blocked)
    fill(blocked, name="Minsk Tractor Parts OAO", account=MINSK_IBAN, bic="BPSBBY2X", amount="100.00",
         account_id=account)
    blocked.create_button.click()
    assert blocked.result() != QDialog.DialogCode.Accepted
    assert "“blocked country” control" in blocked.error_label.text()
    assert not errors(window)


def test_ctrl_n_opens_the_dialog(qtbot, window_for) -> None:  # noqa: ANN001
    window = window_for("treasurer")
    panel: PaymentsPanel = window.panel("payments")
    focus(qtbot, window, panel.table)
    qtbot.keyClick(panel.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert isinstance(panel.dialog, PaymentDialog) and panel.dialog.isVisible()
    panel.dialog.reject()


# -- approving -------------------------------------------------------------------------------------------------------
def test_approver_inbox_badge_and_approve_through_mfa(window_for, demo_ws, clock) -> None:  # noqa: ANN001
    pid = create_as_treasurer(demo_ws)
    window = window_for("approver", [PaymentsPanel], show=False)
    ws = demo_ws
    inbox = awaiting(ws.payments.list_payments(status="pending_approval"), "approver")
    assert pid in [v.id for v in inbox]
    # the badge is there before the panel is even opened
    assert window.sidebar_text("payments") == f"Payments ({len(inbox)})"
    window.show_panel("payments")
    panel: PaymentsPanel = window.panel("payments")
    panel.set_tab(INBOX)
    assert sorted(panel.shown_ids()) == sorted(v.id for v in inbox)
    assert panel.tab_text(INBOX) == f"Awaiting my approval ({len(inbox)})"
    assert not panel.new_button.isVisible() and not panel.execute_button.isVisible()
    assert panel.select_payment(pid)
    assert panel.approve_button.isEnabled() and panel.reject_button.isEnabled()
    run = panel.approve_selected()
    assert run.dialog is not None and ws.payments.get_payment(pid).status == "pending_approval"
    answer_mfa(ws, clock, run)
    assert run.done, panel.last_message
    assert ws.payments.get_payment(pid).status == "approved"
    assert pid not in panel.shown_ids()
    assert window.sidebar_text("payments") == (f"Payments ({len(inbox) - 1})" if len(inbox) > 1 else "Payments")
    assert panel.badge == len(inbox) - 1
    assert f"Payment {pid} approved" in panel.last_message
    panel.set_tab(ALL)
    assert panel.select_payment(pid)
    assert panel.row_texts()[panel.shown_ids().index(pid)]["Status"] == "approved"
    assert not panel.approve_button.isEnabled()
    assert not errors(window)


def test_requester_never_sees_own_payments_in_the_inbox(window_for, demo_ws, clock) -> None:  # noqa: ANN001
    # let treasurers approve too (admin changes the role matrix), so the inbox shows for them
    login(demo_ws, "admin", mfa=True)
    demo_ws.users.set_role_permission("treasurer", "payments.approve", True)
    logout(demo_ws)
    own = create_as_treasurer(demo_ws)
    window = window_for("treasurer")
    panel: PaymentsPanel = window.panel("payments")
    assert panel.can_approve and panel.tabs.isTabVisible(panel.tab_index(INBOX))
    panel.set_tab(INBOX)
    pending = demo_ws.payments.list_payments(status="pending_approval")
    assert own in [v.id for v in pending] and own not in panel.shown_ids()
    assert all(v.requested_by != "treasurer" for v in panel.views)
    assert panel.badge == len(panel.shown_ids())
    panel.set_tab(ALL)
    assert panel.select_payment(own)
    assert not panel.approve_button.isEnabled() and "four-eyes" in panel.approve_button.toolTip()


def test_reject_needs_a_reason(window_for, demo_ws, clock) -> None:  # noqa: ANN001
    pid = create_as_treasurer(demo_ws, amount="777.00")
    window = window_for("approver")
    panel: PaymentsPanel = window.panel("payments")
    panel.set_tab(INBOX)
    assert panel.select_payment(pid)
    panel.ask_reason = lambda title, text, action, required=True: ""
    assert panel.reject_selected() is None
    assert "reason is required" in panel.last_message
    assert demo_ws.payments.get_payment(pid).status == "pending_approval"
    panel.ask_reason = lambda title, text, action, required=True: None  # cancelled
    assert panel.reject_selected() is None
    panel.ask_reason = lambda title, text, action, required=True: "wrong supplier bank details"
    run = panel.reject_selected()
    answer_mfa(demo_ws, clock, run)
    assert run.done and demo_ws.payments.get_payment(pid).status == "rejected"
    history = demo_ws.payments.history(pid)
    assert any("wrong supplier bank details" in e.note for e in history) or \
        demo_ws.approvals.request(demo_ws.payments.get_payment(pid).approval_request_id).rejections
    assert not errors(window)


def test_reason_dialog_requires_text(qtbot) -> None:  # noqa: ANN001
    from cio_desktop.ui.panels.payments import ReasonDialog

    dialog = ReasonDialog(None, "Reject payment 1", "Why?", "Reject", True)
    qtbot.addWidget(dialog)
    assert not dialog.ok.isEnabled()
    dialog.edit.setPlainText("  wrong  invoice ")
    assert dialog.ok.isEnabled() and dialog.text() == "wrong invoice"
    optional = ReasonDialog(None, "Approve", "", "Approve", False)
    qtbot.addWidget(optional)
    assert optional.ok.isEnabled()


# -- permissions ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["analyst", "auditor", "admin"])
def test_read_only_roles_see_no_action_buttons(window_for, role) -> None:  # noqa: ANN001
    window = window_for(role)
    panel: PaymentsPanel = window.panel("payments")
    assert panel.row_texts()
    assert all(b.isHidden() for b in panel.action_buttons)
    assert window.sidebar_text("payments") == "Payments"


def test_viewer_has_no_payments_panel(window_for) -> None:  # noqa: ANN001
    window = window_for("viewer", PANELS)
    assert "payments" not in window.panel_names


# -- cancel, execute, export -------------------------------------------------------------------------------------------------
def test_delete_cancels_after_confirmation(qtbot, window_for, demo_ws) -> None:  # noqa: ANN001
    pid = create_as_treasurer(demo_ws, amount="55.00")
    window = window_for("treasurer")
    panel: PaymentsPanel = window.panel("payments")
    assert panel.select_payment(pid) and panel.cancel_button.isEnabled()
    asked = []
    panel.ask_reason = lambda title, text, action, required=True: asked.append(title) or None
    focus(qtbot, window, panel.table)
    qtbot.keyClick(panel.table, Qt.Key.Key_Delete)
    assert asked == [f"Cancel payment {pid}"]
    assert demo_ws.payments.get_payment(pid).status == "pending_approval"  # the user said no
    panel.ask_reason = lambda title, text, action, required=True: "supplier sent a credit note"
    qtbot.keyClick(panel.table, Qt.Key.Key_Delete)
    assert demo_ws.payments.get_payment(pid).status == "cancelled"
    assert f"Payment {pid} cancelled" in panel.last_message
    qtbot.keyClick(panel.table, Qt.Key.Key_Return)
    assert panel.history_table.hasFocus() or panel.selected() is not None


def test_execute_now_and_roll_back_need_mfa(window_for, demo_ws, clock) -> None:  # noqa: ANN001
    clock.advance(days=40)  # the demo's approved payments are due
    window = window_for("treasurer")
    panel: PaymentsPanel = window.panel("payments")
    panel.set_tab("approved")
    pid = next(v.id for v in panel.views if v.amount.currency == "EUR")
    assert panel.select_payment(pid) and panel.execute_button.isEnabled()
    panel.confirm = lambda title, text, action: True
    run = panel.execute_selected()
    answer_mfa(demo_ws, clock, run)
    assert run.done, panel.last_message
    assert demo_ws.payments.get_payment(pid).status == "executed"
    panel.set_tab("executed")
    assert panel.select_payment(pid) and panel.rollback_button.isEnabled() and not panel.cancel_button.isEnabled()
    panel.ask_reason = lambda title, text, action, required=True: "paid twice"
    run = panel.rollback_selected()
    assert run.done  # the code given for execute is still fresh
    assert demo_ws.payments.get_payment(pid).status == "reversed"


def test_export_writes_a_valid_pain001_file(window_for, demo_ws, clock, tmp_path) -> None:  # noqa: ANN001
    window = window_for("treasurer")
    panel: PaymentsPanel = window.panel("payments")
    assert panel.export_button.isVisible()
    target = tmp_path / "payments.xml"
    panel.ask_export_path = lambda: (str(target), "03")
    run = panel.export_file()
    assert run.dialog is not None and not target.exists()
    answer_mfa(demo_ws, clock, run)
    assert run.done, panel.last_message
    assert target.exists()
    validate_pain001(target.read_bytes(), "03")
    exported = [v for v in demo_ws.payments.list_payments() if v.exported_at is not None]
    assert exported and all(Path(v.file_path) == target.resolve() for v in exported)
    assert "pain.001.001.03" in panel.last_message
    panel.ask_export_path = lambda: None  # cancelled file dialog: nothing happens
    assert panel.export_file() is None
