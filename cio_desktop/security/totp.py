"""TOTP (RFC 6238: SHA-1, 30 s, 6 digits, ±1 step) with replay protection, and recovery codes.

``verify_totp`` returns the time step a code matched, so the caller can store it and refuse
any code whose step is not later than the last one used (no replay within the window).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from urllib.parse import parse_qs, unquote, urlparse

import pyotp

from cio_desktop.errors import ValidationError

ISSUER = "CIO Desktop"
STEP_SECONDS = 30
DIGITS = 6
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10


def new_secret() -> str:
    return pyotp.random_base32()


def validate_secret(secret: str) -> str:
    cleaned = (secret or "").replace(" ", "").upper()
    try:
        if len(cleaned) < 16:
            raise ValueError
        pyotp.TOTP(cleaned).at(0)
    except Exception:
        raise ValidationError("not a valid base32 TOTP secret (16+ characters A–Z, 2–7)",
                              field="totp_secret") from None
    return cleaned


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER)


def parse_provisioning_uri(uri: str) -> tuple[str, str]:
    """Return (account name, secret) from an ``otpauth://totp/...`` URI, or raise ValidationError."""
    parsed = urlparse(uri or "")
    if parsed.scheme != "otpauth" or parsed.netloc != "totp":
        raise ValidationError("not an otpauth://totp/ URI", field="uri")
    params = parse_qs(parsed.query)
    if "secret" not in params:
        raise ValidationError("the URI has no secret parameter", field="uri")
    label = unquote(parsed.path.lstrip("/"))
    account = label.split(":", 1)[-1]
    return account, validate_secret(params["secret"][0])


def time_step(at: datetime) -> int:
    return int(at.timestamp()) // STEP_SECONDS


def code_at(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(at)


def verify_totp(secret: str, code: str, at: datetime, last_used_step: int | None) -> int | None:
    """Return the matched time step, or None when the code is wrong, stale or already used."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    now_step = time_step(at)
    for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Codes like ``k7fq-2m9x-p4ta``: 60 bits each, easy to read aloud, no look-alike letters."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return ["-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))
            for _ in range(count)]


def normalise_recovery_code(code: str) -> str:
    cleaned = (code or "").strip().lower().replace(" ", "").replace("-", "")
    if len(cleaned) != 12 or not cleaned.isalnum():
        raise ValidationError("a recovery code has 12 letters and digits, like k7fq-2m9x-p4ta",
                              field="recovery_code")
    return cleaned


def hash_recovery_code(code: str) -> str:
    """SHA-256 is enough here: the codes carry 60 random bits, so there is nothing to brute-force cheaply."""
    return hashlib.sha256(normalise_recovery_code(code).encode()).hexdigest()
