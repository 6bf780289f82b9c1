"""Team mode: how a ``postgresql://`` URL becomes a verified-TLS connection, and plain words for
what can go wrong on the way (server down, wrong password, unknown database, certificate).

Every connection uses ``sslmode=verify-full`` with TLS 1.2 minimum. A URL that asks for less
(``sslmode=disable|allow|prefer|require|verify-ca``) is refused unless its host is listed in
``allow_insecure_hosts``; the caller then records that use in the audit trail.
"""

from __future__ import annotations

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


def describe_pg_failure(exc: BaseException, target: str) -> str:
    """One line the user can act on; never the password."""
    text = " ".join(str(e) for e in _chain(exc)).replace("\n", " ")
    low = text.lower()
    where = redact(target)
    if "certificate verify failed" in low or "self-signed" in low or "self signed" in low:
        detail = "the certificate has expired" if "expired" in low else (
            "it is self-signed" if "self" in low and "signed" in low else "it is not signed by a trusted CA")
        return (f"cannot connect to {where}: the server's TLS certificate could not be verified ({detail}); "
                "set pg_ca_file to the CA that signed it — nothing was changed")
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
