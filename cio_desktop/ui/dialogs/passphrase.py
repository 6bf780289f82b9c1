"""Asks for a database passphrase when neither the keyring nor CIO_DB_PASSPHRASE has the key."""

from __future__ import annotations

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QVBoxLayout,
                               QWidget)

from cio_desktop.ui.dialogs.common import hint_label, primary_button, show_status, status_label, title_label


class PassphraseDialog(QDialog):
    def __init__(self, target: str, error: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("passphraseDialog")
        self.setWindowTitle("CIO Desktop — database passphrase")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(10)
        layout.addWidget(title_label("Unlock the database"))
        layout.addWidget(hint_label(f"{target} is encrypted and this computer's keyring has no key "
                                    "for it. Enter the database passphrase (not your user password)."))
        form = QFormLayout()
        self.edit = QLineEdit()
        self.edit.setObjectName("passphrase")
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Passphrase", self.edit)
        layout.addLayout(form)
        self.error_label = status_label("error")
        if error:
            show_status(self.error_label, error)
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox()
        ok = primary_button("Open")
        ok.setDefault(True)
        buttons.addButton(ok, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept_if_filled)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.edit.setFocus()

    def _accept_if_filled(self) -> None:
        if not self.edit.text():
            show_status(self.error_label, "enter the passphrase")
            return
        self.accept()

    @property
    def passphrase(self) -> str:
        return self.edit.text()


def ask_passphrase(target: str, error: str = "", parent: QWidget | None = None) -> str | None:
    """Blocking prompt; None when the user cancels."""
    dialog = PassphraseDialog(target, error, parent)
    try:
        return dialog.passphrase if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.edit.clear()
        dialog.deleteLater()
