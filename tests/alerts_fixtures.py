"""Real servers for the notification tests: an SMTP server with STARTTLS (aiosmtpd, certificate
from the test CA, login required) and an HTTPS SMS gateway, both on 127.0.0.1.

``SmtpServer.messages`` holds what arrived (``email.message.Message``); ``SmsGateway.received``
the JSON bodies, ``SmsGateway.fail_next(n, status)`` injects failures. Both are cheap to keep for
a whole module: tests clear them with ``reset()``.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.integration.http_server import TestPKI, make_pki

SMTP_USER = "alerts@cio.test"
SMTP_PASSWORD = "smtp-pa55word"
SMS_KEY = "sms_live_0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_tls(pki: TestPKI) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    return ctx


class _Handler:
    def __init__(self, sink: "SmtpServer") -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201
        if address.endswith("@refused.test"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
        with self.sink.lock:
            self.sink.messages.append(message_from_bytes(envelope.content))
            self.sink.tls_seen.append(session.ssl is not None)
        return "250 Message accepted"


def _authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN201
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER
          and auth_data.password.decode() == SMTP_PASSWORD)
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    port: int
    controller: Any = None
    messages: list[Message] = field(default_factory=list)
    tls_seen: list[bool] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.tls_seen.clear()

    def stop(self) -> None:
        self.controller.stop()


def start_smtp(pki: TestPKI, *, starttls: bool = True) -> SmtpServer:
    sink = SmtpServer(free_port())
    kwargs: dict[str, Any] = {"authenticator": _authenticator, "auth_require_tls": starttls}
    if starttls:
        kwargs.update(tls_context=server_tls(pki), require_starttls=True)
    else:
        kwargs.update(auth_required=False)
    sink.controller = Controller(_Handler(sink), hostname="127.0.0.1", port=sink.port, **kwargs)
    sink.controller.start()
    return sink


@dataclass
class SmsGateway:
    url: str = ""
    api_key: str = SMS_KEY
    received: list[dict] = field(default_factory=list)
    faults: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: Any = None

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.faults.clear()

    def fail_next(self, n: int, status: int) -> None:
        with self.lock:
            self.faults.extend([status] * n)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_sms(pki: TestPKI) -> SmsGateway:
    gw = SmsGateway()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            with gw.lock:
                fault = gw.faults.pop(0) if gw.faults else None
            if self.headers.get("Authorization") != f"Bearer {gw.api_key}":
                return self._answer(401, {"error": "invalid api key"})
            if fault:
                return self._answer(fault, {"error": "injected"})
            try:
                msg = json.loads(body)
            except ValueError:
                return self._answer(400, {"error": "bad json"})
            if not str(msg.get("to", "")).startswith("+"):
                return self._answer(422, {"error": "bad number"})
            with gw.lock:
                gw.received.append(msg)
            return self._answer(202, {"id": len(gw.received)})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = server_tls(pki).wrap_socket(server.socket, server_side=True)
    gw.server = server
    gw.url = f"https://127.0.0.1:{server.server_address[1]}/v1/sms"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return gw


@pytest.fixture(scope="module")
def notify_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_pki(tmp_path_factory.mktemp("notify_pki"))


@pytest.fixture(scope="module")
def smtp_server(notify_pki: TestPKI):  # noqa: ANN201
    server = start_smtp(notify_pki)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sms_gateway(notify_pki: TestPKI):  # noqa: ANN201
    gw = start_sms(notify_pki)
    yield gw
    gw.stop()


def configure_channels(ws, pki: TestPKI, smtp: SmtpServer | None, sms: SmsGateway | None,  # noqa: ANN001
                       *, password: str = SMTP_PASSWORD, api_key: str = SMS_KEY) -> None:
    """As admin (settings.manage): point the e-mail and SMS channels at the test servers."""
    from tests.property.helpers import make_session

    previous = ws.ctx.session
    make_session(ws, "admin")
    if smtp is not None:
        ws.notifications.configure_email(host="127.0.0.1", port=smtp.port, sender="cio@cio.test",
                                         username=SMTP_USER, password=password, ca_file=str(pki.ca_cert))
    if sms is not None:
        ws.notifications.configure_sms(url=sms.url, api_key=api_key, ca_file=str(pki.ca_cert))
    ws.ctx.session = previous


def ca_path(pki: TestPKI) -> Path:
    return pki.ca_cert
