"""Connections panel and dialog against the real local HTTPS test server (workers run at once)."""

from __future__ import annotations

import random

import pytest
from PySide6.QtWidgets import QDialog, QLineEdit
from sqlalchemy import func, select

from cio_desktop.security import totp
from cio_desktop.services.sync import SyncService
from cio_desktop.storage.models import Transaction
from cio_desktop.ui.dialogs.connection_dialog import ConnectionDialog
from cio_desktop.ui.main_window import MainWindow
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.panels.connections import C_ERROR, C_NAME, COLUMNS, ConnectionsPanel
from cio_desktop.ui.panels.registry import PANELS
from cio_desktop.ui.widgets.format import negative_color
from tests.conftest import TEST_TOTP_SECRET, login
from tests.integration.http_server import (  # noqa: F401 — fixtures
    CLIENT_ID, CLIENT_SECRET, api_server, pki, start_server)
from tests.ui.shell_helpers import make_prefs, make_ui


def ledger(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(Transaction)).scalar_one()


@pytest.fixture
def sleeps(ws):  # noqa: ANN001, ANN201
    """The sync service with its back-off sleeps recorded instead of slept."""
    recorded: list[float] = []
    ws.sync = SyncService(ws.ctx, sleep=recorded.append, rng=random.Random(3))
    return recorded


@pytest.fixture
def window_for(qtbot, ws, tmp_path, sleeps):  # noqa: ANN001, ANN201
    made = []

    def make(role: str = "treasurer", panels=(ConnectionsPanel,)) -> MainWindow:  # noqa: ANN001
        login(ws, role)
        ui = make_ui(ws)
        window = MainWindow(ui, list(panels), prefs=make_prefs(tmp_path))
        qtbot.addWidget(window)
        window.resize(1300, 800)
        window.show()
        window.show_panel("connections")
        made.append(window)
        return window

    yield make
    for w in made:
        w.teardown()


def answer_mfa(qtbot, ws, run) -> None:  # noqa: ANN001
    assert run is not None and run.dialog is not None, "no two-factor prompt"
    run.dialog.code_edit.setText(totp.code_at(TEST_TOTP_SECRET, ws.ctx.now()))
    run.dialog.submit()


def add_connection(qtbot, ws, panel: ConnectionsPanel, server, pki, name: str = "Test Bank") -> ConnectionDialog:  # noqa: ANN001
    dialog = panel.open_add()
    qtbot.addWidget(dialog)
    dialog.name_edit.setText(name)
    dialog.set_kind("banking")
    dialog.url_edit.setText(server.url)
    dialog.set_auth_kind("oauth2")
    dialog.token_url_edit.setText(server.token_url)
    dialog.client_id_edit.setText(CLIENT_ID)
    dialog.client_secret_edit.setText(CLIENT_SECRET)
    dialog.ca_field.setText(str(pki.ca_cert))
    dialog.timeout_field.setValue(0.5)
    dialog.page_field.setValue(5)
    dialog.save_button.click()
    answer_mfa(qtbot, ws, dialog.sensitive_run)
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.error_label.text()
    return dialog


def test_panel_contract_and_registry() -> None:
    assert (ConnectionsPanel.NAME, ConnectionsPanel.TITLE, ConnectionsPanel.SHORTCUT) == \
        ("connections", "Connections", "Ctrl+3")
    assert ConnectionsPanel.PERMISSION.value == "accounts.read"
    assert ConnectionsPanel.TOPICS == ("connections.changed", "sync.completed", "sync.failed")
    assert ConnectionsPanel in PANELS and issubclass(ConnectionsPanel, Panel)


def test_add_test_sync_fail_and_recent_runs(qtbot, ws, window_for, api_server, pki, sleeps) -> None:  # noqa: ANN001
    window = window_for("treasurer")
    panel: ConnectionsPanel = window.panel("connections")
    assert panel.row_texts() == [] and "No connections yet" in panel.runs_hint.text()

    dialog = add_connection(qtbot, ws, panel, api_server, pki)
    view = dialog.result_value
    assert view.name == "Test Bank" and view.has_credentials
    assert view.settings["ca_bundle_path"] == str(pki.ca_cert) and view.settings["page_size"] == 5
    assert dialog.client_secret_edit.text() == ""  # never kept in the widget
    rows = panel.row_texts()
    assert len(rows) == 1 and rows[0]["Name"] == "Test Bank" and rows[0]["Auth"] == "OAuth2"
    assert rows[0]["Last sync started"] == "never" and rows[0]["Next sync"] == "due now"
    assert panel.selected().id == view.id

    panel.test_button.click()
    assert panel.last_message == "Test Bank: OK: 3 accounts"
    assert not panel.message_label.isHidden()

    before = ledger(ws)
    panel.sync_button.click()
    assert ledger(ws) - before == 30
    assert "30 new transactions" in panel.last_message
    assert window.sync_label.text().startswith("Last sync: ") and "(Test Bank)" in window.sync_label.text()
    assert not window.sync_label.property("failed")
    rows = panel.row_texts()
    assert rows[0]["Last sync started"] != "never" and rows[0]["Last success"] != "never"
    assert rows[0]["Last error"] == ""
    assert [r.status for r in panel.runs] == ["ok"]
    assert panel.runs_table.rowCount() == 1
    assert panel.runs_table.item(0, 2).text() == "ok" and panel.runs_table.item(0, 3).text() == "30"

    api_server.fail_next(50, 503)
    panel.sync_button.click()
    assert "sync failed" in panel.last_message and "503" in panel.last_message
    assert panel.message_label.property("error")
    assert len(sleeps) == 4  # the client retried with back-off before giving up
    error = panel.row_texts()[0]["Last error"]
    assert "503" in error
    error_item = panel.model.item(0, C_ERROR)
    assert error_item.foreground().color() == negative_color()
    assert panel.model.item(0, C_NAME).foreground().color() == negative_color()
    assert "1 failing" in panel.count_label.text()
    assert "(Test Bank)" in window.sync_label.text() and "failed" in window.sync_label.text()
    assert window.sync_label.property("failed") and "503" in window.sync_label.toolTip()
    assert "color" in window.sync_label.styleSheet()
    assert [r.status for r in panel.runs] == ["failed", "ok"]
    assert panel.runs_table.item(0, 2).foreground().color() == negative_color()
    assert "503" in panel.runs_table.item(0, 5).text()
    assert ledger(ws) - before == 30

    api_server.state.faults.clear()
    panel.sync_button.click()  # recovered: the error goes, nothing is imported twice
    assert panel.row_texts()[0]["Last error"] == "" and ledger(ws) - before == 30
    assert not window.sync_label.property("failed")
    assert [r.status for r in panel.runs] == ["ok", "failed", "ok"]
    assert not panel.app.extra["errors"]
    # a new window (the next sign-in) reads the last sync back from the database
    window.teardown()
    again = window_for("viewer")
    assert "(Test Bank)" in again.sync_label.text() and not again.sync_label.property("failed")


def test_pause_resume_and_edit_keep_the_stored_secret(qtbot, ws, window_for, api_server, pki) -> None:  # noqa: ANN001
    window = window_for("treasurer")
    panel: ConnectionsPanel = window.panel("connections")
    add_connection(qtbot, ws, panel, api_server, pki)

    assert panel.pause_button.text() == "Pause"
    run = panel.pause_button.click() or panel.last_run
    assert run.done and run.dialog is None  # the code given when adding is still fresh
    row = panel.row_texts()[0]
    assert row["Paused"] == "yes" and row["Next sync"] == "paused"
    assert panel.pause_button.text() == "Resume"
    panel.pause_button.click()
    assert panel.row_texts()[0]["Paused"] == "no" and panel.pause_button.text() == "Pause"

    dialog = panel.open_edit()
    qtbot.addWidget(dialog)
    assert dialog.name_edit.isReadOnly() and not dialog.auth_combo.isEnabled()
    assert dialog.token_url_edit.text() == api_server.token_url
    assert dialog.client_secret_edit.text() == "" and "leave empty to keep" in dialog.client_secret_edit.placeholderText()
    assert dialog.client_secret_edit.echoMode() == QLineEdit.EchoMode.Password
    assert dialog.credentials() is None
    dialog.interval_field.setValue(60)
    dialog.save_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.error_label.text()
    assert panel.row_texts()[0]["Interval"] == "1 h"
    panel.test_button.click()  # the stored secret still works
    assert panel.last_message == "Test Bank: OK: 3 accounts"


def test_dialog_checks_the_form_before_asking_for_a_code(qtbot, ws, window_for) -> None:  # noqa: ANN001
    window = window_for("treasurer")
    panel: ConnectionsPanel = window.panel("connections")
    dialog = panel.open_add()
    qtbot.addWidget(dialog)
    dialog.name_edit.setText("Bank")
    dialog.url_edit.setText("https://api.bank.example/v1")
    dialog.set_auth_kind("oauth2")
    assert dialog.form.isRowVisible(dialog.token_url_edit)
    assert not dialog.form.isRowVisible(dialog.api_key_edit)
    dialog.save_button.click()
    assert "token URL" in dialog.error_label.text() and dialog.sensitive_run is None
    assert dialog.token_url_edit.hasFocus() or dialog.focusWidget() is dialog.token_url_edit
    dialog.set_auth_kind("api_key")
    assert dialog.form.isRowVisible(dialog.api_key_edit) and not dialog.form.isRowVisible(dialog.token_url_edit)
    dialog.save_button.click()
    assert dialog.error_label.text() == "enter the API key"
    dialog.url_edit.setText("http://api.bank.example/v1")
    dialog.api_key_edit.setText("k")
    dialog.save_button.click()
    assert "https" in dialog.error_label.text().lower()
    dialog.reject()
    assert dialog.api_key_edit.text() == ""


def test_buttons_follow_the_role(qtbot, ws, window_for) -> None:  # noqa: ANN001
    window = window_for("viewer")
    panel: ConnectionsPanel = window.panel("connections")
    assert panel is not None
    for b in (panel.add_button, panel.edit_button, panel.pause_button, panel.test_button, panel.sync_button):
        assert b.isHidden()
    window.teardown()
    window = window_for("admin")
    panel = window.panel("connections")
    for b in (panel.add_button, panel.edit_button, panel.pause_button, panel.test_button, panel.sync_button):
        assert not b.isHidden()
    window.teardown()
    window = window_for("analyst")
    panel = window.panel("connections")
    assert panel.add_button.isHidden() and panel.sync_button.isHidden()


def test_status_bar_follows_background_sync_events(qtbot, ws, window_for) -> None:  # noqa: ANN001
    window = window_for("viewer")
    assert window.sync_label.text() == "Last sync: never"
    ws.ctx.bus.publish("sync.failed", connection="Bank X", new=0, error="HTTP 503 after 5 attempts")
    assert "(Bank X)" in window.sync_label.text() and window.sync_label.property("failed")
    assert "HTTP 503" in window.sync_label.toolTip()
    ws.ctx.bus.publish("sync.completed", connection="Bank Y", new=4, error="")
    assert "(Bank Y)" in window.sync_label.text() and not window.sync_label.property("failed")
    assert window.sync_label.styleSheet() == ""


def test_columns_are_the_documented_ones() -> None:
    assert COLUMNS == ("Name", "Kind", "Base URL", "Auth", "Interval", "Paused", "Last sync started",
                       "Last success", "Next sync", "Last error")


def test_background_jobs_start_after_login_and_stop_at_logout(qtbot, ws, tmp_path, api_server, pki, sleeps) -> None:  # noqa: ANN001
    """app.py starts the scheduler for the signed-in user; its sync reaches the window only
    through bus events; signing out stops it."""
    from PySide6.QtWidgets import QApplication

    from cio_desktop.app import AppController
    from cio_desktop.integrations.http import Credentials

    login(ws, "treasurer", mfa=True)
    ws.sync.create_connection(
        name="Night Bank", kind="banking", base_url=api_server.url, auth_kind="oauth2",
        settings={"token_url": api_server.token_url, "client_id": CLIENT_ID,
                  "ca_bundle_path": str(pki.ca_cert), "timeout": 0.5, "page_size": 5},
        credentials=Credentials(client_secret=CLIENT_SECRET))
    ui = make_ui(ws)
    shown: list[BaseException] = []
    controller = AppController(QApplication.instance(), ui, panels=[ConnectionsPanel], theme=None,
                               prefs=make_prefs(tmp_path), presenter=shown.append, exit_after_start=False)
    try:
        controller.open_window()
        window = controller.window
        qtbot.addWidget(window)
        jobs = controller.jobs
        assert jobs is not None and jobs._scheduler.running
        assert jobs.ws.ctx.session is not ws.ctx.session  # a background copy of the same user
        before = ledger(ws)
        jobs.sync_tick()  # what APScheduler runs every minute
        assert ledger(ws) - before == 30
        assert "(Night Bank)" in window.sync_label.text() and not window.sync_label.property("failed")
        assert window.panel("connections").row_texts()[0]["Last success"] != "never"
        controller.logout()
        assert controller.jobs is None and not jobs._scheduler.running
        assert controller.window is None and controller.login_dialog is not None
    finally:
        controller.stop_jobs()
        if controller.login_dialog is not None:  # closing it must not quit the test's QApplication
            controller.login_dialog.rejected.disconnect(controller._login_cancelled)
            controller.login_dialog.close()
        controller.shutdown()
