"""One TLS policy for every outgoing connection (HTTP to banks and providers, SMTP STARTTLS,
PostgreSQL): certificates verified against the system store (or certifi's bundle when the
system has none) plus an optional private CA, host names checked, TLS 1.2 minimum (1.3 is
negotiated whenever the server offers it).

The only way around it is a host the user named in ``allow_insecure_hosts``; callers that use
that exception must write it to the audit trail (see ``services.team.record_insecure_use``).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from cio_desktop.errors import ValidationError

MIN_VERSION = ssl.TLSVersion.TLSv1_2


def default_ca_file() -> str | None:
    """A CA bundle file for clients that need a path (libpq): the system's, else certifi's."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return candidate
    try:
        import certifi

        return certifi.where()
    except ImportError:  # pragma: no cover
        return None


def client_ssl_context(ca_file: str | None = None, *, source: str = "connection") -> ssl.SSLContext:
    """Verification on, host names checked, TLS >= 1.2; ``ca_file`` adds a private CA (PEM)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = MIN_VERSION
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if not ctx.cert_store_stats().get("x509_ca"):
        fallback = default_ca_file()
        if fallback:
            try:
                ctx.load_verify_locations(cafile=fallback)
            except (OSError, ssl.SSLError):  # pragma: no cover
                pass
    if ca_file:
        path = Path(ca_file).expanduser()
        if not path.is_file():
            raise ValidationError(f"the CA certificate file '{path}' does not exist", source=source,
                                  field="ca_file")
        try:
            ctx.load_verify_locations(cafile=str(path))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ValidationError(f"the CA certificate file '{path}' is not a PEM certificate ({exc})",
                                  source=source, field="ca_file") from None
    return ctx


def insecure_allowed(host: str, allowed: frozenset[str] | set[str] | tuple[str, ...]) -> bool:
    """True only for a host the user named explicitly (no wildcards, case-insensitive)."""
    return bool(host) and host.strip().lower() in {a.strip().lower() for a in allowed}
