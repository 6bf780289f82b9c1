"""TLS for connections: verification always on, TLS 1.2 or later, optional private CA and client certificate.

The trust store is the operating system's (``ssl.create_default_context``) — or, when none is
found (a frozen macOS build often has none), the Mozilla bundle shipped with ``certifi`` — plus
the connection's own ``ca_bundle_path`` for banks that use a private CA. Hostname checking is on.
A client certificate (mutual TLS) is loaded from PEM files, the key decrypted with the
passphrase taken from the keyring.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Iterator

from cio_desktop.errors import ValidationError

#: OpenSSL reasons that mean "the server would not accept us" (client certificate missing/untrusted)
CLIENT_CERT_REFUSALS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_HANDSHAKE_FAILURE",
    "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "TLSV1_ALERT_ACCESS_DENIED",
    "SSLV3_ALERT_CERTIFICATE_REVOKED", "SSLV3_ALERT_CERTIFICATE_EXPIRED", "TLSV1_ALERT_DECRYPT_ERROR",
}
PROTOCOL_REFUSALS = {"TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE",
                     "WRONG_VERSION_NUMBER"}
#: the peer hung up mid-handshake without saying why
HANDSHAKE_HANGUPS = {"UNEXPECTED_EOF_WHILE_READING"}


def build_ssl_context(*, connection: str, ca_bundle_path: str | None = None,
                      client_cert_path: str | None = None, client_key_path: str | None = None,
                      key_passphrase: str | None = None) -> ssl.SSLContext:
    # the one policy of every outgoing connection (security.tls): verify, host names, TLS >= 1.2,
    # system store or certifi's bundle when there is none (typical of a frozen macOS build)
    from cio_desktop.security.tls import client_ssl_context

    ctx = client_ssl_context()
    if ca_bundle_path:
        path = Path(ca_bundle_path)
        if not path.is_file():
            raise ValidationError(f"the CA bundle '{path}' does not exist", source=connection,
                                  field="ca_bundle_path")
        try:
            ctx.load_verify_locations(cafile=str(path))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ValidationError(f"the CA bundle '{path}' is not a PEM certificate file ({_reason(exc)})",
                                  source=connection, field="ca_bundle_path") from None
    if client_cert_path:
        cert = Path(client_cert_path)
        key = Path(client_key_path) if client_key_path else None
        for p, name in ((cert, "client_cert_path"), (key, "client_key_path")):
            if p is not None and not p.is_file():
                raise ValidationError(f"the file '{p}' does not exist", source=connection, field=name)
        try:
            ctx.load_cert_chain(str(cert), str(key) if key else None,
                                password=(key_passphrase or None) and (lambda: key_passphrase))
        except (ssl.SSLError, OSError, ValueError, TypeError) as exc:
            # never echo the passphrase; the reason names only OpenSSL's complaint
            raise ValidationError(
                f"the client certificate or its key could not be loaded ({_reason(exc)}); check the "
                f"files and the key passphrase", source=connection, field="client_cert_path") from None
    elif client_key_path:
        raise ValidationError("a client key without a client certificate", source=connection,
                              field="client_cert_path")
    return ctx


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or type(exc).__name__)


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe_tls_failure(exc: BaseException) -> tuple[str, bool] | None:
    """A plain-words explanation of a TLS failure somewhere in ``exc``'s chain, and whether a
    retry could help; None when the failure is not about TLS."""
    for e in exception_chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            detail = getattr(e, "verify_message", "") or _reason(e)
            return (f"the server's TLS certificate could not be verified ({detail}); if this bank uses "
                    f"a private certificate authority, set the connection's CA bundle", False)
        if isinstance(e, ssl.SSLError):
            reason = str(getattr(e, "reason", "") or "")
            if reason in CLIENT_CERT_REFUSALS:
                return (f"the server refused the TLS connection ({reason.lower()}): it requires a "
                        f"client certificate it trusts; check the connection's client certificate", False)
            if reason in PROTOCOL_REFUSALS:
                return (f"no common TLS version with the server ({reason.lower()}); TLS 1.2 or later "
                        f"is required", False)
            if reason in HANDSHAKE_HANGUPS:
                # asyncio-based servers (and some appliances) drop the connection instead of sending
                # the protocol-version alert, so this is how an old-TLS-only server often looks
                return ("the server closed the connection during the TLS handshake; it may offer only "
                        "TLS 1.0/1.1, which are refused (TLS 1.2 or later is required)", True)
            return f"TLS error ({reason.lower() or type(e).__name__})", True
    text = " ".join(str(e) for e in exception_chain(exc)).upper()
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return ("the server's TLS certificate could not be verified; if this bank uses a private "
                "certificate authority, set the connection's CA bundle", False)
    for reason in CLIENT_CERT_REFUSALS:
        if reason in text:
            return (f"the server refused the TLS connection ({reason.lower()}): it requires a client "
                    f"certificate it trusts; check the connection's client certificate", False)
    return None
