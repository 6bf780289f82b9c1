"""User administration and the editable role→permission matrix (admin, MFA-gated, audited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cio_desktop.errors import ConcurrentUpdate, NotFound, ValidationError
from cio_desktop.security import passwords
from cio_desktop.security.permissions import Permission, Role, parse_role
from cio_desktop.services.audit import audit_log
from cio_desktop.services.auth import set_mfa_secret
from cio_desktop.services.base import Service, action
from cio_desktop.services.context import ServiceContext
from cio_desktop.storage.models import AuditEntry, RecoveryCode, RolePermission, User


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    display_name: str
    role: str
    is_active: bool
    mfa_enabled: bool
    locked_until: datetime | None
    created_at: datetime


def _info(u: User) -> UserInfo:
    return UserInfo(u.id, u.username, u.display_name, u.role, u.is_active, u.mfa_enabled,
                    u.locked_until, u.created_at)


def _validate_username(username: str) -> str:
    name = (username or "").strip().lower()
    if not (2 <= len(name) <= 64) or not all(c.isalnum() or c in "._-" for c in name):
        raise ValidationError("use 2–64 letters, digits, '.', '_' or '-'", field="username")
    return name


def provision_user(uow: Session, ctx: ServiceContext, *, username: str, role: str, password: str,
                   display_name: str = "", actor: str, totp_secret: str | None = None,
                   enforce_policy: bool = True) -> User:
    """Create a user inside the caller's transaction (used by the service and by bootstrap)."""
    name = _validate_username(username)
    role_value = parse_role(role).value
    if enforce_policy:
        passwords.check_policy(password, name)
    if uow.execute(select(User.id).where(User.username == name)).first():
        raise ValidationError(f"a user named '{name}' already exists", field="username")
    user = User(username=name, display_name=display_name or name.title(), role=role_value,
                password_hash=passwords.hash_password(password), password_changed_at=ctx.now(),
                created_at=ctx.now())
    uow.add(user)
    uow.flush()
    audit_log(uow, actor=actor, action="user.created", entity="user", entity_id=user.id,
              after={"username": name, "role": role_value}, at=ctx.now())
    if totp_secret:
        set_mfa_secret(uow, user, totp_secret, ctx, actor=actor)
    return user


def create_first_admin(ctx: ServiceContext, username: str, password: str,
                       totp_secret: str | None = None) -> UserInfo:
    """Bootstrap: only allowed while the database has no user at all."""
    with ctx.db.unit_of_work() as uow:
        if uow.execute(select(func.count()).select_from(User)).scalar_one():
            raise ValidationError("this database already has users: log in as an admin to add more",
                                  field="username")
        user = provision_user(uow, ctx, username=username, role=Role.ADMIN, password=password,
                              actor="bootstrap", totp_secret=totp_secret)
        return _info(user)


class UsersService(Service):
    def _get(self, uow: Session, username: str, *, lock: bool = False) -> User:
        """The user; ``lock`` reads the row FOR UPDATE (PostgreSQL), so a check of what the
        screen showed cannot race another administrator's change."""
        query = select(User).where(User.username == username.strip().lower())
        user = uow.execute(query.with_for_update() if lock else query).scalar_one_or_none()
        if user is None:
            raise NotFound(f"no user named '{username}'")
        return user

    def _guard_last_admin(self, uow: Session, user: User) -> None:
        if user.role != Role.ADMIN.value or not user.is_active:
            return
        admins = uow.execute(select(func.count()).select_from(User).where(
            User.role == Role.ADMIN.value, User.is_active.is_(True))).scalar_one()
        if admins <= 1:
            raise ValidationError("this is the last active admin: make another admin first", field="role")

    @action(Permission.USERS_READ, description="list users")
    def list_users(self) -> list[UserInfo]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return [_info(u) for u in uow.execute(select(User).order_by(User.username)).scalars()]

    @action(Permission.USERS_MANAGE, description="add a user")
    def add_user(self, username: str, role: str, password: str, display_name: str = "") -> UserInfo:
        with self.ctx.db.unit_of_work() as uow:
            user = provision_user(uow, self.ctx, username=username, role=role, password=password,
                                  display_name=display_name, actor=self.ctx.actor)
            info = _info(user)
        self.ctx.bus.publish("users.changed", username=info.username)
        return info

    @action(Permission.ROLES_MANAGE, description="change a user's role")
    def set_role(self, username: str, role: str, *, seen_role: str | None = None) -> UserInfo:
        """``seen_role``: the role the administrator's screen showed. When another administrator
        changed it meanwhile, the change is refused with who did it and when, instead of
        silently replacing their decision (team mode). Left out (CLI): no check."""
        new_role = parse_role(role).value
        with self.ctx.db.unit_of_work() as uow:
            user = self._get(uow, username, lock=seen_role is not None)
            if seen_role is not None and user.role != parse_role(seen_role).value:
                last = uow.execute(select(AuditEntry).where(AuditEntry.entity == "user",
                                                            AuditEntry.entity_id == str(user.id),
                                                            AuditEntry.action == "user.role_changed")
                                   .order_by(AuditEntry.id.desc()).limit(1)).scalar_one_or_none()
                by = f" by {last.actor} at {last.ts:%Y-%m-%d %H:%M:%S} UTC" if last is not None else ""
                raise ConcurrentUpdate(f"{user.username}'s role was changed from {seen_role} to {user.role}{by}: "
                                       "reload and try again (nothing was changed)")
            if user.role != new_role:
                self._guard_last_admin(uow, user)
                before = user.role
                user.role = new_role
                audit_log(uow, actor=self.ctx.actor, action="user.role_changed", entity="user",
                          entity_id=user.id, before={"role": before}, after={"role": new_role},
                          at=self.ctx.now())
            info = _info(user)
        self.ctx.bus.publish("users.changed", username=info.username)
        return info

    @action(Permission.USERS_MANAGE, description="unlock a user")
    def unlock(self, username: str) -> UserInfo:
        with self.ctx.db.unit_of_work() as uow:
            user = self._get(uow, username)
            if user.locked_until is not None or user.failed_attempts:
                user.locked_until, user.failed_attempts = None, 0
                audit_log(uow, actor=self.ctx.actor, action="user.unlocked", entity="user",
                          entity_id=user.id, at=self.ctx.now())
            info = _info(user)
        self.ctx.bus.publish("users.changed", username=info.username)
        return info

    @action(Permission.USERS_MANAGE, description="reset a user's two-factor device")
    def reset_mfa(self, username: str) -> UserInfo:
        with self.ctx.db.unit_of_work() as uow:
            user = self._get(uow, username)
            codes = list(uow.execute(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).scalars())
            if user.mfa_enabled or user.mfa_secret_enc or codes:
                user.mfa_secret_enc, user.mfa_enabled, user.mfa_last_step = None, False, None
                for code in codes:
                    uow.delete(code)
                audit_log(uow, actor=self.ctx.actor, action="mfa.reset", entity="user",
                          entity_id=user.id, at=self.ctx.now())
            info = _info(user)
        self.ctx.bus.publish("users.changed", username=info.username)
        return info

    @action(Permission.USERS_MANAGE, description="set a user's password")
    def reset_password(self, username: str, new_password: str) -> UserInfo:
        with self.ctx.db.unit_of_work() as uow:
            user = self._get(uow, username)
            passwords.check_policy(new_password, user.username)
            user.password_hash = passwords.hash_password(new_password)
            user.password_changed_at = self.ctx.now()
            audit_log(uow, actor=self.ctx.actor, action="password.reset", entity="user",
                      entity_id=user.id, at=self.ctx.now())
            info = _info(user)
        return info

    @action(Permission.USERS_MANAGE, description="activate or deactivate a user")
    def set_active(self, username: str, active: bool) -> UserInfo:
        with self.ctx.db.unit_of_work() as uow:
            user = self._get(uow, username)
            if not active:
                self._guard_last_admin(uow, user)
            if user.is_active != active:
                user.is_active = active
                audit_log(uow, actor=self.ctx.actor, action="user.activated" if active else "user.deactivated",
                          entity="user", entity_id=user.id, at=self.ctx.now())
            info = _info(user)
        self.ctx.bus.publish("users.changed", username=info.username)
        return info

    @action(Permission.USERS_READ, description="read the role matrix")
    def role_matrix(self) -> dict[str, frozenset[str]]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            matrix: dict[str, set[str]] = {r.value: set() for r in Role}
            for row in uow.execute(select(RolePermission)).scalars():
                matrix.setdefault(row.role, set()).add(row.permission)
            return {k: frozenset(v) for k, v in matrix.items()}

    @action(Permission.ROLES_MANAGE, description="change the role matrix")
    def set_role_permission(self, role: str, permission: str, allowed: bool) -> None:
        role_value = parse_role(role).value
        try:
            perm = Permission(permission)
        except ValueError:
            raise ValidationError(f"unknown permission '{permission}'", field="permission") from None
        if role_value == Role.ADMIN.value and perm is Permission.ROLES_MANAGE and not allowed:
            raise ValidationError("admins must keep 'roles.manage', or nobody could undo this",
                                  field="permission")
        with self.ctx.db.unit_of_work() as uow:
            row = uow.get(RolePermission, (role_value, perm.value))
            if allowed and row is None:
                uow.add(RolePermission(role=role_value, permission=perm.value))
            elif not allowed and row is not None:
                uow.delete(row)
            else:
                return
            audit_log(uow, actor=self.ctx.actor, action="role.permission_granted" if allowed
                      else "role.permission_revoked", entity="role", entity_id=role_value,
                      after={"permission": perm.value}, at=self.ctx.now())
        self.ctx.bus.publish("roles.changed", role=role_value)
