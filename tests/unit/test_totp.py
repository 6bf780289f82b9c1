"""RFC 6238 appendix B vectors (SHA-1 seed "12345678901234567890"); we use 6 digits, so the
expected codes are the last six digits of the RFC's eight."""

import base64
from datetime import datetime, timezone

import pytest

from cio_desktop.errors import ValidationError
from cio_desktop.security import totp

SECRET = base64.b32encode(b"12345678901234567890").decode()
VECTORS = [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
           (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")]


@pytest.mark.parametrize("unix_time,rfc_code", VECTORS)
def test_rfc6238_vectors(unix_time, rfc_code):
    at = datetime.fromtimestamp(unix_time, timezone.utc)
    assert totp.code_at(SECRET, at) == rfc_code[-6:]
    assert totp.verify_totp(SECRET, rfc_code[-6:], at, None) == unix_time // 30


def test_window_is_plus_minus_one_step():
    at = datetime.fromtimestamp(1234567890, timezone.utc)
    code = totp.code_at(SECRET, at)
    later = datetime.fromtimestamp(1234567890 + 30, timezone.utc)
    much_later = datetime.fromtimestamp(1234567890 + 90, timezone.utc)
    assert totp.verify_totp(SECRET, code, later, None) is not None
    assert totp.verify_totp(SECRET, code, much_later, None) is None


def test_replay_refused():
    at = datetime.fromtimestamp(1234567890, timezone.utc)
    code = totp.code_at(SECRET, at)
    step = totp.verify_totp(SECRET, code, at, None)
    assert step is not None
    assert totp.verify_totp(SECRET, code, at, step) is None


def test_malformed_codes_and_uris():
    at = datetime.fromtimestamp(59, timezone.utc)
    assert totp.verify_totp(SECRET, "12345", at, None) is None
    assert totp.verify_totp(SECRET, "abcdef", at, None) is None
    with pytest.raises(ValidationError, match="otpauth"):
        totp.parse_provisioning_uri("https://example.org/?secret=ABC")
    with pytest.raises(ValidationError, match="no secret"):
        totp.parse_provisioning_uri("otpauth://totp/CIO%20Desktop:bob?issuer=CIO")
    with pytest.raises(ValidationError, match="base32"):
        totp.parse_provisioning_uri("otpauth://totp/CIO:bob?secret=not-base32!")
    uri = totp.provisioning_uri(SECRET, "bob")
    assert totp.parse_provisioning_uri(uri) == ("bob", SECRET)


def test_recovery_codes():
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert totp.hash_recovery_code(codes[0]) == totp.hash_recovery_code(codes[0].upper().replace("-", " "))
    with pytest.raises(ValidationError, match="recovery code"):
        totp.hash_recovery_code("short")
