"""Log in, log out, lock, change password, verify and enrol TOTP MFA.

Every attempt is audited (success, failure, lock-out) without the password. A failed attempt's
audit entry and counter are committed before the error is raised, so a refusal is recorded
even though nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cio_desktop.errors import (AccountLocked, AuthenticationFailed, CioError, NotAuthenticated,
                                ValidationError)
from cio_desktop.security import passwords, totp
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.services.context import ServiceContext
from cio_desktop.services.session import AuthSession
from cio_desktop.storage.models import RecoveryCode, RolePermission, User

MFA_SECRET_CONTEXT = "user.mfa_secret"
WRONG_CREDENTIALS = "wrong user name or password"
WRONG_CODE = "wrong, expired or already used two-factor code"


def role_permissions(session: Session, role: str) -> frozenset[Permission]:
    rows = session.execute(select(RolePermission.permission).where(RolePermission.role == role)).scalars()
    known = {p.value for p in Permission}
    return frozenset(Permission(p) for p in rows if p in known)


@dataclass(frozen=True)
class MfaEnrolment:
    secret: str
    uri: str


class AuthService(Service):
    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        self._pending_secret: str | None = None

    # -- password -------------------------------------------------------------------
    def _check_password(self, uow: Session, user: User | None, username: str, password: str,
                        purpose: str) -> CioError | None:
        """Verify a password for ``user``; count failures and lock out. Returns the error to raise."""
        now = self.ctx.now()
        if user is not None and user.locked_until is not None and user.locked_until > now:
            audit_log(uow, actor=username, action=f"{purpose}.refused_locked", entity="user",
                      entity_id=user.id, at=now)
            return AccountLocked(username, user.locked_until)
        ok = passwords.verify_password(user.password_hash if user else None, password)
        if ok and user is not None and user.is_active:
            return None
        if user is None or not user.is_active:
            audit_log(uow, actor=username, action=f"{purpose}.failed", entity="user",
                      entity_id=username, after={"reason": "unknown or inactive user"}, at=now)
            return AuthenticationFailed(WRONG_CREDENTIALS)
        return self._register_failure(uow, user, purpose, "wrong password", WRONG_CREDENTIALS)

    def _register_failure(self, uow: Session, user: User, purpose: str, reason: str,
                          message: str) -> CioError:
        """Count a failed attempt (password or code); the fifth in a row locks the account."""
        now = self.ctx.now()
        user.failed_attempts += 1
        if user.failed_attempts >= self.ctx.settings.lockout_attempts:
            user.failed_attempts = 0
            user.locked_until = now + timedelta(minutes=self.ctx.settings.lockout_minutes)
            audit_log(uow, actor=user.username, action="user.locked_out", entity="user",
                      entity_id=user.id, after={"locked_until": user.locked_until.isoformat(),
                                                "reason": reason}, at=now)
            return AccountLocked(user.username, user.locked_until)
        audit_log(uow, actor=user.username, action=f"{purpose}.failed", entity="user",
                  entity_id=user.id, after={"failed_attempts": user.failed_attempts, "reason": reason},
                  at=now)
        return AuthenticationFailed(message)

    @staticmethod
    def _clear_failures(user: User) -> None:
        if user.failed_attempts or user.locked_until:
            user.failed_attempts, user.locked_until = 0, None

    def login(self, username: str, password: str, otp: str | None = None) -> AuthSession:
        """Start a session. With ``otp`` the code is checked too and counts as a fresh MFA."""
        username = (username or "").strip()
        now = self.ctx.now()
        error: CioError | None = None
        with self.ctx.db.unit_of_work() as uow:
            user = uow.execute(select(User).where(User.username == username)).scalar_one_or_none()
            error = self._check_password(uow, user, username, password, "login")
            mfa_at = None
            if error is None and otp:
                assert user is not None
                if not self._consume_totp(uow, user, otp):
                    error = self._register_failure(uow, user, "login", "wrong or reused code", WRONG_CODE)
                else:
                    mfa_at = now
            if error is None:
                assert user is not None
                self._clear_failures(user)
                audit_log(uow, actor=username, action="login.success", entity="user",
                          entity_id=user.id, at=now)
                session = AuthSession(user_id=user.id, username=user.username, role=user.role,
                                      permissions=role_permissions(uow, user.role), started_at=now,
                                      last_activity=now, mfa_enabled=user.mfa_enabled,
                                      mfa_verified_at=mfa_at)
        if error is not None:
            raise error
        self.ctx.session = session
        self.ctx.bus.publish("auth.login", username=username)
        return session

    @action(None, description="log out")
    def logout(self) -> None:
        s = self.ctx.session
        assert s is not None
        with self.ctx.db.unit_of_work() as uow:
            audit_log(uow, actor=s.username, action="logout", entity="user", entity_id=s.user_id,
                      at=self.ctx.now())
        s.ended = True
        self.ctx.bus.publish("auth.logout", username=s.username)

    def lock(self) -> None:
        """Idle lock: the session stays (work is kept) but no action runs until ``unlock``."""
        s = self.ctx.session
        if s is None or s.ended or s.locked:
            return
        with self.ctx.db.unit_of_work() as uow:
            audit_log(uow, actor=s.username, action="session.locked", entity="user",
                      entity_id=s.user_id, at=self.ctx.now())
        s.locked = True
        self.ctx.bus.publish("auth.locked", username=s.username)

    def unlock(self, password: str) -> None:
        s = self.ctx.session
        if s is None or s.ended:
            raise NotAuthenticated("please log in first")
        with self.ctx.db.unit_of_work() as uow:
            user = uow.get(User, s.user_id)
            error = self._check_password(uow, user, s.username, password, "unlock")
            if error is None:
                self._clear_failures(user)  # type: ignore[arg-type]
                audit_log(uow, actor=s.username, action="session.unlocked", entity="user",
                          entity_id=s.user_id, at=self.ctx.now())
        if error is not None:
            if isinstance(error, AccountLocked):
                s.ended = True
            raise error
        s.locked = False
        s.last_activity = self.ctx.now()
        self.ctx.bus.publish("auth.unlocked", username=s.username)

    @action(None, description="change your password")
    def change_password(self, old_password: str, new_password: str) -> None:
        s = self.ctx.session
        assert s is not None
        passwords.check_policy(new_password, s.username)
        with self.ctx.db.unit_of_work() as uow:
            user = uow.get(User, s.user_id)
            error = self._check_password(uow, user, s.username, old_password, "password_change")
            if error is None:
                assert user is not None
                self._clear_failures(user)
                if passwords.verify_password(user.password_hash, new_password):
                    raise ValidationError("the new password must differ from the old one", field="password")
                user.password_hash = passwords.hash_password(new_password)
                user.password_changed_at = self.ctx.now()
                audit_log(uow, actor=s.username, action="password.changed", entity="user",
                          entity_id=user.id, at=self.ctx.now())
        if error is not None:
            raise error

    # -- TOTP -----------------------------------------------------------------------
    def _consume_totp(self, uow: Session, user: User, code: str) -> bool:
        if not user.mfa_enabled or not user.mfa_secret_enc:
            return False
        secret = self.ctx.cipher.decrypt(user.mfa_secret_enc, MFA_SECRET_CONTEXT)
        step = totp.verify_totp(secret, code, self.ctx.now(), user.mfa_last_step)
        if step is None:
            return False
        user.mfa_last_step = step
        return True

    @action(None, description="verify a two-factor code", mfa=False)
    def verify_mfa(self, code: str) -> None:
        """Check a TOTP code (or, if it has the recovery-code shape, a recovery code)."""
        s = self.ctx.session
        assert s is not None
        now = self.ctx.now()
        with self.ctx.db.unit_of_work() as uow:
            user = uow.get(User, s.user_id)
            assert user is not None
            if not user.mfa_enabled:
                raise ValidationError("two-factor authentication is not set up: enrol it in My security",
                                      field="otp")
            cleaned = (code or "").strip()
            ok = (self._consume_recovery_code(uow, user, cleaned) if len(cleaned.replace("-", "")) == 12
                  else self._consume_totp(uow, user, cleaned))
            if ok:
                self._clear_failures(user)
                audit_log(uow, actor=s.username, action="mfa.verified", entity="user",
                          entity_id=user.id, at=now)
                error = None
            else:
                error = self._register_failure(uow, user, "mfa", "wrong or reused code", WRONG_CODE)
        if error is not None:
            if isinstance(error, AccountLocked):
                s.ended = True  # five wrong codes: the session ends like a lock-out at login
            raise error
        s.mfa_verified_at = now

    def _consume_recovery_code(self, uow: Session, user: User, code: str) -> bool:
        digest = totp.hash_recovery_code(code)
        row = uow.execute(select(RecoveryCode).where(RecoveryCode.user_id == user.id,
                                                     RecoveryCode.code_hash == digest,
                                                     RecoveryCode.used_at.is_(None))).scalar_one_or_none()
        if row is None:
            return False
        row.used_at = self.ctx.now()
        return True

    @action(None, description="start two-factor enrolment", mfa=False)
    def begin_mfa_enrolment(self) -> MfaEnrolment:
        s = self.ctx.session
        assert s is not None
        if s.mfa_enabled and not self.ctx.mfa_is_fresh(s):
            from cio_desktop.errors import MfaRequired

            raise MfaRequired("replace your two-factor device")
        self._pending_secret = totp.new_secret()
        return MfaEnrolment(self._pending_secret, totp.provisioning_uri(self._pending_secret, s.username))

    @action(None, description="confirm two-factor enrolment", mfa=False)
    def confirm_mfa_enrolment(self, code: str) -> list[str]:
        """Confirm the new secret with its first code; returns ten recovery codes (shown once)."""
        s = self.ctx.session
        assert s is not None
        if self._pending_secret is None:
            raise ValidationError("start the enrolment first", field="otp")
        now = self.ctx.now()
        step = totp.verify_totp(self._pending_secret, code, now, None)
        if step is None:
            raise AuthenticationFailed("that code does not match the new secret: check the device clock")
        with self.ctx.db.unit_of_work() as uow:
            user = uow.get(User, s.user_id)
            assert user is not None
            codes = set_mfa_secret(uow, user, self._pending_secret, self.ctx, actor=s.username)
            user.mfa_last_step = step
        self._pending_secret = None
        s.mfa_enabled, s.mfa_verified_at = True, now
        return codes

    @action(None, description="create new recovery codes", mfa=True)
    def regenerate_recovery_codes(self) -> list[str]:
        s = self.ctx.session
        assert s is not None
        with self.ctx.db.unit_of_work() as uow:
            user = uow.get(User, s.user_id)
            assert user is not None
            codes = _replace_recovery_codes(uow, user)
            audit_log(uow, actor=s.username, action="mfa.recovery_codes_replaced", entity="user",
                      entity_id=user.id, at=self.ctx.now())
        return codes


def _replace_recovery_codes(uow: Session, user: User) -> list[str]:
    for old in uow.execute(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).scalars():
        uow.delete(old)
    codes = totp.new_recovery_codes()
    uow.add_all(RecoveryCode(user_id=user.id, code_hash=totp.hash_recovery_code(c)) for c in codes)
    return codes


def set_mfa_secret(uow: Session, user: User, secret: str, ctx: ServiceContext, actor: str) -> list[str]:
    """Store an (already confirmed) TOTP secret encrypted, with fresh recovery codes; audited."""
    user.mfa_secret_enc = ctx.cipher.encrypt(totp.validate_secret(secret), MFA_SECRET_CONTEXT)
    user.mfa_enabled = True
    user.mfa_last_step = None
    codes = _replace_recovery_codes(uow, user)
    audit_log(uow, actor=actor, action="mfa.enrolled", entity="user", entity_id=user.id, at=ctx.now())
    return codes
