"""The cash-flow forecast, assembled from plain data (no database): known items first, then
the calendar model for the rest, per account and consolidated in the base currency.

Pipeline (``compute_forecast``):

1. **Recurring series** are detected in the history (``domain.recurring``); their lines are
   taken out of the model's training data and their next occurrences become known items.
2. **Known items** given by the caller (approved/scheduled payments, open payables and
   receivables) are added on their dates (overdue ones on the first day).
3. The **calendar model** (``domain.forecasting``) is fitted on every account's remaining
   daily inflows and outflows (one multi-output ridge fit) and forecasts the rest; bands come
   from its residuals. With less than ``MIN_HISTORY_DAYS`` of history the model is skipped and
   the forecast holds known items only (a note says so, and the bands collapse to P50).
4. Rows are aggregated per period; the consolidated rows convert each account at the latest
   rate into the base currency (``fx_to_base``: base units per unit of the currency).

The statistical part is additive to the known items: payments and open items are treated as
not yet contained in the history's typical flow (documented limitation: a supplier payment
scheduled today may also be part of the model's "typical supplier run").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Mapping, Sequence

import numpy as np

from cio_desktop.domain import forecasting as fc
from cio_desktop.domain.cash_scenarios import CurrencyFlows
from cio_desktop.domain.recurring import FlowLine, RecurringItem, detect_recurring, project


@dataclass(frozen=True)
class AccountInfo:
    id: int
    name: str
    currency: str
    opening: float        # balance at the start of the first forecast day, account currency
    min_balance: float = 0.0
    account_type: str = "current"   # current, collection, payroll, tax, deposit, …


@dataclass(frozen=True)
class KnownItem:
    day: date
    account_id: int
    amount: float         # signed, account currency
    kind: str             # payment | receivable | payable | recurring | one-off
    label: str
    ref: str = ""


@dataclass(frozen=True)
class ForecastRow:
    period: str
    first: date
    last: date
    account_id: int | None    # None: consolidated
    currency: str
    opening: float
    known_in: float
    known_out: float
    model_net: float
    net_p10: float
    net_p50: float
    net_p90: float
    closing_p10: float
    closing_p50: float
    closing_p90: float

    def as_dict(self) -> dict:
        return {"period": self.period, "first": self.first.isoformat(), "last": self.last.isoformat(),
                "account_id": self.account_id, "currency": self.currency,
                **{k: round(getattr(self, k), 2) for k in (
                    "opening", "known_in", "known_out", "model_net", "net_p10", "net_p50", "net_p90",
                    "closing_p10", "closing_p50", "closing_p90")}}


@dataclass
class ForecastResult:
    start: date
    end: date
    granularity: fc.Granularity
    base_currency: str
    periods: list[fc.Period]
    rows: list[ForecastRow]                       # consolidated, one per period
    by_account: dict[int, list[ForecastRow]]
    items: list[KnownItem]
    recurring: list[RecurringItem]
    notes: list[str]
    model_used: bool
    history_days: int
    currency_flows: list[CurrencyFlows] = field(default_factory=list)   # daily, for scenarios
    accounts: list[AccountInfo] = field(default_factory=list)
    #: per currency, all its accounts together, in that currency (account_id None)
    by_currency: dict[str, list[ForecastRow]] = field(default_factory=dict)

    def items_on(self, first: date, last: date | None = None, account_id: int | None = None) -> list[KnownItem]:
        """The known items behind a day (or a period): the drill-down."""
        last = last or first
        return [i for i in self.items if first <= i.day <= last
                and (account_id is None or i.account_id == account_id)]

    @property
    def ending_p50(self) -> float:
        return self.rows[-1].closing_p50 if self.rows else 0.0


def _daily_matrix(lines: Sequence[FlowLine], index: Mapping[int, int], first: date, n_days: int,
                  exclude: set[int]) -> tuple[np.ndarray, np.ndarray]:
    k = len(index)
    inflow = np.zeros((n_days, k))
    outflow = np.zeros((n_days, k))
    if not lines:
        return inflow, outflow
    m = len(lines)
    f0 = first.toordinal()
    d = np.fromiter((ln.booking_date.toordinal() for ln in lines), dtype=np.int64, count=m) - f0
    a = np.fromiter((index.get(ln.account_id, -1) for ln in lines), dtype=np.int64, count=m)
    v = np.fromiter((ln.amount for ln in lines), dtype=np.float64, count=m)
    ok = (d >= 0) & (d < n_days) & (a >= 0)
    if exclude:
        ids = np.fromiter((ln.id for ln in lines), dtype=np.int64, count=m)
        ok &= ~np.isin(ids, np.fromiter(exclude, dtype=np.int64, count=len(exclude)))
    d, a, v = d[ok], a[ok], v[ok]
    cell = d * k + a
    pos, neg = v > 0, v < 0
    inflow = np.bincount(cell[pos], weights=v[pos], minlength=n_days * k).reshape(n_days, k)
    outflow = np.bincount(cell[neg], weights=v[neg], minlength=n_days * k).reshape(n_days, k)
    return inflow, outflow


#: Known one-off items replace the model's flow of the same direction within blocks of this many
#: days from the forecast's start (fixed, so day, week and month views add up the same).
KNOWN_BLOCK_DAYS = 7


def net_of_known(model: np.ndarray, known: np.ndarray, block: int = KNOWN_BLOCK_DAYS) -> np.ndarray:
    """The model's daily flows (one direction; days × accounts) less what known one-off items of
    that direction already account for, block by block: in each block and account the model's
    sum is scaled down by the known sum, to nothing when the known items reach it.

    Why: the model learns from all non-recurring history — supplier payments and customer
    receipts included — so a scheduled payment or an open invoice is one of the flows it already
    expects. Adding both counted it twice; now the expected flow is the larger of the two."""
    out = model.copy()
    for s in range(0, len(model), block):
        m, kn = model[s:s + block], known[s:s + block]
        msum, ksum = m.sum(axis=0), kn.sum(axis=0)
        same = msum * ksum > 0             # a model flow the known items are part of
        keep = np.ones_like(msum)
        keep[same] = np.clip(1.0 - ksum[same] / msum[same], 0.0, 1.0)
        out[s:s + block] = m * keep
    return out


def compute_forecast(accounts: Sequence[AccountInfo], lines: Sequence[FlowLine], known: Sequence[KnownItem],
                     fx_to_base: Mapping[str, float], base_currency: str, start: date, horizon: int,
                     granularity: fc.Granularity | str, *, alpha: float = fc.DEFAULT_ALPHA,
                     history_start: date | None = None, band_scale: float = 1.0,
                     recurring: Sequence[RecurringItem] | None = None) -> ForecastResult:
    g = fc.parse_granularity(granularity)
    periods = fc.build_periods(start, horizon, g)
    end = periods[-1].last
    span = (end - start).days + 1
    notes: list[str] = []
    index = {a.id: i for i, a in enumerate(accounts)}
    history = [ln for ln in lines if ln.booking_date < start and ln.account_id in index]
    first = history_start or (min(ln.booking_date for ln in history) if history else start)
    n_hist = (start - first).days

    # 1. recurring series → known items
    recurring = list(recurring) if recurring is not None else detect_recurring(history, start)
    items: list[KnownItem] = []
    for it, day in project(recurring, start, end):
        items.append(KnownItem(day, it.account_id, it.amount, "recurring",
                               f"{it.period} {it.counterparty}", it.category))
    recurring_ids = {i for r in recurring for i in r.line_ids}
    # 2. caller's known items (overdue → first day)
    for it in known:
        if it.account_id in index and it.day <= end:
            items.append(it if it.day >= start else KnownItem(start, it.account_id, it.amount, it.kind,
                                                              it.label + f" (overdue since {it.day.isoformat()})",
                                                              it.ref))
    k = len(accounts)
    known_in = np.zeros((span, k))
    known_out = np.zeros((span, k))
    one_off = np.zeros((span, k))   # known items the model's history also holds (not recurring)
    for it in items:
        i = (it.day - start).days
        if 0 <= i < span:
            (known_in if it.amount > 0 else known_out)[i, index[it.account_id]] += it.amount
            if it.kind != "recurring":
                one_off[i, index[it.account_id]] += it.amount

    # 3. the model for the rest
    model_in = np.zeros((span, k))
    model_out = np.zeros((span, k))
    resid = np.zeros((0, k))
    inflation = 1.0
    model_used = False
    if k and n_hist >= fc.MIN_HISTORY_DAYS:
        hin, hout = _daily_matrix(history, index, first, n_hist, recurring_ids)
        model = fc.fit_calendar_model(first, np.hstack([hin, hout]), [1] * k + [-1] * k, alpha)
        pred = model.predict(start, span)
        model_in = net_of_known(pred[:, :k], np.clip(one_off, 0, None))
        model_out = net_of_known(pred[:, k:], np.clip(one_off, None, 0))
        resid = model.residuals[:, :k] + model.residuals[:, k:]
        inflation = model.inflation
        model_used = True
    elif k:
        notes.append(str(fc.InsufficientHistory(max(n_hist, 0))))

    slices = fc.period_slices(periods, start)
    lengths = [s.stop - s.start for s in slices]
    cum_lengths = [s.stop for s in slices]
    by_account: dict[int, list[ForecastRow]] = {}
    rates = np.array([fx_to_base.get(a.currency, np.nan) for a in accounts], dtype=np.float64)
    missing_fx = [a.currency for a, r in zip(accounts, rates) if not np.isfinite(r)]
    if missing_fx:
        notes.append(f"no FX rate to {base_currency} for {', '.join(sorted(set(missing_fx)))}: "
                     "those accounts are left out of the consolidated figures")
        rates = np.nan_to_num(rates, nan=0.0)

    def rows_for(acc_id: int | None, currency: str, opening: float, kin: np.ndarray, kout: np.ndarray,
                 mnet: np.ndarray, r: np.ndarray) -> list[ForecastRow]:
        net = kin + kout + mnet
        p_net = fc.aggregate(net, slices)
        p_kin, p_kout, p_m = fc.aggregate(kin, slices), fc.aggregate(kout, slices), fc.aggregate(mnet, slices)
        if model_used and len(r):
            band = fc.block_sum_quantiles(r, lengths, (0.10, 0.90), inflation * band_scale)
            cband = fc.block_sum_quantiles(r, cum_lengths, (0.10, 0.90), inflation * band_scale)
        else:
            band = np.zeros((len(slices), 2))
            cband = np.zeros((len(slices), 2))
        closing = opening + np.cumsum(p_net)
        out = []
        bal = opening
        for j, p in enumerate(periods):
            out.append(ForecastRow(p.label, p.first, p.last, acc_id, currency, bal, float(p_kin[j]),
                                   float(p_kout[j]), float(p_m[j]), float(p_net[j] + band[j, 0]), float(p_net[j]),
                                   float(p_net[j] + band[j, 1]), float(closing[j] + cband[j, 0]),
                                   float(closing[j]), float(closing[j] + cband[j, 1])))
            bal = float(closing[j])
        return out

    for a in accounts:
        i = index[a.id]
        by_account[a.id] = rows_for(a.id, a.currency, a.opening, known_in[:, i], known_out[:, i],
                                    model_in[:, i] + model_out[:, i], resid[:, i] if len(resid) else resid)
    c_open = float(sum(a.opening * r for a, r in zip(accounts, rates)))
    c_resid = resid @ rates if len(resid) else np.zeros(0)
    rows = rows_for(None, base_currency, c_open, known_in @ rates, known_out @ rates,
                    (model_in + model_out) @ rates, c_resid) if k else []

    flows: list[CurrencyFlows] = []
    by_currency: dict[str, list[ForecastRow]] = {}
    for cur in sorted({a.currency for a in accounts}):
        cols = [index[a.id] for a in accounts if a.currency == cur]
        by_currency[cur] = rows_for(None, cur, float(sum(accounts[c].opening for c in cols)),
                                    known_in[:, cols].sum(axis=1), known_out[:, cols].sum(axis=1),
                                    (model_in + model_out)[:, cols].sum(axis=1),
                                    resid[:, cols].sum(axis=1) if len(resid) else resid)
        rate = float(fx_to_base.get(cur, 0.0))
        flows.append(CurrencyFlows(cur, float(sum(accounts[c].opening for c in cols)),
                                   (known_in[:, cols] + model_in[:, cols]).sum(axis=1),
                                   (known_out[:, cols] + model_out[:, cols]).sum(axis=1), rate))
    items.sort(key=lambda x: (x.day, x.account_id, x.amount))
    return ForecastResult(start, end, g, base_currency, periods, rows, by_account, items, recurring, notes,
                          model_used, max(n_hist, 0), flows, list(accounts), by_currency)


def consolidated_daily(accounts: Sequence[AccountInfo], lines: Sequence[FlowLine],
                       fx_to_base: Mapping[str, float], first: date, n_days: int) -> np.ndarray:
    rate = {a.id: float(fx_to_base.get(a.currency, 0.0)) for a in accounts}
    out = np.zeros(n_days)
    for ln in lines:
        i = (ln.booking_date - first).days
        if 0 <= i < n_days and ln.account_id in rate:
            out[i] += ln.amount * rate[ln.account_id]
    return out


def backtest(accounts: Sequence[AccountInfo], lines: Sequence[FlowLine], fx_to_base: Mapping[str, float],
             base_currency: str, *, horizon: int = 13, granularity: fc.Granularity | str = "week",
             origins: int = 6, step_days: int = 28, alpha: float = fc.DEFAULT_ALPHA,
             band_scale: float = 1.0) -> fc.Accuracy:
    """Rolling-origin backtest of the whole pipeline (recurring items + model), consolidated,
    against the seasonal-naive baseline; each origin sees only the lines before it. Origins
    are ``step_days`` apart, newest first (``Accuracy.z`` keeps that order)."""
    return backtest_many(accounts, lines, fx_to_base, base_currency, horizon=horizon, granularity=granularity,
                         origins=origins, step_days=step_days, alphas=(alpha,), band_scale=band_scale)[alpha]


def backtest_many(accounts: Sequence[AccountInfo], lines: Sequence[FlowLine], fx_to_base: Mapping[str, float],
                  base_currency: str, *, horizon: int = 13, granularity: fc.Granularity | str = "week",
                  origins: int = 6, step_days: int = 28, alphas: Sequence[float] = (fc.DEFAULT_ALPHA,),
                  band_scale: float = 1.0) -> dict[float, fc.Accuracy]:
    """:func:`backtest` for several ridge penalties at once (recurring series are detected
    once per origin and shared)."""
    import bisect

    g = fc.parse_granularity(granularity)
    if not lines:
        raise fc.InsufficientHistory(0)
    first = min(ln.booking_date for ln in lines)
    last = max(ln.booking_date for ln in lines)
    n = (last - first).days + 1
    daily = consolidated_daily(accounts, lines, fx_to_base, first, n)
    stats = {a: {"m": [], "b": [], "in80": 0, "in90": 0, "z": [], "used": 0} for a in alphas}
    ordered = sorted(lines, key=lambda x: x.booking_date)
    dates = [ln.booking_date for ln in ordered]
    zero = [AccountInfo(a.id, a.name, a.currency, 0.0) for a in accounts]
    w = 1.6449 / 1.2816          # 90 %: the 80 % band widened by the normal ratio z(0.95)/z(0.90)
    for kk in range(origins):
        start = fc.period_key(last - timedelta(days=kk * step_days) + timedelta(days=1), g)
        for _ in range(horizon):
            start = fc._prev_key(start, g)
        if (start - first).days < fc.MIN_HISTORY_DAYS:
            break
        before = ordered[:bisect.bisect_left(dates, start)]
        recurring = detect_recurring(before, start)
        o = (start - first).days
        for alpha in alphas:
            res = compute_forecast(zero, before, (), fx_to_base, base_currency, start, horizon, g, alpha=alpha,
                                   history_start=first, band_scale=band_scale, recurring=recurring)
            span = (res.end - start).days + 1
            sl = fc.period_slices(res.periods, start)
            actual = fc.aggregate(daily[o:o + span], sl)
            base = fc.aggregate(fc.seasonal_naive(daily[:o], span), sl)
            p50 = np.array([r.net_p50 for r in res.rows])
            lo = np.array([r.net_p10 for r in res.rows])
            hi = np.array([r.net_p90 for r in res.rows])
            st = stats[alpha]
            st["m"].extend(np.abs(p50 - actual).tolist())
            st["b"].extend(np.abs(base - actual).tolist())
            st["in80"] += int(np.sum((actual >= lo) & (actual <= hi)))
            st["in90"] += int(np.sum((actual >= p50 + (lo - p50) * w) & (actual <= p50 + (hi - p50) * w)))
            err = actual - p50
            width = np.where(err >= 0, hi - p50, p50 - lo)
            with np.errstate(divide="ignore", invalid="ignore"):
                st["z"].extend(np.where(width > 0, np.abs(err) / width, np.where(err == 0, 0.0, np.inf)).tolist())
            st["used"] += 1
    out = {}
    for alpha, st in stats.items():
        total = len(st["m"])
        if not total:
            raise fc.InsufficientHistory(n)
        out[alpha] = fc.Accuracy(st["used"], total, float(np.mean(st["m"])), float(np.mean(st["b"])),
                                 st["in80"] / total, st["in90"] / total, tuple(st["z"]))
    return out
