"""Pure forecasting pieces (issue 8): periods, recurring detection, the seasonal-naive
baseline, bands, budget parsing and scenarios' edge cases."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, strategies as st

from cio_desktop.domain import budget as bd
from cio_desktop.domain import forecasting as fc
from cio_desktop.domain.cash_scenarios import Assumptions, assumptions_from
from cio_desktop.domain.recurring import FlowLine, detect_recurring, detect_recurring_simple


def test_periods_week_and_month_alignment() -> None:
    ps = fc.build_periods(date(2026, 11, 4), 3, "week")          # a Wednesday
    assert [(p.label, p.first, p.last) for p in ps] == [
        ("2026-W45", date(2026, 11, 4), date(2026, 11, 8)),
        ("2026-W46", date(2026, 11, 9), date(2026, 11, 15)),
        ("2026-W47", date(2026, 11, 16), date(2026, 11, 22))]
    ms = fc.build_periods(date(2026, 12, 15), 3, "month")
    assert [p.label for p in ms] == ["2026-12", "2027-01", "2027-02"] and ms[-1].last == date(2027, 2, 28)
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="horizon"):
            fc.build_periods(date(2026, 1, 1), bad, "day")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="granularity"):
        fc.build_periods(date(2026, 1, 1), 3, "quarter")


def _monthly(account: int, cp: str, amount: float, days: list[date], start_id: int = 0) -> list[FlowLine]:
    return [FlowLine(start_id + i, account, d, amount, cp, "rent") for i, d in enumerate(days)]


def test_recurring_rent_salaries_and_weekly() -> None:
    rent = _monthly(1, "Landlord", -5000.0, [date(2026, m, 1) for m in range(1, 11)])
    # month-end salaries: last business day of each month
    import calendar
    ends = []
    for m in range(1, 11):
        d = date(2026, m, calendar.monthrange(2026, m)[1])
        while d.weekday() >= 5:
            d -= timedelta(days=1)
        ends.append(d)
    pay = _monthly(1, "Alice", -3000.0, ends, 100)
    weekly = _monthly(2, "Cleaner", -100.0, [date(2026, 8, 6) + timedelta(days=7 * i) for i in range(12)], 200)
    noise = [FlowLine(300 + i, 1, date(2026, 1, 1) + timedelta(days=int(x)), 50.0, "Random")
             for i, x in enumerate(np.random.default_rng(1).integers(0, 300, 25))]
    found = {r.counterparty: r for r in detect_recurring(rent + pay + weekly + noise, date(2026, 11, 2))}
    assert set(found) == {"Landlord", "Alice", "Cleaner"}
    assert (found["Landlord"].period, found["Landlord"].anchor, found["Landlord"].day) == ("monthly", "day_of_month", 1)
    assert (found["Alice"].anchor, found["Alice"].day) == ("month_end", 0)
    assert found["Alice"].next_dates(date(2026, 11, 2), date(2026, 12, 31)) == [date(2026, 11, 30), date(2026, 12, 31)]
    # 1 November 2026 is a Sunday: that rent is expected on Monday the 2nd
    assert found["Landlord"].next_dates(date(2026, 11, 2), date(2027, 1, 31)) == [
        date(2026, 11, 2), date(2026, 12, 1), date(2027, 1, 1)]
    assert found["Cleaner"].period == "weekly" and found["Cleaner"].direction == "out"
    # a series that stopped long ago is not projected
    assert not detect_recurring(rent, date(2027, 6, 1))


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(0, 300))
def test_vectorised_recurring_detection_equals_the_reference(seed, n) -> None:
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        cp = f"cp{int(rng.integers(0, 6))}"
        if rng.random() < 0.5:   # some regular series
            d = date(2026, 1, 5) + timedelta(days=int(7 * rng.integers(0, 40)))
        else:
            d = date(2026, 1, 1) + timedelta(days=int(rng.integers(0, 300)))
        lines.append(FlowLine(i, int(rng.integers(1, 3)), d, float(rng.choice([-100.0, -101.0, 250.0])), cp,
                              str(rng.choice(["a", "b", ""]))))
    assert detect_recurring(lines, date(2026, 11, 2)) == detect_recurring_simple(lines, date(2026, 11, 2))


def test_seasonal_naive_uses_a_year_then_a_week() -> None:
    h = np.arange(400, dtype=float)
    assert list(fc.seasonal_naive(h, 3)) == [400 - 364, 401 - 364, 402 - 364]
    short = np.arange(10, dtype=float)
    assert list(fc.seasonal_naive(short, 9)) == [3, 4, 5, 6, 7, 8, 9, 3, 4]
    assert list(fc.seasonal_naive(np.arange(3, dtype=float), 2)) == [0, 0]


def test_bands_grow_with_the_window_and_are_centred() -> None:
    r = np.random.default_rng(0).normal(0, 1, 2000)
    q = fc.block_sum_quantiles(r, [1, 7, 91, 1500], (0.1, 0.9))
    assert q[0, 0] < 0 < q[0, 1]
    assert q[1, 1] > q[0, 1] and q[2, 1] > q[1, 1] and q[3, 1] > q[2, 1]
    assert q[1, 1] == pytest.approx(1.2816 * np.sqrt(7), rel=0.15)


def test_too_little_history_is_refused_with_the_amount_needed() -> None:
    with pytest.raises(fc.InsufficientHistory, match="at least 90 days"):
        fc.fit_calendar_model(date(2026, 1, 1), np.zeros((30, 1)))


@pytest.mark.parametrize("text,value", [("1500000", "1500000.00"), ("1,234.56", "1234.56"), ("1234,56", "1234.56"),
                                        ("12.5", "12.50"), (" 7 ", "7.00"), (12.5, "12.50"), (3, "3.00")])
def test_budget_amounts(text, value) -> None:
    assert bd.parse_amount(text) == Decimal(value)


@pytest.mark.parametrize("text", ["abc", "-5", "1.234", "nan", "", True])
def test_bad_budget_amounts(text) -> None:
    with pytest.raises(ValueError):
        bd.parse_amount(text)


def test_budget_periods() -> None:
    assert bd.normalise_period("2026/3") == "2026-03"
    assert bd.normalise_period("2026-10-01 00:00:00") == "2026-10"
    for bad in ("Oct 2026", "2026-13", "26-10"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            bd.normalise_period(bad)


def test_extreme_scenarios_are_accepted_or_refused_clearly() -> None:
    assert Assumptions("collapse", revenue_growth=-1.0, payment_delay_days=365, fx_move=-0.99)
    for kwargs in ({"revenue_growth": -1.5}, {"payment_delay_days": 400}, {"fx_move": -1.0}):
        with pytest.raises(ValueError):
            Assumptions("x", **kwargs)
    a = assumptions_from({"name": "s", "revenue_growth": "5%", "fx_move": "-3%",
                          "one_offs": [["2026-12-01", 1000, "sale"]]})
    assert (a.revenue_growth, a.fx_move, a.one_offs[0][0]) == (0.05, -0.03, date(2026, 12, 1))


def test_known_one_off_items_replace_the_models_flow_instead_of_adding_to_it() -> None:
    """A scheduled payment is one of the supplier payments the model already expects: the week's
    outflow is the larger of the model's and the known one, never their sum; recurring items
    (left out of the model's history) still add."""
    from cio_desktop.domain.cashflow import AccountInfo, KnownItem, compute_forecast, net_of_known

    model = np.full((14, 1), -100.0)                 # 700 out a week
    known = np.zeros((14, 1))
    known[2, 0] = -300.0                             # week 1: part of it is known
    known[9, 0] = -1000.0                            # week 2: more than the model expects
    out = net_of_known(model, known)
    assert out[:7].sum() == pytest.approx(-400.0) and out[7:].sum() == pytest.approx(0.0)
    assert (out[:7] + known[:7]).sum() == pytest.approx(-700.0)
    assert (out[7:] + known[7:]).sum() == pytest.approx(-1000.0)
    inflow = net_of_known(np.full((7, 1), 50.0), np.full((7, 1), -10.0))
    assert inflow.sum() == pytest.approx(350.0)      # an outflow never reduces the model's inflow

    start = date(2026, 11, 2)
    rng = np.random.default_rng(3)
    lines = [FlowLine(i, 1, start - timedelta(days=200 - d), -float(rng.integers(800, 1200)), f"Supplier {i}")
             for i, d in enumerate(range(200)) if (start - timedelta(days=200 - d)).weekday() < 5]
    acct = [AccountInfo(1, "Operating", "EUR", 1_000_000.0)]
    plain = compute_forecast(acct, lines, [], {"EUR": 1.0}, "EUR", start, 2, "week", recurring=[])
    pay = KnownItem(start + timedelta(days=1), 1, -2000.0, "payment", "payment 1", "payment:1")
    both = compute_forecast(acct, lines, [pay], {"EUR": 1.0}, "EUR", start, 2, "week", recurring=[])
    week1, base1 = both.rows[0], plain.rows[0]
    assert week1.known_out == pytest.approx(-2000.0)
    assert week1.net_p50 == pytest.approx(base1.net_p50, rel=1e-9)   # ~5,000 expected: the 2,000 is part of it
    assert both.rows[1].net_p50 == pytest.approx(plain.rows[1].net_p50)
