"""Users & Roles and My security: every change goes through the MFA prompt and the service."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from cio_desktop.security import totp
from cio_desktop.security.permissions import Permission
from cio_desktop.ui.dialogs.enrol import qr_image
from cio_desktop.ui.dialogs.mfa import MfaDialog
from cio_desktop.ui.dialogs.recovery import RecoveryCodesDialog, format_codes
from cio_desktop.ui.main_window import MainWindow
from cio_desktop.ui.panels.security import SecurityPanel
from cio_desktop.ui.panels.users import COLUMNS, UsersPanel
from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET, login
from tests.ui.shell_helpers import add_user_without_mfa, make_prefs, make_ui

NEW_PASSWORD = "Another-Long-Passphrase-42"


@pytest.fixture
def open_panel(qtbot, ws, tmp_path):  # noqa: ANN001, ANN201
    windows = []

    def make(role: str, name: str, *, mfa: bool = False, user: str | None = None):  # noqa: ANN202
        if user:
            ws.auth.login(user, TEST_PASSWORD)
        else:
            login(ws, role, mfa=mfa)
        window = MainWindow(make_ui(ws), [UsersPanel, SecurityPanel], prefs=make_prefs(tmp_path))
        qtbot.addWidget(window)
        windows.append(window)
        assert window.show_panel(name)
        return window, window.panel(name)

    yield make
    for w in windows:
        w.teardown()


def _rows(panel: UsersPanel) -> dict[str, list[str]]:
    out = {}
    for r in range(panel.proxy.rowCount()):
        values = [panel.proxy.index(r, c).data() for c in range(len(COLUMNS))]
        out[values[0]] = values
    return out


def _fresh_code(ws, clock) -> str:  # noqa: ANN001
    clock.advance(seconds=31)  # a new time step, so the code is not a replay of the last one
    return totp.code_at(TEST_TOTP_SECRET, ws.ctx.now())


# -- Users & Roles -----------------------------------------------------------------------------
def test_users_table_lists_users_sortable_and_filterable(open_panel) -> None:  # noqa: ANN001
    _window, panel = open_panel("admin", "users")
    rows = _rows(panel)
    assert set(rows) == {"admin", "treasurer", "approver", "analyst", "auditor", "viewer"}
    assert rows["viewer"][2] == "viewer" and rows["viewer"][3] == "yes" and rows["viewer"][4] == "on"
    assert panel.table.isSortingEnabled()
    panel.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    assert panel.proxy.index(0, 0).data() == "viewer"
    panel.filter_edit.setText("treas")
    assert panel.proxy.rowCount() == 1 and panel.proxy.index(0, 0).data() == "treasurer"


def test_add_user_through_the_panel_asks_for_mfa(qtbot, open_panel, ws, clock) -> None:  # noqa: ANN001
    window, panel = open_panel("admin", "users")
    assert panel.add_button.isVisible() or not window.isVisible()
    dialog = panel.open_add_user()
    dialog.name_edit.setText("j.smith")
    dialog.display_edit.setText("Jane Smith")
    dialog.role_combo.setCurrentText("analyst")
    dialog.passwords.password.setText(NEW_PASSWORD)
    dialog.passwords.repeat.setText("different")
    dialog.submit()
    assert dialog.error_label.text() == "the two passwords differ"
    dialog.passwords.repeat.setText(NEW_PASSWORD)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    mfa = dialog.findChild(MfaDialog)
    assert mfa is not None and mfa.isVisible()
    mfa.code_edit.setText(_fresh_code(ws, clock))
    mfa.submit()

    assert dialog.result_value is not None and dialog.result_value.username == "j.smith"
    assert not dialog.isVisible()
    rows = _rows(panel)
    assert rows["j.smith"][1] == "Jane Smith" and rows["j.smith"][2] == "analyst"
    assert rows["j.smith"][4] == "off"
    assert window.ui_ctx.extra["errors"] == []


def test_add_user_refuses_a_weak_password_before_calling_the_service(open_panel) -> None:  # noqa: ANN001
    _window, panel = open_panel("admin", "users", mfa=True)
    dialog = panel.open_add_user()
    dialog.name_edit.setText("bob")
    dialog.passwords.password.setText("short")
    dialog.passwords.repeat.setText("short")
    dialog.submit()
    assert "at least 12 characters" in dialog.error_label.text()
    assert dialog.findChild(MfaDialog) is None


def test_service_errors_show_inline_in_the_add_dialog(open_panel) -> None:  # noqa: ANN001
    _window, panel = open_panel("admin", "users", mfa=True)
    dialog = panel.open_add_user()
    dialog.name_edit.setText("viewer")
    dialog.passwords.password.setText(NEW_PASSWORD)
    dialog.passwords.repeat.setText(NEW_PASSWORD)
    dialog.submit()
    assert "already exists" in dialog.error_label.text()
    assert dialog.isVisible()


def test_deactivate_asks_first_and_changes_the_user(open_panel, ws) -> None:  # noqa: ANN001
    _window, panel = open_panel("admin", "users", mfa=True)
    asked = []
    panel.confirm = lambda title, text, action: asked.append(action) or False
    assert panel.select_user("analyst")
    assert panel.active_button.text() == "Deactivate"
    panel.toggle_active()
    assert asked == ["Deactivate"] and _rows(panel)["analyst"][3] == "yes"
    panel.confirm = lambda *a: True
    panel.toggle_active()
    assert _rows(panel)["analyst"][3] == "no"
    assert panel.selected_user().username == "analyst"
    assert panel.active_button.text() == "Activate"
    panel.toggle_active()
    assert _rows(panel)["analyst"][3] == "yes"


def test_set_role_unlock_and_reset_mfa(open_panel, ws, clock) -> None:  # noqa: ANN001
    for _ in range(ws.ctx.settings.lockout_attempts):
        try:
            ws.auth.login("viewer", "wrong password!")
        except Exception:  # noqa: BLE001 - the lock-out is what we want
            pass
    _window, panel = open_panel("admin", "users", mfa=True)
    panel.confirm = lambda *a: True
    panel.ask_role = lambda name, current: "analyst"
    panel.select_user("viewer")
    assert _rows(panel)["viewer"][5] != ""  # locked until …
    assert panel.unlock_button.isEnabled()
    panel.unlock_user()
    assert _rows(panel)["viewer"][5] == ""
    panel.select_user("viewer")
    panel.change_role()
    assert _rows(panel)["viewer"][2] == "analyst"
    panel.select_user("viewer")
    panel.reset_mfa()
    assert _rows(panel)["viewer"][4] == "off"


def test_auditor_sees_users_read_only(open_panel) -> None:  # noqa: ANN001
    _window, panel = open_panel("auditor", "users")
    assert len(_rows(panel)) == 6
    for button in (panel.add_button, panel.role_button, panel.unlock_button, panel.mfa_button,
                   panel.active_button, panel.password_button):
        assert button.isHidden()
    item = panel.matrix_table.item(0, 0)
    assert not item.flags() & Qt.ItemFlag.ItemIsUserCheckable


def test_role_matrix_shows_and_edits_permissions_for_admins(open_panel, ws, clock) -> None:  # noqa: ANN001
    _window, panel = open_panel("admin", "users")
    perms = [p.value for p in Permission]
    row = perms.index("reports.export")
    col = [panel.matrix_table.horizontalHeaderItem(c).text().lower()
           for c in range(panel.matrix_table.columnCount())].index("viewer")
    item = panel.matrix_table.item(row, col)
    assert item.checkState() == Qt.CheckState.Unchecked
    assert item.flags() & Qt.ItemFlag.ItemIsUserCheckable
    granted = panel.matrix_table.item(perms.index("accounts.read"), col)
    assert granted.checkState() == Qt.CheckState.Checked

    item.setCheckState(Qt.CheckState.Checked)  # as a click does
    mfa = panel.findChild(MfaDialog)
    assert mfa is not None
    mfa.code_edit.setText(_fresh_code(ws, clock))
    mfa.submit()
    assert "reports.export" in ws.users.role_matrix()["viewer"]
    assert item.checkState() == Qt.CheckState.Checked

    # a refused change is put back
    admin_col = [panel.matrix_table.horizontalHeaderItem(c).text().lower()
                 for c in range(panel.matrix_table.columnCount())].index("admin")
    keep = panel.matrix_table.item(perms.index("roles.manage"), admin_col)
    keep.setCheckState(Qt.CheckState.Unchecked)
    assert keep.checkState() == Qt.CheckState.Checked
    assert "roles.manage" in str(panel.app.extra["errors"][-1])


# -- My security ---------------------------------------------------------------------------------
def test_mfa_enrolment_with_the_code_from_the_shown_secret(qtbot, open_panel, ws) -> None:  # noqa: ANN001
    add_user_without_mfa(ws, "newbie", "analyst", TEST_PASSWORD)
    _window, panel = open_panel("analyst", "security", user="newbie")
    assert "off" in panel.mfa_state.text()
    assert panel.codes_button.isHidden()
    qtbot.mouseClick(panel.enrol_button, Qt.MouseButton.LeftButton)
    dialog = panel.enrol_dialog
    assert dialog is not None and dialog.isVisible()
    assert not dialog.qr_label.pixmap().isNull()
    secret = dialog.secret
    assert secret in dialog.uri_edit.text() and dialog.uri_edit.text().startswith("otpauth://totp/")
    assert totp.parse_provisioning_uri(dialog.uri_edit.text()) == ("newbie", secret)

    dialog.code_edit.setText("123")
    dialog.submit()
    assert "6-digit" in dialog.error_label.text()
    dialog.code_edit.setText(totp.code_at(secret, ws.ctx.now()))
    qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)

    assert not dialog.isVisible() and dialog.codes and len(dialog.codes) == 10
    codes_dialog = panel.codes_dialog
    assert isinstance(codes_dialog, RecoveryCodesDialog) and codes_dialog.isVisible()
    assert all(code in codes_dialog.text.toPlainText() for code in dialog.codes)
    assert not codes_dialog.done_button.isEnabled()
    codes_dialog.copy_button.click()
    assert QApplication.clipboard().text().split("\n") == dialog.codes
    codes_dialog.reject()  # Esc does not close it before the tick box
    assert codes_dialog.isVisible()
    codes_dialog.stored.setChecked(True)
    codes_dialog.done_button.click()
    assert not codes_dialog.isVisible()

    assert ws.ctx.session.mfa_enabled
    assert "on" in panel.mfa_state.text() and not panel.codes_button.isHidden()
    assert panel.enrol_button.text() == "Replace authenticator…"


def test_replacing_an_authenticator_asks_for_the_current_code_first(open_panel, ws, clock) -> None:  # noqa: ANN001
    _window, panel = open_panel("treasurer", "security")
    panel.confirm = lambda *a: True
    panel.start_enrolment()
    mfa = panel.findChild(MfaDialog)
    assert mfa is not None and panel.enrol_dialog is None
    mfa.code_edit.setText(_fresh_code(ws, clock))
    mfa.submit()
    assert panel.enrol_dialog is not None and panel.enrol_dialog.secret != TEST_TOTP_SECRET


def test_new_recovery_codes(open_panel, ws) -> None:  # noqa: ANN001
    _window, panel = open_panel("approver", "security", mfa=True)
    panel.confirm = lambda *a: True
    panel.regenerate_codes()
    dialog = panel.codes_dialog
    assert dialog is not None and len(dialog.codes) == 10
    assert len(set(dialog.codes)) == 10


def test_change_password(open_panel, ws, clock) -> None:  # noqa: ANN001
    _window, panel = open_panel("analyst", "security")
    panel.old_edit.setText(TEST_PASSWORD)
    panel.new_edit.setText(NEW_PASSWORD)
    panel.repeat_edit.setText("something else")
    panel.change_password()
    assert panel.password_status.text() == "the two new passwords differ"

    panel.old_edit.setText("wrong old password")
    panel.repeat_edit.setText(NEW_PASSWORD)
    panel.change_password()
    assert "wrong user name or password" in panel.password_status.text()

    panel.old_edit.setText(TEST_PASSWORD)
    panel.new_edit.setText(NEW_PASSWORD)
    panel.repeat_edit.setText(NEW_PASSWORD)
    panel.change_button.click()
    assert panel.password_status.text() == "Your password was changed."
    assert panel.old_edit.text() == panel.new_edit.text() == ""
    assert ws.auth.login("analyst", NEW_PASSWORD).username == "analyst"


def test_qr_and_code_formatting_helpers() -> None:
    image = qr_image("otpauth://totp/CIO%20Desktop:x?secret=JBSWY3DPEHPK3PXP&issuer=CIO%20Desktop")
    assert not image.isNull() and image.width() == image.height()
    assert image.pixelColor(0, 0).name() == "#ffffff"
    codes = [f"aaaa-bbbb-{i:04d}" for i in range(10)]
    text = format_codes(codes)
    assert len(text.splitlines()) == 5 and all(c in text for c in codes)
