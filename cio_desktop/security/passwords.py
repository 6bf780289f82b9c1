"""Password hashing with argon2id and the minimum password policy.

argon2id (RFC 9106) is memory-hard, so a stolen user table is far costlier to brute-force on
GPUs than with bcrypt, and it has no 72-byte input limit. Parameters: argon2-cffi's defaults
(RFC 9106 low-memory profile: t=3, m=64 MiB, p=4).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cio_desktop.errors import PasswordPolicyError

MIN_LENGTH = 12
_hasher = PasswordHasher()
_dummy_hash: str | None = None


def _dummy() -> str:
    """A fixed dummy hash so that an unknown user name costs the same time as a wrong password;
    made on first use, not at import (it costs ~0.25 s, which every start-up would pay)."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("cio-desktop timing equaliser")
    return _dummy_hash


def check_policy(password: str, username: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"must be at least {MIN_LENGTH} characters long", field="password")
    if username and username.strip().lower() in password.lower():
        raise PasswordPolicyError("must not contain the user name", field="password")
    if len(set(password)) < 4:
        raise PasswordPolicyError("must use at least 4 different characters", field="password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True iff ``password`` matches; never raises on a bad or missing hash."""
    try:
        return _hasher.verify(password_hash or _dummy(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
