"""The connection dialog in team mode (issue 12): a save made stale by another user's change is
refused with who and when, and the dialog and the table then show the current settings; a sync
that rewrote the row meanwhile is not a conflict (workers run at once, offscreen)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialog

from cio_desktop.storage.models import Connection
from cio_desktop.ui.panels.connections import ConnectionsPanel
from tests.postgres_fixtures import reopen
from tests.property.helpers import make_session
from tests.ui.shell_helpers import open_panel


@pytest.fixture
def panel(qtbot, ws):  # noqa: ANN001, ANN201
    make_session(ws, "treasurer")           # a fresh two-factor code: saving asks for none
    ws.sync.create_connection(name="Nordbank", kind="banking", base_url="https://api.nordbank.example/v1",
                              auth_kind="none", interval_minutes=15)
    p = open_panel(qtbot, ws, ConnectionsPanel)
    assert [r["Name"] for r in p.row_texts()] == ["Nordbank"]
    return p


def open_edit(qtbot, panel: ConnectionsPanel):  # noqa: ANN001, ANN201
    dialog = panel.open_edit()
    qtbot.addWidget(dialog)
    assert "Settings last changed by treasurer" in dialog.changed_label.text()
    return dialog


def test_stale_save_is_refused_then_the_dialog_shows_the_current_settings(qtbot, panel, ws, clock) -> None:  # noqa: ANN001
    dialog = open_edit(qtbot, panel)
    other = reopen(ws, clock)
    try:
        make_session(other, "admin")
        clock.advance(minutes=2)
        view = other.sync.list_connections()[0]
        theirs = other.sync.update_connection(view.id, interval_minutes=60, seen=view.settings_updated_at)
    finally:
        other.close()
    make_session(ws, "treasurer")
    dialog.interval_field.setValue(45)
    dialog.url_edit.setText("https://api.nordbank.example/v2")
    dialog.save_button.click()
    text = dialog.error_label.text()
    assert dialog.result() != QDialog.DialogCode.Accepted and dialog.isVisible()
    assert f"'Nordbank' was changed by admin at {theirs.settings_updated_at:%Y-%m-%d %H:%M:%S} UTC" in text
    assert "Reloaded" in text and "not saved" in text
    assert dialog.interval_field.value() == 60 and dialog.url_edit.text().endswith("/v1")
    assert "Settings last changed by admin" in dialog.changed_label.text()
    assert panel.row_texts()[0]["Interval"] == "1 h"                 # the table reloaded as well
    assert ws.sync.list_connections()[0].base_url.endswith("/v1")
    assert not panel.app.extra["errors"]
    dialog.interval_field.setValue(45)                               # made again on top: saved
    dialog.save_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.error_label.text()
    assert ws.sync.list_connections()[0].interval_minutes == 45
    assert panel.row_texts()[0]["Interval"] == "45 min"


def test_a_sync_meanwhile_is_not_a_conflict(qtbot, panel, ws, clock) -> None:  # noqa: ANN001
    dialog = open_edit(qtbot, panel)
    other = reopen(ws, clock)
    try:
        with other.db.unit_of_work() as uow:                         # what a sync writes to the row
            row = uow.execute(Connection.__table__.select()).first()
            c = uow.get(Connection, row.id)
            c.cursor_json, c.last_error, c.last_started_at = '{"acc": "p2"}', "HTTP 503", clock.advance(minutes=1)
    finally:
        other.close()
    make_session(ws, "treasurer")
    dialog.interval_field.setValue(30)
    dialog.save_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.error_label.text()
    assert ws.sync.list_connections()[0].interval_minutes == 30
