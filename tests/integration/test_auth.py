"""Authentication, lock-out, idle lock, password change, MFA and recovery codes on a real file."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from cio_desktop.errors import (AccountLocked, AuthenticationFailed, ConcurrentUpdate, MfaRequired, NotAuthenticated,
                                PasswordPolicyError, PermissionDenied, ValidationError)
from cio_desktop.security import totp
from cio_desktop.storage.models import AuditEntry
from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET, login


def _actions(ws):
    with ws.db.unit_of_work(write=False) as uow:
        return [(e.actor, e.action) for e in uow.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()]


def test_login_success_and_failure_are_audited_without_password(ws):
    with pytest.raises(AuthenticationFailed, match="wrong user name or password"):
        ws.auth.login("treasurer", "not the password")
    with pytest.raises(AuthenticationFailed, match="wrong user name or password"):
        ws.auth.login("nobody", "whatever-whatever")
    s = ws.auth.login("treasurer", TEST_PASSWORD)
    assert s.role == "treasurer"
    acts = _actions(ws)
    assert ("treasurer", "login.failed") in acts and ("nobody", "login.failed") in acts
    assert acts[-1] == ("treasurer", "login.success")
    with ws.db.unit_of_work(write=False) as uow:
        summaries = " ".join(uow.execute(select(AuditEntry.summary)).scalars())
    assert "not the password" not in summaries and TEST_PASSWORD not in summaries


def test_lockout_after_five_failures_for_fifteen_minutes(ws, clock):
    for _ in range(4):
        with pytest.raises(AuthenticationFailed) as err:
            ws.auth.login("approver", "wrong-password-x")
        assert not isinstance(err.value, AccountLocked)
    with pytest.raises(AccountLocked) as locked:
        ws.auth.login("approver", "wrong-password-x")
    assert locked.value.until == clock.now + timedelta(minutes=15)
    # even the right password is refused while locked, and says until when
    with pytest.raises(AccountLocked, match="locked after too many failed attempts until"):
        ws.auth.login("approver", TEST_PASSWORD)
    clock.advance(minutes=15, seconds=1)
    assert ws.auth.login("approver", TEST_PASSWORD).username == "approver"
    assert ("approver", "user.locked_out") in _actions(ws)


def test_admin_unlock_clears_lockout(ws):
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            ws.auth.login("viewer", "bad-bad-bad-bad")
    login(ws, "admin", mfa=True)
    ws.users.unlock("viewer")
    assert ws.auth.login("viewer", TEST_PASSWORD).username == "viewer"


def test_logout_and_session_expiry(ws, clock):
    login(ws, "analyst")
    ws.accounts.list_accounts()
    ws.auth.logout()
    with pytest.raises(NotAuthenticated):
        ws.accounts.list_accounts()
    login(ws, "analyst")
    clock.advance(hours=12, minutes=1)
    with pytest.raises(NotAuthenticated, match="expired"):
        ws.accounts.list_accounts()


def test_idle_lock_keeps_session_and_unlock_needs_password(ws):
    login(ws, "treasurer")
    ws.auth.lock()
    with pytest.raises(NotAuthenticated, match="locked"):
        ws.accounts.list_accounts()
    with pytest.raises(AuthenticationFailed):
        ws.auth.unlock("wrong-password-1")
    ws.auth.unlock(TEST_PASSWORD)
    assert ws.accounts.list_accounts() == []


def test_change_password_policy_and_effect(ws):
    login(ws, "analyst")
    with pytest.raises(PasswordPolicyError, match="at least 12"):
        ws.auth.change_password(TEST_PASSWORD, "short")
    with pytest.raises(PasswordPolicyError, match="user name"):
        ws.auth.change_password(TEST_PASSWORD, "my-analyst-password-1")
    with pytest.raises(AuthenticationFailed):
        ws.auth.change_password("wrong-old-password", "Brand-New-Passw0rd")
    ws.auth.change_password(TEST_PASSWORD, "Brand-New-Passw0rd")
    with pytest.raises(AuthenticationFailed):
        ws.auth.login("analyst", TEST_PASSWORD)
    assert ws.auth.login("analyst", "Brand-New-Passw0rd").username == "analyst"


def test_totp_code_cannot_be_replayed(ws):
    code = totp.code_at(TEST_TOTP_SECRET, ws.ctx.now())
    ws.auth.login("admin", TEST_PASSWORD, otp=code)
    with pytest.raises(AuthenticationFailed, match="already used"):
        ws.auth.login("admin", TEST_PASSWORD, otp=code)
    login(ws, "admin")
    with pytest.raises(AuthenticationFailed):
        ws.auth.verify_mfa(code)


def test_mfa_freshness_expires(ws, clock):
    login(ws, "admin", mfa=True)
    ws.users.unlock("viewer")
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(MfaRequired, match="fresh two-factor"):
        ws.users.unlock("viewer")
    clock.advance(seconds=30)
    ws.auth.verify_mfa(totp.code_at(TEST_TOTP_SECRET, clock.now))
    ws.users.unlock("viewer")


def test_enrolment_recovery_codes_single_use(ws, clock):
    login(ws, "admin", mfa=True)
    ws.users.reset_mfa("analyst")
    login(ws, "analyst")
    with pytest.raises(ValidationError, match="not set up"):
        ws.auth.verify_mfa("123456")
    enrol = ws.auth.begin_mfa_enrolment()
    assert enrol.uri.startswith("otpauth://totp/") and totp.parse_provisioning_uri(enrol.uri)[1] == enrol.secret
    with pytest.raises(AuthenticationFailed):
        ws.auth.confirm_mfa_enrolment("000000" if totp.code_at(enrol.secret, clock.now) != "000000" else "111111")
    codes = ws.auth.confirm_mfa_enrolment(totp.code_at(enrol.secret, clock.now))
    assert len(codes) == 10
    login(ws, "analyst")
    ws.auth.verify_mfa(codes[3])
    login(ws, "analyst")
    with pytest.raises(AuthenticationFailed):
        ws.auth.verify_mfa(codes[3])
    with pytest.raises(ValidationError, match="recovery code"):
        from cio_desktop.security.totp import hash_recovery_code
        hash_recovery_code("nope")


def test_permission_denied_names_permission_and_is_audited(ws):
    login(ws, "viewer")
    with pytest.raises(PermissionDenied, match="'users.read' permission is missing"):
        ws.users.list_users()
    assert ("viewer", "permission.denied") in _actions(ws)


def test_auditor_reads_but_changes_nothing(ws):
    login(ws, "auditor", mfa=True)
    assert len(ws.users.list_users()) == 6
    assert ws.audit.verify().ok
    for call in (lambda: ws.users.unlock("viewer"), lambda: ws.users.set_role("viewer", "admin"),
                 lambda: ws.accounts.create_account(name="x", institution="y", number="123456789",
                                                    currency="EUR")):
        with pytest.raises(PermissionDenied):
            call()


def test_last_admin_cannot_be_demoted(ws):
    login(ws, "admin", mfa=True)
    with pytest.raises(ValidationError, match="last active admin"):
        ws.users.set_role("admin", "viewer")
    with pytest.raises(ValidationError, match="last active admin"):
        ws.users.set_active("admin", False)


def test_role_matrix_edit_takes_effect_at_next_login(ws, clock):
    login(ws, "admin", mfa=True)
    ws.users.set_role_permission("viewer", "users.read", True)
    login(ws, "viewer")
    assert len(ws.users.list_users()) == 6
    clock.advance(seconds=30)  # a TOTP code is single-use: the next one comes in the next step
    login(ws, "admin", mfa=True)
    ws.users.set_role_permission("viewer", "users.read", False)
    login(ws, "viewer")
    with pytest.raises(PermissionDenied):
        ws.users.list_users()


def test_role_change_from_a_stale_screen_is_refused_with_who_and_when(ws, clock):
    """Two administrators: one moves the viewer to approver; the other, whose screen still
    shows 'viewer', picks 'auditor': refused, naming the first change, and nothing changes."""
    login(ws, "admin", mfa=True)
    assert ws.users.set_role("viewer", "approver", seen_role="viewer").role == "approver"
    before = len(_actions(ws))
    with pytest.raises(ConcurrentUpdate, match=r"viewer's role was changed from viewer to approver by admin at "
                                               r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"):
        ws.users.set_role("viewer", "auditor", seen_role="viewer")
    assert next(u for u in ws.users.list_users() if u.username == "viewer").role == "approver"
    assert len(_actions(ws)) == before
    assert ws.users.set_role("viewer", "auditor", seen_role="approver").role == "auditor"
