"""Idle lock: an input watcher on the application and the overlay that hides the window.

``IdleWatcher`` filters every event of the application, notes the time of the last keyboard or
mouse input, and emits ``idle`` after ``timeout_ms`` without any. ``LockOverlay`` covers the
whole main window (the panels stay as they were, hidden behind it) and asks for the password:
``auth.unlock`` lifts the lock; a lock-out ends the session (``session_ended``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget)

from cio_desktop.errors import AccountLocked, NotAuthenticated
from cio_desktop.ui.dialogs.common import (hint_label, inline_error, primary_button, show_status,
                                           status_label, title_label)

log = logging.getLogger(__name__)

_INPUT_EVENTS = frozenset({QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove,
                           QEvent.Type.Wheel, QEvent.Type.TouchBegin, QEvent.Type.TabletPress})


class IdleWatcher(QObject):
    """Emits ``idle`` once after ``timeout_ms`` without input; ``timeout_ms <= 0`` disables it."""

    idle = Signal()

    def __init__(self, source: QObject, timeout_ms: int) -> None:
        super().__init__()
        self.timeout_ms = int(timeout_ms)
        self._last = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._check)
        self._source = source
        source.installEventFilter(self)

    @classmethod
    def from_minutes(cls, source: QObject, minutes: int) -> "IdleWatcher":
        return cls(source, int(minutes) * 60_000)

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        self._last = time.monotonic()
        if self.timeout_ms > 0:
            self._timer.start(self.timeout_ms)

    def stop(self) -> None:
        self._timer.stop()

    def set_timeout(self, timeout_ms: int) -> None:
        was_active = self._timer.isActive()
        self.timeout_ms = int(timeout_ms)
        if was_active or self.timeout_ms > 0:
            self.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() in _INPUT_EVENTS:
            self._last = time.monotonic()
        return False

    def _check(self) -> None:
        idle_ms = (time.monotonic() - self._last) * 1000
        remaining = self.timeout_ms - idle_ms
        if remaining > 50:
            self._timer.start(int(remaining))
            return
        log.info("no input for %d minute(s): locking", self.timeout_ms // 60_000)
        self.idle.emit()

    def close(self) -> None:
        self._timer.stop()
        self._source.removeEventFilter(self)


class LockOverlay(QWidget):
    """Covers its parent window completely while the session is locked."""

    unlocked = Signal()
    session_ended = Signal(str)
    logout_requested = Signal()

    def __init__(self, ui_ctx: Any, parent: QWidget) -> None:
        super().__init__(parent)
        self.ui_ctx = ui_ctx
        self._busy = False
        self.setObjectName("lockOverlay")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setAutoFillBackground(True)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        card = QFrame()
        card.setObjectName("lockCard")
        card.setFixedWidth(400)
        inner = QVBoxLayout(card)
        inner.setContentsMargins(28, 24, 28, 22)
        inner.setSpacing(10)
        inner.addWidget(title_label("Workstation locked"))
        self.who = hint_label("")
        inner.addWidget(self.who)
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("unlockPassword")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("your password")
        self.password_edit.returnPressed.connect(self.submit)
        inner.addWidget(self.password_edit)
        self.error_label = status_label("error")
        self.error_label.setObjectName("unlockError")
        inner.addWidget(self.error_label)
        buttons = QHBoxLayout()
        self.logout_button = QPushButton("Sign out")
        self.logout_button.clicked.connect(self.logout_requested.emit)
        self.unlock_button = primary_button("Unlock")
        self.unlock_button.setObjectName("unlockButton")
        self.unlock_button.clicked.connect(self.submit)
        buttons.addWidget(self.logout_button)
        buttons.addStretch(1)
        buttons.addWidget(self.unlock_button)
        inner.addLayout(buttons)
        row.addWidget(card)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        self.hide()
        parent.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self.parent() and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.parentWidget().rect())
        return False

    def show_over(self) -> None:
        session = self.ui_ctx.workspace.ctx.session
        name = f"{session.username} ({session.role})" if session else "the last user"
        self.who.setText(f"Signed in as {name}. Your work is kept; enter your password to continue.")
        self.password_edit.clear()
        show_status(self.error_label, "")
        self.setGeometry(self.parentWidget().rect())
        self.raise_()
        self.show()
        self.password_edit.setFocus()

    def submit(self) -> None:
        if self._busy:
            return
        password = self.password_edit.text()
        if not password:
            show_status(self.error_label, "enter your password")
            return
        self._busy = True
        self.unlock_button.setEnabled(False)
        auth = self.ui_ctx.workspace.auth
        self.ui_ctx.workers.run(lambda: auth.unlock(password), self._unlocked, self._failed)

    def _unlocked(self, _result: object) -> None:
        self._busy = False
        self.unlock_button.setEnabled(True)
        self.password_edit.clear()
        self.hide()
        self.unlocked.emit()

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        self.unlock_button.setEnabled(True)
        self.password_edit.clear()
        if isinstance(exc, (AccountLocked, NotAuthenticated)):
            log.info("unlock refused, session ended: %s", exc)
            self.session_ended.emit(str(exc))
            return
        show_status(self.error_label, inline_error(self.ui_ctx, exc))
        self.password_edit.setFocus()
