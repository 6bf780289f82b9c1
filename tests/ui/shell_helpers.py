"""Helpers shared by the shell tests (login, main window, security panels)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from cio_desktop.services.users import provision_user
from cio_desktop.ui.models.portfolio_models import ROW_ROLE
from cio_desktop.ui.context import UiContext
from cio_desktop.ui.event_bridge import EventBridge
from cio_desktop.ui.workers import WorkerPool


def make_ui(ws) -> UiContext:  # noqa: ANN001
    """A UiContext whose workers run at once and whose errors are recorded in ``extra['errors']``."""
    errors: list[BaseException] = []
    ui = UiContext(workspace=ws, settings=ws.ctx.settings,
                   workers=WorkerPool(errors.append, immediate=True),
                   bridge=EventBridge(ws.ctx.bus), show_error=errors.append)
    ui.extra["errors"] = errors
    return ui


def make_prefs(root: Path) -> QSettings:
    return QSettings(str(root / "ui-test.ini"), QSettings.Format.IniFormat)


def add_user_without_mfa(ws, name: str, role: str, password: str) -> None:  # noqa: ANN001
    with ws.db.unit_of_work() as uow:
        provision_user(uow, ws.ctx, username=name, role=role, password=password, actor="test")


def open_panel(qtbot, ws, cls):  # noqa: ANN001, ANN201
    """One panel on its own, built and shown at a desktop size, refreshing on bus events."""
    ui = make_ui(ws)
    panel = cls(ui)
    qtbot.addWidget(panel)
    ui.bridge.event.connect(lambda topic, data: topic in panel.TOPICS and panel.on_changes(topic, data))
    panel.resize(1440, 920)
    panel.show()
    panel.ensure_built()
    panel.on_shown()
    return panel


def rows(proxy) -> list[dict]:  # noqa: ANN001
    """The row dicts a table model (or its proxy) shows, in display order."""
    return [proxy.index(r, 0).data(ROW_ROLE) for r in range(proxy.rowCount())]
