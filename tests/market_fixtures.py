"""Market-data test kit: provider answers in each provider's published format, and a real
HTTPS server on 127.0.0.1 (test CA from ``tests/integration/http_server.make_pki``) that serves
them, with fault injection (status codes, ``Retry-After``, replacement bodies).

Formats written from the providers' published documentation:
* ECB ``eurofxref-daily.xml`` / ``eurofxref-hist.xml``: gesmes envelope, ``Cube time`` → ``Cube currency rate``.
* Stooq ``/q/d/l/?s=…&i=d``: ``Date,Open,High,Low,Close,Volume``; ``No data`` for an unknown symbol.
* Alpha Vantage ``/query``: TIME_SERIES_DAILY (``Meta Data`` + ``Time Series (Daily)``), OVERVIEW,
  and the HTTP-200 error bodies ``Error Message`` / ``Note`` / ``Information``.
"""

from __future__ import annotations

import json
import math
import ssl
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.http_server import TestPKI, make_pki

AV_KEY = "AVKEY123SECRET"


def business_days(end: date, n: int) -> list[date]:
    out, d = [], end
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d -= timedelta(days=1)
    return out[::-1]


def closes_for(condition: str, n: int, start: float = 100.0) -> list[float]:
    """Deterministic close paths: rising, falling, flat, volatile (gappy uses rising closes)."""
    out = []
    for i in range(n):
        wiggle = 0.004 * math.sin(i / 3.0)
        if condition in ("rising", "gappy"):
            out.append(start * (1.0015 ** i) * (1 + wiggle))
        elif condition == "falling":
            out.append(start * (0.9985 ** i) * (1 + wiggle))
        elif condition == "flat":
            out.append(start)
        else:
            out.append(start * (1 + 0.05 * math.sin(i / 2.0)))
    return [round(c, 4) for c in out]


def series(condition: str, end: date, n: int = 300) -> tuple[list[date], list[float]]:
    days = business_days(end, n)
    closes = closes_for(condition, n)
    if condition == "gappy":  # three holes of 2–4 weeks
        keep = [i for i in range(n) if not (50 <= i < 60 or 150 <= i < 170 or 250 <= i < 262)]
        days, closes = [days[i] for i in keep], [closes[i] for i in keep]
    return days, closes


def stooq_csv(days: list[date], closes: list[float], volume: int = 1_000_000) -> str:
    lines = ["Date,Open,High,Low,Close,Volume"]
    for d, c in zip(days, closes):
        lines.append(f"{d.isoformat()},{c:.4f},{c * 1.01:.4f},{c * 0.99:.4f},{c:.4f},{volume}")
    return "\r\n".join(lines) + "\r\n"


def av_daily(symbol: str, days: list[date], closes: list[float]) -> str:
    ts = {d.isoformat(): {"1. open": f"{c:.4f}", "2. high": f"{c * 1.01:.4f}", "3. low": f"{c * 0.99:.4f}",
                          "4. close": f"{c:.4f}", "5. volume": "3437203"} for d, c in zip(reversed(days), reversed(closes))}
    return json.dumps({"Meta Data": {"1. Information": "Daily Prices (open, high, low, close) and Volumes",
                                     "2. Symbol": symbol, "3. Last Refreshed": days[-1].isoformat(),
                                     "4. Output Size": "Compact", "5. Time Zone": "US/Eastern"},
                       "Time Series (Daily)": ts}, indent=4)


def av_overview(symbol: str, **figures: str) -> str:
    body = {"Symbol": symbol, "AssetType": "Common Stock", "Name": f"{symbol} Corporation",
            "Description": "A company.", "Exchange": "NYSE", "Currency": "USD", "Country": "USA",
            "Sector": "TECHNOLOGY", "Industry": "SERVICES-COMPUTER", "FiscalYearEnd": "December",
            "LatestQuarter": "2026-09-30", "MarketCapitalization": "173123456000", "PERatio": "22.4",
            "PEGRatio": "4.1", "BookValue": "24.5", "DividendPerShare": "6.63", "DividendYield": "0.0391",
            "EPS": "7.76", "ProfitMargin": "0.122", "OperatingMarginTTM": "0.163", "ReturnOnEquityTTM": "0.37",
            "Beta": "0.72", "ForwardPE": "17.1", "PriceToBookRatio": "7.0"}
    body.update(figures)
    return json.dumps(body, indent=4)


AV_RATE_NOTE = json.dumps({"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls "
                                   "per minute and 500 calls per day. Please visit https://www.alphavantage.co/premium/ "
                                   "if you would like to target a higher API call frequency."})
AV_RATE_INFO = json.dumps({"Information": "Thank you for using Alpha Vantage! Our standard API rate limit is 25 "
                                          "requests per day. Please subscribe to any of the premium plans at "
                                          "https://www.alphavantage.co/premium/ to instantly remove all daily rate limits."})
AV_BAD_KEY = json.dumps({"Error Message": "the parameter apikey is invalid or missing. Please claim your free API key "
                                          "on (https://www.alphavantage.co/support/#api-key). It should take less than "
                                          "20 seconds."})
AV_UNKNOWN = json.dumps({"Error Message": "Invalid API call. Please retry or visit the documentation "
                                          "(https://www.alphavantage.co/documentation/) for TIME_SERIES_DAILY."})


def ecb_xml(days: list[date], rates: dict[str, list[float]]) -> str:
    cubes = []
    for i, d in enumerate(reversed(days)):
        j = len(days) - 1 - i
        inner = "".join(f"\n\t\t\t<Cube currency='{c}' rate='{v[j]:.4f}'/>" for c, v in rates.items())
        cubes.append(f"\t\t<Cube time='{d.isoformat()}'>{inner}\n\t\t</Cube>")
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<gesmes:Envelope xmlns:gesmes=\"http://www.gesmes.org/xml/2002-08-01\" "
            "xmlns=\"http://www.ecb.int/vocabulary/2002-08-01/eurofxref\">\n"
            "\t<gesmes:subject>Reference rates</gesmes:subject>\n\t<gesmes:Sender>\n"
            "\t\t<gesmes:name>European Central Bank</gesmes:name>\n\t</gesmes:Sender>\n\t<Cube>\n"
            + "\n".join(cubes) + "\n\t</Cube>\n</gesmes:Envelope>\n")


# -- the server -------------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    body: str
    ctype: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class MarketState:
    routes: dict[str, Answer] = field(default_factory=dict)  # "path?key=value…" or "path" → answer
    faults: list[Answer] = field(default_factory=list)  # served (once each) before any route
    seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        state: MarketState = self.server.state  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with state.lock:
            state.seen.append(self.path)
            answer = state.faults.pop(0) if state.faults else None
        if answer is None:
            key = parts.path
            if parts.path.endswith("/query"):
                if q.get("apikey") != AV_KEY:
                    answer = Answer(200, AV_BAD_KEY, "application/json")
                else:
                    key = f"{parts.path}?{q.get('function')}:{q.get('symbol')}"
            elif "s" in q:
                key = f"{parts.path}?{q['s']}"
            if answer is None:
                answer = state.routes.get(key)
        if answer is None:
            answer = Answer(200, "No data") if "s" in q else Answer(404, "Not Found")
        data = answer.body.encode("utf-8")
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in answer.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: MarketState, ctx: ssl.SSLContext) -> None:
        self.state, self.ctx = state, ctx
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self):  # noqa: ANN201
        sock, addr = self.socket.accept()
        return self.ctx.wrap_socket(sock, server_side=True), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class MarketServer:
    """One HTTPS server standing in for all three providers (ECB under /ecb, Stooq under /stooq,
    Alpha Vantage under /av)."""

    def __init__(self, pki: TestPKI) -> None:
        self.pki = pki
        self.state = MarketState()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.server_cert, pki.server_key)
        self._httpd = _Server(self.state, ctx)
        self.origin = f"https://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def route(self, key: str, body: str, status: int = 200, ctype: str = "text/plain") -> None:
        with self.state.lock:
            self.state.routes[key] = Answer(status, body, ctype)

    def fault(self, status: int, body: str = "", *, n: int = 1, retry_after: str | None = None,
              ctype: str = "text/plain") -> None:
        with self.state.lock:
            for _ in range(n):
                self.state.faults.append(Answer(status, body, ctype, {"Retry-After": retry_after} if retry_after else {}))

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()

    def requests(self) -> list[str]:
        with self.state.lock:
            return list(self.state.seen)

    # convenient publishing in each format
    def stooq(self, symbol: str, days: list[date], closes: list[float]) -> None:
        self.route(f"/stooq/q/d/l/?{symbol.lower()}", stooq_csv(days, closes), ctype="text/csv")

    def av_prices(self, symbol: str, days: list[date], closes: list[float]) -> None:
        self.route(f"/av/query?TIME_SERIES_DAILY:{symbol.upper()}", av_daily(symbol.upper(), days, closes),
                   ctype="application/json")

    def av_overview(self, symbol: str, **figures: str) -> None:
        self.route(f"/av/query?OVERVIEW:{symbol.upper()}", av_overview(symbol.upper(), **figures),
                   ctype="application/json")

    def ecb(self, name: str, days: list[date], rates: dict[str, list[float]]) -> None:
        self.route(f"/ecb/{name}", ecb_xml(days, rates), ctype="text/xml")


@pytest.fixture(scope="module")
def market_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_pki(tmp_path_factory.mktemp("market_pki"))


@pytest.fixture
def market_server(market_pki: TestPKI):  # noqa: ANN201
    server = MarketServer(market_pki)
    yield server
    server.stop()


def point_providers(ws, server: MarketServer, *, av_key: str = AV_KEY) -> None:  # noqa: ANN001
    """Configure the three seeded providers at ``server`` (needs a session with fresh MFA), with
    no real waiting between retries."""
    ca = str(server.pki.ca_cert)
    ws.market.configure_provider("ECB", base_url=server.origin + "/ecb", ca_bundle_path=ca, timeout=5)
    ws.market.configure_provider("Stooq", base_url=server.origin + "/stooq", ca_bundle_path=ca, timeout=5)
    ws.market.configure_provider("Alpha Vantage", base_url=server.origin + "/av", ca_bundle_path=ca, timeout=5,
                                 api_key=av_key, enabled=True)
    ws.market.provider_options = {"sleep": lambda s: None}
