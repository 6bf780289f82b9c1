"""Team mode: how a ``postgresql://`` URL becomes a verified-TLS connection, and plain words for
what can go wrong on the way (server down, wrong password, unknown database, certificate).

Every connection uses ``sslmode=verify-full`` with TLS 1.2 minimum. A URL that asks for less
(``sslmode=disable|allow|prefer|require|verify-ca``) is refused unless its host is listed in
``allow_insecure_hosts``; the caller then records that use in the audit trail.
"""

from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from cio_desktop.errors import DatabaseOpenError
from cio_desktop.security.tls import default_ca_file, insecure_allowed

NOTIFY_CHANNEL = "cio_changes"
SECURE_MODE = "verify-full"


@dataclass(frozen=True)
class PgTarget:
    url: URL
    connect_args: dict[str, Any]
    host: str
    insecure: bool          # True when the user's allow-list let a weaker sslmode through
    sslmode: str


def _parse(target: str) -> URL:
    try:
        url = make_url(target.replace("postgres://", "postgresql://", 1))
    except (ArgumentError, ValueError):
        raise DatabaseOpenError(f"'{redact(target)}' is not a valid postgresql:// URL (a password with "
                                "@ : / or % must be percent-encoded)") from None
    if url.get_backend_name() != "postgresql":
        raise DatabaseOpenError(f"'{redact(target)}' is not a postgresql:// URL")
    return url.set(drivername="postgresql+psycopg")


def redact(target: str) -> str:
    """The URL without password and query (for messages, logs and keyring entry names)."""
    try:
        url = make_url(target.replace("postgres://", "postgresql://", 1))
    except (ArgumentError, ValueError):
        return "<unreadable postgresql URL>"
    user = f"{url.username}@" if url.username else ""
    port = f":{url.port}" if url.port else ""
    return f"postgresql://{user}{url.host or ''}{port}/{url.database or ''}"


def team_key_target(target: str) -> str:
    """The keyring entry name for a team database: the same for every member's URL spelling."""
    return redact(target)


def prepare_pg_target(target: str, *, ca_file: str | None = None,
                      insecure_hosts: frozenset[str] = frozenset()) -> PgTarget:
    url = _parse(target)
    host = (url.host or "").lower()
    if not host or host.startswith("/"):
        raise DatabaseOpenError(f"{redact(target)}: team mode connects over the network with TLS; "
                                "give the server's host name (a local socket is not encrypted)")
    if not url.database:
        raise DatabaseOpenError(f"{redact(target)}: the URL names no database")
    query = dict(url.query)
    mode = str(query.pop("sslmode", SECURE_MODE))
    insecure = mode != SECURE_MODE
    if insecure and not insecure_allowed(host, insecure_hosts):
        raise DatabaseOpenError(
            f"refusing sslmode={mode} for {host}: team mode requires an encrypted connection with a "
            f"verified server certificate (sslmode=verify-full); to allow it for this host only, add "
            f"'{host}' to the setting allow_insecure_hosts (the connection is then audited)")
    rootcert = str(query.pop("sslrootcert", "") or ca_file or default_ca_file() or "")
    args: dict[str, Any] = {"sslmode": mode, "connect_timeout": 10, "application_name": "cio-desktop",
                            "ssl_min_protocol_version": "TLSv1.2"}
    if rootcert and mode in ("verify-full", "verify-ca"):
        args["sslrootcert"] = rootcert
    return PgTarget(url.set(query=query), args, host, insecure, mode)


#: PostgreSQL's SSLRequest message: length 8, request code 1234.5679
_SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def _query_value(url: URL, name: str) -> str:
    value = url.query.get(name)
    if isinstance(value, tuple):
        value = value[0] if value else None
    return str(value or "")


def certificate_problem(pg: PgTarget, timeout: float = 5.0) -> str | None:
    """OpenSSL's reason why the server's certificate fails verification ("certificate has
    expired", "self-signed certificate", "unable to get local issuer certificate"), or None.

    libpq says only "certificate verify failed", but an expired certificate (renew it) and an
    untrusted one (set pg_ca_file) need different fixes. So after such a failure — never
    otherwise — one more handshake is made here against the same CA file and host name; it
    stops at the certificate check, so nothing is sent to the server.
    """
    rootcert = pg.connect_args.get("sslrootcert")
    if not rootcert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(cafile=str(rootcert))
    except (OSError, ssl.SSLError, ValueError):
        return None
    address = _query_value(pg.url, "hostaddr").split(",")[0] or pg.host
    try:
        with socket.create_connection((address, pg.url.port or 5432), timeout=timeout) as raw:
            raw.sendall(_SSL_REQUEST)
            if raw.recv(1) != b"S":
                return None
            with ctx.wrap_socket(raw, server_hostname=pg.host):
                return None
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message or exc.reason or "")
    except (OSError, ssl.SSLError, ValueError):
        return None


def _certificate_detail(reason: str) -> str:
    low = reason.lower()
    if "expired" in low:
        return "the certificate has expired"
    if "not yet valid" in low:
        return "the certificate is not valid yet"
    if ("self-signed" in low or "self signed" in low) and "in certificate chain" not in low:
        return "it is self-signed"
    return "it is not signed by a trusted CA"


def describe_pg_failure(exc: BaseException, target: str, pg: PgTarget | None = None) -> str:
    """One line the user can act on; never the password. With ``pg`` (the prepared target), a
    certificate failure is probed once more for its exact reason (``certificate_problem``)."""
    text = " ".join(str(e) for e in _chain(exc)).replace("\n", " ")
    low = text.lower()
    where = redact(target)
    if "certificate verify failed" in low or "self-signed" in low or "self signed" in low:
        reason = low
        if pg is not None and not any(w in low for w in ("expired", "self-signed", "self signed", "issuer")):
            reason = (certificate_problem(pg) or low).lower()
        detail = _certificate_detail(reason)
        advice = ("the server's administrator must renew it" if "expired" in detail else
                  "check the date and time of this computer and the server" if "valid yet" in detail else
                  "set pg_ca_file to the CA that signed it")
        return (f"cannot connect to {where}: the server's TLS certificate could not be verified ({detail}); "
                f"{advice} — nothing was changed")
    if "does not match host name" in low or "hostname mismatch" in low:
        return (f"cannot connect to {where}: the server's TLS certificate is for another host name; "
                "use the name on the certificate — nothing was changed")
    if "unsupported protocol" in low or "protocol version" in low or "no protocols available" in low:
        return (f"cannot connect to {where}: the server does not offer TLS 1.2 or newer — nothing was changed")
    if "server does not support ssl" in low or "ssl was required" in low:
        return f"cannot connect to {where}: the server does not offer TLS; plain-text connections are refused"
    if "password authentication failed" in low:
        return f"cannot connect to {where}: the user name or password was not accepted"
    if "does not exist" in low and "database" in low:
        return f"cannot connect to {where}: that database does not exist on the server (ask its administrator)"
    if "connection refused" in low or "could not connect" in low or "timeout" in low or "timed out" in low:
        return f"cannot connect to {where}: the server is not reachable (is it running, is the port right?)"
    if "could not translate host name" in low or "name or service not known" in low:
        return f"cannot connect to {where}: unknown host name"
    first = text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__
    return f"cannot connect to {where}: {first}"


def _chain(exc: BaseException):  # noqa: ANN202
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__
