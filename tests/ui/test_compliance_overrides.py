"""Compliance overrides from the Compliance panel's violations log (offscreen, demo company): a
compliance manager grants one for a blocked payment (two-factor prompt, reason, validity), the
active-overrides table shows it, the payment passes the rule once and then meets it again; a
short reason and a user without the permission are refused in plain words; a payment refused
before it was created offers nothing to override."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cio_desktop.errors import ComplianceViolation
from cio_desktop.security import totp
from cio_desktop.services.compliance import CheckView
from cio_desktop.ui.dialogs.compliance_override import OverrideDialog, overridable
from cio_desktop.ui.panels.compliance import CompliancePanel
from tests.compliance_fixtures import approve, execute, known_beneficiaries, open_account, schedule, set_rules
from tests.conftest import TEST_TOTP_SECRET, login
from tests.property.helpers import make_session
from tests.ui.shell_helpers import open_panel, rows

CAP = {"name": "Override test cap", "type": "max_single_payment", "parameters": {"amount": "5000", "currency": "EUR"}}


@pytest.fixture
def blocked(demo_ws) -> int:  # noqa: ANN001
    """A payment scheduled under no cap, then blocked at approval by a cap added meanwhile."""
    known_beneficiaries(demo_ws)
    pid = schedule(demo_ws, open_account(demo_ws), "8000").payment.id
    set_rules(demo_ws, CAP)
    with pytest.raises(ComplianceViolation, match="Override test cap"):
        approve(demo_ws, pid)
    return pid


def blocked_row(panel: CompliancePanel, pid: int, operation: str) -> int:
    """Select (and return the proxy row of) the newest blocked check of payment ``pid``."""
    for i, r in enumerate(rows(panel.violations_proxy)):
        v: CheckView = r["view"]
        if v.entity == "payment" and v.entity_id == str(pid) and v.operation == operation and v.outcome == "block":
            panel.violations_table.selectRow(i)
            return i
    raise AssertionError(f"no blocked {operation} of payment {pid} in the log")


def test_grant_override_from_the_violations_log_lets_the_payment_pass_once(qtbot, demo_ws, blocked) -> None:  # noqa: ANN001
    login(demo_ws, "admin")                       # no code at login: granting must ask for one
    panel = open_panel(qtbot, demo_ws, CompliancePanel)
    panel.tabs.setCurrentIndex(2)
    assert not panel.override_button.isHidden() and not panel.override_button.isEnabled()   # nothing selected
    assert panel.overrides_model.rowCount() == 0 and "none" in panel.overrides_title.text()
    row = blocked_row(panel, blocked, "payment.approve")
    assert panel.override_button.isEnabled()
    # the context menu offers the same action for the row under the cursor
    rect = panel.violations_table.visualRect(panel.violations_proxy.index(row, 0))
    menu = panel.violation_menu(rect.center())
    (action,) = menu.actions()
    assert action.text() == "Grant override…" and action.isEnabled()
    action.trigger()
    dialog = panel.override_dialog
    assert isinstance(dialog, OverrideDialog) and dialog.isVisible()
    qtbot.addWidget(dialog)
    # what was blocked, from the check: rule, limit, actual figure, operation; and the warning
    assert dialog.rule_label.text() == "Override test cap (version 1)" and dialog.rule_choice.isHidden()
    assert "5,000.00 EUR" in dialog.limit_label.text() and "8,000.00 EUR" in dialog.actual_label.text()
    assert dialog.operation_label.text().startswith(f"Approval · payment {blocked}: 8,000.00 EUR")
    assert "once" in dialog.warning.text() and "audit" in dialog.warning.text()
    assert dialog.hours.value() == 24 and dialog.hours.minimum() == 1 and dialog.hours.maximum() == 336

    # a short reason: the service refuses it (after the two-factor code), the dialog stays open
    dialog.reason.setText("ok")
    dialog.submit()
    run = dialog.run
    assert run is not None and run.dialog is not None, "no two-factor prompt"
    run.dialog.code_edit.setText(totp.code_at(TEST_TOTP_SECRET, demo_ws.ctx.now()))
    run.dialog.submit()
    assert dialog.isVisible() and dialog.granted is None
    assert "at least 5 characters" in dialog.error_label.text() and dialog.error_label.isVisible()
    assert dialog.grant_button.isEnabled()

    dialog.reason.setText("board minute 2026-41: contract signed before the cap")
    dialog.hours.setValue(48)
    dialog.submit()                                # the code given above is still fresh
    assert dialog.granted is not None and not dialog.isVisible(), dialog.error_label.text()
    assert panel.app.extra["errors"] == []
    qtbot.waitUntil(lambda: panel.overrides_model.rowCount() == 1, timeout=3000)
    (shown,) = rows(panel.overrides_proxy)
    assert (shown["rule"], shown["operation"], shown["approved_by"]) == ("Override test cap", f"payment {blocked}",
                                                                        "admin")
    assert shown["expires_at"] == demo_ws.ctx.now() + timedelta(hours=48)
    assert "Active overrides (1)" in panel.overrides_title.text()

    # the payment passes the rule at its next check, recorded as overridden; the override is used
    assert approve(demo_ws, blocked).status == "approved"
    qtbot.waitUntil(lambda: panel.overrides_model.rowCount() == 0, timeout=3000)
    assert any(r["view"].outcome == "overridden" and r["view"].entity_id == str(blocked)
               for r in rows(panel.violations_proxy))
    # one-off: at execution the rule applies again; a second override from the log lets it go
    with pytest.raises(ComplianceViolation, match="Override test cap"):
        execute(demo_ws, blocked)
    make_session(demo_ws, "admin", mfa_age_seconds=0)
    panel.refresh()
    blocked_row(panel, blocked, "payment.execute")
    panel.override_button.click()
    second = panel.override_dialog
    assert second is not dialog and second.isVisible()
    qtbot.addWidget(second)
    second.reason.setText("same board minute: execution")
    second.submit()
    assert second.granted is not None, second.error_label.text()
    assert execute(demo_ws, blocked).status == "executed"
    make_session(demo_ws, "auditor")
    audited = [o for o in demo_ws.compliance.overrides() if o.entity_id == str(blocked)]
    assert len(audited) == 2 and all(o.used_check_id is not None for o in audited)
    assert demo_ws.compliance.active_overrides() == []


def test_without_the_permission_there_is_no_override_action(qtbot, demo_ws, blocked) -> None:  # noqa: ANN001
    make_session(demo_ws, "auditor")               # reads compliance, may not manage it
    panel = open_panel(qtbot, demo_ws, CompliancePanel)
    panel.tabs.setCurrentIndex(2)
    row = blocked_row(panel, blocked, "payment.approve")
    assert panel.override_button.isHidden() and not panel.override_button.isEnabled()
    rect = panel.violations_table.visualRect(panel.violations_proxy.index(row, 0))
    assert panel.violation_menu(rect.center()) is None
    assert panel.open_override(panel.selected_check()) is None and panel.override_dialog is None
    # the active overrides stay visible to readers
    make_session(demo_ws, "admin", mfa_age_seconds=0)
    cap = next(r for r in demo_ws.compliance.rules() if r.name == CAP["name"])
    demo_ws.compliance.grant_override(cap.id, "payment", blocked, "granted elsewhere for the test")
    make_session(demo_ws, "auditor")
    qtbot.waitUntil(lambda: panel.overrides_model.rowCount() == 1, timeout=3000)


def test_a_permission_lost_while_the_dialog_is_open_is_refused_in_the_dialog(qtbot, demo_ws, blocked) -> None:  # noqa: ANN001
    make_session(demo_ws, "admin", mfa_age_seconds=0)
    panel = open_panel(qtbot, demo_ws, CompliancePanel)
    blocked_row(panel, blocked, "payment.approve")
    dialog = panel.open_override(panel.selected_check())
    assert dialog is not None
    qtbot.addWidget(dialog)
    make_session(demo_ws, "treasurer", mfa_age_seconds=0)
    dialog.reason.setText("trying without the permission")
    dialog.submit()
    assert dialog.isVisible() and dialog.granted is None
    assert "compliance.manage" in dialog.error_label.text() or "permission" in dialog.error_label.text().lower()
    make_session(demo_ws, "auditor")
    assert demo_ws.compliance.active_overrides() == []


def test_a_payment_refused_before_it_was_created_offers_nothing_to_override(qtbot, demo_ws) -> None:  # noqa: ANN001
    known_beneficiaries(demo_ws)
    acct = open_account(demo_ws)
    set_rules(demo_ws, CAP)
    with pytest.raises(ComplianceViolation):
        schedule(demo_ws, acct, "9000")
    make_session(demo_ws, "admin", mfa_age_seconds=0)
    panel = open_panel(qtbot, demo_ws, CompliancePanel)
    (r,) = [r for r in rows(panel.violations_proxy) if r["view"].entity_id == "new"]
    panel.violations_table.selectRow(rows(panel.violations_proxy).index(r))
    assert not panel.override_button.isEnabled()
    assert "refused before it was created" in overridable(r["view"])
    assert "refused before it was created" in panel.override_button.toolTip()
    assert panel.open_override(r["view"]) is None
