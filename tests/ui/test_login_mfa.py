"""Login dialog and the two-factor prompt used by every sensitive action."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from cio_desktop.errors import MfaRequired
from cio_desktop.security import totp
from cio_desktop.services.auth import WRONG_CREDENTIALS
from cio_desktop.ui.dialogs.login import LoginDialog, format_remaining
from PySide6.QtWidgets import QLabel

from cio_desktop.ui.dialogs.mfa import MfaDialog, run_sensitive
from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET, login
from tests.ui.shell_helpers import add_user_without_mfa, make_ui


def _login_dialog(qtbot, ws, user: str = "treasurer") -> LoginDialog:  # noqa: ANN001
    ui = make_ui(ws)
    dialog = LoginDialog(ui, user)
    qtbot.addWidget(dialog)
    return dialog


def test_login_success_returns_the_session(qtbot, ws) -> None:  # noqa: ANN001
    dialog = _login_dialog(qtbot, ws)
    dialog.password_edit.setText(TEST_PASSWORD)
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.session is not None and dialog.session.username == "treasurer"
    assert ws.ctx.session is dialog.session
    assert dialog.password_edit.text() == ""


def test_login_with_two_factor_code_counts_as_fresh_mfa(qtbot, ws) -> None:  # noqa: ANN001
    dialog = _login_dialog(qtbot, ws, "admin")
    dialog.password_edit.setText(TEST_PASSWORD)
    dialog.otp_edit.setText(totp.code_at(TEST_TOTP_SECRET, ws.ctx.now()))
    dialog.submit()
    assert dialog.session is not None and dialog.session.mfa_verified_at == ws.ctx.now()


def test_enter_submits_and_escape_cancels(qtbot, ws) -> None:  # noqa: ANN001
    dialog = _login_dialog(qtbot, ws)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.password_edit.setText(TEST_PASSWORD)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert dialog.result() == QDialog.DialogCode.Accepted

    other = _login_dialog(qtbot, ws)
    other.show()
    qtbot.waitExposed(other)
    qtbot.keyClick(other.password_edit, Qt.Key.Key_Escape)
    assert other.result() == QDialog.DialogCode.Rejected
    assert other.session is None


def test_wrong_password_shows_the_service_message(qtbot, ws) -> None:  # noqa: ANN001
    dialog = _login_dialog(qtbot, ws)
    dialog.password_edit.setText("not the password")
    dialog.submit()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.session is None
    assert not dialog.error_label.isHidden()
    assert dialog.error_label.text() == WRONG_CREDENTIALS
    assert dialog.password_edit.text() == ""
    assert dialog.login_button.isEnabled()


def test_empty_fields_are_refused_without_calling_the_service(qtbot, ws) -> None:  # noqa: ANN001
    dialog = _login_dialog(qtbot, ws, "")
    dialog.submit()
    assert "user name and password" in dialog.error_label.text()


def test_lockout_shows_a_live_countdown_and_disables_login(qtbot, ws, clock) -> None:  # noqa: ANN001
    dialog = _login_dialog(qtbot, ws)
    for _ in range(ws.ctx.settings.lockout_attempts):
        dialog.password_edit.setText("wrong password!")
        dialog.submit()
    text = dialog.error_label.text()
    assert "locked" in text and "Try again in 15:00" in text
    assert not dialog.login_button.isEnabled()
    assert dialog.countdown.isActive()

    clock.advance(minutes=10, seconds=30)
    dialog.tick()
    assert "Try again in 4:30" in dialog.error_label.text()
    assert not dialog.login_button.isEnabled()

    # another user is not locked: the button comes back for them
    dialog.user_edit.setText("analyst")
    assert dialog.login_button.isEnabled()
    dialog.user_edit.setText("treasurer")
    assert not dialog.login_button.isEnabled()

    clock.advance(minutes=5)
    dialog.tick()
    assert dialog.login_button.isEnabled()
    assert not dialog.countdown.isActive()
    assert "lock has ended" in dialog.error_label.text()
    dialog.password_edit.setText(TEST_PASSWORD)
    dialog.submit()
    assert dialog.session is not None


def test_format_remaining() -> None:
    assert format_remaining(900) == "15:00"
    assert format_remaining(59.2) == "1:00"
    assert format_remaining(0) == "0:00"


def test_mfa_prompt_appears_and_the_action_succeeds_after_a_correct_code(qtbot, ws) -> None:  # noqa: ANN001
    login(ws, "admin")  # no code at login: the next sensitive action must ask
    ui = make_ui(ws)
    results = []
    run = run_sensitive(ui, None, lambda: ws.users.unlock("viewer"), results.append)
    assert run.attempts == 1 and not run.done
    dialog = run.dialog
    assert isinstance(dialog, MfaDialog) and dialog.isVisible()
    qtbot.addWidget(dialog)

    dialog.code_edit.setText("000000")
    qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and not run.done
    assert "two-factor code" in dialog.error_label.text()

    dialog.code_edit.setText(totp.code_at(TEST_TOTP_SECRET, ws.ctx.now()))
    qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)
    assert run.done and run.attempts == 2
    assert results and results[0].username == "viewer"
    assert not dialog.isVisible()
    assert ui.extra["errors"] == []


def test_mfa_prompt_accepts_a_recovery_code(qtbot, ws) -> None:  # noqa: ANN001
    login(ws, "admin", mfa=True)
    codes = ws.auth.regenerate_recovery_codes()
    ws.ctx.session.mfa_verified_at = None  # make the next action ask again
    ui = make_ui(ws)
    run = run_sensitive(ui, None, lambda: ws.users.unlock("viewer"))
    qtbot.addWidget(run.dialog)
    run.dialog.code_edit.setText(codes[0])
    run.dialog.submit()
    assert run.done


def test_cancelling_the_mfa_prompt_runs_nothing(qtbot, ws) -> None:  # noqa: ANN001
    login(ws, "admin")
    ui = make_ui(ws)
    cancelled = []
    run = run_sensitive(ui, None, lambda: ws.users.set_active("viewer", False),
                        on_cancel=lambda: cancelled.append(True))
    qtbot.addWidget(run.dialog)
    run.dialog.reject()
    assert run.cancelled and cancelled == [True] and not run.done
    assert next(u for u in ws.users.list_users() if u.username == "viewer").is_active


def test_errors_other_than_mfa_go_to_on_error(qtbot, ws) -> None:  # noqa: ANN001
    login(ws, "viewer")
    ui = make_ui(ws)
    seen: list[BaseException] = []
    run = run_sensitive(ui, None, lambda: ws.users.unlock("analyst"), on_error=seen.append)
    assert run.dialog is None and len(seen) == 1
    assert "users.manage" in str(seen[0])


def test_action_without_enrolled_mfa_explains_instead_of_asking(qtbot, ws) -> None:  # noqa: ANN001
    add_user_without_mfa(ws, "admin2", "admin", TEST_PASSWORD)
    ws.auth.login("admin2", TEST_PASSWORD)
    ui = make_ui(ws)
    run = run_sensitive(ui, None, lambda: ws.users.unlock("viewer"))
    assert run.dialog is None and isinstance(run.error, MfaRequired)
    assert run.notice is not None and "My security" in run.notice.text()
    run.notice.close()


def test_five_wrong_codes_end_the_session_and_close_the_prompt(qtbot, ws) -> None:  # noqa: ANN001
    from cio_desktop.errors import AccountLocked

    login(ws, "admin")
    ui = make_ui(ws)
    run = run_sensitive(ui, None, lambda: ws.users.unlock("viewer"))
    dialog = run.dialog
    qtbot.addWidget(dialog)
    for _ in range(ws.ctx.settings.lockout_attempts):
        if not dialog.isVisible():
            break
        dialog.code_edit.setText("000000")
        dialog.submit()
    assert not dialog.isVisible() and run.cancelled and not run.done
    assert ws.ctx.session.ended
    assert isinstance(ui.extra["errors"][-1], AccountLocked)


def test_demo_company_prompt_shows_the_current_code(qtbot, ws) -> None:  # noqa: ANN001
    """The demo's two-factor secret is public: its prompt shows the code, which then works."""
    login(ws, "admin")
    ui = make_ui(ws)
    ui.extra["demo_totp_secret"] = TEST_TOTP_SECRET
    run = run_sensitive(ui, None, lambda: ws.users.unlock("viewer"))
    qtbot.addWidget(run.dialog)
    code = totp.code_at(TEST_TOTP_SECRET, ws.ctx.now())
    hint = run.dialog.findChild(QLabel, "mfaDemoCode")
    assert hint is not None and code in hint.text()
    run.dialog.code_edit.setText(code)
    run.dialog.submit()
    assert run.done
    plain = run_sensitive(make_ui(ws), None, lambda: None)  # not the demo: no code shown
    assert plain.dialog is None or plain.dialog.findChild(QLabel, "mfaDemoCode") is None
