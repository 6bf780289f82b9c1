"""Helpers for the security properties: sessions built directly (no password hashing per
example) and a way to call every registered service action."""

from __future__ import annotations

from sqlalchemy import func, select, text

import cio_desktop.services.workspace  # noqa: F401 — registers every service action
from cio_desktop.services.auth import role_permissions
from cio_desktop.services.base import ACTIONS, ActionSpec
from cio_desktop.services.session import AuthSession
from cio_desktop.storage.models import Base, User


def service_attributes(ws) -> dict[str, str]:  # noqa: ANN001
    """Service class name → Workspace attribute, checked to cover every registered action."""
    mapping = {type(getattr(ws, name)).__name__: name for name in vars(ws)
               if hasattr(getattr(ws, name), "ctx")}
    missing = {spec.service for spec in ACTIONS.values()} - set(mapping)
    assert not missing, f"actions of services not on the Workspace: {missing}"
    return mapping


def make_session(ws, role: str, *, mfa_age_seconds: float | None = 0) -> AuthSession:  # noqa: ANN001
    from datetime import timedelta

    now = ws.ctx.now()
    with ws.db.unit_of_work(write=False) as uow:
        user = uow.execute(select(User).where(User.username == role)).scalar_one()
        perms = role_permissions(uow, user.role)
        session = AuthSession(user_id=user.id, username=user.username, role=user.role, permissions=perms,
                              started_at=now, last_activity=now, mfa_enabled=user.mfa_enabled,
                              mfa_verified_at=None if mfa_age_seconds is None
                              else now - timedelta(seconds=mfa_age_seconds))
    ws.ctx.session = session
    return session


def call_action(ws, spec: ActionSpec) -> None:  # noqa: ANN001
    """Call with no arguments: the authorisation check runs before the body, so a permitted
    call fails later (TypeError for the missing arguments) or succeeds — never PermissionDenied."""
    service = getattr(ws, service_attributes(ws)[spec.service])
    getattr(service, spec.method)()


def row_counts(ws) -> dict[str, int]:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return {t.name: uow.execute(select(func.count()).select_from(t)).scalar_one()
                for t in Base.metadata.sorted_tables}


def reset_login_state(ws) -> None:  # noqa: ANN001
    with ws.db.engine.begin() as conn:
        conn.execute(text("UPDATE users SET failed_attempts = 0, locked_until = NULL, mfa_last_step = NULL"))
