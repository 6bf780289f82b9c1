"""Indicators pinned by known values, and the analysis under market conditions: rising,
falling, flat and gappy data."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from cio_desktop.domain import technical as t
from cio_desktop.domain.analysis import analyze
from tests.market_fixtures import series

END = date(2026, 10, 30)


def test_sma_and_ema_known_values() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert np.allclose(t.sma(x, 3)[2:], [2.0, 3.0, 4.0]) and np.isnan(t.sma(x, 3)[:2]).all()
    e = t.ema(x, 3)  # seed = mean(1,2,3) = 2, α = 0.5
    assert e[2] == 2.0 and e[3] == 3.0 and e[4] == 4.0


def test_rsi_wilder_known_values() -> None:
    up = np.arange(1.0, 20.0)
    assert t.rsi(up)[-1] == 100.0
    assert t.rsi(np.full(20, 7.0))[-1] == 50.0
    # alternating +1/−1 over 14 changes: average gain = average loss → 50
    alt = np.cumsum([10.0] + [1.0, -1.0] * 7)
    assert t.rsi(alt)[14] == pytest.approx(50.0)
    # 14 changes: 10 gains of 1, 4 losses of 1 → RS = 10/4 → RSI = 71.43
    seq = np.cumsum([50.0] + [1.0] * 10 + [-1.0] * 4)
    assert t.rsi(seq)[14] == pytest.approx(100 - 100 / (1 + 10 / 4))


def test_bollinger_uses_population_sd() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0] * 4)
    lo, mid, hi = t.bollinger(x, 20, 2.0)
    assert mid[-1] == 3.0 and hi[-1] - mid[-1] == pytest.approx(2 * np.std(x, ddof=0))


def test_last_cross_finds_golden_and_death() -> None:
    short = np.array([1.0, 1.0, 3.0, 3.0, 1.0])
    long = np.array([2.0, 2.0, 2.0, 2.0, 2.0])
    assert t.last_cross(short, long) == (4, -1)
    assert t.last_cross(short[:4], long[:4]) == (2, 1)


def _analysis(condition: str, n: int = 300):  # noqa: ANN202
    days, closes = series(condition, END, n)
    return analyze("X", "X", days, closes, END + timedelta(days=1))


def test_rising_market_reads_bullish() -> None:
    a = _analysis("rising")
    assert a.reading("technical", "momentum_3m").signal == "bullish"
    assert a.reading("technical", "momentum_12m").value > 0.3
    assert a.reading("technical", "sma_long").signal == "bullish"
    assert a.reading("technical", "crossover").value > 0
    assert a.overall.signal == "bullish"
    assert a.value("technical", "max_drawdown") > -0.05


def test_falling_market_reads_bearish() -> None:
    a = _analysis("falling")
    assert a.reading("technical", "momentum_3m").signal == "bearish"
    assert a.reading("technical", "sma_short").signal == "bearish"
    assert a.reading("technical", "current_drawdown").value < -0.3
    assert a.overall.signal == "bearish"


def test_flat_market_is_neutral_and_defined() -> None:
    a = _analysis("flat")
    assert a.value("technical", "rsi") == 50.0
    assert a.value("technical", "volatility") == 0.0
    assert a.value("technical", "bollinger") == 0.5
    assert a.value("technical", "momentum_3m") == 0.0 and a.reading("technical", "momentum_3m").signal == "neutral"
    assert a.value("technical", "macd") == pytest.approx(0.0, abs=1e-12)
    assert a.value("technical", "max_drawdown") == 0.0


def test_gappy_data_is_reported_and_still_analysed() -> None:
    a = _analysis("gappy")
    gaps = a.reading("data", "gaps")
    assert gaps.value == 3 and gaps.signal == "bearish" and "longest" in gaps.detail
    assert all(r.available for r in a.sections["technical"])


def test_short_history_says_what_is_missing() -> None:
    a = _analysis("rising", 30)
    r = a.reading("technical", "sma_long")
    assert r.value is None and r.reason == "200 closes are needed, 30 are stored"
    assert a.reading("technical", "rsi").available
    empty = analyze("X", "X", [], [], END)
    assert all(not r.available and r.reason for s in empty.sections.values() for r in s)


def test_stale_data_is_flagged() -> None:
    days, closes = series("rising", END, 60)
    a = analyze("X", "X", days, closes, END + timedelta(days=12))
    assert a.value("data", "age_days") == 12 and "stale" in a.reading("data", "age_days").detail
    assert not math.isnan(a.value("technical", "momentum_3m") or 0.0)
