"""The alert rule editor on the Alerts panel's Rules tab (issue 9; team mode, issue 12): a
sortable rules table, add and edit with the form checked before anything is sent, service errors
shown in the dialog, and a save that another workstation's change made stale refused with who and
when, after which the dialog and the table show the current rule (workers run at once, offscreen)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from cio_desktop.ui.dialogs.alert_rule_dialog import AlertRuleDialog
from cio_desktop.ui.panels.alerts import ID_ROLE, RULE_COLUMNS, AlertsPanel
from tests.postgres_fixtures import reopen
from tests.property.helpers import make_session
from tests.ui.shell_helpers import open_panel


def rule_names(panel: AlertsPanel) -> list[str]:
    proxy = panel.rule_proxy
    return [proxy.index(r, 0).data() for r in range(proxy.rowCount())]


def column(panel: AlertsPanel, title: str) -> list[str]:
    proxy, c = panel.rule_proxy, RULE_COLUMNS.index(title)
    return [proxy.index(r, c).data() for r in range(proxy.rowCount())]


@pytest.fixture
def panel(qtbot, ws):  # noqa: ANN001, ANN201
    make_session(ws, "treasurer")
    p = open_panel(qtbot, ws, AlertsPanel)
    p.tabs.setCurrentIndex(2)
    return p


def edit_dialog(qtbot, panel: AlertsPanel, name: str) -> AlertRuleDialog:  # noqa: ANN001
    assert panel.select_rule(next(r.id for r in panel.rules if r.name == name))
    assert panel.edit_rule_button.isEnabled()
    dialog = panel.open_edit_rule()
    qtbot.addWidget(dialog)
    return dialog


def test_rules_table_sorts_and_shows_who_changed_each_rule(panel, ws) -> None:  # noqa: ANN001
    assert panel.rule_model.rowCount() == len(ws.alerts.rules()) == 11
    assert "Last changed" in RULE_COLUMNS and all(c.startswith("migration") for c in column(panel, "Last changed"))
    panel.rule_table.sortByColumn(RULE_COLUMNS.index("Threshold"), Qt.SortOrder.DescendingOrder)
    thresholds = [float(t) for t in column(panel, "Threshold")]
    assert thresholds == sorted(thresholds, reverse=True) and thresholds[0] == 0.10   # numeric, not text
    panel.rule_table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert rule_names(panel) == sorted(rule_names(panel), key=str.casefold)
    assert not panel.edit_rule_button.isEnabled()     # nothing selected yet
    assert not panel.app.extra["errors"]


def test_add_rule_checks_the_form_then_saves(qtbot, panel, ws) -> None:  # noqa: ANN001
    dialog = panel.open_add_rule()
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "Add an alert rule" and not dialog.name_edit.isReadOnly()
    dialog.save_button.click()
    assert dialog.error_label.text() == "enter a name for the rule" and dialog.isVisible()
    dialog.name_edit.setText("portfolio DRAWDOWN")
    dialog.save_button.click()
    assert "exists already: edit that one instead" in dialog.error_label.text()
    dialog.name_edit.setText("EUR balance floor")
    dialog.set_measure("liquidity", "balance_below_min")
    assert dialog.comparison_combo.currentData() == "below"          # the sensible default for a floor
    assert "currency" in dialog.threshold_note.text()
    dialog.threshold_edit.setText("2,500")
    dialog.save_button.click()
    assert "must be a number" in dialog.error_label.text()
    assert dialog.focusWidget() is dialog.threshold_edit or dialog.threshold_edit.hasFocus()
    dialog.threshold_edit.setText("-2500")
    dialog.severity_combo.setCurrentIndex(dialog.severity_combo.findData("critical"))
    dialog.path_edit.setText("role:treasurer, role:boss")
    dialog.save_button.click()
    assert "unknown role in “role:boss”" in dialog.error_label.text()
    dialog.path_edit.setText("role:treasurer")
    dialog.escalate_box.setChecked(True)
    dialog.minutes_field.setValue(20)
    dialog.save_button.click()
    assert "at least two steps" in dialog.error_label.text()
    dialog.path_edit.setText("role:treasurer, role:admin")
    assert ws.alerts.rules().__len__() == 11                         # nothing sent so far
    dialog.save_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.error_label.text()
    saved = next(r for r in ws.alerts.rules() if r.name == "EUR balance floor")
    assert (saved.source, saved.metric, saved.comparison, saved.threshold, saved.severity) == \
        ("liquidity", "balance_below_min", "below", "-2500", "critical")
    assert saved.escalation_minutes == 20 and saved.escalation_path == ("role:treasurer", "role:admin")
    assert saved.updated_by == "treasurer" and saved.enabled
    assert "EUR balance floor" in rule_names(panel) and panel.selected_rule().name == "EUR balance floor"
    assert "added" in panel.last_message


def test_edit_keeps_the_name_and_parameters_and_can_disable(qtbot, panel, ws) -> None:  # noqa: ANN001
    dialog = edit_dialog(qtbot, panel, "Portfolio loss over 5 days")
    assert dialog.name_edit.isReadOnly() and "Last changed by migration" in dialog.changed_label.text()
    assert dialog.threshold_edit.text() == "0.03" and "= 3 %" in dialog.threshold_note.text()
    assert "days = 5" in dialog.params_hint.text()
    dialog.threshold_edit.setText("0.04")
    dialog.enabled_box.setChecked(False)
    dialog.save_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.error_label.text()
    rule = next(r for r in ws.alerts.rules() if r.name == "Portfolio loss over 5 days")
    assert rule.threshold == "0.04" and not rule.enabled and rule.params == {"days": 5}
    row = next(r for r in range(panel.rule_proxy.rowCount())
               if panel.rule_proxy.index(r, 0).data(ID_ROLE) == rule.id)
    assert panel.rule_proxy.index(row, RULE_COLUMNS.index("Enabled")).data() == "no"
    assert panel.rule_proxy.index(row, RULE_COLUMNS.index("Last changed")).data().startswith("treasurer · ")
    assert "(disabled)" in panel.last_message


def test_event_rule_has_no_threshold_to_edit(qtbot, panel) -> None:  # noqa: ANN001
    dialog = edit_dialog(qtbot, panel, "Connection sync failed")
    assert not dialog.threshold_edit.isEnabled() and not dialog.comparison_combo.isEnabled()
    assert "not used" in dialog.threshold_note.text()
    assert dialog.values()["threshold"] == "0"


def test_service_errors_are_shown_in_the_dialog(qtbot, panel, ws) -> None:  # noqa: ANN001
    dialog = edit_dialog(qtbot, panel, "Position weight")
    make_session(ws, "viewer")                     # e.g. the session changed while the dialog was open
    dialog.threshold_edit.setText("0.2")
    dialog.save_button.click()
    assert dialog.result() != QDialog.DialogCode.Accepted and dialog.save_button.isEnabled()
    assert "may not change an alert rule" in dialog.error_label.text() and not dialog.error_label.isHidden()
    assert not panel.app.extra["errors"]           # a CioError: words in the dialog, no crash dialog


def test_stale_edit_is_refused_and_the_dialog_reloads(qtbot, panel, ws, clock) -> None:  # noqa: ANN001
    dialog = edit_dialog(qtbot, panel, "Portfolio drawdown")
    shown = dialog.rule
    other = reopen(ws, clock)                      # another workstation saves the rule meanwhile
    try:
        make_session(other, "admin")
        clock.advance(minutes=2)
        theirs = other.alerts.save_rule(name=shown.name, source=shown.source, metric=shown.metric,
                                        threshold="0.07", escalation_path=list(shown.escalation_path),
                                        seen=shown.updated_at)
    finally:
        other.close()
    clock.advance(minutes=1)
    dialog.threshold_edit.setText("0.03")
    dialog.severity_combo.setCurrentIndex(dialog.severity_combo.findData("critical"))
    dialog.save_button.click()
    text = dialog.error_label.text()
    assert dialog.result() != QDialog.DialogCode.Accepted and dialog.isVisible()
    assert f"changed by admin at {theirs.updated_at:%Y-%m-%d %H:%M:%S} UTC" in text and "Reloaded" in text
    assert dialog.threshold_edit.text() == "0.07" and dialog.severity_combo.currentData() == "warning"
    assert "Last changed by admin" in dialog.changed_label.text()
    assert next(r for r in ws.alerts.rules() if r.name == "Portfolio drawdown").threshold == "0.07"
    assert "0.07" in column(panel, "Threshold")    # the table reloaded too
    assert not panel.app.extra["errors"]
    # the change made again on top of the current version goes through
    dialog.threshold_edit.setText("0.03")
    dialog.save_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.error_label.text()
    assert next(r for r in ws.alerts.rules() if r.name == "Portfolio drawdown").threshold == "0.03"


def test_new_rule_created_meanwhile_elsewhere_turns_the_dialog_into_its_editor(qtbot, panel, ws, clock) -> None:  # noqa: ANN001
    dialog = panel.open_add_rule()
    qtbot.addWidget(dialog)
    other = reopen(ws, clock)
    try:
        make_session(other, "admin")
        other.alerts.save_rule(name="Weight cap", source="portfolio", metric="weight", threshold="0.25", seen=None)
    finally:
        other.close()
    dialog.name_edit.setText("Weight cap")
    dialog.set_measure("portfolio", "weight")
    dialog.threshold_edit.setText("0.15")
    dialog.save_button.click()
    assert "'Weight cap' was created by admin" in dialog.error_label.text()
    assert dialog.name_edit.isReadOnly() and dialog.threshold_edit.text() == "0.25"
    assert dialog.windowTitle() == "Edit alert rule “Weight cap”"


def test_rule_buttons_follow_the_role(qtbot, ws) -> None:  # noqa: ANN001
    make_session(ws, "viewer")
    viewer = open_panel(qtbot, ws, AlertsPanel)
    assert viewer.add_rule_button.isHidden() and viewer.edit_rule_button.isHidden()
    viewer.rule_table.selectRow(0)
    viewer.rule_table.doubleClicked.emit(viewer.rule_proxy.index(0, 0))
    assert viewer.rule_dialog is None
    make_session(ws, "admin")
    admin = open_panel(qtbot, ws, AlertsPanel)
    assert not admin.add_rule_button.isHidden()
