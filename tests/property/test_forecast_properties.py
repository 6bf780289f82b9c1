"""Properties 19 (forecast period coverage), 21 (scenario differentiation) and 35 (pattern
incorporation) on the pure forecasting kernel (issue 8)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from hypothesis import assume, given, strategies as st

from cio_desktop.domain import cashflow
from cio_desktop.domain import forecasting as fc
from cio_desktop.domain.cash_scenarios import Assumptions, CurrencyFlows, apply
from cio_desktop.domain.patterns import FOUND, identify_patterns
from cio_desktop.domain.recurring import FlowLine

starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
grans = st.sampled_from(list(fc.Granularity))


def _check_coverage(periods, start, horizon, g) -> None:
    assert len(periods) == horizon
    assert periods[0].first == start
    labels = [p.label for p in periods]
    assert len(set(labels)) == horizon                       # none twice
    for a, b in zip(periods, periods[1:]):
        assert b.first == a.last + timedelta(days=1)        # no gap, no overlap
        assert b.nominal_start == b.first                   # only the first may be partial
    for p in periods:
        assert fc.period_key(p.first, g) == p.nominal_start == fc.period_key(p.last, g)
        assert fc.period_key(p.last + timedelta(days=1), g) != p.nominal_start   # each period complete


@given(start=starts, horizon=st.integers(1, 400), g=grans)
def test_property_19_forecast_period_coverage(start, horizon, g) -> None:
    try:
        periods = fc.build_periods(start, horizon, g)
    except ValueError:
        # only refused when the horizon reaches beyond the longest forecast allowed
        assume(False)
    _check_coverage(periods, start, horizon, g)


@given(start=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
       horizon=st.integers(1, 30), g=grans, history=st.sampled_from([0, 20, 120]),
       n_known=st.integers(0, 5), data=st.data())
def test_property_19_forecast_rows_per_period(start, horizon, g, history, n_known, data) -> None:
    """The whole pipeline: consolidated and per-account rows, with or without a model."""
    accounts = [cashflow.AccountInfo(1, "A", "EUR", 1000.0), cashflow.AccountInfo(2, "B", "USD", 50.0)]
    lines = [FlowLine(i, 1 + i % 2, start - timedelta(days=history - i), float(10 + i % 7) * (-1) ** i, f"cp{i % 3}")
             for i in range(history)]
    known = [cashflow.KnownItem(start + timedelta(days=data.draw(st.integers(-10, 400))), 1,
                                float(data.draw(st.integers(-500, 500))), "payment", "p") for _ in range(n_known)]
    res = cashflow.compute_forecast(accounts, lines, known, {"EUR": 1.0, "USD": 0.9}, "EUR", start, horizon, g)
    _check_coverage(res.periods, start, horizon, g)
    assert [r.period for r in res.rows] == [p.label for p in res.periods]
    for rows in res.by_account.values():
        assert [r.period for r in rows] == [p.label for p in res.periods]
    for r in res.rows:
        assert r.net_p10 <= r.net_p50 <= r.net_p90
        assert r.closing_p10 <= r.closing_p50 <= r.closing_p90


# -- property 21 ----------------------------------------------------------------------------
flows_st = st.lists(st.floats(0, 1e6, allow_nan=False), min_size=5, max_size=60)


@st.composite
def forecasts(draw):
    n = draw(st.integers(5, 60))
    inflow = np.array(draw(st.lists(st.floats(0, 1e6), min_size=n, max_size=n)))
    assume(inflow.sum() > 1.0)
    outflow = -np.array(draw(st.lists(st.floats(0, 1e6), min_size=n, max_size=n)))
    usd_in = np.array(draw(st.lists(st.floats(0, 1e5), min_size=n, max_size=n)))
    usd_out = -np.array(draw(st.lists(st.floats(0, 1e5), min_size=n, max_size=n)))
    usd_open = float(-usd_out.sum()) + draw(st.floats(1.0, 1e6))   # a long USD position at the end
    return [CurrencyFlows("EUR", draw(st.floats(-1e6, 1e7)), inflow, outflow, 1.0),
            CurrencyFlows("USD", usd_open, usd_in, usd_out, draw(st.floats(0.5, 1.5)))]


assumptions_st = st.builds(Assumptions, name=st.just("x"), revenue_growth=st.floats(-1.0, 2.0),
                           payment_delay_days=st.integers(0, 90), fx_move=st.floats(-0.5, 0.5))


@given(flows=forecasts(), a=assumptions_st, worse=st.tuples(st.floats(0, 1.0), st.integers(0, 30),
                                                             st.floats(0, 0.4), st.floats(0, 1e5)))
def test_property_21_scenario_differentiation(flows, a, worse) -> None:
    first = date(2026, 11, 2)
    dg, dd, dfx, done = worse
    b = Assumptions("worse", max(-1.0, a.revenue_growth - dg), a.payment_delay_days + dd,
                    max(-0.99, a.fx_move - dfx), ((first, -done, "one-off"),))
    ra, rb = apply(first, flows, a, "EUR"), apply(first, flows, b, "EUR")
    # a (weakly) worse assumption never gives a better ending balance
    assert rb.ending <= ra.ending + 1e-6 * max(1.0, abs(ra.ending))
    # different assumptions give different forecasts (growth acts on the inflows that still
    # arrive within the horizon after the delay)
    assume(flows[0].inflow[:max(0, len(flows[0].inflow) - a.payment_delay_days)].sum() > 1.0)
    c = Assumptions("growth", a.revenue_growth + 0.1, a.payment_delay_days, a.fx_move)
    rc = apply(first, flows, c, "EUR")
    assert not np.allclose(rc.net, ra.net, rtol=0, atol=1e-9)
    d = Assumptions("fx", a.revenue_growth, a.payment_delay_days, a.fx_move + 0.1)
    assert apply(first, flows, d, "EUR").ending != ra.ending
    if done > 1.0:
        assert rb.balance[0] != ra.balance[0] or dg or dd or dfx


@given(flows=forecasts(), delay=st.integers(1, 30))
def test_property_21_delay_changes_the_forecast(flows, delay) -> None:
    first = date(2026, 11, 2)
    assume(flows[0].inflow[0] > 1.0)
    base = apply(first, flows, Assumptions("base"), "EUR")
    late = apply(first, flows, Assumptions("late", payment_delay_days=delay), "EUR")
    assert not np.allclose(base.net, late.net)
    assert late.ending <= base.ending + 1e-6 * max(1.0, abs(base.ending))


# -- property 35 ----------------------------------------------------------------------------
@given(kind=st.sampled_from(["weekly", "monthly", "trend"]), seed=st.integers(0, 2**31 - 1),
       amplitude=st.floats(5.0, 50.0), where=st.integers(0, 27))
def test_property_35_pattern_incorporation(kind, seed, amplitude, where) -> None:
    rng = np.random.default_rng(seed)
    first = date(2024, 1, 1)
    n = 400
    y = rng.normal(0.0, 1.0, n)
    days = [first + timedelta(days=i) for i in range(n)]
    if kind == "weekly":
        wd = where % 7
        y += np.array([amplitude if d.weekday() == wd else 0.0 for d in days])
    elif kind == "monthly":
        dom = where + 1
        y += np.array([amplitude if d.day == dom else 0.0 for d in days])
    else:
        y += amplitude / 100.0 * np.arange(n)
    found = {p.kind: p for p in identify_patterns(first, y)}
    assert found[kind].found, found[kind]
    assert found[kind].strength >= FOUND
    model = fc.fit_calendar_model(first, y[:, None])
    start = first + timedelta(days=n)
    pred = model.predict(start, 62)[:, 0]
    future = [start + timedelta(days=i) for i in range(62)]
    if kind == "weekly":
        on = np.mean([p for p, d in zip(pred, future) if d.weekday() == wd])
        off = np.mean([p for p, d in zip(pred, future) if d.weekday() != wd])
        assert on - off > amplitude / 2
    elif kind == "monthly":
        on = np.mean([p for p, d in zip(pred, future) if d.day == dom])
        off = np.mean([p for p, d in zip(pred, future) if d.day != dom])
        assert on - off > amplitude / 2
    else:
        assert pred.mean() > y[-62:].mean() + 0.25 * amplitude / 100.0 * 31
