"""Seasonal, cyclical and trend patterns in a daily series, each with a strength in [0, 1].

Strength of a seasonal pattern = the share of the series' variance explained by the mean
profile over that season (weekday, day of month, month of year), after removing the linear
trend; for the cycle (the best period between 2 and 120 days found by autocorrelation) it is the
autocorrelation at that lag; for the trend it is the R² of a straight line through the 30-day
moving average. A pattern is *found* when its strength reaches ``FOUND``; on noise the
profiles explain only the share expected by chance, which is subtracted (adjusted R²), so
random data gives strengths near 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Sequence

import numpy as np

FOUND = 0.10


@dataclass(frozen=True)
class Pattern:
    kind: str              # "weekly" | "monthly" | "yearly" | "cyclical" | "trend"
    period_days: float     # 7, ~30.4, ~365, the cycle's lag, or 0 for the trend
    strength: float        # 0..1
    description: str
    profile: tuple[float, ...] = ()   # mean by weekday / day of month / month (seasonal kinds)

    @property
    def found(self) -> bool:
        return self.strength >= FOUND


def _explained(values: np.ndarray, groups: np.ndarray, n_groups: int) -> tuple[float, np.ndarray]:
    """Adjusted share of variance explained by group means; and the means."""
    n = len(values)
    total = float(np.sum((values - values.mean()) ** 2))
    sums = np.bincount(groups, weights=values, minlength=n_groups)
    counts = np.bincount(groups, minlength=n_groups)
    means = np.divide(sums, counts, out=np.zeros(n_groups), where=counts > 0)
    if total <= 0 or n <= n_groups:
        return 0.0, means
    fitted = means[groups]
    r2 = 1.0 - float(np.sum((values - fitted) ** 2)) / total
    k = int(np.sum(counts > 0))
    adj = 1.0 - (1.0 - r2) * (n - 1) / max(n - k, 1)
    return max(0.0, min(1.0, adj)), means


def identify_patterns(first: date, values: Sequence[float]) -> list[Pattern]:
    """Every pattern kind with its strength (found or not), strongest first."""
    y = np.asarray(values, dtype=np.float64)
    n = len(y)
    if n < 14:
        return []
    t = np.arange(n, dtype=np.float64)
    slope, intercept = np.polyfit(t, y, 1)
    detr = y - (slope * t + intercept)
    days = [first + timedelta(days=i) for i in range(n)]
    out: list[Pattern] = []

    wd = np.array([d.weekday() for d in days])
    s, prof = _explained(detr, wd, 7)
    out.append(Pattern("weekly", 7.0, s, f"weekday profile explains {s:.0%} of the variation",
                       tuple(float(x) for x in prof)))
    if n >= 60:
        dom = np.array([d.day - 1 for d in days])
        s, prof = _explained(detr, dom, 31)
        out.append(Pattern("monthly", 30.44, s, f"day-of-month profile explains {s:.0%} of the variation",
                           tuple(float(x) for x in prof)))
    if n >= 2 * 365:
        mon = np.array([d.month - 1 for d in days])
        s, prof = _explained(detr, mon, 12)
        out.append(Pattern("yearly", 365.25, s, f"month-of-year profile explains {s:.0%} of the variation",
                           tuple(float(x) for x in prof)))
    # cycle: the strongest autocorrelation between lag 2 and 120 (excluding the calendar lags)
    if n >= 60:
        z = detr - detr.mean()
        denom = float(np.dot(z, z))
        best_lag, best = 0, 0.0
        if denom > 0:
            for lag in range(2, min(120, n // 3)):
                if lag % 7 == 0:
                    continue
                ac = float(np.dot(z[:-lag], z[lag:])) / denom
                if ac > best:
                    best_lag, best = lag, ac
        out.append(Pattern("cyclical", float(best_lag), max(0.0, best),
                           f"repeats about every {best_lag} days (autocorrelation {best:.2f})" if best_lag
                           else "no cycle"))
    # trend on the 30-day moving average
    w = min(30, max(1, n // 4))
    ma = np.convolve(y, np.ones(w) / w, mode="valid")
    if len(ma) >= 3:
        tt = np.arange(len(ma), dtype=np.float64)
        sl, ic = np.polyfit(tt, ma, 1)
        resid = ma - (sl * tt + ic)
        tot = float(np.sum((ma - ma.mean()) ** 2))
        r2 = 1.0 - float(np.sum(resid ** 2)) / tot if tot > 0 else 0.0
        per_year = sl * 365.25
        direction = "rising" if sl > 0 else "falling"
        out.append(Pattern("trend", 0.0, max(0.0, min(1.0, r2)),
                           f"{direction} by about {abs(per_year):,.0f} a year (R² {r2:.2f})"))
    out.sort(key=lambda p: -p.strength)
    return out
