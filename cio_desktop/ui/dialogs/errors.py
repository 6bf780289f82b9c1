"""Showing errors: plain words for a ``CioError``, one crash dialog for anything else.

``ExceptionHook`` routes ``sys.excepthook`` and ``threading.excepthook`` through a Qt signal
(so the dialog is always built on the GUI thread) to a single ``CrashDialog``; while it is open
further errors only increase its counter, and an error already shown is not shown again.
The traceback goes to the log file, whose path the dialog names.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QMessageBox,
                               QPlainTextEdit, QPushButton, QVBoxLayout, QWidget)

from cio_desktop.errors import CioError
from cio_desktop.logging_setup import redact

log = logging.getLogger(__name__)


class CrashDialog(QDialog):
    def __init__(self, summary: str, details: str, log_path: Path | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("crashDialog")
        self.setWindowTitle("CIO Desktop — unexpected error")
        self.setFixedWidth(620)
        self.repeats = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(10)
        title = QLabel("Something went wrong")
        title.setObjectName("dialogTitle")
        layout.addWidget(title)
        text = ("CIO Desktop hit an unexpected error. Saved data is not affected: every change is "
                "written in one transaction, so a failed action leaves nothing half-done.")
        intro = QLabel(text)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.summary = QLabel(summary)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        where = str(log_path) if log_path else "the log file"
        self.log_label = QLabel(f"Details were written to {where}. Please send that file to your "
                                "administrator or support.")
        self.log_label.setProperty("hint", True)
        self.log_label.setWordWrap(True)
        self.log_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.log_label)
        self.details = QPlainTextEdit(details)
        self.details.setReadOnly(True)
        self.details.setVisible(False)
        self.details.setMinimumHeight(200)
        layout.addWidget(self.details)
        self.repeat_label = QLabel("")
        self.repeat_label.setProperty("hint", True)
        self.repeat_label.setVisible(False)
        layout.addWidget(self.repeat_label)
        row = QHBoxLayout()
        toggle = QPushButton("Show details")
        toggle.setCheckable(True)
        toggle.toggled.connect(self.details.setVisible)
        toggle.toggled.connect(lambda on: toggle.setText("Hide details" if on else "Show details"))
        copy = QPushButton("Copy details")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(
            f"{summary}\nlog: {where}\n\n{details}"))
        row.addWidget(toggle)
        row.addWidget(copy)
        row.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        row.addWidget(buttons)
        layout.addLayout(row)

    def add_repeat(self) -> None:
        self.repeats += 1
        self.repeat_label.setText(f"{self.repeats} more error(s) happened since; see the log file.")
        self.repeat_label.setVisible(True)


class ExceptionHook(QObject):
    """Install with ``install()``; uncaught exceptions from any thread end in one crash dialog."""

    caught = Signal(str, str, str)  # key, summary, traceback text

    def __init__(self, log_path: Path | None, parent_getter: Callable[[], QWidget | None] = lambda: None,
                 *, show: bool = True) -> None:
        super().__init__()
        self.log_path = log_path
        self._parent_getter = parent_getter
        self._show = show
        self.dialog: CrashDialog | None = None
        self.seen: set[str] = set()
        self.count = 0
        self._old_sys = sys.excepthook
        self._old_thread = threading.excepthook
        self.caught.connect(self._on_caught, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        sys.excepthook = self.handle
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        sys.excepthook = self._old_sys
        threading.excepthook = self._old_thread

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        self.handle(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)

    def handle(self, exc_type: type[BaseException], exc: BaseException,
               tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._old_sys(exc_type, exc, tb)
            return
        log.error("uncaught exception", exc_info=(exc_type, exc, tb))
        text = redact("".join(traceback.format_exception(exc_type, exc, tb)))
        frames = traceback.extract_tb(tb)[-1:] if tb else []
        where = f"{frames[0].filename}:{frames[0].lineno}" if frames else ""
        key = f"{exc_type.__name__}|{where}"
        self.caught.emit(key, redact(f"{exc_type.__name__}: {exc}"), text)

    def report(self, exc: BaseException) -> None:
        """Show an exception that was caught somewhere (e.g. a worker) as a crash."""
        self.handle(type(exc), exc, exc.__traceback__)

    def _on_caught(self, key: str, summary: str, details: str) -> None:
        self.count += 1
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.add_repeat()
            return
        if key in self.seen:
            return
        self.seen.add(key)
        if not self._show:
            return
        self.dialog = CrashDialog(summary, details, self.log_path, self._parent_getter())
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.dialog.open()


class ErrorPresenter:
    """``UiContext.show_error``: plain words for a CioError, the crash dialog for anything else.

    Message boxes are opened without blocking (``open()``), so a background error never stops
    the event loop; the last message is kept for tests.
    """

    def __init__(self, crash: ExceptionHook | None,
                 parent_getter: Callable[[], QWidget | None] = lambda: None) -> None:
        self.crash = crash
        self.parent_getter = parent_getter
        self.last_message: str | None = None
        self.box: QMessageBox | None = None

    def __call__(self, exc: BaseException) -> None:
        if isinstance(exc, CioError):
            self.last_message = str(exc)
            log.info("shown to user: %s: %s", type(exc).__name__, exc)
            box = QMessageBox(QMessageBox.Icon.Warning, "CIO Desktop", str(exc),
                              QMessageBox.StandardButton.Ok, self.parent_getter())
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.box = box
            box.open()
            return
        if self.crash is not None:
            self.crash.report(exc)
        else:
            log.error("unexpected error", exc_info=exc)


def plain_message(exc: BaseException) -> str:
    """What to show inline for an error: a CioError's words, else a generic sentence."""
    if isinstance(exc, CioError):
        return str(exc)
    return f"unexpected error ({type(exc).__name__}); details are in the log file"
