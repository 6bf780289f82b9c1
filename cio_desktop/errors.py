"""One error hierarchy for the whole application.

Every error carries a message written for a treasurer, so the UI can show ``str(err)`` in a
dialog and the CLI can print it on one line; none of them may contain a secret.
"""

from __future__ import annotations

import re
from datetime import datetime

# control characters quoted from a hostile file would reach the terminal (escape sequences) or
# cut a dialog's text (NUL): they are shown escaped, as \x1b; tab and newline stay
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class CioError(Exception):
    """Base class: ``str()`` is the plain-words message shown to the user."""

    exit_code = 1


class ConfigError(CioError):
    pass


class DatabaseOpenError(CioError):
    """The database cannot be opened: wrong key, not ours, corrupt, unwritable, too new."""

    exit_code = 2


class ValidationError(CioError):
    """Bad input, located as precisely as we can: file (source), line and field."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.source, self.line, self.field, self.reason = source, line, field, message
        where = []
        if source:
            where.append(str(source))
        if line is not None:
            where.append(f"line {line}")
        if field:
            where.append(f"field '{field}'")
        super().__init__(printable(f"{', '.join(where)}: {message}" if where else message))


class NotFound(CioError):
    pass


class AuthenticationFailed(CioError):
    """Wrong user name or password, or a wrong code. Deliberately vague about which."""

    exit_code = 3


class AccountLocked(AuthenticationFailed):
    def __init__(self, username: str, until: datetime) -> None:
        self.until = until
        super().__init__(
            f"account '{username}' is locked after too many failed attempts until "
            f"{until.strftime('%Y-%m-%d %H:%M:%S UTC')}")


class NotAuthenticated(CioError):
    """No session, or the session has ended (logout, expiry, idle lock)."""

    exit_code = 3


class PermissionDenied(CioError):
    def __init__(self, message: str, *, permission: str | None = None) -> None:
        self.permission = permission
        super().__init__(message)

    exit_code = 4


class MfaRequired(CioError):
    """A sensitive operation needs a fresh TOTP verification first."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        super().__init__(f"'{operation}' needs a fresh two-factor code (MFA)")

    exit_code = 5


class PasswordPolicyError(ValidationError):
    pass


class InsufficientFunds(CioError):
    pass


class ComplianceViolation(CioError):
    """A compliance rule (or payment control) stops the operation; the message names the rule
    and, when given, the limit and the actual figure."""

    def __init__(self, rule: str, message: str, *, limit: str | None = None, actual: str | None = None) -> None:
        self.rule, self.limit, self.actual = rule, limit, actual
        figures = f" [limit: {limit}; actual: {actual}]" if limit and actual else ""
        super().__init__(f"blocked by compliance rule '{rule}': {message}{figures}")


class ApprovalRequired(CioError):
    pass


class ImportFailed(CioError):
    pass


class ConcurrentUpdate(CioError):
    """Someone else changed the record since it was read."""


class ConnectionFailed(CioError):
    """A remote system could not be reached or answered badly (after any retries)."""

    def __init__(self, message: str, *, connection: str = "", status: int | None = None,
                 retryable: bool = False, retry_after: float | None = None) -> None:
        self.connection, self.status, self.retryable, self.retry_after = connection, status, retryable, retry_after
        super().__init__(f"{connection}: {message}" if connection else message)


class SyncFailed(CioError):
    pass
