"""Market data from providers, cached for offline work, and investment analysis (issue 10).

How fetching works (one call of :meth:`MarketService.fetch_market_data`):

1. The requests are planned from the watch list (prices, and fundamentals where the provider has
   them) plus the ECB reference rates. A request whose cached answer is younger than the
   provider's TTL is served from the cache without touching the network (``force`` overrides).
2. The network calls happen *outside* any transaction. Each answer is parsed before anything is
   written; a failure (provider down, rate-limited, key rejected, unexpected shape, unknown
   symbol) becomes an outcome naming the provider and symbol, and the previous cache entry stays
   untouched and is reported with its age — nothing is overwritten with bad data.
3. One write transaction then stores the good answers: the raw body in ``market_cache`` (with
   ``fetched_at``/``expires_at``), the closes into ``prices`` and the rates into ``fx_rates``
   (new days inserted, a corrected close updated), the provider's status, and one audit entry.

Prices of a watched symbol feed the asset linked to it (created on :meth:`watch` when the symbol
is not an existing asset). Fundamentals are kept as the cached raw overview and parsed on read.

Opportunity screening uses, per asset: volatility and 3-month momentum from the stored closes
(same conventions as :mod:`domain.technical`), P/E and dividend yield from cached fundamentals,
and liquidity = the asset class's typical daily traded value (``ADV_VALUE_PROXY`` of the
portfolio service: no volumes are stored for the demo instruments), or the median daily traded
value (close × volume) of the last 20 cached bars when a provider sent volumes.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cio_desktop.domain.analysis import InvestmentAnalysis, analyze
from cio_desktop.domain.opportunities import Candidate, Criteria, PortfolioContext, failures, portfolio_context, screen
from cio_desktop.domain.technical import MOM_SHORT, VOL_WINDOW
from cio_desktop.domain import metrics
from cio_desktop.errors import ConcurrentUpdate, NotFound, ValidationError
from cio_desktop.integrations.market import (FUNDAMENTALS, FX, PRICES, PROVIDER_KINDS, Fundamentals, FxFixing,
                                             MarketDataError, PriceHistory, ProviderConfig, make_provider)
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import UNCHECKED, Service, action
from cio_desktop.services.portfolio import ADV_VALUE_DEFAULT, ADV_VALUE_PROXY, latest_rate, value_holdings
from cio_desktop.storage.models import Asset, FxRate, Holding, Portfolio, Price
from cio_desktop.storage.models_market import InvestmentCriteria, MarketCache, MarketProvider, WatchItem

log = logging.getLogger(__name__)

API_KEY_CONTEXT = "market_provider.api_key"
ANALYSIS_DAYS = 400  # calendar days of closes loaded for an analysis (≥ 252 observations)
SUFFIX_CURRENCY = {".us": "USD", ".de": "EUR", ".f": "EUR", ".fr": "EUR", ".nl": "EUR", ".uk": "GBP",
                   ".l": "GBP", ".jp": "JPY", ".hk": "HKD", ".pl": "PLN"}
DEFAULT_PROPOSED_WEIGHT = 0.02  # proposed purchase: 2 % of the portfolio's value


# ---------------------------------------------------------------------------------------------
# views
@dataclass(frozen=True)
class ProviderView:
    id: int
    name: str
    kind: str
    base_url: str
    ttl_seconds: int
    enabled: bool
    has_api_key: bool
    last_success_at: datetime | None
    last_error: str
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What happened to one request: ``fetched`` (fresh from the network), ``cached`` (within its
    TTL, no network), ``stale`` (the provider failed; the cache is served, ``age`` old) or
    ``failed`` (the provider failed and nothing is cached)."""

    provider: str
    what: str
    symbol: str
    status: str
    message: str = ""
    reason: str = ""
    age: timedelta | None = None
    records: int = 0

    def describe(self) -> str:
        who = f"{self.provider} [{self.symbol or self.what}]"
        if self.status == "fetched":
            return f"{who}: {self.records} record(s) fetched"
        if self.status == "cached":
            return f"{who}: served from the cache ({_age_text(self.age)} old, within its time-to-live)"
        if self.status == "stale":
            return f"{who}: {self.message} — showing cached data {_age_text(self.age)} old"
        return f"{who}: {self.message} — no cached data"


@dataclass(frozen=True)
class FetchReport:
    outcomes: tuple[Outcome, ...]
    prices_written: int
    fx_written: int

    @property
    def ok(self) -> bool:
        return all(o.status in ("fetched", "cached") for o in self.outcomes)

    def problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in ("stale", "failed")]


@dataclass(frozen=True)
class WatchView:
    id: int
    symbol: str
    provider: str
    identifier: str
    name: str
    currency: str
    last_close: Decimal | None
    last_date: date | None
    change_1d: float | None
    cache_age: timedelta | None


@dataclass(frozen=True)
class FxView:
    base: str
    quote: str
    rate: Decimal
    rate_date: date
    age_days: int


@dataclass(frozen=True)
class CacheView:
    provider: str
    what: str
    symbol: str
    fetched_at: datetime
    expires_at: datetime
    age: timedelta
    expired: bool
    records: int


@dataclass(frozen=True)
class Opportunity:
    candidate: Candidate
    analysis: InvestmentAnalysis
    context: PortfolioContext


@dataclass(frozen=True)
class OpportunityScreen:
    criteria: Criteria
    portfolio_id: int | None
    universe: int
    opportunities: tuple[Opportunity, ...]
    rejected: Mapping[str, tuple[str, ...]]  # identifier → reasons it missed


def _age_text(age: timedelta | None) -> str:
    if age is None:
        return "unknown age"
    s = int(age.total_seconds())
    if s < 3600:
        return f"{max(s // 60, 0)} min"
    if s < 86400 * 2:
        return f"{s // 3600} h"
    return f"{s // 86400} days"


def _provider_view(p: MarketProvider) -> ProviderView:
    return ProviderView(p.id, p.name, p.kind, p.base_url, p.ttl_seconds, p.enabled, bool(p.api_key_enc),
                        p.last_success_at, p.last_error or "", json.loads(p.settings_json or "{}"))


def currency_for_symbol(symbol: str, default: str = "USD") -> str:
    low = symbol.lower()
    for suffix, cur in SUFFIX_CURRENCY.items():
        if low.endswith(suffix):
            return cur
    return default


def load_closes(uow: Session, asset_id: int, since: date | None = None,
                until: date | None = None) -> tuple[list[date], list[float]]:
    q = select(Price.price_date, Price.close).where(Price.asset_id == asset_id)
    if since is not None:
        q = q.where(Price.price_date >= since)
    if until is not None:
        q = q.where(Price.price_date <= until)
    rows = uow.execute(q.order_by(Price.price_date)).all()
    return [d for d, _ in rows], [float(c) for _, c in rows]


class MarketService(Service):
    #: tests and the app may inject a transport / sleep for providers (never used in production)
    provider_options: dict[str, Any] = {}

    # -- providers ---------------------------------------------------------------------------
    @action(Permission.MARKET_READ, description="list market-data providers")
    def providers(self) -> list[ProviderView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return [_provider_view(p) for p in uow.execute(select(MarketProvider).order_by(MarketProvider.id)).scalars()]

    @action(Permission.CONNECTIONS_MANAGE, description="configure a market-data provider")
    def configure_provider(self, name: str, *, kind: str | None = None, base_url: str | None = None,
                           api_key: str | None = None, ttl_seconds: int | None = None, enabled: bool | None = None,
                           ca_bundle_path: str | None = None, timeout: float | None = None) -> ProviderView:
        """Create or change a provider (URL, key, TTL, on/off). The key is stored encrypted only."""
        src = f"market provider '{name}'"
        if not name.strip():
            raise ValidationError("a provider needs a name", source=src, field="name")
        if kind is not None and kind not in PROVIDER_KINDS:
            raise ValidationError(f"kind must be one of {', '.join(PROVIDER_KINDS)}", source=src, field="kind")
        if ttl_seconds is not None and not (60 <= int(ttl_seconds) <= 30 * 86400):
            raise ValidationError("the time-to-live must be between 60 seconds and 30 days", source=src,
                                  field="ttl_seconds")
        with self.ctx.db.unit_of_work() as uow:
            p = uow.execute(select(MarketProvider).where(MarketProvider.name == name)).scalar_one_or_none()
            before = _provider_view(p).__dict__ if p else {}
            if p is None:
                if kind is None:
                    raise ValidationError("a new provider needs a kind", source=src, field="kind")
                p = MarketProvider(name=name, kind=kind, base_url=base_url or PROVIDER_KINDS[kind].default_url,
                                   ttl_seconds=6 * 3600, settings_json="{}", enabled=True, last_error="",
                                   created_at=self.ctx.now())
                uow.add(p)
            if kind is not None:
                p.kind = kind
            if base_url is not None:
                from cio_desktop.integrations.http import check_url

                check_url(base_url, src, "base_url", allow_insecure_loopback=False)
                p.base_url = base_url
            if ttl_seconds is not None:
                p.ttl_seconds = int(ttl_seconds)
            if enabled is not None:
                p.enabled = bool(enabled)
            if api_key is not None:
                p.api_key_enc = self.ctx.cipher.encrypt(api_key, API_KEY_CONTEXT) if api_key else None
            settings = json.loads(p.settings_json or "{}")
            if ca_bundle_path is not None:
                settings["ca_bundle_path"] = ca_bundle_path or None
            if timeout is not None:
                if not 0 < float(timeout) <= 600:
                    raise ValidationError("the timeout must be between 0 and 600 seconds", source=src, field="timeout")
                settings["timeout"] = float(timeout)
            p.settings_json = json.dumps(settings, sort_keys=True)
            uow.flush()
            view = _provider_view(p)
            after = {k: v for k, v in view.__dict__.items() if k not in ("last_success_at", "last_error")}
            audit_log(uow, actor=self.ctx.actor, action="market.provider_configured", entity="market_provider",
                      entity_id=p.id, before={k: before.get(k) for k in after} if before else {},
                      after=after, at=self.ctx.now())
        self.ctx.bus.publish("market.providers_changed", provider=name)
        return view

    def _config(self, p: MarketProvider) -> ProviderConfig:
        settings = json.loads(p.settings_json or "{}")
        key = self.ctx.cipher.decrypt(p.api_key_enc, API_KEY_CONTEXT) if p.api_key_enc else ""
        return ProviderConfig(p.name, p.kind, p.base_url, api_key=key, ca_bundle_path=settings.get("ca_bundle_path"),
                              timeout=float(settings.get("timeout", 20.0)), ttl_seconds=p.ttl_seconds)

    # -- watch list --------------------------------------------------------------------------
    @action(Permission.MARKET_READ, description="add a symbol to the watch list")
    def watch(self, symbol: str, provider: str, *, asset: str | None = None, name: str | None = None,
              currency: str | None = None, asset_class: str = "equity") -> WatchView:
        """Watch ``symbol`` at ``provider``; its prices feed ``asset`` (an existing identifier), or
        a new asset named after the symbol (currency from the symbol's exchange suffix)."""
        symbol = symbol.strip()
        src = f"watch list ({provider} {symbol})"
        if not symbol:
            raise ValidationError("a symbol is needed", source=src, field="symbol")
        with self.ctx.db.unit_of_work() as uow:
            p = uow.execute(select(MarketProvider).where(MarketProvider.name == provider)).scalar_one_or_none()
            if p is None:
                raise ValidationError(f"no market-data provider named '{provider}'", source=src, field="provider")
            if PRICES not in PROVIDER_KINDS[p.kind].capabilities:
                raise ValidationError(f"{provider} ({p.kind}) provides no prices", source=src, field="provider")
            if uow.execute(select(WatchItem).where(WatchItem.provider == provider,
                                                   WatchItem.symbol == symbol)).scalar_one_or_none():
                raise ValidationError(f"{symbol} is already watched at {provider}", source=src, field="symbol")
            if asset:
                a = uow.execute(select(Asset).where(Asset.identifier == asset)).scalar_one_or_none()
                if a is None:
                    raise ValidationError(f"no asset '{asset}'", source=src, field="asset")
            else:
                ident = symbol.upper()[:32]
                a = uow.execute(select(Asset).where(Asset.identifier == ident)).scalar_one_or_none()
                if a is None:
                    cur = (currency or currency_for_symbol(symbol)).upper()
                    if len(cur) != 3 or not cur.isalpha():
                        raise ValidationError(f"'{cur}' is not a currency code", source=src, field="currency")
                    a = Asset(identifier=ident, name=name or ident, asset_class=asset_class, sector="", country="",
                              currency=cur, issuer="", rating="")
                    uow.add(a)
                    uow.flush()
            item = WatchItem(symbol=symbol, provider=provider, asset_id=a.id, added_by=self.ctx.actor,
                             created_at=self.ctx.now())
            uow.add(item)
            uow.flush()
            audit_log(uow, actor=self.ctx.actor, action="market.watch_added", entity="market_watchlist",
                      entity_id=item.id, after={"symbol": symbol, "provider": provider, "asset": a.identifier},
                      at=self.ctx.now())
            view = self._watch_view(uow, item, a)
        self.ctx.bus.publish("market.watchlist_changed", symbol=symbol)
        return view

    @action(Permission.MARKET_READ, description="remove a symbol from the watch list")
    def unwatch(self, watch_id: int) -> None:
        with self.ctx.db.unit_of_work() as uow:
            item = uow.get(WatchItem, watch_id)
            if item is None:
                raise NotFound(f"no watch-list entry {watch_id}")
            audit_log(uow, actor=self.ctx.actor, action="market.watch_removed", entity="market_watchlist",
                      entity_id=watch_id, before={"symbol": item.symbol, "provider": item.provider},
                      at=self.ctx.now())
            uow.delete(item)
        self.ctx.bus.publish("market.watchlist_changed", symbol="")

    def _watch_view(self, uow: Session, item: WatchItem, a: Asset | None) -> WatchView:
        last = []
        if a is not None:
            last = uow.execute(select(Price.price_date, Price.close).where(Price.asset_id == a.id)
                               .order_by(Price.price_date.desc()).limit(2)).all()
        cache = uow.execute(select(MarketCache.fetched_at).where(
            MarketCache.provider == item.provider, MarketCache.what == PRICES,
            MarketCache.symbol == item.symbol)).scalar_one_or_none()
        change = float(last[0][1] / last[1][1] - 1) if len(last) == 2 and last[1][1] else None
        return WatchView(item.id, item.symbol, item.provider, a.identifier if a else "", a.name if a else "",
                         a.currency if a else "", last[0][1] if last else None, last[0][0] if last else None,
                         change, (self.ctx.now() - cache) if cache else None)

    @action(Permission.MARKET_READ, description="view the watch list")
    def watchlist(self) -> list[WatchView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = uow.execute(select(WatchItem, Asset).outerjoin(Asset, Asset.id == WatchItem.asset_id)
                               .order_by(WatchItem.symbol)).all()
            return [self._watch_view(uow, item, a) for item, a in rows]

    # -- fetching ----------------------------------------------------------------------------
    @action(Permission.MARKET_READ, description="fetch market data")
    def fetch_market_data(self, provider: str | None = None, symbols: Sequence[str] | None = None, *,
                          force: bool = False, fx_file: str = "daily") -> FetchReport:
        """Refresh the watch list and FX rates from the providers (see the module docstring)."""
        now = self.ctx.now()
        plan: list[tuple[ProviderConfig, str, str, int | None]] = []  # config, what, symbol, asset id
        cached: dict[tuple[str, str, str], MarketCache] = {}
        with self.ctx.db.unit_of_work(write=False) as uow:
            q = select(MarketProvider).where(MarketProvider.enabled.is_(True))
            if provider:
                q = select(MarketProvider).where(MarketProvider.name == provider)
            provs = {p.name: p for p in uow.execute(q).scalars()}
            if provider and not provs:
                raise ValidationError(f"no market-data provider named '{provider}'", field="provider")
            wanted = {s.strip().lower() for s in symbols or ()}
            for item in uow.execute(select(WatchItem).order_by(WatchItem.id)).scalars():
                p = provs.get(item.provider)
                if p is None or (wanted and item.symbol.lower() not in wanted):
                    continue
                caps = PROVIDER_KINDS[p.kind].capabilities
                cfg = self._config(p)
                plan.append((cfg, PRICES, item.symbol, item.asset_id))
                if FUNDAMENTALS in caps:
                    plan.append((cfg, FUNDAMENTALS, item.symbol, item.asset_id))
            if not wanted:
                for p in provs.values():
                    if FX in PROVIDER_KINDS[p.kind].capabilities:
                        plan.append((self._config(p), FX, fx_file, None))
            for row in uow.execute(select(MarketCache)).scalars():
                cached[(row.provider, row.what, row.symbol)] = row
        outcomes: list[Outcome] = []
        good: list[tuple[ProviderConfig, str, str, int | None, str, Any]] = []
        for cfg, what, symbol, asset_id in plan:
            entry = cached.get((cfg.name, what, symbol))
            if entry is not None and not force and entry.expires_at > now:
                outcomes.append(Outcome(cfg.name, what, symbol, "cached", age=now - entry.fetched_at,
                                        records=entry.records))
                continue
            prov = make_provider(cfg, **self.provider_options)
            try:
                body = prov.fetch_raw(what, symbol)
                parsed = prov.parse(what, symbol, body)
            except MarketDataError as exc:
                msg = getattr(exc, "detail", str(exc))
                log.warning("%s [%s]: %s", cfg.name, symbol, msg)
                if entry is not None:
                    outcomes.append(Outcome(cfg.name, what, symbol, "stale", msg, exc.reason, now - entry.fetched_at,
                                            entry.records))
                else:
                    outcomes.append(Outcome(cfg.name, what, symbol, "failed", msg, exc.reason))
                continue
            good.append((cfg, what, symbol, asset_id, body, parsed))
        prices_written = fx_written = 0
        if good or any(o.status in ("stale", "failed") for o in outcomes):
            with self.ctx.db.unit_of_work() as uow:
                for cfg, what, symbol, asset_id, body, parsed in good:
                    n = self._records(parsed)
                    if what == PRICES and asset_id is not None:
                        prices_written += self._store_prices(uow, asset_id, parsed)
                    elif what == FX:
                        fx_written += self._store_fx(uow, parsed)
                    elif what == FUNDAMENTALS and asset_id is not None:
                        self._enrich_asset(uow, asset_id, parsed)
                    row = uow.execute(select(MarketCache).where(
                        MarketCache.provider == cfg.name, MarketCache.what == what,
                        MarketCache.symbol == symbol)).scalar_one_or_none()
                    if row is None:
                        row = MarketCache(provider=cfg.name, what=what, symbol=symbol)
                        uow.add(row)
                    row.fetched_at, row.expires_at = now, now + timedelta(seconds=cfg.ttl_seconds)
                    row.body, row.records = body, n
                    outcomes.append(Outcome(cfg.name, what, symbol, "fetched", records=n))
                failed_by = {o.provider: o for o in outcomes if o.status in ("stale", "failed")}
                for p in uow.execute(select(MarketProvider)).scalars():
                    if p.name in failed_by:
                        p.last_error = failed_by[p.name].describe()[:500]
                    elif any(g[0].name == p.name for g in good):
                        p.last_success_at, p.last_error = now, ""
                audit_log(uow, actor=self.ctx.actor, action="market.fetched", entity="market_data",
                          entity_id=provider or "*",
                          after={"fetched": sum(o.status == "fetched" for o in outcomes),
                                 "cached": sum(o.status == "cached" for o in outcomes),
                                 "stale": sum(o.status == "stale" for o in outcomes),
                                 "failed": sum(o.status == "failed" for o in outcomes),
                                 "prices": prices_written, "fx": fx_written}, at=now)
        report = FetchReport(tuple(sorted(outcomes, key=lambda o: (o.provider, o.what, o.symbol))),
                             prices_written, fx_written)
        self.ctx.bus.publish("market.updated", prices=prices_written, fx=fx_written,
                             problems=[o.describe() for o in report.problems()])
        if prices_written or fx_written:
            self.ctx.bus.publish("prices.changed", source="market")
        return report

    @staticmethod
    def _records(parsed: Any) -> int:
        if isinstance(parsed, PriceHistory):
            return len(parsed.bars)
        if isinstance(parsed, tuple):
            return len(parsed)
        return 1

    @staticmethod
    def _store_prices(uow: Session, asset_id: int, history: PriceHistory) -> int:
        existing = dict(uow.execute(select(Price.price_date, Price.close).where(
            Price.asset_id == asset_id, Price.price_date >= history.bars[0].day)).all())
        written = 0
        for bar in history.bars:
            old = existing.get(bar.day)
            close = bar.close.quantize(Decimal("0.000001"))
            if old is None:
                uow.add(Price(asset_id=asset_id, price_date=bar.day, close=close))
                written += 1
            elif old != close:
                uow.get(Price, (asset_id, bar.day)).close = close
                written += 1
        return written

    @staticmethod
    def _store_fx(uow: Session, fixings: Iterable[FxFixing]) -> int:
        fixings = list(fixings)
        if not fixings:
            return 0
        first = min(f.day for f in fixings)
        existing = {(d, b, q): r for d, b, q, r in uow.execute(select(
            FxRate.rate_date, FxRate.base, FxRate.quote, FxRate.rate).where(FxRate.rate_date >= first))}
        written = 0
        for f in fixings:
            key = (f.day, f.base, f.quote)
            rate = f.rate.quantize(Decimal("0.00000001"))
            old = existing.get(key)
            if old is None:
                uow.add(FxRate(rate_date=f.day, base=f.base, quote=f.quote, rate=rate))
                written += 1
            elif old != rate:
                uow.get(FxRate, key).rate = rate
                written += 1
        return written

    @staticmethod
    def _enrich_asset(uow: Session, asset_id: int, f: Fundamentals) -> None:
        """Fill an asset's empty descriptive fields (never overwrite what a person entered)."""
        a = uow.get(Asset, asset_id)
        if a is None:
            return
        if f.name and a.name == a.identifier:
            a.name = f.name[:200]
        if f.sector and not a.sector:
            a.sector = f.sector[:64]

    # -- cache and FX views ------------------------------------------------------------------
    @action(Permission.MARKET_READ, description="view the market-data cache")
    def cache_status(self) -> list[CacheView]:
        now = self.ctx.now()
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = uow.execute(select(MarketCache).order_by(MarketCache.provider, MarketCache.what,
                                                            MarketCache.symbol)).scalars().all()
            return [CacheView(r.provider, r.what, r.symbol, r.fetched_at, r.expires_at, now - r.fetched_at,
                              r.expires_at <= now, r.records) for r in rows]

    @action(Permission.MARKET_READ, description="view FX rates")
    def fx_rates(self, base: str = "EUR") -> list[FxView]:
        """The newest stored rate (on or before today) per currency against ``base``, with its age."""
        today = self.ctx.now().date()
        out = []
        with self.ctx.db.unit_of_work(write=False) as uow:
            quotes = sorted(q for (q,) in uow.execute(select(FxRate.quote).where(FxRate.base == base).distinct()))
            for q in quotes:
                row = uow.execute(select(FxRate.rate_date, FxRate.rate).where(
                    FxRate.base == base, FxRate.quote == q, FxRate.rate_date <= today)
                                  .order_by(FxRate.rate_date.desc()).limit(1)).first()
                if row:
                    out.append(FxView(base, q, row[1], row[0], (today - row[0]).days))
        return out

    @action(Permission.MARKET_READ, description="view a price history")
    def price_history(self, identifier: str, days: int = 365) -> tuple[list[date], list[float]]:
        today = self.ctx.now().date()
        with self.ctx.db.unit_of_work(write=False) as uow:
            a = self._asset(uow, identifier)
            last = uow.execute(select(Price.price_date).where(Price.asset_id == a.id, Price.price_date <= today)
                               .order_by(Price.price_date.desc()).limit(1)).scalar_one_or_none()
            if last is None:
                return [], []
            return load_closes(uow, a.id, last - timedelta(days=days), today)

    @staticmethod
    def _asset(uow: Session, identifier: str) -> Asset:
        a = uow.execute(select(Asset).where(Asset.identifier == identifier)).scalar_one_or_none()
        if a is None:
            raise NotFound(f"no asset '{identifier}'")
        return a

    # -- analysis ----------------------------------------------------------------------------
    def _fundamentals(self, uow: Session, asset_id: int) -> tuple[Fundamentals | None, str]:
        """Parsed cached overview for the asset, or None with the reason."""
        items = uow.execute(select(WatchItem).where(WatchItem.asset_id == asset_id)).scalars().all()
        if not items:
            return None, "the asset is not on the watch list of a provider that publishes fundamentals"
        provs = {p.name: p for p in uow.execute(select(MarketProvider)).scalars()}
        reasons = []
        for item in items:
            p = provs.get(item.provider)
            if p is None or FUNDAMENTALS not in PROVIDER_KINDS[p.kind].capabilities:
                reasons.append(f"{item.provider} publishes no fundamentals")
                continue
            row = uow.execute(select(MarketCache).where(MarketCache.provider == p.name,
                                                        MarketCache.what == FUNDAMENTALS,
                                                        MarketCache.symbol == item.symbol)).scalar_one_or_none()
            if row is None:
                reasons.append(f"no overview of {item.symbol} from {p.name} is cached yet (fetch market data)")
                continue
            try:
                f = make_provider(self._config(p)).parse_fundamentals(item.symbol, row.body)
                if f.as_of is None:  # no "latest quarter" from the provider: date it by the fetch
                    f = replace(f, as_of=row.fetched_at.date())
                return f, ""
            except MarketDataError as exc:
                reasons.append(str(exc))
        return None, "; ".join(reasons)

    def _analysis(self, uow: Session, a: Asset, today: date,
                  loaded: tuple[list[date], list[float]] | None = None) -> InvestmentAnalysis:
        dates, closes = loaded or load_closes(uow, a.id, today - timedelta(days=ANALYSIS_DAYS), today)
        if not dates:
            dates, closes = load_closes(uow, a.id, until=today)
            dates, closes = dates[-300:], closes[-300:]
        if a.asset_class != "equity":
            fund, why = None, f"fundamentals (P/E, margins) apply to equities, not to a {a.asset_class.replace('_', ' ')}"
        else:
            fund, why = self._fundamentals(uow, a.id)
        return analyze(a.identifier, a.name, dates, closes, today,
                       fundamentals=dict(fund.figures) if fund else None, fundamentals_as_of=fund.as_of if fund else None,
                       fundamentals_missing=why)

    @action(Permission.MARKET_READ, description="analyse an investment")
    def analyze_investment(self, identifier: str) -> InvestmentAnalysis:
        """Technical and fundamental analysis of a stored asset (property 26: every section)."""
        today = self.ctx.now().date()
        with self.ctx.db.unit_of_work(write=False) as uow:
            return self._analysis(uow, self._asset(uow, identifier), today)

    # -- criteria and opportunities ----------------------------------------------------------
    @action(Permission.MARKET_READ, description="list investment criteria")
    def criteria(self) -> list[Criteria]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = uow.execute(select(InvestmentCriteria).order_by(InvestmentCriteria.name)).scalars().all()
            return [Criteria.from_dict({**json.loads(r.criteria_json or "{}"), "name": r.name},
                                       source=f"criteria '{r.name}'") for r in rows]

    @action(Permission.MARKET_READ, description="save investment criteria")
    def save_criteria(self, criteria: Criteria | Mapping[str, Any], *, seen: Any = UNCHECKED) -> Criteria:
        """Create or replace the named criteria. ``seen``: the criteria the screen loaded under
        that name (None: it showed none). When the stored ones differ from it — another desk
        saved meanwhile — the save is refused with who did it and when (team mode)."""
        c = criteria if isinstance(criteria, Criteria) else Criteria.from_dict(criteria)
        if not c.name.strip():
            raise ValidationError("criteria need a name", field="name")
        with self.ctx.db.unit_of_work() as uow:
            row = uow.execute(select(InvestmentCriteria).where(InvestmentCriteria.name == c.name)
                              .with_for_update()).scalar_one_or_none()
            if seen is not UNCHECKED:
                stored = None if row is None else Criteria.from_dict(
                    {**json.loads(row.criteria_json or "{}"), "name": row.name}, source=f"criteria '{row.name}'")
                if stored != seen:
                    who = (f"by {row.updated_by} at {row.updated_at:%Y-%m-%d %H:%M:%S} UTC" if row is not None
                           else "meanwhile")
                    raise ConcurrentUpdate(f"criteria '{c.name}' were {'saved' if seen is None else 'changed'} {who}: "
                                           "reload them and try again (your change was not saved)")
            before = json.loads(row.criteria_json) if row else {}
            if row is None:
                row = InvestmentCriteria(name=c.name)
                uow.add(row)
            row.criteria_json = json.dumps(c.to_dict(), sort_keys=True)
            row.updated_by, row.updated_at = self.ctx.actor, self.ctx.now()
            uow.flush()
            audit_log(uow, actor=self.ctx.actor, action="market.criteria_saved", entity="investment_criteria",
                      entity_id=row.id, before=before, after=c.to_dict(), at=self.ctx.now())
        self.ctx.bus.publish("market.criteria_changed", name=c.name)
        return c

    def _candidate(self, uow: Session, a: Asset, analysis: InvestmentAnalysis, base: str,
                   dates: list[date], closes: list[float]) -> Candidate:
        x = np.asarray(closes, dtype=np.float64)
        vol = mom = math.nan
        if len(x) >= 21:
            r = x[1:] / x[:-1] - 1.0
            vol = float(metrics.annual_volatility(r[-VOL_WINDOW:]))
        if len(x) > MOM_SHORT:
            mom = float(x[-1] / x[-1 - MOM_SHORT] - 1.0)
        liquidity = ADV_VALUE_PROXY.get(a.asset_class, ADV_VALUE_DEFAULT)
        liquidity_source = f"class proxy for {a.asset_class}"
        vol_traded = self._traded_value(uow, a, base, dates)
        if vol_traded is not None:
            liquidity, liquidity_source = vol_traded, "median traded value, last 20 provider bars"
        pe = analysis.value("fundamental", "pe_ratio")
        dy = analysis.value("fundamental", "dividend_yield")
        overall = analysis.overall.value
        return Candidate(a.identifier, a.name, a.asset_class, a.currency, a.sector or "", a.country or "",
                         liquidity, vol, mom, pe, dy, overall if overall is not None else 0.0,
                         {"liquidity_source": liquidity_source})

    def _traded_value(self, uow: Session, a: Asset, base: str, dates: list[date]) -> float | None:
        items = uow.execute(select(WatchItem).where(WatchItem.asset_id == a.id)).scalars().all()
        for item in items:
            row = uow.execute(select(MarketCache).where(MarketCache.provider == item.provider,
                                                        MarketCache.what == PRICES,
                                                        MarketCache.symbol == item.symbol)).scalar_one_or_none()
            p = uow.execute(select(MarketProvider).where(MarketProvider.name == item.provider)).scalar_one_or_none()
            if row is None or p is None:
                continue
            try:
                hist = make_provider(self._config(p)).parse_prices(item.symbol, row.body)
            except MarketDataError:
                continue
            vals = [float(b.close) * b.volume for b in hist.bars[-20:] if b.volume]
            if vals:
                fx = 1.0
                if a.currency != base and dates:
                    try:
                        fx = float(latest_rate(uow, a.currency, base, dates[-1]))
                    except ValidationError:
                        return None
                return float(np.median(vals)) * fx
        return None

    @action(Permission.MARKET_READ, description="identify investment opportunities")
    def identify_opportunities(self, criteria: Criteria | Mapping[str, Any] | str | None = None, *,
                               portfolio_id: int | None = None, proposed_value: float | None = None,
                               universe: Sequence[str] | None = None) -> OpportunityScreen:
        """Every asset of the universe (default: all assets with stored closes) that meets
        ``criteria`` (property 25), each with its analysis and portfolio context (property 27)."""
        crit = self._resolve_criteria(criteria)
        today = self.ctx.now().date()
        with self.ctx.db.unit_of_work(write=False) as uow:
            assets = uow.execute(select(Asset).order_by(Asset.identifier)).scalars().all()
            if universe is not None:
                wanted = set(universe)
                assets = [a for a in assets if a.identifier in wanted]
            pid = portfolio_id if portfolio_id is not None else self._default_portfolio(uow)
            base = self.ctx.settings.base_currency
            holdings: dict[str, float] = {}
            quantities: dict[str, float] = {}
            if pid is not None:
                try:
                    val = value_holdings(uow, pid)
                    base = val.portfolio.base_currency
                    holdings = {h.identifier: float(h.value_base.amount) for h in val.holdings}
                    quantities = {h.identifier: float(h.quantity) for h in val.holdings}
                except ValidationError as exc:
                    log.warning("opportunities: portfolio %s cannot be valued: %s", pid, exc)
            total = math.fsum(holdings.values())
            size = proposed_value if proposed_value is not None else DEFAULT_PROPOSED_WEIGHT * total
            series: dict[str, tuple[list[date], list[float]]] = {}
            cands: list[Candidate] = []
            analyses: dict[str, InvestmentAnalysis] = {}
            for a in assets:
                dates, closes = load_closes(uow, a.id, today - timedelta(days=ANALYSIS_DAYS), today)
                if not dates:
                    continue
                an = self._analysis(uow, a, today, (dates, closes))
                analyses[a.identifier] = an
                series[a.identifier] = (dates, closes)
                cands.append(self._candidate(uow, a, an, base, dates, closes))
            hits = screen(cands, crit)
            rejected = {c.identifier: tuple(failures(c, crit)) for c in cands if failures(c, crit)}
            returns = self._aligned_returns(uow, series, set(holdings) | {c.identifier for c in hits}, base, today)
        opps = tuple(Opportunity(c, analyses[c.identifier],
                                 portfolio_context(c.identifier, holdings, quantities, returns, float(size)))
                     for c in hits)
        return OpportunityScreen(crit, pid, len(cands), opps, rejected)

    def _resolve_criteria(self, criteria: Criteria | Mapping[str, Any] | str | None) -> Criteria:
        if isinstance(criteria, Criteria):
            return criteria
        if isinstance(criteria, Mapping):
            return Criteria.from_dict(criteria)
        name = criteria or "default"
        with self.ctx.db.unit_of_work(write=False) as uow:
            row = uow.execute(select(InvestmentCriteria).where(InvestmentCriteria.name == name)).scalar_one_or_none()
            if row is None:
                if criteria is None:
                    return Criteria()
                raise NotFound(f"no investment criteria named '{name}'")
            return Criteria.from_dict({**json.loads(row.criteria_json or "{}"), "name": row.name},
                                      source=f"criteria '{name}'")

    @staticmethod
    def _default_portfolio(uow: Session) -> int | None:
        """The portfolio holding the most equities (the one a purchase would go into)."""
        rows = uow.execute(select(Holding.portfolio_id, Asset.asset_class).join(Asset, Asset.id == Holding.asset_id)).all()
        if not rows:
            return uow.execute(select(Portfolio.id).order_by(Portfolio.id).limit(1)).scalar_one_or_none()
        counts: dict[int, int] = {}
        for pid, klass in rows:
            counts[pid] = counts.get(pid, 0) + (klass == "equity")
        return max(sorted(counts), key=lambda p: counts[p])

    @staticmethod
    def _aligned_returns(uow: Session, series: Mapping[str, tuple[list[date], list[float]]], names: Iterable[str],
                         base: str, today: date) -> dict[str, np.ndarray]:
        """Daily base-currency returns of ``names`` on their common days of the last 252 (closes
        carried forward over a holiday of one market; FX from stored rates)."""
        names = [n for n in names if n in series]
        if not names:
            return {}
        days = sorted(set().union(*(set(series[n][0]) for n in names)))[-253:]
        out: dict[str, np.ndarray] = {}
        for n in names:
            d, c = series[n]
            m = dict(zip(d, c))
            arr = np.array([m.get(day, np.nan) for day in days])
            # forward fill short holes
            for i in range(1, len(arr)):
                if np.isnan(arr[i]):
                    arr[i] = arr[i - 1]
            if np.isnan(arr).any():
                first = np.flatnonzero(~np.isnan(arr))
                if first.size == 0:
                    continue
                arr[: first[0]] = arr[first[0]]
            a = uow.execute(select(Asset.currency).where(Asset.identifier == n)).scalar_one()
            if a != base:
                rates = dict(uow.execute(select(FxRate.rate_date, FxRate.rate).where(
                    FxRate.base == base, FxRate.quote == a, FxRate.rate_date >= days[0])).all())
                fx = np.array([float(1 / rates[day]) if day in rates else np.nan for day in days])
                for i in range(1, len(fx)):
                    if np.isnan(fx[i]):
                        fx[i] = fx[i - 1]
                if not np.isnan(fx).any():
                    arr = arr * fx
            out[n] = arr[1:] / arr[:-1] - 1.0
        return out


__all__ = ["CacheView", "FetchReport", "FxView", "MarketService", "Opportunity", "OpportunityScreen", "Outcome",
           "ProviderView", "WatchView", "currency_for_symbol", "load_closes"]
