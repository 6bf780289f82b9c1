"""Encryption in transit: every client — the bank/provider HTTP client, the shared
``security.tls.client_ssl_context``, SMTP with STARTTLS and the PostgreSQL team database —
refuses a server whose certificate is self-signed, expired or for another host, and a server
that only speaks TLS 1.0/1.1, with a clear message and nothing sent or changed; and talks TLS
1.2+ (1.3 preferred) to a good one. Real TLS servers on 127.0.0.1: small Python servers, an
aiosmtpd server, and a throwaway PostgreSQL cluster of this module's own (its certificate and
protocol versions are switched by a restart, so the session's shared cluster is never touched)."""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from pathlib import Path

import pytest

from cio_desktop.domain.retry import BackoffPolicy
from cio_desktop.errors import ConnectionFailed, ValidationError
from cio_desktop.integrations.http import ApiClient, ConnectionConfig
from cio_desktop.security.tls import client_ssl_context, insecure_allowed
from tests.tls_certs import CertKit, make_cert_kit

BODY = b'{"ok": true}'


class TinyTlsServer:
    """Accepts TLS connections in a thread and answers every request with a small JSON body."""

    def __init__(self, cert: Path, key: Path, *, max_version: ssl.TLSVersion | None = None) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        if max_version is not None:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the old protocol be offered at all
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = max_version
        self.ctx = ctx
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.versions: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.ctx.wrap_socket(raw, server_side=True) as conn:
                    self.versions.append(conn.version() or "")
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                                 + str(len(BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + BODY)
            except (ssl.SSLError, OSError):
                raw.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> CertKit:
    return make_cert_kit(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(kit):  # noqa: ANN001, ANN201
    made: list[TinyTlsServer] = []

    def start(which: str = "good", **kw) -> TinyTlsServer:  # noqa: ANN003
        cert, key = {"good": (kit.good_cert, kit.good_key), "expired": (kit.expired_cert, kit.expired_key),
                     "wronghost": (kit.wrong_host_cert, kit.wrong_host_key),
                     "selfsigned": (kit.self_signed_cert, kit.self_signed_key)}[which]
        s = TinyTlsServer(cert, key, **kw)
        made.append(s)
        return s

    yield start
    for s in made:
        s.close()


def _client(kit: CertKit, port: int, host: str = "localhost") -> ApiClient:
    config = ConnectionConfig(name="Test Bank", kind="banking", base_url=f"https://{host}:{port}/api",
                              ca_bundle_path=str(kit.ca), timeout=5)
    return ApiClient(config, policy=BackoffPolicy(max_attempts=1), sleep=lambda s: None)


def test_good_server_is_reached_over_tls_1_3(kit, server):
    s = server()
    with _client(kit, s.port) as client:
        assert client.get_json("/ping") == {"ok": True}
    assert s.versions == ["TLSv1.3"]


@pytest.mark.parametrize("which, words", [
    ("selfsigned", "certificate could not be verified"),
    ("expired", "certificate could not be verified"),
    ("wronghost", "certificate could not be verified"),
])
def test_http_client_refuses_a_certificate_that_does_not_verify(kit, server, which, words):
    s = server(which)
    with _client(kit, s.port) as client, pytest.raises(ConnectionFailed) as info:
        client.get_json("/ping")
    msg = str(info.value)
    assert words in msg
    detail = {"selfsigned": "self-signed", "expired": "expired", "wronghost": "mismatch"}[which]
    assert detail in msg.lower() or detail.replace("-", " ") in msg.lower()
    assert s.versions == []  # no request ever reached the server


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_http_client_refuses_a_server_that_only_speaks_old_tls(kit, server, version):
    s = server(max_version=version)
    with _client(kit, s.port) as client, pytest.raises(ConnectionFailed) as info:
        client.get_json("/ping")
    assert "TLS 1.2 or later is required" in str(info.value) or "TLS error" in str(info.value)
    assert s.versions == []


def test_plain_http_is_refused_for_a_remote_host():
    config = ConnectionConfig(name="Test Bank", kind="banking", base_url="http://bank.example.org/api")
    with pytest.raises(ValidationError) as info:
        ApiClient(config)
    assert "plain http:// is refused" in str(info.value)


# -- the shared context (SMTP STARTTLS and any other client use it) -----------------------------

def _handshake(ctx: ssl.SSLContext, port: int, host: str = "localhost") -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            return tls.version() or ""


def test_shared_context_policy(kit, server):
    ctx = client_ssl_context(str(kit.ca))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert _handshake(ctx, server().port) == "TLSv1.3"


@pytest.mark.parametrize("which", ["selfsigned", "expired", "wronghost"])
def test_shared_context_refuses_bad_certificates(kit, server, which):
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(client_ssl_context(str(kit.ca)), server(which).port)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_shared_context_refuses_old_tls(kit, server, version):
    s = server(max_version=version)
    legacy = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)   # proves the server really offers the old version
    legacy.check_hostname, legacy.verify_mode = False, ssl.CERT_NONE
    legacy.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy.minimum_version = ssl.TLSVersion.TLSv1
    assert _handshake(legacy, s.port) == {ssl.TLSVersion.TLSv1: "TLSv1", ssl.TLSVersion.TLSv1_1: "TLSv1.1"}[version]
    with pytest.raises(ssl.SSLError):
        _handshake(client_ssl_context(str(kit.ca)), s.port)


def test_shared_context_rejects_a_missing_ca_file(tmp_path):
    with pytest.raises(ValidationError) as info:
        client_ssl_context(str(tmp_path / "nope.pem"), source="SMTP")
    assert "does not exist" in str(info.value)


def test_insecure_exception_is_by_exact_host_name_only():
    allowed = frozenset({"legacy-bank.example.org"})
    assert insecure_allowed("LEGACY-BANK.example.org", allowed)
    assert not insecure_allowed("bank.example.org", allowed)
    assert not insecure_allowed("", allowed)
    assert not insecure_allowed("legacy-bank.example.org.evil.test", allowed)


# -- the explicit, named exception ---------------------------------------------------------------

def test_unverified_server_reached_only_when_its_host_is_named(kit, server):
    s = server("selfsigned")
    config = ConnectionConfig(name="Legacy Bank", kind="banking", base_url=f"https://localhost:{s.port}/api",
                              timeout=5)
    with ApiClient(config, policy=BackoffPolicy(max_attempts=1), sleep=lambda x: None) as client:
        assert client.insecure_host is None
        with pytest.raises(ConnectionFailed):
            client.get_json("/ping")
    with ApiClient(config, policy=BackoffPolicy(max_attempts=1), sleep=lambda x: None,
                   insecure_hosts=frozenset({"localhost"})) as client:
        assert client.insecure_host == "localhost"     # the calling service audits this
        assert client.get_json("/ping") == {"ok": True}


def test_plain_http_to_a_named_host_is_allowed_and_flagged():
    config = ConnectionConfig(name="Legacy", kind="banking", base_url="http://legacy-bank.example.org/api")
    with pytest.raises(ValidationError) as info:
        ApiClient(config, insecure_hosts=frozenset({"other.example.org"}))
    assert "allow_insecure_hosts" in str(info.value)
    client = ApiClient(config, insecure_hosts=frozenset({"legacy-bank.example.org"}))
    assert client.insecure_host == "legacy-bank.example.org"
    client.close()


def test_insecure_use_is_written_to_the_audit_trail(ws):
    from sqlalchemy import select

    from cio_desktop.services.audit import verify_chain
    from cio_desktop.services.team import record_insecure_use
    from cio_desktop.storage.models import AuditEntry

    record_insecure_use(ws.db, "legacy-bank.example.org", "https (unverified)", actor="treasurer")
    with ws.db.unit_of_work(write=False) as uow:
        entry = uow.execute(select(AuditEntry).order_by(AuditEntry.id.desc())).scalars().first()
        assert verify_chain(uow).ok
    assert (entry.action, entry.entity_id, entry.actor) == ("tls.insecure_allowed", "legacy-bank.example.org",
                                                            "treasurer")


# -- SMTP with STARTTLS (the notification transport itself, not only its context) ------------------

class _SmtpSink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 - aiosmtpd API
        self.messages.append(envelope.content)
        return "250 Message accepted"


@pytest.fixture
def smtp_server(kit):  # noqa: ANN001, ANN201
    """``start(which, max_version=None)``: an SMTP server on localhost that requires STARTTLS
    and presents the named certificate (optionally limited to an old TLS version)."""
    from aiosmtpd.controller import Controller

    started: list[tuple[Controller, _SmtpSink]] = []

    def start(which: str = "good", max_version: ssl.TLSVersion | None = None) -> tuple[int, _SmtpSink]:
        cert, key = {"good": (kit.good_cert, kit.good_key), "expired": (kit.expired_cert, kit.expired_key),
                     "wronghost": (kit.wrong_host_cert, kit.wrong_host_key),
                     "selfsigned": (kit.self_signed_cert, kit.self_signed_key)}[which]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        if max_version is not None:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = max_version
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        sink = _SmtpSink()
        controller = Controller(sink, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
                                auth_required=False)
        controller.start()
        started.append((controller, sink))
        return port, sink

    yield start
    for controller, _sink in started:
        controller.stop()


def _send_mail(kit: CertKit, port: int) -> None:
    from cio_desktop.integrations.notify.base import OutgoingMessage
    from cio_desktop.integrations.notify.smtp import SmtpSettings, SmtpTransport

    settings = SmtpSettings(host="localhost", port=port, sender="cio@cio.test", ca_file=str(kit.ca), timeout=5)
    SmtpTransport(settings).send("treasurer@cio.test", OutgoingMessage("Balance alert", "secret body"))


def _accept_anything() -> ssl.SSLContext:
    """A client context that takes any certificate and any TLS version down to 1.0: the probes
    use it to prove a server really offers the old version the product must refuse."""
    legacy = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    legacy.check_hostname, legacy.verify_mode = False, ssl.CERT_NONE
    legacy.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy.minimum_version = ssl.TLSVersion.TLSv1
    return legacy


def _legacy_starttls(port: int) -> str:
    """Proves the server really offers the old version: a client that accepts anything gets it."""
    import smtplib

    legacy = _accept_anything()
    with smtplib.SMTP("localhost", port, timeout=5) as client:
        client.starttls(context=legacy)
        return client.sock.version() or ""


def test_smtp_starttls_to_a_good_server_delivers(kit, smtp_server):
    port, sink = smtp_server()
    _send_mail(kit, port)
    assert len(sink.messages) == 1 and b"secret body" in sink.messages[0]


@pytest.mark.parametrize("which, detail", [("selfsigned", "self-signed"), ("expired", "expired"),
                                           ("wronghost", "mismatch")])
def test_smtp_starttls_refuses_a_certificate_that_does_not_verify(kit, smtp_server, which, detail):
    from cio_desktop.integrations.notify.base import DeliveryFailed

    port, sink = smtp_server(which)
    with pytest.raises(DeliveryFailed) as info:
        _send_mail(kit, port)
    msg = str(info.value)
    assert f"TLS with localhost:{port} failed" in msg and "certificate could not be verified" in msg
    assert detail in msg.lower() or detail.replace("-", " ") in msg.lower()
    assert info.value.retryable is False
    assert sink.messages == []                      # nothing (and no alert text) was sent


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_smtp_starttls_refuses_a_server_that_only_speaks_old_tls(kit, smtp_server, version):
    from cio_desktop.integrations.notify.base import DeliveryFailed

    port, sink = smtp_server(max_version=version)
    assert _legacy_starttls(port) == {ssl.TLSVersion.TLSv1: "TLSv1", ssl.TLSVersion.TLSv1_1: "TLSv1.1"}[version]
    sink.messages.clear()
    with pytest.raises(DeliveryFailed) as info:
        _send_mail(kit, port)
    msg = str(info.value)
    assert f"TLS with localhost:{port} failed" in msg and "TLS 1.2 or later is required" in msg, msg
    assert sink.messages == []


# -- PostgreSQL (team mode): a cluster of this module's own, reconfigured per case ------------------

@pytest.fixture(scope="module")
def tls_cluster():  # noqa: ANN201
    """A throwaway server with one empty database ``fresh`` that no refusal may touch."""
    from tests.pg_cluster import PgCluster, find_bin_dir

    if find_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries not installed (scripts/setup installs them)")
    cluster = PgCluster().start()
    try:
        cluster.admin_execute("CREATE DATABASE fresh")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_server(tls_cluster):  # noqa: ANN001, ANN201
    """``pg_server(**settings)`` restarts the module's cluster with those TLS settings; after the
    test it goes back to its good certificate and TLS 1.2+."""
    yield tls_cluster.reconfigure
    tls_cluster.reconfigure()


PG_CERTS = {"selfsigned": ("self_signed_cert", "self_signed_key"), "expired": ("expired_cert", "expired_key"),
            "wronghost": ("wrong_host_cert", "wrong_host_key")}


def _public_tables(cluster) -> int:  # noqa: ANN001
    import psycopg

    with psycopg.connect(cluster.url("fresh")) as conn:
        return conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]


def _open_fresh(cluster, tmp_path: Path):  # noqa: ANN001, ANN202
    """What a workstation does at start: open (and, for a new team database, set up) ``fresh``."""
    from cio_desktop.services.workspace import open_workspace
    from tests.conftest import TEST_KEY, make_settings

    return open_workspace(make_settings(tmp_path, db=cluster.url("fresh")), create=True, key=TEST_KEY)


def _legacy_pg_handshake(port: int) -> str | None:
    """The TLS version a client that accepts anything gets from the server (None: no handshake)."""
    import struct

    legacy = _accept_anything()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(struct.pack("!ii", 8, 80877103))          # PostgreSQL SSLRequest
        assert raw.recv(1) == b"S"
        try:
            with legacy.wrap_socket(raw, server_hostname="localhost") as tls:
                return tls.version()
        except ssl.SSLError:
            return None


def test_pg_client_requires_verify_full_and_tls_1_2_in_its_libpq_parameters(tls_cluster):
    from cio_desktop.storage.team import prepare_pg_target

    args = prepare_pg_target(tls_cluster.url("fresh")).connect_args
    assert args["sslmode"] == "verify-full" and args["ssl_min_protocol_version"] == "TLSv1.2"
    assert args["sslrootcert"] == str(tls_cluster.certs.ca)


@pytest.mark.parametrize("which, detail, advice", [
    ("selfsigned", "it is self-signed", "set pg_ca_file"),
    ("expired", "the certificate has expired", "must renew it"),
])
def test_pg_refuses_a_server_certificate_that_does_not_verify(tls_cluster, pg_server, tmp_path, which, detail,
                                                              advice):
    from cio_desktop.errors import DatabaseOpenError

    cert, key = (getattr(tls_cluster.certs, a) for a in PG_CERTS[which])
    pg_server(ssl_cert_file=str(cert), ssl_key_file=str(key))
    with pytest.raises(DatabaseOpenError) as info:
        _open_fresh(tls_cluster, tmp_path)
    msg = str(info.value)
    assert "the server's TLS certificate could not be verified" in msg, msg
    assert detail in msg and advice in msg and "nothing was changed" in msg, msg
    assert _no_password(msg)
    pg_server()
    assert _public_tables(tls_cluster) == 0            # no migration ran: nothing was opened


def test_pg_refuses_a_server_certificate_for_another_host(tls_cluster, pg_server, tmp_path):
    from cio_desktop.errors import DatabaseOpenError

    cert, key = (getattr(tls_cluster.certs, a) for a in PG_CERTS["wronghost"])
    pg_server(ssl_cert_file=str(cert), ssl_key_file=str(key))
    with pytest.raises(DatabaseOpenError) as info:
        _open_fresh(tls_cluster, tmp_path)
    msg = str(info.value)
    assert "certificate is for another host name" in msg and "nothing was changed" in msg, msg
    assert _no_password(msg)
    pg_server()
    assert _public_tables(tls_cluster) == 0


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1.1"])
def test_pg_refuses_a_server_that_only_speaks_old_tls(tls_cluster, pg_server, tmp_path, version):
    from cio_desktop.errors import DatabaseOpenError

    # SECLEVEL=0 lets this OpenSSL offer the old protocol at all; where a build refuses it
    # anyway the server still starts and every handshake fails — the client's side is the same
    pg_server(ssl_min_protocol_version="TLSv1", ssl_max_protocol_version=version,
              ssl_ciphers="DEFAULT:@SECLEVEL=0")
    assert _legacy_pg_handshake(tls_cluster.port) in (version, None)
    with pytest.raises(DatabaseOpenError) as info:
        _open_fresh(tls_cluster, tmp_path)
    msg = str(info.value)
    assert "the server does not offer TLS 1.2 or newer" in msg and "nothing was changed" in msg, msg
    pg_server()
    assert _public_tables(tls_cluster) == 0


def test_pg_server_capped_at_tls_1_2_is_still_accepted(tls_cluster, pg_server):
    from cio_desktop.storage.database import connect

    pg_server(ssl_max_protocol_version="TLSv1.2")
    db = connect(tls_cluster.url("fresh"), None)
    try:
        with db.engine.connect() as conn:
            version = conn.exec_driver_sql("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").scalar()
    finally:
        db.dispose()
    assert version == "TLSv1.2"


def _no_password(message: str) -> bool:
    from tests.pg_cluster import PASSWORD

    return PASSWORD not in message
