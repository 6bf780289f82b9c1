"""Alerts (notification centre) and Jobs panels, and the notification-preferences dialog, over
the demo company (workers run at once, offscreen)."""

from __future__ import annotations

from cio_desktop.jobs.scheduler import JOBS

import os
from pathlib import Path

import pytest

from cio_desktop.integrations.notify.desktop import RecordingDesktop
from cio_desktop.services.notifications import install_desktop_notifier
from cio_desktop.ui.panels.alerts import AlertsPanel
from cio_desktop.ui.panels.jobs import JobsPanel
from cio_desktop.ui.panels.registry import PANELS
from tests.conftest import login
from tests.ui.shell_helpers import make_ui

SHOTS = Path(os.environ.get("CIO_SHOTS", "/tmp/cio-shots-alerts"))


def open_panel(qtbot, ws, cls):  # noqa: ANN001, ANN201
    ui = make_ui(ws)
    opened: list[tuple[str, str]] = []
    ui.extra["open_panel"] = lambda name, ref="": opened.append((name, ref))
    ui.extra["opened"] = opened
    panel = cls(ui)
    qtbot.addWidget(panel)
    ui.bridge.event.connect(lambda topic, data: topic in panel.TOPICS and panel.on_changes(topic, data))
    panel.resize(1400, 820)
    panel.show()
    panel.ensure_built()
    panel.on_shown()
    return panel


def shot(panel, name: str) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()  # children added after show() appear on the next event-loop pass
    SHOTS.mkdir(parents=True, exist_ok=True)
    panel.grab().save(str(SHOTS / f"{name}.png"))


def test_registry_has_alerts_and_jobs():
    names = [p.NAME for p in PANELS]
    assert "alerts" in names and "jobs" in names
    assert AlertsPanel.SHORTCUT == "Ctrl+Shift+N" and JobsPanel.SHORTCUT == "Ctrl+Shift+J"


@pytest.fixture
def alerts_panel(qtbot, demo_ws):  # noqa: ANN001, ANN201
    login(demo_ws, "treasurer")
    install_desktop_notifier(demo_ws.ctx.bus, RecordingDesktop())
    demo_ws.alerts.generate_alert("Balance below minimum", "account:1", "-2500", label="Operating EUR",
                                  unit="EUR", panel="accounts", ref="account:1")
    aid = demo_ws.alerts.generate_alert("Portfolio drawdown", "portfolio:1", "0.08", label="Treasury", unit="%",
                                        panel="portfolio", ref="portfolio:1").alert_id
    demo_ws.notifications.send_alert(aid)
    return open_panel(qtbot, demo_ws, AlertsPanel)


def test_alerts_panel_shows_notifications_alerts_and_rules(alerts_panel, demo_ws):  # noqa: ANN001
    panel = alerts_panel
    assert not panel.app.extra["errors"]
    assert panel.note_model.rowCount() == len(demo_ws.notifications.inbox()) >= 1
    assert panel.alert_model.rowCount() == len(demo_ws.alerts.list_alerts()) == 2
    assert panel.rule_model.rowCount() == len(demo_ws.alerts.rules())
    assert panel.badge == demo_ws.notifications.unread_count() >= 1
    panel.tabs.setCurrentIndex(1)
    shot(panel, "alerts")
    # open a notification: marked read and the related place opened
    panel.tabs.setCurrentIndex(0)
    panel.note_table.selectRow(0)
    panel.open_selected_note()
    assert panel.app.extra["opened"] == [("portfolio", "portfolio:1")]
    assert demo_ws.notifications.unread_count() == 0 and panel.badge == 0
    # acknowledge the critical alert (confirmation asked)
    asked = []
    panel.confirm = lambda *a, **k: asked.append(a) or True
    critical = next(a for a in panel.alerts if a.severity == "critical")
    assert panel.select_alert(critical.id)
    panel.acknowledge_selected()
    assert asked and demo_ws.alerts.get(critical.id).acknowledged_by == "treasurer"
    assert not panel.ack_button.isEnabled()
    panel.check_now()
    assert "rules checked" in panel.last_message
    panel.tabs.setCurrentIndex(3)
    panel.build_summary()
    text = panel.summary_text.toPlainText()
    assert "Balances by currency" in text and "13-week cash outlook" in text
    shot(panel, "summary")


def test_preferences_dialog_saves_and_refuses_bad_input(qtbot, demo_ws):  # noqa: ANN001
    from cio_desktop.ui.dialogs.notification_prefs import NotificationPrefsDialog

    login(demo_ws, "admin")
    ui = make_ui(demo_ws)
    dialog = NotificationPrefsDialog(ui)
    qtbot.addWidget(dialog)
    assert dialog.boxes[("critical", "email")].isChecked()    # the defaults
    assert dialog.smtp, "an administrator configures the channels"
    dialog.boxes[("info", "sms")].setChecked(True)
    dialog.phone.setText("12345")
    dialog.save()
    assert "international form" in dialog.status.text() and dialog.status.isVisibleTo(dialog)
    dialog.phone.setText("+4917012345678")
    dialog.quiet_enabled.setChecked(True)
    dialog.email.setText("admin@cio.test")
    dialog.resize(640, 760)
    dialog.show()
    shot(dialog, "preferences")
    dialog.save()
    prefs = demo_ws.notifications.preferences()
    assert "sms" in prefs.channels["info"] and prefs.quiet_start == "22:00" and prefs.email == "admin@cio.test"


def test_jobs_panel_lists_runs_and_pauses(qtbot, demo_ws):  # noqa: ANN001
    login(demo_ws, "treasurer")
    panel = open_panel(qtbot, demo_ws, JobsPanel)
    try:
        assert not panel.app.extra["errors"]
        assert panel.model.rowCount() == len(JOBS)
        assert panel.select_job("escalation")
        panel.run_selected()
        assert "ok" in panel.last_message
        panel.toggle_pause()
        assert {j.name: j for j in panel.rows}["escalation"].paused
        assert panel.select_job("daily_summary")
        panel.ask_cron = lambda current: ("nonsense", True)
        panel.schedule_selected()
        assert "not a valid cron expression" in panel.last_message
        panel.ask_cron = lambda current: ("0 6 * * 1-5", True)
        panel.schedule_selected()
        assert {j.name: j for j in panel.rows}["daily_summary"].schedule == "0 6 * * 1-5"
        shot(panel, "jobs")
    finally:
        if panel._own is not None:
            panel._own.stop()
