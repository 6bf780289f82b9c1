"""Desktop notifications: the interface the notification service calls.

The real implementation is Qt's ``QSystemTrayIcon.showMessage`` (``ui/tray.py``), injected by
the window: one API that shows a native notification on Windows (Action Center toast), macOS
(Notification Center) and Linux (the freedesktop ``org.freedesktop.Notifications`` D-Bus service,
which Qt uses when the desktop offers a StatusNotifierItem tray). It needs no extra dependency and
works wherever the app already runs; a plain D-Bus call would cover Linux only. Without a window
(``cio-desktop jobs run-forever``) no notifier is installed and the desktop channel is reported as
"not available" (the delivery is recorded as skipped), so the other channels carry the alert.
"""

from __future__ import annotations

import threading
from typing import Protocol

from cio_desktop.integrations.notify.base import ChannelUnavailable, OutgoingMessage


class DesktopNotifier(Protocol):
    def notify(self, message: OutgoingMessage) -> None:
        """Show the message; raise DeliveryFailed when it cannot be shown."""


class NoDesktop:
    def notify(self, message: OutgoingMessage) -> None:
        raise ChannelUnavailable("desktop", "no desktop session to show notifications in (running headless)")


class RecordingDesktop:
    """Keeps what it was asked to show (headless runs that still want a record; tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.shown: list[OutgoingMessage] = []

    def notify(self, message: OutgoingMessage) -> None:
        with self._lock:
            self.shown.append(message)
