"""The authenticated session of one user in one running application (or CLI command)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cio_desktop.security.permissions import Permission


@dataclass
class AuthSession:
    user_id: int
    username: str
    role: str
    permissions: frozenset[Permission]
    started_at: datetime
    last_activity: datetime
    mfa_enabled: bool = False
    mfa_verified_at: datetime | None = None
    locked: bool = False
    ended: bool = False
    extra: dict = field(default_factory=dict)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions
