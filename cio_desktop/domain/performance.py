"""Valuation arithmetic on arrays and per-asset performance contribution.

Layout as in :mod:`cio_desktop.domain.metrics`: **assets × periods**, time on the last axis.
Prices and values here are floats in one currency (the service converts Decimal money at the
edge and supplies FX rates); nothing is stored or displayed from here.

Contribution convention (Brinson-style, no flows inside a period): with ``wᵢ`` the weight of
asset *i* at the **start** of the period and ``rᵢ`` its return over the period, its contribution
is ``cᵢ = wᵢ·rᵢ`` and ``Σᵢ cᵢ`` is the portfolio return ``(V_end − V_start)/V_start`` (property
10). Sums across assets use :func:`math.fsum` (correctly rounded), so the only floating-point
error is one rounding per product plus one for the final sum: far below the 1e-12 the property
asks for. Over several periods, contributions are linked with Cariño's (1999) logarithmic
smoothing so each asset's linked contribution adds up to the cumulative portfolio return.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cio_desktop.domain.metrics import flow_adjusted_returns, time_weighted_return
from cio_desktop.errors import ValidationError

__all__ = [
    "market_values", "simple_returns", "weights_from_values", "contributions",
    "portfolio_returns", "contributions_from_values", "drifted_weights", "linked_contributions",
    "flow_adjusted_returns", "time_weighted_return", "fsum_columns",
]


def _label(labels: Sequence[Any] | None, i: int, what: str) -> str:
    if labels is not None and i < len(labels):
        return str(labels[i])
    return f"{what} {i + 1}"


def _array(value: Any, name: str, ndim: tuple[int, ...] = (1, 2)) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must contain numbers only", field=name) from None
    if a.ndim not in ndim:
        raise ValidationError(f"{name} must have {' or '.join(map(str, ndim))} dimension(s), "
                              f"not {a.ndim}", field=name)
    return a


def fsum_columns(a: np.ndarray) -> np.ndarray:
    """Correctly rounded sum over axis 0 (assets) for each column (period), with math.fsum."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        return np.asarray(math.fsum(a.tolist()))
    return np.fromiter((math.fsum(col) for col in a.T.tolist()), dtype=np.float64,
                       count=a.shape[1])


def market_values(quantities: Any, prices: Any, fx_to_base: Any | None = None, *,
                  assets: Sequence[Any] | None = None,
                  dates: Sequence[Any] | None = None) -> np.ndarray:
    """Market value in the base currency: ``quantity × price × fx_to_base``.

    ``quantities`` broadcast against ``prices`` (assets, or assets × dates); ``fx_to_base`` is the
    number of base-currency units per unit of each asset's currency (1 for base-currency assets),
    per asset or per asset and date. A missing (NaN) or non-positive price or FX rate where a
    quantity is held raises ValidationError naming the asset and, if given, the date — a
    valuation with a hole is never summed as if complete.
    """
    q = _array(quantities, "quantities")
    p = _array(prices, "prices")
    fx = np.asarray(1.0) if fx_to_base is None else _array(fx_to_base, "fx_to_base")
    nd = max(q.ndim, p.ndim, fx.ndim)

    def col(a: np.ndarray) -> np.ndarray:  # a per-asset vector applies to every date
        return a.reshape(a.shape + (1,) * (nd - a.ndim)) if 0 < a.ndim < nd else a

    try:
        q_b, p_b, fx_b = np.broadcast_arrays(col(q), col(p), col(fx))
    except ValueError:
        raise ValidationError(f"quantities {q.shape}, prices {p.shape} and FX rates {fx.shape} do not "
                              "line up (assets × dates)", field="prices") from None
    held = q_b != 0.0
    if not np.all(np.isfinite(q_b)):
        i = int(np.argwhere(~np.isfinite(q_b))[0][0])
        raise ValidationError(f"{_label(assets, i, 'asset')}: quantity is missing", field="quantity")
    for arr, what in ((p_b, "price"), (fx_b, "FX rate")):
        bad = held & ~(np.isfinite(arr) & (arr > 0.0))
        if bad.any():
            idx = np.argwhere(bad)[0]
            where = _label(assets, int(idx[0]), "asset")
            if arr.ndim == 2:
                where += f" on {_label(dates, int(idx[1]), 'date')}"
            raise ValidationError(f"{where}: no valid {what} (got {arr[tuple(idx)]})", field=what)
    with np.errstate(invalid="ignore"):
        return np.where(held, q_b * p_b * fx_b, 0.0)


def simple_returns(prices: Any, *, assets: Sequence[Any] | None = None,
                   dates: Sequence[Any] | None = None) -> np.ndarray:
    """Period returns ``p[t]/p[t−1] − 1`` along the last axis (one fewer column).

    Leading NaNs (an asset not yet listed) give NaN returns, which the metrics skip. A NaN after
    the first price is a gap and a price ≤ 0 is invalid: ValidationError naming asset and date.
    """
    p = _array(prices, "prices")
    p2 = p[np.newaxis, :] if p.ndim == 1 else p
    nan = np.isnan(p2)
    started = np.logical_or.accumulate(~nan, axis=-1)
    gap = nan & started
    bad = (~nan) & ~(p2 > 0.0) | np.isinf(p2) | gap
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        what = "missing price (gap)" if gap[i, j] else f"invalid price {p2[i, j]}"
        raise ValidationError(f"{_label(assets, i, 'asset')} on {_label(dates, j, 'date')}: {what}",
                              field="price")
    r = p2[:, 1:] / p2[:, :-1] - 1.0
    return r[0] if p.ndim == 1 else r


def weights_from_values(values: Any) -> np.ndarray:
    """Weights of each asset in the total per column: ``vᵢ / Σⱼ vⱼ`` (axis 0 = assets).

    The total is the fsum of the values. A column whose total is not positive has no weights →
    ValidationError (a portfolio with no net value cannot be weighted).
    """
    v = _array(values, "values")
    if not np.all(np.isfinite(v)):
        raise ValidationError("values must not be missing", field="values")
    total = fsum_columns(v)
    if np.any(total <= 0.0):
        raise ValidationError("the portfolio's total value must be positive to compute weights",
                              field="values")
    return v / total


def _pair(weights: Any, returns: Any) -> tuple[np.ndarray, np.ndarray]:
    w = _array(weights, "weights")
    r = _array(returns, "returns")
    if w.ndim == 1 and r.ndim == 2:
        w = w[:, np.newaxis]
    if w.shape != r.shape and not (w.ndim == 2 and w.shape[1] == 1 and w.shape[0] == r.shape[0]):
        raise ValidationError(f"weights {w.shape} and returns {r.shape} do not line up "
                              "(assets × periods)", field="weights")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(r))):
        raise ValidationError("weights and returns must not be missing inside a period; value "
                              "the portfolio first", field="returns")
    return w, r


def contributions(weights: Any, returns: Any) -> np.ndarray:
    """Per-asset contribution ``wᵢ·rᵢ`` (start-of-period weights × period returns).

    Shapes: assets (one period) or assets × periods. Sum over assets with :func:`fsum_columns`
    (or :func:`portfolio_returns`) to get the portfolio return.
    """
    w, r = _pair(weights, returns)
    return w * r


def portfolio_returns(weights: Any, returns: Any) -> float | np.ndarray:
    """Portfolio return per period: the correctly rounded sum (fsum) of the contributions."""
    c = contributions(weights, returns)
    out = fsum_columns(c)
    return float(out) if c.ndim == 1 else out


def contributions_from_values(start_values: Any, end_values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Contributions and portfolio returns straight from valuations (no flows in the period).

    ``cᵢ = (endᵢ − startᵢ) / Σ start`` — algebraically ``wᵢ·rᵢ`` with ``wᵢ = startᵢ/Σstart`` and
    ``rᵢ = endᵢ/startᵢ − 1``, but with one rounding per asset (and it stays defined for an asset
    bought from zero). The portfolio return is ``(Σ end − Σ start) / Σ start`` with both sums
    by fsum. Returns ``(contributions, portfolio_returns)``.
    """
    s = _array(start_values, "start_values")
    e = _array(end_values, "end_values")
    if s.shape != e.shape:
        raise ValidationError(f"start values {s.shape} and end values {e.shape} differ",
                              field="end_values")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(e))):
        raise ValidationError("valuations must not be missing", field="start_values")
    total = fsum_columns(s)
    if np.any(total <= 0.0):
        raise ValidationError("the starting value must be positive", field="start_values")
    contrib = (e - s) / total
    ret = (fsum_columns(e) - total) / total
    return contrib, (float(ret) if s.ndim == 1 else ret)


def drifted_weights(initial_weights: Any, returns: Any) -> np.ndarray:
    """Start-of-period weights of a buy-and-hold portfolio (no trades, no flows).

    ``w[:, 0]`` is ``initial_weights``; after each period every weight grows with its asset's
    return and is renormalised: ``w_{t+1,i} = w_{t,i}(1 + r_{t,i}) / Σⱼ w_{t,j}(1 + r_{t,j})``.
    Returns an assets × periods array matching ``returns`` (the weight *at the start* of each
    period, which is what :func:`contributions` needs).
    """
    w0 = _array(initial_weights, "initial_weights", (1,))
    r = _array(returns, "returns", (2,))
    if r.shape[0] != w0.shape[0]:
        raise ValidationError(f"{w0.shape[0]} weights but {r.shape[0]} assets of returns",
                              field="initial_weights")
    growth = np.concatenate([np.ones((r.shape[0], 1)), np.cumprod(1.0 + r[:, :-1], axis=1)], axis=1)
    v = w0[:, np.newaxis] * growth
    total = v.sum(axis=0)
    if np.any(total <= 0.0):
        raise ValidationError("the portfolio lost all its value; later weights are undefined",
                              field="returns")
    return v / total


def linked_contributions(contribs: Any, portfolio_rets: Any) -> np.ndarray:
    """Per-asset contributions linked over periods with Cariño (1999) log smoothing.

    ``kₜ = ln(1 + Rₜ)/Rₜ`` (1 when Rₜ = 0), ``K = ln(1 + R)/R`` for the cumulative return
    ``R = Π(1 + Rₜ) − 1``; linked ``Cᵢ = Σₜ cᵢₜ·kₜ / K``. Then ``Σᵢ Cᵢ = R`` (exact in real
    arithmetic, fsum-checked in the tests). Carino, D. (1999), "Combining attribution effects
    over time", Journal of Performance Measurement 3(4). A period return ≤ −100 % → ValidationError.
    """
    c = _array(contribs, "contributions", (2,))
    rp = _array(portfolio_rets, "portfolio_returns", (1,))
    if c.shape[1] != rp.shape[0]:
        raise ValidationError(f"{c.shape[1]} periods of contributions but {rp.shape[0]} portfolio "
                              "returns", field="portfolio_returns")
    if np.any(rp <= -1.0):
        raise ValidationError("a period return of −100 % or worse cannot be linked",
                              field="portfolio_returns")

    def k(x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(np.abs(x) < 1e-12, 1.0 - x / 2.0, np.log1p(x) / np.where(x == 0, 1.0, x))

    total = math.prod((1.0 + rp).tolist()) - 1.0
    return (c * k(rp)[np.newaxis, :]).sum(axis=1) / float(k(total))
