"""Technical indicators over a daily close series, each read as a value, a signal and a date.

Conventions (stated once, pinned by tests):

* Input: closes in date order, one per observation day (trading days; gaps are not filled —
  an indicator's window counts observations, not calendar days). The service reports gaps.
* SMA(n): arithmetic mean of the last n closes. EMA(n): ``α = 2/(n+1)``, seeded with the SMA of
  the first n closes (the usual charting convention). MACD = EMA12 − EMA26, signal = EMA9 of
  MACD, histogram = MACD − signal.
* RSI(14): Wilder's smoothing (``α = 1/14``) of gains and losses, seeded with their simple
  average over the first 14 changes; 100 when there is no loss, 50 for a flat series.
* Bollinger(20, 2): SMA20 ± 2 population standard deviations (ddof = 0, as Bollinger defines
  it); reported as %B = (close − lower) / (upper − lower), NaN-free: a flat band gives 0.5.
* Momentum: simple return over 63 (≈3 months) and 252 (≈12 months) observations.
* Realised volatility and drawdown come from the metrics kernel (:mod:`domain.metrics`) on the
  daily simple returns: annualised with 252, ddof = 1; max drawdown over the last 252 returns.
* Signals: ``bullish`` / ``bearish`` / ``neutral``; a reading that cannot be computed has
  ``value=None``, ``signal="not available"`` and a ``reason`` (property 26).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Sequence

import numpy as np

from cio_desktop.domain import metrics

BULLISH, BEARISH, NEUTRAL, NOT_AVAILABLE = "bullish", "bearish", "neutral", "not available"
SHORT, LONG = 50, 200
RSI_N, BB_N, BB_K = 14, 20, 2.0
MOM_SHORT, MOM_LONG = 63, 252
VOL_WINDOW = 63


@dataclass(frozen=True)
class Reading:
    """One figure of an analysis: a value and its signal, or ``not available`` with the reason."""

    key: str
    label: str
    value: float | None
    signal: str
    as_of: date | None
    reason: str = ""
    detail: str = ""

    @property
    def available(self) -> bool:
        return self.value is not None

    def text(self) -> str:
        return self.detail or (f"{self.value:.4g}" if self.value is not None else f"not available: {self.reason}")


def unavailable(key: str, label: str, reason: str, as_of: date | None = None) -> Reading:
    return Reading(key, label, None, NOT_AVAILABLE, as_of, reason=reason)


# ---------------------------------------------------------------------------------------------
# indicator arrays (NaN until the window is full)
def sma(x: np.ndarray, n: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    if n < 1 or len(x) < n:
        return out
    c = np.cumsum(np.insert(x, 0, 0.0))
    out[n - 1:] = (c[n:] - c[:-n]) / n
    return out


def ema(x: np.ndarray, n: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    first = np.flatnonzero(~np.isnan(x))
    if n < 1 or first.size == 0:
        return out
    start = int(first[0])
    if len(x) - start < n:
        return out
    alpha = 2.0 / (n + 1.0)
    value = float(np.mean(x[start:start + n]))
    out[start + n - 1] = value
    for i in range(start + n, len(x)):
        value = alpha * x[i] + (1.0 - alpha) * value
        out[i] = value
    return out


def rsi(x: np.ndarray, n: int = RSI_N) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    if len(x) <= n:
        return out
    d = np.diff(x)
    gain, loss = np.maximum(d, 0.0), np.maximum(-d, 0.0)
    ag, al = float(gain[:n].mean()), float(loss[:n].mean())

    def value(g: float, l: float) -> float:
        if l == 0.0:
            return 50.0 if g == 0.0 else 100.0
        return 100.0 - 100.0 / (1.0 + g / l)

    out[n] = value(ag, al)
    for i in range(n, len(d)):
        ag = (ag * (n - 1) + gain[i]) / n
        al = (al * (n - 1) + loss[i]) / n
        out[i + 1] = value(ag, al)
    return out


def macd(x: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    line = ema(x, fast) - ema(x, slow)
    sig = ema(line, signal)
    return line, sig, line - sig


def bollinger(x: np.ndarray, n: int = BB_N, k: float = BB_K) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    mid = sma(x, n)
    sd = np.full(x.shape, np.nan)
    if len(x) >= n:
        windows = np.lib.stride_tricks.sliding_window_view(x, n)
        sd[n - 1:] = windows.std(axis=-1, ddof=0)
    return mid - k * sd, mid, mid + k * sd


def last_cross(short: np.ndarray, long: np.ndarray) -> tuple[int, int] | None:
    """(index, +1 golden / −1 death) of the most recent crossing of ``short`` over ``long``."""
    diff = np.sign(short - long)
    ok = ~np.isnan(diff)
    idx = np.flatnonzero(ok)
    if idx.size < 2:
        return None
    s = diff[idx]
    # carry the last non-zero sign through touches
    nz = s != 0
    if not nz.any():
        return None
    pos = np.flatnonzero(nz)
    signs = s[pos]
    changes = np.flatnonzero(signs[1:] != signs[:-1])
    if changes.size == 0:
        return None
    j = changes[-1] + 1
    return int(idx[pos[j]]), int(signs[j])


# ---------------------------------------------------------------------------------------------
# the technical section
def technical_readings(dates: Sequence[date], closes: Sequence[float]) -> tuple[Reading, ...]:
    """Every technical reading, always in the same order (each available or with a reason)."""
    x = np.asarray([float(c) for c in closes], dtype=np.float64)
    n = len(x)
    as_of = dates[-1] if n else None
    out: list[Reading] = []

    def need(k: int) -> str:
        return f"{k} closes are needed, {n} are stored"

    # moving averages and their crossover
    s, l_ = sma(x, SHORT), sma(x, LONG)
    if n >= SHORT:
        v = float(s[-1])
        sig = BULLISH if x[-1] > v else BEARISH if x[-1] < v else NEUTRAL
        out.append(Reading("sma_short", f"SMA {SHORT}", v, sig, as_of, detail=f"{v:.4g} (close {x[-1]:.4g})"))
    else:
        out.append(unavailable("sma_short", f"SMA {SHORT}", need(SHORT), as_of))
    if n >= LONG:
        v = float(l_[-1])
        sig = BULLISH if x[-1] > v else BEARISH if x[-1] < v else NEUTRAL
        out.append(Reading("sma_long", f"SMA {LONG}", v, sig, as_of, detail=f"{v:.4g} (close {x[-1]:.4g})"))
        cross = last_cross(s, l_)
        gap = float(s[-1] / l_[-1] - 1.0)
        if cross is None:
            sig = BULLISH if gap > 0 else BEARISH if gap < 0 else NEUTRAL
            out.append(Reading("crossover", f"SMA {SHORT}/{LONG} crossover", gap, sig, as_of,
                               detail=f"no crossing in the history; SMA{SHORT} {gap:+.2%} vs SMA{LONG}"))
        else:
            i, direction = cross
            name = "golden cross" if direction > 0 else "death cross"
            out.append(Reading("crossover", f"SMA {SHORT}/{LONG} crossover", gap,
                               BULLISH if direction > 0 else BEARISH, dates[i],
                               detail=f"{name} on {dates[i]}; SMA{SHORT} {gap:+.2%} vs SMA{LONG}"))
    else:
        out.append(unavailable("sma_long", f"SMA {LONG}", need(LONG), as_of))
        out.append(unavailable("crossover", f"SMA {SHORT}/{LONG} crossover", need(LONG), as_of))
    # RSI
    r = rsi(x)
    if n > RSI_N:
        v = float(r[-1])
        out.append(Reading("rsi", f"RSI {RSI_N}", v, BEARISH if v > 70 else BULLISH if v < 30 else NEUTRAL, as_of,
                           detail=f"{v:.1f}" + (" (overbought)" if v > 70 else " (oversold)" if v < 30 else "")))
    else:
        out.append(unavailable("rsi", f"RSI {RSI_N}", need(RSI_N + 1), as_of))
    # MACD
    line, sig_line, hist = macd(x)
    if n >= 26 + 9 - 1 and not math.isnan(hist[-1]):
        h = float(hist[-1])
        out.append(Reading("macd", "MACD (12, 26, 9)", float(line[-1]), BULLISH if h > 0 else BEARISH if h < 0
                           else NEUTRAL, as_of, detail=f"MACD {line[-1]:.4g}, signal {sig_line[-1]:.4g}, "
                                                       f"histogram {h:+.4g}"))
    else:
        out.append(unavailable("macd", "MACD (12, 26, 9)", need(34), as_of))
    # Bollinger
    lo, mid, hi = bollinger(x)
    if n >= BB_N:
        width = hi[-1] - lo[-1]
        pb = 0.5 if width == 0 else float((x[-1] - lo[-1]) / width)
        out.append(Reading("bollinger", f"Bollinger %B ({BB_N}, {BB_K:g})", pb,
                           BEARISH if pb > 1 else BULLISH if pb < 0 else NEUTRAL, as_of,
                           detail=f"%B {pb:.2f} (band {lo[-1]:.4g} – {hi[-1]:.4g})"))
    else:
        out.append(unavailable("bollinger", f"Bollinger %B ({BB_N}, {BB_K:g})", need(BB_N), as_of))
    # momentum
    for key, label, k in (("momentum_3m", "Momentum 3 months", MOM_SHORT), ("momentum_12m", "Momentum 12 months",
                                                                            MOM_LONG)):
        if n > k:
            v = float(x[-1] / x[-1 - k] - 1.0)
            out.append(Reading(key, label, v, BULLISH if v > 0.02 else BEARISH if v < -0.02 else NEUTRAL, as_of,
                               detail=f"{v:+.2%} since {dates[-1 - k]}"))
        else:
            out.append(unavailable(key, label, need(k + 1), as_of))
    # realised volatility and drawdown (metrics kernel)
    rets = x[1:] / x[:-1] - 1.0 if n >= 2 else np.empty(0)
    if len(rets) >= 20:
        window = rets[-VOL_WINDOW:]
        v = float(metrics.annual_volatility(window))
        out.append(Reading("volatility", "Realised volatility (annualised)", v,
                           BEARISH if v > 0.35 else BULLISH if v < 0.15 else NEUTRAL, as_of,
                           detail=f"{v:.2%} over the last {len(window)} returns"))
    else:
        out.append(unavailable("volatility", "Realised volatility (annualised)", need(21), as_of))
    if len(rets) >= 2:
        window = rets[-MOM_LONG:]
        mdd = float(metrics.max_drawdown(window))
        cur = float(np.asarray(metrics.drawdown_series(window))[-1])
        out.append(Reading("max_drawdown", "Maximum drawdown (12 months)", mdd,
                           BEARISH if mdd < -0.20 else NEUTRAL, as_of, detail=f"{mdd:.2%}"))
        out.append(Reading("current_drawdown", "Drawdown from peak", cur,
                           BEARISH if cur < -0.10 else BULLISH if cur == 0 else NEUTRAL, as_of, detail=f"{cur:.2%}"))
    else:
        out.append(unavailable("max_drawdown", "Maximum drawdown (12 months)", need(3), as_of))
        out.append(unavailable("current_drawdown", "Drawdown from peak", need(3), as_of))
    return tuple(out)


TECHNICAL_KEYS = ("sma_short", "sma_long", "crossover", "rsi", "macd", "bollinger", "momentum_3m",
                  "momentum_12m", "volatility", "max_drawdown", "current_drawdown")
