"""ServiceContext: what every service needs, passed in (no global application object).

It holds the open database, settings, event bus, clock, field cipher and the current
authenticated session, and performs the one authorisation check that every service action
goes through (``authorize``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from cio_desktop.config import Settings
from cio_desktop.errors import MfaRequired, NotAuthenticated, PermissionDenied
from cio_desktop.events import EventBus
from cio_desktop.security.crypto import FieldCipher
from cio_desktop.security.permissions import SENSITIVE, Permission
from cio_desktop.services.session import AuthSession
from cio_desktop.storage.database import Database

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class ServiceContext:
    db: Database
    settings: Settings
    cipher: FieldCipher
    bus: EventBus = field(default_factory=EventBus)
    clock: Clock = system_clock
    session: AuthSession | None = None

    def now(self) -> datetime:
        return self.clock()

    @property
    def actor(self) -> str:
        return self.session.username if self.session else "system"

    def require_session(self) -> AuthSession:
        """The live session, or NotAuthenticated (none, ended, expired or idle-locked)."""
        s = self.session
        if s is None or s.ended:
            raise NotAuthenticated("please log in first")
        now = self.now()
        if now - s.started_at > timedelta(hours=self.settings.session_hours):
            s.ended = True
            raise NotAuthenticated("your session has expired: please log in again")
        if s.locked:
            raise NotAuthenticated("the workstation is locked: enter your password to continue")
        return s

    def mfa_is_fresh(self, s: AuthSession) -> bool:
        if s.mfa_verified_at is None:
            return False
        age = self.now() - s.mfa_verified_at
        return timedelta(0) <= age <= timedelta(minutes=self.settings.mfa_fresh_minutes)

    def authorize(self, permission: Permission | None, operation: str,
                  mfa: bool | None = None) -> AuthSession:
        """Check session, permission and (for sensitive actions) MFA freshness; audit refusals."""
        s = self.require_session()
        if permission is not None and not s.can(permission):
            self._audit_refusal(s, "permission.denied", operation, permission.value)
            raise PermissionDenied(
                f"{s.username} ({s.role}) may not {operation}: the '{permission.value}' "
                "permission is missing", permission=permission.value)
        needs_mfa = (permission in SENSITIVE) if mfa is None else mfa
        if needs_mfa and not self.mfa_is_fresh(s):
            self._audit_refusal(s, "mfa.required", operation, permission.value if permission else "")
            raise MfaRequired(operation)
        s.last_activity = self.now()
        return s

    def _audit_refusal(self, s: AuthSession, action: str, operation: str, permission: str) -> None:
        from cio_desktop.services.audit import audit_log

        try:
            with self.db.unit_of_work() as uow:
                audit_log(uow, actor=s.username, action=action, entity="operation",
                          entity_id=operation, after={"permission": permission}, at=self.now())
        except Exception:  # the refusal itself must still reach the user
            log.exception("could not audit a refused operation")
