"""Add or edit a connection to a bank, accounting or investment-platform API.

The form shows the fields the chosen authentication needs (OAuth2: token URL, client id, scope,
client secret; API key: header and key; client certificate: certificate, key and its
passphrase), plus the TLS files and the timeout and page size. Secrets are typed into password
fields and never shown again: when editing, an empty secret field keeps what is stored.

Saving is MFA-gated (``connections.manage``): it goes through ``run_sensitive``, in the worker
pool; the configuration is checked first (on the GUI thread, no I/O) so a missing token URL is
reported before anyone is asked for a code.

Team mode: an edit passes back the ``settings_updated_at`` the dialog showed (``seen``). When
another user saved the connection meanwhile, the service refuses with who and when; the dialog
then reloads the connection and shows their version, so nobody's change is silently overwritten.
A sync in between does not count (it never changes what this form edits).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QDoubleValidator, QIntValidator
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from cio_desktop.errors import ValidationError
from cio_desktop.integrations.http import ConnectionConfig, Credentials
from cio_desktop.ui.dialogs.common import hint_label, title_label
from cio_desktop.ui.dialogs.editor_base import EditorDialog
from cio_desktop.ui.dialogs.mfa import SensitiveRun, run_sensitive

log = logging.getLogger(__name__)

KINDS = (("banking", "Banking (accounts and transactions)"),
         ("accounting", "Accounting (open items)"),
         ("investment", "Investment platform (positions and prices)"))
AUTH_KINDS = (("oauth2", "OAuth2 client credentials"), ("api_key", "API key"),
              ("client_cert", "Client certificate (mutual TLS)"), ("none", "None"))
DEFAULT_TIMEOUT = 30.0
DEFAULT_PAGE_SIZE = 100
KEEP = "stored — leave empty to keep"


class _PathField(QWidget):
    """A line edit with a Browse… button (the picker is replaceable for tests)."""

    def __init__(self, object_name: str, caption: str, filters: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        self.edit = QLineEdit()
        self.edit.setObjectName(object_name)
        self.edit.setPlaceholderText("path to a PEM file")
        self.button = QPushButton("Browse…")
        self.button.setAutoDefault(False)
        self.button.clicked.connect(self._browse)
        row.addWidget(self.edit, 1)
        row.addWidget(self.button)
        self.caption, self.filters = caption, filters
        self.pick: Callable[[str], str] = self._pick

    def _pick(self, start: str) -> str:
        path, _ = QFileDialog.getOpenFileName(self, self.caption, start, self.filters)
        return path

    def _browse(self) -> None:
        path = self.pick(self.edit.text())
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        self.edit.setText(text)


class NumberField(QWidget):
    """A number typed into a line edit, with its unit beside it (``value()``/``setValue()`` like a
    spin box; ``value()`` is None when the text is not a number in range)."""

    def __init__(self, object_name: str, unit: str, low: float, high: float, *, decimals: int = 0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        self.edit = QLineEdit()
        self.edit.setObjectName(object_name)
        self.edit.setMaximumWidth(120)
        self.edit.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.low, self.high, self.decimals = low, high, decimals
        if decimals:
            validator = QDoubleValidator(low, high, decimals, self.edit)
            validator.setNotation(QDoubleValidator.Notation.StandardNotation)
            validator.setLocale(self.locale().c())
        else:
            validator = QIntValidator(int(low), int(high), self.edit)
        self.edit.setValidator(validator)
        self.unit = QLabel(unit)
        self.unit.setProperty("hint", True)
        row.addWidget(self.edit)
        row.addWidget(self.unit)
        row.addStretch(1)

    def value(self) -> float | int | None:
        text = self.edit.text().strip().replace(",", ".")
        try:
            number = float(text) if self.decimals else int(text)
        except ValueError:
            return None
        return number if self.low <= number <= self.high else None

    def setValue(self, value: float) -> None:  # noqa: N802 - spin box naming
        self.edit.setText(f"{value:.{self.decimals}f}" if self.decimals else str(int(value)))

    def range_text(self) -> str:
        fmt = (lambda v: f"{v:g}")
        return f"{fmt(self.low)} to {fmt(self.high)} {self.unit.text()}"


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-weight: 600; padding-top: 8px;")
    return label


def _secret_edit(name: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setAttribute(Qt.WidgetAttribute.WA_InputMethodEnabled, False)
    return edit


class ConnectionDialog(EditorDialog):
    """``connection`` None = add; a ``ConnectionView`` = edit (name, kind and auth stay fixed,
    as the service only changes URL, settings, secrets, interval and pause). ``reloaded``: after
    a refused save the connection was read again (the panel's table should reload too)."""

    def __init__(self, ui_ctx: Any, connection: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(ui_ctx, parent)
        self.connection = connection
        self.editing = connection is not None
        self.sensitive_run: SensitiveRun | None = None
        self.setObjectName("connectionDialog")
        title = f"Edit connection “{connection.name}”" if self.editing else "Add a connection"
        self.setWindowTitle(title)
        self.setMinimumWidth(640)
        layout = self.dialog_layout()
        layout.addWidget(title_label(title))
        self.changed_label = hint_label("")
        self.changed_label.setObjectName("connChanged")
        self.changed_label.setVisible(False)
        layout.addWidget(self.changed_label)
        layout.addWidget(hint_label(
            "Secrets are stored encrypted in the database and never shown again. Saving needs a "
            "fresh two-factor code."))

        form = self.form_layout()
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("connName")
        self.name_edit.setPlaceholderText("e.g. Rheinische Handelsbank PSD2")
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("connKind")
        for value, label in KINDS:
            self.kind_combo.addItem(label, value)
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("connBaseUrl")
        self.url_edit.setPlaceholderText("https://api.bank.example/psd2")
        self.auth_combo = QComboBox()
        self.auth_combo.setObjectName("connAuth")
        for value, label in AUTH_KINDS:
            self.auth_combo.addItem(label, value)
        self.interval_field = NumberField("connInterval", "minutes", 1, 7 * 24 * 60)
        self.interval_field.setValue(15)
        form.addRow(_section("Connection"))
        form.addRow("Name", self.name_edit)
        form.addRow("Kind", self.kind_combo)
        form.addRow("Base URL", self.url_edit)
        form.addRow("Sync every", self.interval_field)
        form.addRow(_section("Authentication"))
        form.addRow("Method", self.auth_combo)

        # OAuth2
        self.token_url_edit = QLineEdit()
        self.token_url_edit.setObjectName("connTokenUrl")
        self.token_url_edit.setPlaceholderText("https://auth.bank.example/oauth2/token")
        self.client_id_edit = QLineEdit()
        self.client_id_edit.setObjectName("connClientId")
        self.scope_edit = QLineEdit()
        self.scope_edit.setObjectName("connScope")
        self.scope_edit.setPlaceholderText("optional, e.g. accounts transactions")
        self.token_method_combo = QComboBox()
        self.token_method_combo.setObjectName("connTokenMethod")
        self.token_method_combo.addItem("HTTP Basic (client_secret_basic)", "basic")
        self.token_method_combo.addItem("In the request body (client_secret_post)", "post")
        self.client_secret_edit = _secret_edit("connClientSecret")
        form.addRow("Token URL", self.token_url_edit)
        form.addRow("Client id", self.client_id_edit)
        form.addRow("Scope", self.scope_edit)
        form.addRow("Client secret sent", self.token_method_combo)
        form.addRow("Client secret", self.client_secret_edit)
        # API key
        self.api_header_edit = QLineEdit("X-API-Key")
        self.api_header_edit.setObjectName("connApiKeyHeader")
        self.api_key_edit = _secret_edit("connApiKey")
        form.addRow("API key header", self.api_header_edit)
        form.addRow("API key", self.api_key_edit)
        # TLS
        pem = "PEM files (*.pem *.crt *.cer *.key);;All files (*)"
        self.cert_field = _PathField("connClientCert", "Client certificate", pem)
        self.key_field = _PathField("connClientKey", "Client certificate key", pem)
        self.passphrase_edit = _secret_edit("connKeyPassphrase")
        self.passphrase_edit.setPlaceholderText("only if the key file is encrypted")
        self.ca_field = _PathField("connCaBundle", "CA bundle", pem)
        self.ca_field.edit.setPlaceholderText("optional: extra trusted CA for a private endpoint")
        self.tls_section = _section("TLS")
        form.addRow(self.tls_section)
        form.addRow("Client certificate", self.cert_field)
        form.addRow("Certificate key", self.key_field)
        form.addRow("Key passphrase", self.passphrase_edit)
        form.addRow("CA bundle", self.ca_field)
        # limits
        self.timeout_field = NumberField("connTimeout", "seconds", 0.1, 600.0, decimals=1)
        self.timeout_field.setValue(DEFAULT_TIMEOUT)
        self.page_field = NumberField("connPageSize", "records per page", 1, 10_000)
        self.page_field.setValue(DEFAULT_PAGE_SIZE)
        form.addRow(_section("Requests"))
        form.addRow("Timeout", self.timeout_field)
        form.addRow("Page size", self.page_field)
        self.add_form(layout, form)

        self.secrets_hint = hint_label("")
        layout.addWidget(self.secrets_hint)
        self.add_footer(layout, "conn", "Save" if self.editing else "Add connection")

        self.field_widgets = {
            "name": self.name_edit, "kind": self.kind_combo, "base_url": self.url_edit,
            "auth": self.auth_combo, "auth_kind": self.auth_combo, "interval": self.interval_field.edit,
            "token_url": self.token_url_edit, "client_id": self.client_id_edit,
            "token_auth_method": self.token_method_combo, "api_key_header": self.api_header_edit,
            "client_cert_path": self.cert_field.edit, "client_key_path": self.key_field.edit,
            "ca_bundle_path": self.ca_field.edit, "timeout": self.timeout_field.edit,
            "page_size": self.page_field.edit}
        self.auth_combo.currentIndexChanged.connect(lambda _i: self._auth_changed())
        if self.editing:
            self._fill(connection)
        self._auth_changed()
        (self.url_edit if self.editing else self.name_edit).setFocus()

    # -- form state ---------------------------------------------------------------------------------
    @property
    def auth_kind(self) -> str:
        return self.auth_combo.currentData()

    def set_auth_kind(self, value: str) -> None:
        self.auth_combo.setCurrentIndex(max(self.auth_combo.findData(value), 0))

    def set_kind(self, value: str) -> None:
        self.kind_combo.setCurrentIndex(max(self.kind_combo.findData(value), 0))

    def _auth_changed(self) -> None:
        auth = self.auth_kind
        oauth, api = auth == "oauth2", auth == "api_key"
        for w in (self.token_url_edit, self.client_id_edit, self.scope_edit, self.token_method_combo,
                  self.client_secret_edit):
            self.form.setRowVisible(w, oauth)
        for w in (self.api_header_edit, self.api_key_edit):
            self.form.setRowVisible(w, api)
        self.cert_field.edit.setPlaceholderText(
            "path to a PEM file" if auth == "client_cert" else "optional (mutual TLS): path to a PEM file")
        self._update_secret_hints()

    def _secret_fields(self) -> list[QLineEdit]:
        """The secret fields that apply to the chosen authentication."""
        out = []
        if self.auth_kind == "oauth2":
            out.append(self.client_secret_edit)
        if self.auth_kind == "api_key":
            out.append(self.api_key_edit)
        out.append(self.passphrase_edit)
        return out

    def _update_secret_hints(self) -> None:
        stored = bool(self.editing and self.connection.has_credentials)
        for edit in (self.client_secret_edit, self.api_key_edit):
            edit.setPlaceholderText(KEEP if stored else "")
        self.passphrase_edit.setPlaceholderText(KEEP if stored else "only if the key file is encrypted")
        self.secrets_hint.setText(
            "Stored secrets are kept when the secret fields are left empty. Secrets are replaced "
            "together: to change one, enter every secret this connection uses." if stored else "")
        self.secrets_hint.setVisible(stored)

    def _fill(self, view: Any) -> None:
        s = dict(view.settings or {})
        self.connection = view
        when = getattr(view, "settings_updated_at", None)
        if when is not None:
            self.changed_label.setText(f"Settings last changed by {view.settings_updated_by} on "
                                       f"{when.astimezone():%Y-%m-%d %H:%M}.")
        self.changed_label.setVisible(when is not None)
        self.name_edit.setText(view.name)
        self.name_edit.setReadOnly(True)
        self.set_kind(view.kind)
        self.kind_combo.setEnabled(False)
        self.url_edit.setText(view.base_url)
        self.set_auth_kind(view.auth_kind)
        self.auth_combo.setEnabled(False)
        for combo in (self.kind_combo, self.auth_combo):
            combo.setToolTip("fixed once the connection exists: add a new connection to change it")
        self.name_edit.setToolTip("fixed once the connection exists")
        self.interval_field.setValue(int(view.interval_minutes))
        self.token_url_edit.setText(str(s.get("token_url", "")))
        self.client_id_edit.setText(str(s.get("client_id", "")))
        self.scope_edit.setText(str(s.get("scope", "")))
        self.token_method_combo.setCurrentIndex(max(self.token_method_combo.findData(
            s.get("token_auth_method", "basic")), 0))
        self.api_header_edit.setText(str(s.get("api_key_header", "X-API-Key")))
        self.cert_field.setText(str(s.get("client_cert_path") or ""))
        self.key_field.setText(str(s.get("client_key_path") or ""))
        self.ca_field.setText(str(s.get("ca_bundle_path") or ""))
        try:
            self.timeout_field.setValue(float(s.get("timeout", DEFAULT_TIMEOUT)))
            self.page_field.setValue(int(s.get("page_size", DEFAULT_PAGE_SIZE)))
        except (TypeError, ValueError):
            pass

    # -- values ----------------------------------------------------------------------------------------
    def settings(self) -> dict:
        """The ``settings`` dict for the service: only what applies to the chosen authentication."""
        auth = self.auth_kind
        out: dict[str, Any] = {}
        if auth == "oauth2":
            out["token_url"] = self.token_url_edit.text().strip()
            out["client_id"] = self.client_id_edit.text().strip()
            if self.scope_edit.text().strip():
                out["scope"] = self.scope_edit.text().strip()
            if self.token_method_combo.currentData() != "basic":
                out["token_auth_method"] = self.token_method_combo.currentData()
        if auth == "api_key":
            out["api_key_header"] = self.api_header_edit.text().strip()
        for key, value in (("client_cert_path", self.cert_field.text()),
                           ("client_key_path", self.key_field.text()),
                           ("ca_bundle_path", self.ca_field.text())):
            if value:
                out[key] = value
        timeout = self.timeout_field.value()
        if timeout is not None and round(timeout, 1) != DEFAULT_TIMEOUT:
            out["timeout"] = round(timeout, 1)
        pages = self.page_field.value()
        if pages is not None and pages != DEFAULT_PAGE_SIZE:
            out["page_size"] = pages
        return out

    def credentials(self) -> Credentials | None:
        """New secrets, or None to keep the stored ones (editing with every secret field empty)."""
        secret = self.client_secret_edit.text() if self.auth_kind == "oauth2" else ""
        api_key = self.api_key_edit.text() if self.auth_kind == "api_key" else ""
        passphrase = self.passphrase_edit.text()
        if not (secret or api_key or passphrase):
            return None
        return Credentials(client_secret=secret, api_key=api_key, key_passphrase=passphrase)

    def check(self) -> str | None:
        """Configuration problems found without the network (None = fine)."""
        name = self.name_edit.text().strip()
        if not name:
            self.focus_field("name")
            return "enter a name for the connection"
        for key, field_, what in (("interval", self.interval_field, "the sync interval"),
                                  ("timeout", self.timeout_field, "the timeout"),
                                  ("page_size", self.page_field, "the page size")):
            if field_.value() is None:
                self.focus_field(key)
                return f"{what} must be from {field_.range_text()}"
        config = ConnectionConfig(name=name, kind=self.kind_combo.currentData(),
                                  base_url=self.url_edit.text().strip(), auth_kind=self.auth_kind,
                                  **self.settings())
        try:
            config.validate()
        except ValidationError as exc:
            self.focus_field(exc.field or "")
            return exc.reason
        stored = self.editing and self.connection.has_credentials
        if not stored:
            if self.auth_kind == "oauth2" and not self.client_secret_edit.text():
                self.focus_widget(self.client_secret_edit)
                return "enter the client secret"
            if self.auth_kind == "api_key" and not self.api_key_edit.text():
                self.focus_widget(self.api_key_edit)
                return "enter the API key"
        if self.key_field.text() and not self.cert_field.text():
            self.focus_field("client_cert_path")
            return "a certificate key needs its certificate file"
        return None

    # -- saving ----------------------------------------------------------------------------------------
    def save_call(self) -> Callable[[], Any]:
        sync = self.ui_ctx.workspace.sync
        settings, credentials = self.settings(), self.credentials()
        interval = self.interval_field.value()
        if self.editing:
            connection_id, url = self.connection.id, self.url_edit.text().strip()
            seen = self.connection.settings_updated_at   # what this dialog showed

            def fn() -> Any:
                return sync.update_connection(connection_id, base_url=url, settings=settings,
                                              credentials=credentials, interval_minutes=interval, seen=seen)
        else:
            name, kind, url, auth = (self.name_edit.text().strip(), self.kind_combo.currentData(),
                                     self.url_edit.text().strip(), self.auth_kind)

            def fn() -> Any:
                return sync.create_connection(name=name, kind=kind, base_url=url, auth_kind=auth,
                                              settings=settings, credentials=credentials,
                                              interval_minutes=interval)
        return fn

    def run_save(self, fn: Callable[[], Any]) -> None:
        """Saving is MFA-gated: a fresh two-factor code is asked for first if need be."""
        self.sensitive_run = run_sensitive(self.ui_ctx, self, fn, self._saved, self._failed, self._cancelled)

    def _clear_secrets(self) -> None:
        for edit in (self.client_secret_edit, self.api_key_edit, self.passphrase_edit):
            edit.clear()

    def _saved(self, view: Any) -> None:
        self._clear_secrets()
        super()._saved(view)

    # -- after a conflict ------------------------------------------------------------------------------
    @property
    def can_reload(self) -> bool:
        return self.editing   # a connection being added has no version to reload

    def reload_current(self, message: str) -> None:
        """Show the connection as it is now (the other user's version), so the change is made
        again on top of it. Typed secrets are cleared: they were not saved."""
        connection_id = self.connection.id
        self._clear_secrets()
        self.reload_from(message, self.ui_ctx.workspace.sync.list_connections, lambda v: v.id == connection_id)

    def show_current(self, view: Any) -> str:
        self._fill(view)
        self._auth_changed()
        return "Reloaded: the form now shows the current settings; make your change again and save."

    def show_gone(self) -> str:
        self.save_button.setEnabled(False)
        return "The connection no longer exists."

    def _cancelled(self) -> None:
        self.save_button.setEnabled(True)
        self.fail("not saved: the two-factor check was cancelled")

    def reject(self) -> None:
        self._clear_secrets()
        super().reject()
