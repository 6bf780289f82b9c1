"""Desktop notifications through the system tray (``QSystemTrayIcon.showMessage``).

Why this and not D-Bus directly: one Qt API gives native notifications on Windows (toast /
Action Center), macOS (Notification Center) and Linux, where Qt forwards to the freedesktop
``org.freedesktop.Notifications`` D-Bus service whenever the desktop has a StatusNotifierItem
tray — so no extra dependency and the same code on the three systems. Where no tray exists
(a bare X session, offscreen tests) ``notify`` raises ``ChannelUnavailable``: the delivery is
recorded as skipped and the other channels carry the alert.

``notify`` may be called from any thread (the scheduler's, a worker): it hands the message to
the GUI thread by signal. Clicking the message opens the related panel.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QStyle, QSystemTrayIcon

from cio_desktop.integrations.notify.base import ChannelUnavailable, OutgoingMessage
from cio_desktop.services.notifications import install_desktop_notifier

log = logging.getLogger(__name__)

ICONS = {"critical": QSystemTrayIcon.MessageIcon.Critical, "warning": QSystemTrayIcon.MessageIcon.Warning,
         "info": QSystemTrayIcon.MessageIcon.Information}


class TrayNotifier(QObject):
    _show = Signal(object)

    def __init__(self, open_panel: Callable[[str, str], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.open_panel = open_panel
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self.tray: QSystemTrayIcon | None = None
        self.last: OutgoingMessage | None = None
        if self.available:
            icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
            self.tray = QSystemTrayIcon(icon, self)
            self.tray.setToolTip("CIO Desktop")
            self.tray.messageClicked.connect(self._clicked)
            self.tray.show()
        self._show.connect(self._display)

    def notify(self, message: OutgoingMessage) -> None:
        if not self.available:
            raise ChannelUnavailable("desktop", "this desktop has no system tray for notifications")
        self._show.emit(message)

    def _display(self, message: OutgoingMessage) -> None:
        self.last = message
        if self.tray is not None:
            self.tray.showMessage(message.subject, message.body[:300], ICONS.get(message.severity,
                                  QSystemTrayIcon.MessageIcon.Information), 10000)

    def _clicked(self) -> None:
        if self.last is not None:
            self.open_panel(self.last.panel, self.last.ref)

    def close(self) -> None:
        if self.tray is not None:
            self.tray.hide()


def install_tray(window: Any, ui_ctx: Any) -> Callable[[], None]:
    """Create the tray notifier for ``window`` and install it for the workspace's bus; returns
    the uninstall function (call it when the window is torn down)."""
    notifier = TrayNotifier(lambda panel, ref: open_ref(window, panel, ref), window)
    uninstall = install_desktop_notifier(ui_ctx.workspace.ctx.bus, notifier)

    def remove() -> None:
        uninstall()
        notifier.close()

    return remove


SELECTORS = {"payment": "select_payment", "account": "select_account", "connection": "select_connection",
             "alert": "select_alert", "job": "select_job"}


def open_ref(window: Any, panel: str, ref: str = "") -> bool:
    """Show ``panel`` and, when ``ref`` is "kind:id" and the panel can select that, select it."""
    if not window.show_panel(panel):
        return False
    kind, _, ident = (ref or "").partition(":")
    target = next((p for p in window.panels if p.NAME == panel), None)
    method = getattr(target, SELECTORS.get(kind, ""), None) if target is not None else None
    if method is not None and ident:
        try:
            method(int(ident) if ident.isdigit() else ident)
        except Exception:  # noqa: BLE001 — navigation is a convenience; never fail the click
            log.exception("could not select %s in %s", ref, panel)
    window.raise_()
    window.activateWindow()
    return True
