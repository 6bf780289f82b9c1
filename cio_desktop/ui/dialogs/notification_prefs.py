"""Notification preferences: channels per severity, quiet hours (critical alerts bypass them),
time zone, e-mail address and phone number, the daily summary; and, for a user with
``settings.manage``, the e-mail (SMTP) and SMS gateway settings. Saving runs in the worker pool;
a refused value is shown next to the form with the field it concerns, nothing half-saved."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTime
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QGridLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QSpinBox, QTimeEdit, QVBoxLayout,
                               QWidget)

from cio_desktop.domain.alerting import CHANNELS, SEVERITIES
from cio_desktop.security.permissions import Permission
from cio_desktop.ui.dialogs.common import hint_label, inline_error, show_status, status_label, title_label

CHANNEL_NAMES = {"in_app": "In app", "desktop": "Desktop", "email": "E-mail", "sms": "SMS"}
TIMEZONES = ("UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Zurich", "America/New_York",
             "America/Chicago", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney")


class NotificationPrefsDialog(QDialog):
    def __init__(self, ui_ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ui_ctx = ui_ctx
        self.setObjectName("notificationPrefsDialog")
        self.setWindowTitle("Notification preferences")
        session = ui_ctx.workspace.ctx.session
        self.can_configure = bool(session and session.can(Permission.SETTINGS_MANAGE))
        root = QVBoxLayout(self)
        root.addWidget(title_label("Notification preferences"))
        root.addWidget(hint_label("Choose where each kind of alert reaches you. During quiet hours only the "
                                  "in-app notification centre is used — critical alerts still come through "
                                  "on every channel you chose."))
        grid_box = QGroupBox("Channels")
        grid = QGridLayout(grid_box)
        self.boxes: dict[tuple[str, str], QCheckBox] = {}
        for c, channel in enumerate(CHANNELS, start=1):
            grid.addWidget(QLabel(CHANNEL_NAMES[channel]), 0, c)
        for r, severity in enumerate(SEVERITIES, start=1):
            grid.addWidget(QLabel(severity.capitalize()), r, 0)
            for c, channel in enumerate(CHANNELS, start=1):
                box = QCheckBox()
                box.setObjectName(f"chan_{severity}_{channel}")
                box.setToolTip(f"{severity} alerts by {CHANNEL_NAMES[channel]}")
                self.boxes[(severity, channel)] = box
                grid.addWidget(box, r, c)
        root.addWidget(grid_box)

        form_box = QGroupBox("Quiet hours and addresses")
        form = QFormLayout(form_box)
        quiet = QHBoxLayout()
        self.quiet_enabled = QCheckBox("from")
        self.quiet_start = QTimeEdit(QTime(22, 0))
        self.quiet_end = QTimeEdit(QTime(7, 0))
        for w in (self.quiet_start, self.quiet_end):
            w.setDisplayFormat("HH:mm")
        quiet.addWidget(self.quiet_enabled)
        quiet.addWidget(self.quiet_start)
        quiet.addWidget(QLabel("to"))
        quiet.addWidget(self.quiet_end)
        quiet.addStretch(1)
        form.addRow("Quiet hours", quiet)
        self.timezone = QComboBox()
        self.timezone.setEditable(True)
        self.timezone.addItems(TIMEZONES)
        form.addRow("Time zone", self.timezone)
        self.email = QLineEdit()
        self.email.setPlaceholderText("name@company.com")
        form.addRow("E-mail", self.email)
        self.phone = QLineEdit()
        self.phone.setPlaceholderText("+4917012345678")
        form.addRow("Mobile (SMS)", self.phone)
        self.daily = QCheckBox("Send me the daily summary (in the app and by e-mail)")
        form.addRow("", self.daily)
        root.addWidget(form_box)

        self.smtp: dict[str, Any] = {}
        self.sms: dict[str, Any] = {}
        if self.can_configure:
            root.addWidget(self._channel_group())
        self.status = status_label()
        root.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        root.addWidget(buttons)
        self.load()

    def _channel_group(self) -> QGroupBox:
        box = QGroupBox("E-mail and SMS channels (administrator)")
        form = QFormLayout(box)
        self.smtp = {"host": QLineEdit(), "port": QSpinBox(), "sender": QLineEdit(), "username": QLineEdit(),
                     "password": QLineEdit(), "ca_file": QLineEdit()}
        self.smtp["port"].setRange(1, 65535)
        self.smtp["port"].setValue(587)
        self.smtp["password"].setEchoMode(QLineEdit.EchoMode.Password)
        self.smtp["password"].setPlaceholderText("unchanged")
        self.smtp["ca_file"].setPlaceholderText("optional: a private CA (PEM)")
        for key, label in (("host", "SMTP server"), ("port", "Port (STARTTLS)"), ("sender", "From address"),
                           ("username", "User name"), ("password", "Password"), ("ca_file", "CA file")):
            form.addRow(label, self.smtp[key])
        self.sms = {"url": QLineEdit(), "api_key": QLineEdit(), "ca_file": QLineEdit()}
        self.sms["url"].setPlaceholderText("https://sms.example.com/v1/messages")
        self.sms["api_key"].setEchoMode(QLineEdit.EchoMode.Password)
        self.sms["api_key"].setPlaceholderText("unchanged")
        for key, label in (("url", "SMS gateway URL"), ("api_key", "API key"), ("ca_file", "CA file")):
            form.addRow(label, self.sms[key])
        return box

    # -- data ------------------------------------------------------------------------------------
    def load(self) -> None:
        ws = self.ui_ctx.workspace

        def read() -> tuple[Any, Any]:
            return ws.notifications.preferences(), (ws.notifications.channel_settings() if self.can_configure
                                                    else None)

        self.ui_ctx.workers.run(read, self._fill, lambda exc: show_status(self.status, inline_error(self.ui_ctx, exc)))

    def _fill(self, result: tuple[Any, Any]) -> None:
        prefs, channels = result
        for (severity, channel), box in self.boxes.items():
            box.setChecked(channel in prefs.channels.get(severity, ()))
        self.quiet_enabled.setChecked(bool(prefs.quiet_start))
        if prefs.quiet_start:
            self.quiet_start.setTime(QTime.fromString(prefs.quiet_start, "HH:mm"))
            self.quiet_end.setTime(QTime.fromString(prefs.quiet_end, "HH:mm"))
        self.timezone.setCurrentText(prefs.timezone or "UTC")
        self.email.setText(prefs.email)
        self.phone.setText(prefs.phone)
        self.daily.setChecked(prefs.daily_summary)
        if channels is not None and self.smtp:
            self.smtp["host"].setText(channels.smtp_host)
            self.smtp["port"].setValue(channels.smtp_port)
            self.smtp["sender"].setText(channels.smtp_sender)
            self.smtp["username"].setText(channels.smtp_username)
            self.smtp["ca_file"].setText(channels.smtp_ca_file)
            self.sms["url"].setText(channels.sms_url)
            self.sms["ca_file"].setText(channels.sms_ca_file)

    def values(self) -> dict[str, Any]:
        channels = {s: ",".join(c for c in CHANNELS if self.boxes[(s, c)].isChecked()) for s in SEVERITIES}
        on = self.quiet_enabled.isChecked()
        return {"channels": channels, "quiet_start": self.quiet_start.time().toString("HH:mm") if on else "",
                "quiet_end": self.quiet_end.time().toString("HH:mm") if on else "",
                "timezone": self.timezone.currentText().strip(), "email": self.email.text().strip(),
                "phone": self.phone.text().strip(), "daily_summary": self.daily.isChecked()}

    def save(self) -> None:
        ws = self.ui_ctx.workspace
        values = self.values()
        smtp = {k: (w.value() if isinstance(w, QSpinBox) else w.text().strip()) for k, w in self.smtp.items()}
        sms = {k: w.text().strip() for k, w in self.sms.items()}

        def write() -> Any:
            view = ws.notifications.set_preferences(**values)
            if self.can_configure and smtp.get("host"):
                ws.notifications.configure_email(host=smtp["host"], port=smtp["port"], sender=smtp["sender"],
                                                 username=smtp["username"], password=smtp["password"] or None,
                                                 ca_file=smtp["ca_file"])
            if self.can_configure and sms.get("url"):
                ws.notifications.configure_sms(url=sms["url"], api_key=sms["api_key"] or None,
                                               ca_file=sms["ca_file"])
            return view

        def done(_view: Any) -> None:
            self.ui_ctx.status("notification preferences saved")
            self.accept()

        self.save_button.setEnabled(False)

        def failed(exc: BaseException) -> None:
            self.save_button.setEnabled(True)
            show_status(self.status, inline_error(self.ui_ctx, exc))

        self.ui_ctx.workers.run(write, done, failed)
