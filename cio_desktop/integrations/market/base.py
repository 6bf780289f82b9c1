"""One interface for market-data providers; parsing separated from fetching.

A provider turns a request (prices of a symbol, FX reference rates, fundamentals) into a path
and query on its base URL, fetches the raw body with the project's HTTP client (TLS, retries
with backoff, ``Retry-After``), and parses it into domain records. Fetch and parse are separate
steps so the market service can keep the raw body in its cache *only after it parsed*, and can
re-parse the cache when the provider is unreachable. Nothing here touches the database.

Every failure is a :class:`MarketDataError` naming the provider and the symbol, with a
``reason`` code the service uses to decide what to show: ``down`` (unreachable, 5xx, timeout),
``rate_limited``, ``key_rejected``, ``bad_shape`` (a response not in the provider's format),
``unknown_symbol``, ``config``.
"""

from __future__ import annotations

import random
import socket
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping

import httpx

from cio_desktop.domain.retry import BackoffPolicy, retry_call
from cio_desktop.errors import ConnectionFailed
from cio_desktop.integrations.http.client import ApiClient, ConnectionConfig, Credentials

PRICES, FX, FUNDAMENTALS = "prices", "fx", "fundamentals"
REASONS = ("down", "rate_limited", "key_rejected", "bad_shape", "unknown_symbol", "config")
#: query parameters never shown in a message or a log line
SECRET_PARAMS = ("apikey", "api_key", "token", "access_key")


class MarketDataError(ConnectionFailed):
    def __init__(self, provider: str, symbol: str, reason: str, message: str, *,
                 status: int | None = None, retryable: bool = False) -> None:
        self.provider, self.symbol, self.reason = provider, symbol, reason
        what = f"{provider} [{symbol}]" if symbol else provider
        super().__init__(message, connection=what, status=status, retryable=retryable)
        self.detail = message


@dataclass(frozen=True)
class ProviderConfig:
    """What a provider needs; the API key is a secret kept encrypted by the service."""

    name: str
    kind: str  # ecb | stooq | alphavantage
    base_url: str
    api_key: str = field(default="", repr=False)
    ca_bundle_path: str | None = None
    timeout: float = 20.0
    ttl_seconds: int = 6 * 3600
    allow_insecure_loopback: bool = False


@dataclass(frozen=True)
class Bar:
    day: date
    close: Decimal
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    volume: int | None = None


@dataclass(frozen=True)
class PriceHistory:
    provider: str
    symbol: str
    bars: tuple[Bar, ...]  # ascending by day, one per day


@dataclass(frozen=True)
class FxFixing:
    day: date
    base: str  # always EUR for the ECB
    quote: str
    rate: Decimal  # units of quote per one base


@dataclass(frozen=True)
class Fundamentals:
    provider: str
    symbol: str
    as_of: date | None  # the provider's "latest quarter" / fiscal date
    name: str = ""
    currency: str = ""
    sector: str = ""
    country: str = ""
    asset_type: str = ""
    figures: Mapping[str, Decimal | None] = field(default_factory=dict)


def decimal_or_none(value: Any) -> Decimal | None:
    """Provider numbers arrive as strings; '', 'None', '-' mean no figure."""
    if value is None:
        return None
    text = str(value).strip()
    if text in ("", "None", "-", "null", "N/A", "NaN"):
        return None
    try:
        d = Decimal(text)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def redact(url: httpx.URL | str) -> str:
    """Path and query with secret parameters masked."""
    u = httpx.URL(str(url))
    params = [(k, "***" if k.lower() in SECRET_PARAMS else v) for k, v in u.params.multi_items()]
    path = u.raw_path.decode("ascii", "replace").split("?", 1)[0]
    if not params:
        return path
    return path + "?" + "&".join(f"{k}={v}" for k, v in params)


class MarketClient(ApiClient):
    """The project's API client, extended to fetch a non-JSON body (XML, CSV) and to keep
    API keys that travel in the query string out of every message."""

    @staticmethod
    def display(url: httpx.URL | str) -> str:  # type: ignore[override]
        return redact(url)

    def get_text(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        url = self.url_for(path)
        if params:
            url = url.copy_merge_params({k: str(v) for k, v in params.items() if v is not None})
        shown = self.display(url)
        attempts = 0

        def attempt() -> str:
            nonlocal attempts
            attempts += 1
            response = self._send("GET", url, shown, headers={**self.auth.headers(), "Accept": "*/*"})
            if response.status_code == 401:
                raise ConnectionFailed(f"{self.auth.describe_refusal()} [GET {shown}, HTTP 401]",
                                       status=401)
            self._raise_for_status(response, "GET", shown)
            return response.text

        try:
            return retry_call(attempt, self.policy, sleep=self._sleep, rng=self._rng,
                              is_retryable=lambda e: isinstance(e, ConnectionFailed) and e.retryable)
        except ConnectionFailed as exc:
            if exc.retryable and attempts > 1:
                exc.detail = f"{getattr(exc, 'detail', exc)} (gave up after {attempts} attempts)"  # type: ignore[attr-defined]
            raise


class MarketProvider:
    """Base class: subclasses set ``kind``/``capabilities`` and implement ``request`` + parsers."""

    kind = ""
    capabilities: frozenset[str] = frozenset()
    default_url = ""

    def __init__(self, config: ProviderConfig, *, policy: BackoffPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.name = config.name
        self._policy = policy or BackoffPolicy(base=1.0, cap=20.0, max_attempts=3)
        self._sleep, self._rng, self._transport = sleep, rng, transport

    # -- to implement -------------------------------------------------------------------
    def request(self, what: str, symbol: str) -> tuple[str, dict[str, str]]:
        raise NotImplementedError

    def parse_prices(self, symbol: str, body: str) -> PriceHistory:
        raise MarketDataError(self.name, symbol, "config", f"{self.kind} does not provide prices")

    def parse_fx(self, body: str) -> tuple[FxFixing, ...]:
        raise MarketDataError(self.name, "", "config", f"{self.kind} does not provide FX rates")

    def parse_fundamentals(self, symbol: str, body: str) -> Fundamentals:
        raise MarketDataError(self.name, symbol, "config", f"{self.kind} does not provide fundamentals")

    def check_body(self, what: str, symbol: str, body: str) -> None:
        """Refuse provider-level errors sent with HTTP 200 (rate limit, key, unknown symbol)."""

    # -- shared -------------------------------------------------------------------------
    def client(self) -> MarketClient:
        cfg = ConnectionConfig(name=self.name, kind="investment", base_url=self.config.base_url,
                               auth_kind="none", ca_bundle_path=self.config.ca_bundle_path,
                               timeout=self.config.timeout)
        try:
            return MarketClient(cfg, Credentials(), policy=self._policy, sleep=self._sleep, rng=self._rng,
                                transport=self._transport,
                                allow_insecure_loopback=self.config.allow_insecure_loopback)
        except Exception as exc:  # noqa: BLE001 — a configuration problem, in the provider's words
            raise MarketDataError(self.name, "", "config", str(exc)) from None

    def fetch_raw(self, what: str, symbol: str = "") -> str:
        """The raw body for ``what``; MarketDataError (with provider and symbol) on any failure."""
        if what not in self.capabilities:
            raise MarketDataError(self.name, symbol, "config", f"{self.kind} does not provide {what}")
        path, params = self.request(what, symbol)
        self._check_resolvable(symbol)
        with self.client() as http:
            try:
                body = http.get_text(path, params)
            except ConnectionFailed as exc:
                detail = getattr(exc, "detail", str(exc))
                reason = ("rate_limited" if exc.status == 429 else
                          "key_rejected" if exc.status in (401, 403) else
                          "unknown_symbol" if exc.status == 404 and symbol else "down")
                raise MarketDataError(self.name, symbol, reason, detail, status=exc.status,
                                      retryable=exc.retryable) from None
        self.check_body(what, symbol, body)
        return body

    def _check_resolvable(self, symbol: str) -> None:
        """Offline (the host name does not resolve): fail at once instead of retrying with backoff,
        so an offline workstation falls back to its cache without waiting."""
        host = httpx.URL(self.config.base_url).host
        try:
            socket.getaddrinfo(host, None)
        except (socket.gaierror, UnicodeError) as exc:
            raise MarketDataError(self.name, symbol, "down", f"cannot resolve {host} (offline?): {exc.args[-1]}") \
                from None

    def parse(self, what: str, symbol: str, body: str) -> Any:
        self.check_body(what, symbol, body)
        if what == PRICES:
            return self.parse_prices(symbol, body)
        if what == FX:
            return self.parse_fx(body)
        return self.parse_fundamentals(symbol, body)
