"""Cash-flow forecasting kernel: forecast periods, a calendar regression for daily flows,
empirical P10/P50/P90 bands, a seasonal-naive baseline and rolling-origin backtest metrics.

Conventions (relied on by the service, the UI and the tests):

* **Flows are daily floats in major units** (analytics only); inflows ≥ 0, outflows ≤ 0. The
  service converts from integer minor units at the edge and never writes these back.
* **Periods** (:func:`build_periods`): ``horizon`` periods of the chosen granularity starting on
  ``start``. Weeks are ISO weeks (Monday–Sunday) and months calendar months; the first period
  begins on ``start`` itself, so it can be shorter than the others. Consecutive periods share no
  day and leave no gap (property 19).
* **Model** (:class:`CalendarModel`): a ridge regression of daily inflows and outflows on
  calendar features — weekday, day of month, business-day ordinal from the start and from the
  end of the month, month of quarter × business-day ordinal, month of year (only with at least
  ``YEARLY_MIN_DAYS`` of history) and a linear trend. One multi-output fit serves every series
  that shares a calendar. Weekdays with no flow at all in the history (weekends, usually) are
  left out of the fit and forecast as zero; other predictions are clipped to the flow's sign.
* **Bands**: the quantiles of the sums of in-sample residuals over every window of the same
  length as the period (overlapping blocks, so serial correlation is kept), inflated by
  √(n/(n−p)) for the fitted parameters. Windows longer than a third of the history use the
  third-length quantiles scaled by √(length ratio). A trained forecast model version also
  stores a ``band_scale`` (from its backtest, see ``Accuracy.band_scale``) that multiplies
  these offsets so that P10–P90 covers about 80 % of backtest actuals.
* **Seasonal-naive baseline**: the actual flow 364 days earlier (same weekday, one year back),
  or 7 days earlier when the history is shorter than that.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Sequence

import numpy as np

MIN_HISTORY_DAYS = 90          # below this the statistical model is not fitted (known items only)
YEARLY_MIN_DAYS = 400          # month-of-year effects need more than one full year
DEFAULT_ALPHA = 3.0
QUANTILES = (0.10, 0.50, 0.90)
MAX_HORIZON_DAYS = 3 * 366


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def parse_granularity(value: str | Granularity) -> Granularity:
    try:
        return Granularity(str(value).strip().lower())
    except ValueError:
        raise ValueError(f"unknown granularity '{value}': use day, week or month") from None


@dataclass(frozen=True)
class Period:
    """One forecast period: ``label`` names it; ``first``..``last`` are the days it covers."""

    index: int
    label: str
    nominal_start: date   # Monday of the week / 1st of the month / the day
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def period_key(day: date, granularity: Granularity) -> date:
    """The nominal start of the period that contains ``day``."""
    if granularity is Granularity.DAY:
        return day
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_key(key: date, granularity: Granularity) -> date:
    if granularity is Granularity.DAY:
        return key + timedelta(days=1)
    if granularity is Granularity.WEEK:
        return key + timedelta(days=7)
    return (key.replace(day=28) + timedelta(days=4)).replace(day=1)


def _prev_key(key: date, granularity: Granularity) -> date:
    if granularity is Granularity.DAY:
        return key - timedelta(days=1)
    if granularity is Granularity.WEEK:
        return key - timedelta(days=7)
    return (key - timedelta(days=1)).replace(day=1)


def _label(key: date, granularity: Granularity) -> str:
    if granularity is Granularity.DAY:
        return key.isoformat()
    if granularity is Granularity.WEEK:
        iso = key.isocalendar()
        return f"{iso[0]}-W{iso[1]:02d}"
    return f"{key:%Y-%m}"


def build_periods(start: date, horizon: int, granularity: Granularity | str) -> list[Period]:
    """Exactly ``horizon`` consecutive periods, the first beginning on ``start``."""
    g = parse_granularity(granularity)
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon <= 0:
        raise ValueError(f"the horizon must be a whole number of {g.value}s above zero (got {horizon!r})")
    key = period_key(start, g)
    periods: list[Period] = []
    for i in range(horizon):
        nxt = _next_key(key, g)
        periods.append(Period(i, _label(key, g), key, max(key, start), nxt - timedelta(days=1)))
        key = nxt
    if (periods[-1].last - start).days + 1 > MAX_HORIZON_DAYS:
        raise ValueError(f"the horizon is too long: at most {MAX_HORIZON_DAYS} days ahead")
    return periods


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# -- calendar features -----------------------------------------------------------------------
def _business_ordinals(days: Sequence[date]) -> tuple[np.ndarray, np.ndarray]:
    """Business-day ordinal (1-based) from the month's start and from its end; 0 on weekends."""
    from_start = np.zeros(len(days), dtype=np.int64)
    from_end = np.zeros(len(days), dtype=np.int64)
    cache: dict[tuple[int, int], list[date]] = {}
    for i, d in enumerate(days):
        if d.weekday() >= 5:
            continue
        key = (d.year, d.month)
        bdays = cache.get(key)
        if bdays is None:
            n = calendar.monthrange(d.year, d.month)[1]
            bdays = [date(d.year, d.month, k) for k in range(1, n + 1) if date(d.year, d.month, k).weekday() < 5]
            cache[key] = bdays
        pos = bdays.index(d)
        from_start[i] = pos + 1
        from_end[i] = len(bdays) - pos
    return from_start, from_end


def design_matrix(first: date, n_days: int, origin: date, yearly: bool) -> np.ndarray:
    """Calendar features for ``n_days`` days from ``first``; trend measured in years from ``origin``."""
    days = [first + timedelta(days=i) for i in range(n_days)]
    weekday = np.array([d.weekday() for d in days])
    dom = np.array([d.day for d in days])
    month = np.array([d.month for d in days])
    bstart, bend = _business_ordinals(days)
    cols = [np.eye(7)[weekday], np.eye(32)[dom][:, 1:]]
    cols.append(np.eye(24)[np.minimum(bstart, 23)][:, 1:])
    cols.append(np.eye(24)[np.minimum(bend, 23)][:, 1:])
    miq = (month - 1) % 3
    for q in range(3):
        mask = (miq == q)[:, None]
        cols.append(np.eye(13)[np.minimum(bstart, 12)][:, 1:] * mask)
        cols.append(np.eye(6)[np.minimum(bend, 5)][:, 1:] * mask)
    if yearly:
        cols.append(np.eye(13)[month][:, 1:])
    t = np.array([(d - origin).days / 365.25 for d in days])[:, None]
    cols.append(t)
    return np.hstack(cols).astype(np.float64)


# -- the model -------------------------------------------------------------------------------
@dataclass
class CalendarModel:
    """Fitted ridge regression for several daily series sharing one calendar.

    ``Y`` columns are series (e.g. account inflows then outflows); ``signs`` gives each
    column's sign (+1 inflow, −1 outflow, 0 unconstrained) for clipping predictions."""

    first: date
    n_days: int
    yearly: bool
    coef: np.ndarray          # features × series
    intercept: np.ndarray     # series
    residuals: np.ndarray     # n_days × series (actual − fitted)
    inflation: float
    signs: np.ndarray
    alpha: float
    active: np.ndarray        # weekday → any flow on that weekday in the history (else forecast 0)

    @property
    def last(self) -> date:
        return self.first + timedelta(days=self.n_days - 1)

    def predict(self, first: date, n_days: int) -> np.ndarray:
        X = design_matrix(first, n_days, self.first, self.yearly)
        out = X @ self.coef + self.intercept
        wd = np.array([(first + timedelta(days=i)).weekday() for i in range(n_days)])
        out[~self.active[wd]] = 0.0
        pos, neg = self.signs > 0, self.signs < 0
        out[:, pos] = np.maximum(out[:, pos], 0.0)
        out[:, neg] = np.minimum(out[:, neg], 0.0)
        return out


def ridge_fit(X: np.ndarray, Y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression with an unpenalised intercept (the estimator of scikit-learn's
    ``Ridge(fit_intercept=True)``, solved in closed form: the forecast path then does not pay
    for importing scikit-learn)."""
    xm, ym = X.mean(axis=0), Y.mean(axis=0)
    Xc = X - xm
    A = Xc.T @ Xc + alpha * np.eye(X.shape[1])
    coef = np.linalg.solve(A, Xc.T @ (Y - ym))
    return coef, ym - xm @ coef


def fit_calendar_model(first: date, Y: np.ndarray, signs: Sequence[int] | None = None,
                       alpha: float = DEFAULT_ALPHA) -> CalendarModel:
    """Fit one ridge regression per column of ``Y`` (days × series) in a single solve."""
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    n = Y.shape[0]
    if n < MIN_HISTORY_DAYS:
        raise InsufficientHistory(n)
    yearly = n >= YEARLY_MIN_DAYS
    X = design_matrix(first, n, first, yearly)
    # weekdays without any flow in the history (weekends, usually) are forecast as zero and
    # left out of the fit, so they neither distort the other effects nor need clipping
    wd = np.array([(first + timedelta(days=i)).weekday() for i in range(n)])
    busy = np.any(Y != 0, axis=1)
    active = np.array([bool(busy[wd == d].any()) for d in range(7)])
    rows = active[wd]
    if rows.sum() < X.shape[1] // 2:
        rows = np.ones(n, dtype=bool)
        active = np.ones(7, dtype=bool)
    coef, intercept = ridge_fit(X[rows], Y[rows], alpha)
    fitted = X @ coef + intercept
    fitted[~rows] = 0.0
    p = X.shape[1]
    m = int(rows.sum())
    inflation = math.sqrt(m / max(m - p, m / 2))
    sg = np.zeros(Y.shape[1]) if signs is None else np.asarray(signs, dtype=np.float64)
    return CalendarModel(first, n, yearly, coef, intercept, Y - fitted, inflation, sg, alpha, active)


class InsufficientHistory(ValueError):
    def __init__(self, days: int) -> None:
        self.days = days
        super().__init__(f"only {days} day(s) of history: the statistical model needs at least "
                         f"{MIN_HISTORY_DAYS} days; showing known items only")


# -- bands -----------------------------------------------------------------------------------
def block_sum_quantiles(residuals: np.ndarray, lengths: Sequence[int],
                        quantiles: Sequence[float] = (0.10, 0.90), inflation: float = 1.0) -> np.ndarray:
    """Quantiles of residual sums over windows of each length (len(lengths) × len(quantiles))."""
    r = np.asarray(residuals, dtype=np.float64)
    n = len(r)
    out = np.zeros((len(lengths), len(quantiles)))
    if n == 0:
        return out
    r = r - r.mean()
    cs = np.concatenate([[0.0], np.cumsum(r)])
    cap = max(1, n // 3)
    cache: dict[int, np.ndarray] = {}
    for i, k in enumerate(lengths):
        k = int(k)
        if k <= 0:
            continue
        base = min(k, cap)
        if base not in cache:
            sums = cs[base:] - cs[:-base]
            cache[base] = np.quantile(sums, quantiles)
        out[i] = cache[base] * math.sqrt(k / base) * inflation
    return out


# -- aggregation -----------------------------------------------------------------------------
def period_slices(periods: Sequence[Period], first_day: date) -> list[slice]:
    return [slice((p.first - first_day).days, (p.last - first_day).days + 1) for p in periods]


def aggregate(daily: np.ndarray, slices: Sequence[slice]) -> np.ndarray:
    """Sum a days(× series) array into periods."""
    return np.stack([daily[s].sum(axis=0) for s in slices]) if slices else np.zeros((0,) + daily.shape[1:])


# -- baseline and accuracy -------------------------------------------------------------------
def seasonal_naive(history: np.ndarray, n_days: int) -> np.ndarray:
    """Forecast each future day by the actual 364 days before (7 days when history is short)."""
    h = np.asarray(history, dtype=np.float64)
    n = len(h)
    season = 364 if n >= 364 else 7
    if n < season:
        return np.zeros(n_days)
    out = np.empty(n_days)
    for i in range(n_days):
        j = n + i - season
        while j >= n:
            j -= season
        out[i] = h[j]
    return out


@dataclass(frozen=True)
class Accuracy:
    """Backtest summary over all origins and periods (major units of the base currency)."""

    origins: int
    periods: int
    mae_model: float
    mae_baseline: float
    coverage_80: float      # share of period actuals inside the model's P10–P90
    coverage_90: float      # inside P5–P95
    #: each error divided by the band's half-width on its side (|z| ≤ 1: inside P10–P90)
    z: tuple[float, ...] = ()

    def band_scale(self, level: float = 0.8) -> float:
        """The factor for the P10–P90 half-widths that would have put ``level`` of these
        actuals inside the band (1.0: already calibrated); the analytics engine stores it
        with the forecast model version."""
        finite = [abs(v) for v in self.z if math.isfinite(v)]
        if len(finite) < 10:
            return 1.0
        return float(max(0.25, min(10.0, np.quantile(finite, level))))

    def coverage_at(self, scale: float) -> float:
        return float(np.mean([abs(v) <= scale for v in self.z])) if self.z else float("nan")

    @property
    def skill(self) -> float:
        """1 − MAE_model / MAE_baseline: above zero means the model beats seasonal-naive."""
        return 1.0 - self.mae_model / self.mae_baseline if self.mae_baseline > 0 else 0.0

    @property
    def beats_baseline(self) -> bool:
        return self.mae_model < self.mae_baseline

    def as_dict(self) -> dict[str, float]:
        return {"origins": self.origins, "periods": self.periods, "mae_model": self.mae_model,
                "mae_baseline": self.mae_baseline, "skill": self.skill,
                "coverage_80": self.coverage_80, "coverage_90": self.coverage_90}
