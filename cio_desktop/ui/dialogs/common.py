"""Small helpers shared by dialogs and panels: styled labels, inline errors, confirmations."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QPushButton, QWidget

from cio_desktop.errors import CioError
from cio_desktop.security.passwords import MIN_LENGTH

PASSWORD_POLICY = (f"At least {MIN_LENGTH} characters and at least 4 different characters; "
                   "it must not contain the user name. A passphrase of several words is easiest.")


def title_label(text: str, object_name: str = "dialogTitle") -> QLabel:
    label = QLabel(text)
    label.setObjectName(object_name)
    return label


def hint_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setProperty("hint", True)
    label.setWordWrap(True)
    return label


def status_label(kind: str = "error") -> QLabel:
    """A hidden inline message label; ``show_status(label, text, kind)`` fills it."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setProperty(kind, True)
    label.setVisible(False)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def show_status(label: QLabel, text: str, kind: str = "error") -> None:
    for k in ("error", "ok", "warning"):
        label.setProperty(k, k == kind)
    label.style().unpolish(label)
    label.style().polish(label)
    label.setText(text)
    label.setVisible(bool(text))


def primary_button(text: str) -> QPushButton:
    button = QPushButton(text)
    button.setProperty("primary", True)
    return button


def inline_error(ui_ctx: Any, exc: BaseException) -> str:
    """The words to show next to a form. Unexpected errors also go to the crash dialog."""
    if isinstance(exc, CioError):
        return str(exc)
    ui_ctx.show_error(exc)
    return f"unexpected error ({type(exc).__name__}); details are in the log file"


def confirm(parent: QWidget | None, title: str, text: str, action: str = "Continue") -> bool:
    """Ask before a destructive action (blocking). Panels keep this as an attribute tests replace."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent)
    yes = box.addButton(action, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is yes
