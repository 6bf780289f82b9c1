"""A real HTTPS API server on 127.0.0.1 for the connection and adapter tests.

- ``make_pki(dir)``: a test CA, a server certificate (SAN 127.0.0.1 and localhost), a client
  certificate whose key is encrypted with ``CLIENT_KEY_PASSPHRASE``, and a second, untrusted CA
  with its own server certificate — all generated with ``cryptography``.
- ``ApiServer``: ``http.server.ThreadingHTTPServer`` in a daemon thread on port 0, TLS by default
  (optionally requiring a client certificate signed by the test CA), serving
    * ``POST /oauth/token`` — OAuth2 client credentials (HTTP Basic or form fields), tokens that
      expire after ``state.token_lifetime`` seconds of the server's clock (``advance()`` moves it);
    * Berlin Group-style ``/v1/accounts``, ``…/balances``, ``…/transactions`` (paged, ``dateFrom``);
    * accounting ``/v1/chart-of-accounts``, ``/v1/payables``, ``/v1/receivables``;
    * investment ``/v1/positions``, ``/v1/trades``, ``/v1/prices``;
  with authentication by bearer token, API key or none (``state.auth_mode``) and fault injection:
  ``fail_next(n, status, retry_after)``, ``timeout_next(n, delay)``, ``malformed_next(n)``,
  ``reset_next(n)``, ``revoke_tokens()``, ``state.reject_tokens``.
- Fixtures ``pki``, ``start_server`` (a factory; servers stop at teardown) and ``api_server``;
  ``client_for(server, pki, …)`` builds an ``ApiClient`` with a recording fake ``sleep`` and a
  fake monotonic clock so tests never wait (except for a deliberate client timeout).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cio_desktop.domain.retry import BackoffPolicy
from cio_desktop.integrations.http import ApiClient, ConnectionConfig, Credentials

CLIENT_ID = "cio-desktop"
CLIENT_SECRET = "s3cr3t:with/odd+chars&="   # exercises RFC 6749 §2.3.1 form-encoding
API_KEY = "ak_live_7f3c9d2e"
CLIENT_KEY_PASSPHRASE = "client-key-passphrase"
TOKEN_PATH = "/oauth/token"


# -- PKI -------------------------------------------------------------------------------------

@dataclass
class TestPKI:
    dir: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path                 # encrypted with CLIENT_KEY_PASSPHRASE
    rogue_client_cert: Path          # signed by the untrusted CA
    rogue_client_key: Path           # unencrypted
    untrusted_ca_cert: Path
    untrusted_server_cert: Path
    untrusted_server_key: Path

    __test__ = False                 # not a pytest test class


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CIO Desktop tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _leaf(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, cn: str, *,
          server: bool) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                     else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate | None = None, key: ec.EllipticCurvePrivateKey | None = None,
           passphrase: str | None = None) -> Path:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        assert key is not None
        enc = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
               else serialization.NoEncryption())
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc))
    return path


def make_pki(directory: Path) -> TestPKI:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca("CIO Test Root CA")
    s_key, s_cert = _leaf(ca_key, ca_cert, "127.0.0.1", server=True)
    c_key, c_cert = _leaf(ca_key, ca_cert, "cio-desktop-test-client", server=False)
    u_key, u_cert = _ca("Untrusted Root CA")
    us_key, us_cert = _leaf(u_key, u_cert, "127.0.0.1", server=True)
    rc_key, rc_cert = _leaf(u_key, u_cert, "rogue-client", server=False)
    d = directory
    return TestPKI(
        dir=d, ca_cert=_write(d / "ca.pem", ca_cert), server_cert=_write(d / "server.pem", s_cert),
        server_key=_write(d / "server.key", key=s_key), client_cert=_write(d / "client.pem", c_cert),
        client_key=_write(d / "client.key", key=c_key, passphrase=CLIENT_KEY_PASSPHRASE),
        rogue_client_cert=_write(d / "rogue-client.pem", rc_cert),
        rogue_client_key=_write(d / "rogue-client.key", key=rc_key),
        untrusted_ca_cert=_write(d / "untrusted-ca.pem", u_cert),
        untrusted_server_cert=_write(d / "untrusted-server.pem", us_cert),
        untrusted_server_key=_write(d / "untrusted-server.key", key=us_key))


# -- generated data -----------------------------------------------------------------------------

ACCOUNTS = [
    {"resourceId": "acc-eur-1", "iban": "DE89370400440532013000", "currency": "EUR", "name": "Operating EUR",
     "product": "Current account"},
    {"resourceId": "acc-gbp-1", "iban": "GB29NWBK60161331926819", "currency": "GBP", "name": "Payroll GBP",
     "product": "Current account"},
    {"resourceId": "acc-chf-1", "iban": "CH9300762011623852957", "currency": "CHF", "name": "Reserve CHF",
     "product": "Savings"},
]
COUNTERPARTIES = ["Acme Supplies GmbH", "Northwind Traders", "Contoso Ltd", "Fabrikam AG", "Globex plc"]
TRICKY_AMOUNTS = ["0.10", "0.20", "-0.30", "1234567890123.45", "-0.01", "100000000.07", "19.99"]


def make_transaction(seq: int, day: dt.date, amount: str, currency: str, *, rng: random.Random | None = None,
                     with_id: bool = True) -> dict[str, Any]:
    rng = rng or random.Random(seq)
    who = COUNTERPARTIES[seq % len(COUNTERPARTIES)]
    other_iban = "FR1420041010050500013M02606"
    tx: dict[str, Any] = {
        "bookingDate": day.isoformat(), "valueDate": (day + dt.timedelta(days=rng.choice([0, 0, 1]))).isoformat(),
        "transactionAmount": {"amount": amount, "currency": currency},
        "remittanceInformationUnstructured": f"Invoice {1000 + seq}", "endToEndId": f"E2E-{seq:05d}",
        "bankTransactionCode": "PMNT-ICDT-STDO" if amount.startswith("-") else "PMNT-RCDT-ESCT",
    }
    if with_id:
        tx["transactionId"] = f"TX-{seq:06d}"
    if amount.startswith("-"):
        tx["creditorName"], tx["creditorAccount"] = who, {"iban": other_iban}
    else:
        tx["debtorName"], tx["debtorAccount"] = who, {"iban": other_iban}
    return tx


def generate_transactions(resource_id: str, currency: str, count: int, start: dt.date,
                          seed: int = 1) -> list[dict[str, Any]]:
    """``count`` booked transactions from ``start``, 0–2 per day, several on the same day."""
    rng = random.Random(f"{seed}-{resource_id}")
    out, day = [], start
    base = sum(ord(c) for c in resource_id) * 1000
    for i in range(count):
        if i and rng.random() < 0.55:
            day += dt.timedelta(days=rng.randint(1, 3))
        if i < len(TRICKY_AMOUNTS):
            amount = TRICKY_AMOUNTS[i]
        else:
            cents = rng.randint(-500_000, 900_000)
            amount = str(Decimal(cents).scaleb(-2))
        out.append(make_transaction(base + i, day, amount, currency, rng=rng))
    return out


# -- server state and faults ---------------------------------------------------------------------

@dataclass
class Fault:
    kind: str                       # status | timeout | malformed | reset
    remaining: int
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0
    path: str | None = None         # None: any API request (not the token endpoint); else a path prefix


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    client_cn: str | None


@dataclass
class ApiState:
    auth_mode: str = "oauth2"             # oauth2 | api_key | none
    clients: dict[str, str] = field(default_factory=lambda: {CLIENT_ID: CLIENT_SECRET})
    api_keys: set[str] = field(default_factory=lambda: {API_KEY})
    token_lifetime: float = 300.0
    clock_offset: float = 0.0
    reject_tokens: bool = False           # every token is refused (a revoked client)
    page_size: int = 5
    newest_first: bool = False
    absolute_links: bool = False
    prefix: str = ""                      # e.g. "/psd2": the API lives under this path
    accounts: list[dict] = field(default_factory=lambda: [dict(a) for a in ACCOUNTS])
    transactions: dict[str, list[dict]] = field(default_factory=dict)
    chart: list[dict] = field(default_factory=list)
    payables: list[dict] = field(default_factory=list)
    receivables: list[dict] = field(default_factory=list)
    positions: list[dict] = field(default_factory=list)
    trades: list[dict] = field(default_factory=list)
    prices: list[dict] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)
    token_requests: int = 0
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() + self.clock_offset


def default_state() -> ApiState:
    state = ApiState()
    start = dt.date(2026, 10, 1)
    state.transactions = {a["resourceId"]: generate_transactions(a["resourceId"], a["currency"], n, start)
                          for a, n in zip(state.accounts, (23, 7, 0))}
    state.chart = [{"code": str(1000 + 10 * i), "name": f"Ledger account {i}",
                    "type": ["asset", "liability", "equity", "income", "expense"][i % 5], "currency": "EUR"}
                   for i in range(12)]
    state.payables = [{"id": f"AP-{i}", "documentNo": f"INV-{2000 + i}", "counterparty": COUNTERPARTIES[i % 5],
                       "amount": ["1250.00", "0.10", "0.20", "99999999.99", "13.37", "42.42", "7.01"][i],
                       "currency": "EUR", "dueDate": f"2026-11-{10 + i:02d}", "issueDate": "2026-10-15"}
                      for i in range(7)]
    state.receivables = [{"id": f"AR-{i}", "documentNo": f"SO-{3000 + i}", "counterparty": COUNTERPARTIES[-1 - i % 5],
                          "amount": f"{500 + i}.{i:02d}", "currency": "USD", "dueDate": f"2026-12-{1 + i:02d}"}
                         for i in range(4)]
    state.positions = [{"assetId": f"US00000000{i:02d}", "idType": "ISIN", "name": f"Security {i}",
                        "quantity": ["100", "0.5", "1234.5678", "10", "3", "250", "1"][i],
                        "price": ["190.12", "101.255", "0.0001", "45", "1000000.01", "12.5", "0.10"][i],
                        "marketValue": None, "currency": "USD"} for i in range(7)]
    for p in state.positions:
        p["marketValue"] = str(Decimal(p["quantity"]) * Decimal(p["price"]))
    state.trades = [{"tradeId": f"TR-{i}", "assetId": f"US00000000{i % 7:02d}", "idType": "ISIN",
                     "side": "buy" if i % 3 else "sell", "quantity": str(10 + i), "price": f"{100 + i}.25",
                     "currency": "USD", "tradeDate": f"2026-10-{1 + i:02d}", "settlementDate": f"2026-10-{3 + i:02d}",
                     "fees": "2.50"} for i in range(9)]
    state.prices = [{"assetId": f"US00000000{a:02d}", "date": f"2026-10-{d:02d}", "close": f"{100 + a}.{d:02d}",
                     "currency": "USD"} for a in range(3) for d in range(1, 5)]
    return state


# -- the HTTP handler -----------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 10
    server: "_HTTPServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — quiet
        pass

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(5)
            self.request.do_handshake()
        super().setup()

    # -- plumbing --
    @property
    def state(self) -> ApiState:
        return self.server.state

    def _send(self, status: int, body: Any = None, *, raw: bytes | None = None,
              headers: dict[str, str] | None = None) -> None:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, text: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"tppMessages": [{"category": "ERROR", "code": code, "text": text}]}, headers=headers)

    def _client_cn(self) -> str | None:
        if not isinstance(self.request, ssl.SSLSocket):
            return None
        cert = self.request.getpeercert()
        if not cert:
            return None
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return value
        return None

    def _take_fault(self, path: str) -> Fault | None:
        with self.state.lock:
            for fault in self.state.faults:
                applies = (path.startswith(fault.path) if fault.path is not None else path != TOKEN_PATH)
                if applies and fault.remaining > 0:
                    fault.remaining -= 1
                    return fault
        return None

    def _apply_fault(self, fault: Fault) -> bool:
        """True if the fault produced the response (or none at all)."""
        if fault.kind == "timeout":
            time.sleep(fault.delay)
            return False            # then answer normally (too late for the client)
        if fault.kind == "reset":
            self.close_connection = True
            try:
                self.request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        if fault.kind == "malformed":
            self._send(200, raw=b'{"accounts": [{"resourceId": "x",')
            return True
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
        self._error(fault.status, "SERVICE_BLOCKED" if fault.status < 500 else "INTERNAL_SERVER_ERROR",
                    f"injected {fault.status}", headers)
        return True

    def _route(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path
        if self.state.prefix and path.startswith(self.state.prefix):
            path = path[len(self.state.prefix):] or "/"
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.state.lock:
            self.state.seen.append(Seen(method, path, query, {k.lower(): v for k, v in self.headers.items()},
                                        self._client_cn()))
        fault = self._take_fault(path)
        if fault is not None and self._apply_fault(fault):
            return
        try:
            if method == "POST" and path == TOKEN_PATH:
                return self._token(body)
            if method != "GET":
                return self._error(405, "SERVICE_INVALID", "method not allowed")
            if not self._authorised():
                return
            return self._api(path, query)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    # -- OAuth2 --
    def _token(self, body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        client_id = secret = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            pair = base64.b64decode(auth[6:]).decode()
            cid, _, sec = pair.partition(":")
            client_id, secret = unquote_plus(cid), unquote_plus(sec)
        elif "client_id" in form:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        with self.state.lock:
            self.state.token_requests += 1
        if form.get("grant_type") != "client_credentials":
            return self._send(400, {"error": "unsupported_grant_type"})
        if client_id is None or self.state.clients.get(client_id) != secret:
            return self._send(401, {"error": "invalid_client", "error_description": "client authentication failed"},
                              headers={"WWW-Authenticate": 'Basic realm="token"'})
        with self.state.lock:
            token = f"tok-{self.state.token_requests}-{random.getrandbits(32):08x}"
            self.state.tokens[token] = self.state.now() + self.state.token_lifetime
        self._send(200, {"access_token": token, "token_type": "Bearer",
                         "expires_in": int(self.state.token_lifetime), "scope": form.get("scope", "")})

    def _authorised(self) -> bool:
        mode = self.state.auth_mode
        if mode == "none":
            return True
        if mode == "api_key":
            if self.headers.get("X-API-Key") in self.state.api_keys:
                return True
            self._error(401, "TOKEN_INVALID", "API key missing or wrong")
            return False
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        with self.state.lock:
            expiry = self.state.tokens.get(token) if token else None
            ok = expiry is not None and self.state.now() < expiry and not self.state.reject_tokens
        if not ok:
            self._error(401, "TOKEN_EXPIRED" if expiry else "TOKEN_INVALID", "the access token is not valid",
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return ok

    # -- API --
    def _paged(self, items: list, query: dict[str, list[str]], path: str) -> tuple[list, dict | None]:
        page = int(query.get("page", ["1"])[0])
        size = int(query.get("pageSize", [str(self.state.page_size)])[0])
        chunk = items[(page - 1) * size: page * size]
        if page * size >= len(items):
            return chunk, None
        q = {k: v[0] for k, v in query.items()}
        q["page"] = str(page + 1)
        href = f"{self.state.prefix}{path}?{urlencode(q)}"
        if self.state.absolute_links:
            host, port = self.server.server_address[:2]
            scheme = "https" if self.server.ssl_ctx else "http"
            href = f"{scheme}://{host}:{port}{href}"
        return chunk, {"next": {"href": href}}

    def _api(self, path: str, query: dict[str, list[str]]) -> None:
        parts = [p for p in path.split("/") if p]
        st = self.state
        if parts == ["v1", "accounts"]:
            return self._send(200, {"accounts": st.accounts})
        if len(parts) == 4 and parts[:2] == ["v1", "accounts"]:
            acc = next((a for a in st.accounts if a["resourceId"] == parts[2]), None)
            if acc is None:
                return self._error(404, "RESOURCE_UNKNOWN", "no such account")
            txs = st.transactions.get(acc["resourceId"], [])
            if parts[3] == "balances":
                total = sum((Decimal(t["transactionAmount"]["amount"]) for t in txs), Decimal(0))
                return self._send(200, {"account": {"iban": acc["iban"]}, "balances": [
                    {"balanceType": "closingBooked", "balanceAmount": {"amount": str(total), "currency": acc["currency"]},
                     "referenceDate": "2026-11-01"},
                    {"balanceType": "expected", "balanceAmount": {"amount": str(total + Decimal("0.01")),
                                                                  "currency": acc["currency"]}}]})
            if parts[3] == "transactions":
                if query.get("bookingStatus", [""])[0] != "booked" or "dateFrom" not in query:
                    return self._error(400, "FORMAT_ERROR", "bookingStatus=booked and dateFrom are required")
                date_from = query["dateFrom"][0]
                date_to = query.get("dateTo", ["9999-12-31"])[0]
                rows = [t for t in txs if date_from <= t["bookingDate"] <= date_to]
                rows = sorted(rows, key=lambda t: t["bookingDate"], reverse=st.newest_first)
                chunk, links = self._paged(rows, query, path)
                report: dict[str, Any] = {"booked": chunk}
                if links:
                    report["_links"] = links
                return self._send(200, {"account": {"iban": acc["iban"], "currency": acc["currency"]},
                                        "transactions": report})
        listing = {"chart-of-accounts": ("accounts", st.chart), "payables": ("items", st.payables),
                   "receivables": ("items", st.receivables), "positions": ("positions", st.positions),
                   "trades": ("trades", st.trades), "prices": ("prices", st.prices)}
        if len(parts) == 2 and parts[0] == "v1" and parts[1] in listing:
            key, rows = listing[parts[1]]
            if parts[1] in ("payables", "receivables") and query.get("status", ["open"])[0] != "open":
                rows = []
            if parts[1] == "prices" and "assetIds" in query:
                wanted = set(query["assetIds"][0].split(","))
                rows = [r for r in rows if r["assetId"] in wanted]
            if parts[1] == "trades" and "dateFrom" in query:
                rows = [r for r in rows if r["tradeDate"] >= query["dateFrom"][0]]
            chunk, links = self._paged(rows, query, path)
            body: dict[str, Any] = {key: chunk}
            if parts[1] == "positions":
                body["asOf"] = "2026-11-02"
            if links:
                body["_links"] = links
            return self._send(200, body)
        return self._error(404, "RESOURCE_UNKNOWN", f"no route for {path}")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, state: ApiState, ssl_ctx: ssl.SSLContext | None) -> None:
        self.state, self.ssl_ctx = state, ssl_ctx
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        with self.state.lock:
            self.state.connections += 1
        if self.ssl_ctx is not None:
            sock = self.ssl_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet: clients hang up on purpose
        pass


class ApiServer:
    """A running server; ``url`` is its base URL, ``state`` its data and controls."""

    def __init__(self, pki: TestPKI | None, *, tls: bool = True, require_client_cert: bool = False,
                 untrusted: bool = False, state: ApiState | None = None) -> None:
        self.state = state or default_state()
        ctx = None
        if tls:
            assert pki is not None
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if untrusted:
                ctx.load_cert_chain(pki.untrusted_server_cert, pki.untrusted_server_key)
            else:
                ctx.load_cert_chain(pki.server_cert, pki.server_key)
            if require_client_cert:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(cafile=str(pki.ca_cert))
        self._httpd = _HTTPServer(self.state, ctx)
        self.port = self._httpd.server_address[1]
        scheme = "https" if tls else "http"
        self.origin = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"api-server-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return self.origin + self.state.prefix

    @property
    def token_url(self) -> str:
        return self.origin + self.state.prefix + TOKEN_PATH

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- controls --
    def _fault(self, fault: Fault) -> None:
        with self.state.lock:
            self.state.faults.append(fault)

    def fail_next(self, n: int = 1, status: int = 500, *, retry_after: str | None = None,
                  path: str | None = None) -> None:
        self._fault(Fault("status", n, status=status, retry_after=retry_after, path=path))

    def timeout_next(self, n: int = 1, delay: float = 1.0, *, path: str | None = None) -> None:
        self._fault(Fault("timeout", n, delay=delay, path=path))

    def malformed_next(self, n: int = 1, *, path: str | None = None) -> None:
        self._fault(Fault("malformed", n, path=path))

    def reset_next(self, n: int = 1, *, path: str | None = None) -> None:
        self._fault(Fault("reset", n, path=path))

    def revoke_tokens(self) -> None:
        with self.state.lock:
            self.state.tokens.clear()

    def advance(self, seconds: float) -> None:
        with self.state.lock:
            self.state.clock_offset += seconds

    def api_requests(self, prefix: str = "/v1") -> list[Seen]:
        with self.state.lock:
            return [s for s in self.state.seen if s.path.startswith(prefix)]


# -- client helpers ---------------------------------------------------------------------------

class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class ClientKit:
    client: ApiClient
    sleeps: list[float]
    clock: FakeMonotonic


def client_for(server: ApiServer, pki: TestPKI | None, *, kind: str = "banking", auth_kind: str | None = None,
               policy: BackoffPolicy | None = None, credentials: Credentials | None = None,
               client_cert: bool = False, allow_insecure_loopback: bool = False, seed: int = 7,
               now: Callable[[], dt.datetime] | None = None, **overrides: Any) -> ClientKit:
    """An ApiClient for ``server`` trusting the test CA, with a recording sleep and a fake clock."""
    auth_kind = auth_kind or {"oauth2": "oauth2", "api_key": "api_key", "none": "none"}[server.state.auth_mode]
    cfg: dict[str, Any] = dict(name="Test Bank", kind=kind, base_url=server.url, auth_kind=auth_kind,
                               token_url=server.token_url if auth_kind == "oauth2" else "",
                               client_id=CLIENT_ID, ca_bundle_path=str(pki.ca_cert) if pki else None,
                               timeout=0.5, page_size=5)
    if client_cert:
        assert pki is not None
        cfg.update(client_cert_path=str(pki.client_cert), client_key_path=str(pki.client_key))
    cfg.update(overrides)
    credentials = credentials or Credentials(client_secret=CLIENT_SECRET, api_key=API_KEY,
                                             key_passphrase=CLIENT_KEY_PASSPHRASE)
    sleeps: list[float] = []
    clock = FakeMonotonic()
    client = ApiClient(ConnectionConfig(**cfg), credentials,
                       policy=policy or BackoffPolicy(base=1.0, cap=30.0, max_attempts=4, jitter=0.1),
                       sleep=sleeps.append, rng=random.Random(seed), clock=clock,
                       allow_insecure_loopback=allow_insecure_loopback,
                       **({"now": now} if now is not None else {}))
    return ClientKit(client, sleeps, clock)


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def start_server(pki: TestPKI):  # noqa: ANN201
    servers: list[ApiServer] = []

    def start(**kwargs: Any) -> ApiServer:
        server = ApiServer(pki, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def api_server(start_server) -> ApiServer:  # noqa: ANN001
    return start_server()


@pytest.fixture
def kits():  # noqa: ANN201
    """Closes every client made through it."""
    made: list[ClientKit] = []

    def make(server: ApiServer, pki: TestPKI | None, **kwargs: Any) -> ClientKit:
        kit = client_for(server, pki, **kwargs)
        made.append(kit)
        return kit

    yield make
    for kit in made:
        kit.client.close()
