"""The metrics kernel against the references a treasurer can re-run.

Literal expected values are copied from the references and cited next to each number:

* EMP — empyrical-reloaded 0.7.1, ``tests/test_stats.py`` and its fixtures in
  ``tests/conftest.py`` (github.com/stefan-jansen/empyrical-reloaded). Fixtures used here:
  ``mixed_returns = [nan, 1, 10, -4, 2, 3, 2, 1, -10] / 100`` (daily),
  ``weekly_returns`` / ``monthly_returns = [0, 1, 10, -4, 2, 3, 2, 1, -10] / 100``,
  ``positive_returns = [1, 2, 1, 1, 1, 1, 1, 1, 1] / 100``,
  ``negative_returns = [0, -6, -7, -1, -9, -2, -6, -8, -5] / 100``,
  ``all_negative_returns = [-2, -6, -7, -1, -9, -2, -6, -8, -5] / 100``,
  ``udu_returns = [10, -10, 10] / 100``, ``flat_line_1 = [1] * 9 / 100``.
* EXCEL — Microsoft's XIRR function documentation example.
* OOO — Apache OpenOffice wiki, "Documentation/How Tos/Calc: XIRR function" example.
* NPF — numpy-financial 1.0 ``irr`` docstring examples (with yearly dates 365 days apart XIRR is
  the periodic IRR).

When empyrical-reloaded / numpy-financial are installed the tests also compare against them
live on random data (skipped cleanly otherwise).
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from statistics import NormalDist

import numpy as np
import pytest

from cio_desktop.domain import metrics as m
from cio_desktop.errors import ValidationError

MIXED = np.array([np.nan, 1.0, 10.0, -4.0, 2.0, 3.0, 2.0, 1.0, -10.0]) / 100
WEEKLY = np.array([0.0, 1.0, 10.0, -4.0, 2.0, 3.0, 2.0, 1.0, -10.0]) / 100
MONTHLY = WEEKLY
POSITIVE = np.array([1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]) / 100
NEGATIVE = np.array([0.0, -6.0, -7.0, -1.0, -9.0, -2.0, -6.0, -8.0, -5.0]) / 100
ALL_NEGATIVE = np.array([-2.0, -6.0, -7.0, -1.0, -9.0, -2.0, -6.0, -8.0, -5.0]) / 100
UDU = np.array([10.0, -10.0, 10.0]) / 100
FLAT_1 = np.full(9, 0.01)
EMPTY = np.array([])
ONE = np.array([0.01])


def close(a: float, b: float, places: int = 8) -> bool:
    """empyrical's own tolerance: np.testing.assert_almost_equal(..., DECIMAL_PLACES=8)."""
    return abs(a - b) < 1.5 * 10 ** (-places)


# ---------------------------------------------------------------------------------------------
# pinned values from empyrical-reloaded's test-suite
# ---------------------------------------------------------------------------------------------

def test_cumulative_return_pinned():
    assert math.isnan(m.cumulative_return(EMPTY))  # EMP test_cum_returns_final: empty → nan
    assert close(m.cumulative_return(ONE), 0.01, 4)  # EMP: one_return → 0.01
    assert close(m.cumulative_return(MIXED), 0.03893, 4)  # EMP: mixed_returns → 0.03893
    assert close(m.cumulative_return(NEGATIVE), -0.36590, 4)  # EMP: negative_returns → -0.36590


def test_max_drawdown_pinned():
    assert math.isnan(m.max_drawdown(EMPTY))  # EMP test_max_drawdown: empty → nan
    assert m.max_drawdown(ONE) == 0.0  # EMP: one_return → 0.0
    assert close(m.max_drawdown(MIXED), -0.1)  # EMP: mixed_returns → -0.1
    assert m.max_drawdown(POSITIVE) == 0.0  # EMP: positive_returns → -0.0
    assert close(m.max_drawdown(NEGATIVE), -0.36590730)  # EMP: negative_returns → -0.36590730
    assert close(m.max_drawdown(ALL_NEGATIVE), -0.378589157)  # EMP: all_negative → -0.378589157
    assert close(m.max_drawdown(UDU), -0.10)  # EMP: udu_returns → -0.10


def test_annual_return_pinned():
    assert close(m.annual_return(WEEKLY, 52), 0.24690830513998208)  # EMP test_annual_ret WEEKLY
    assert close(m.annual_return(MONTHLY, 12), 0.052242061386048144)  # EMP test_annual_ret MONTHLY


def test_annual_return_leading_nan_is_not_a_period():
    # EMP pins annual_return(mixed_returns, DAILY) = 1.9135925373194231, counting the leading NaN
    # as one of 9 periods. This kernel ignores leading NaNs (documented): 8 periods.
    # total growth of the 8 observations: EMP test_aggregate_returns (weekly_returns, YEARLY)
    # = 0.038931091700480147 (the same eight numbers after a 0 return)
    expected = (1 + 0.038931091700480147) ** (252 / 8) - 1
    assert m.annual_return(MIXED) == pytest.approx(expected, rel=1e-12)
    assert m.annual_return(MIXED) == pytest.approx(m.annual_return(MIXED[1:]), rel=1e-15)


def test_annual_volatility_pinned():
    assert close(m.annual_volatility(np.full(1000, 0.01)), 0.0)  # EMP: flat_line_1_tz → 0.0
    assert close(m.annual_volatility(MIXED), 0.9136465399704637)  # EMP: mixed_returns DAILY
    assert close(m.annual_volatility(WEEKLY, 52), 0.38851569394870583)  # EMP: weekly WEEKLY
    assert close(m.annual_volatility(MONTHLY, 12), 0.18663690238892558)  # EMP: monthly MONTHLY


def test_calmar_pinned():
    assert math.isnan(m.calmar_ratio(EMPTY))  # EMP test_calmar: empty → nan
    assert math.isnan(m.calmar_ratio(ONE))  # EMP: one_return → nan
    assert close(m.calmar_ratio(WEEKLY, 52), 2.4690830513998208)  # EMP: weekly WEEKLY
    assert close(m.calmar_ratio(MONTHLY, 12), 0.52242061386048144)  # EMP: monthly MONTHLY


def test_sharpe_pinned():
    assert math.isnan(m.sharpe_ratio(EMPTY))  # EMP test_sharpe_ratio: empty → nan
    assert math.isnan(m.sharpe_ratio(ONE))  # EMP: one_return → nan
    assert close(m.sharpe_ratio(MIXED), 1.7238613961706866)  # EMP: mixed_returns, rf 0
    assert close(m.sharpe_ratio(POSITIVE), 52.915026221291804)  # EMP: positive_returns
    assert close(m.sharpe_ratio(NEGATIVE), -24.406808633910085)  # EMP: negative_returns
    # EMP: flat_line_1 → inf. Documented deviation: zero dispersion is NaN here.
    assert math.isnan(m.sharpe_ratio(FLAT_1))


def test_downside_risk_pinned():
    assert math.isnan(m.downside_risk(EMPTY))  # EMP test_downside_risk: empty → nan
    assert m.downside_risk(ONE) == 0.0  # EMP: one_return → 0.0
    assert close(m.downside_risk(MIXED), 0.60448325038829653)  # EMP: mixed, 0.0, DAILY
    assert close(m.downside_risk(MIXED, 0.1), 1.7161730681956295)  # EMP: mixed, 0.1, DAILY
    assert close(m.downside_risk(WEEKLY, 0.0, 52), 0.25888650451930134)  # EMP: weekly 0.0
    assert close(m.downside_risk(WEEKLY, 0.1, 52), 0.7733045971672482)  # EMP: weekly 0.1
    assert close(m.downside_risk(MONTHLY, 0.0, 12), 0.1243650540411842)  # EMP: monthly 0.0
    assert close(m.downside_risk(MONTHLY, 0.1, 12), 0.37148351242013422)  # EMP: monthly 0.1


def test_sortino_pinned():
    assert math.isnan(m.sortino_ratio(EMPTY))  # EMP test_sortino: empty → nan
    assert math.isnan(m.sortino_ratio(ONE))  # EMP: one_return → nan
    assert close(m.sortino_ratio(MIXED), 2.605531251673693)  # EMP: mixed, 0.0, DAILY
    assert close(m.sortino_ratio(NEGATIVE), -13.532743075043401)  # EMP: negative, 0.0, DAILY
    assert close(m.sortino_ratio(WEEKLY, 0.0, 52), 1.1158901056866439)  # EMP: weekly WEEKLY
    assert close(m.sortino_ratio(MONTHLY, 0.0, 12), 0.53605626741889756)  # EMP: monthly MONTHLY
    # EMP: positive_returns → inf. Documented deviation: no downside → NaN.
    assert math.isnan(m.sortino_ratio(POSITIVE))


def test_information_ratio_is_annualised_excess_sharpe():
    # EMP test_excess_sharpe: (mixed_returns, 0.0) → 0.10859306069076737 (not annualised)
    assert close(m.information_ratio(MIXED, np.zeros(9)) / math.sqrt(252), 0.10859306069076737)
    assert math.isnan(m.information_ratio(EMPTY, EMPTY))  # EMP: empty → nan
    assert math.isnan(m.information_ratio(ONE, np.zeros(1)))  # EMP: one_return → nan
    line = np.linspace(0, 1, 1000)
    assert math.isnan(m.information_ratio(line, line))  # EMP: (pos_line, pos_line) → nan


def test_alpha_beta_pinned():
    assert close(m.beta(MIXED, MIXED), 1.0)  # EMP test_alpha_beta: (mixed, mixed) → (0, 1)
    assert close(m.alpha(MIXED, MIXED), 0.0)
    assert close(m.beta(MIXED, -MIXED), -1.0)  # EMP: (mixed, -mixed) → (0, -1)
    assert close(m.alpha(MIXED, -MIXED), 0.0)
    assert math.isnan(m.beta(ONE, ONE))  # EMP: (one_return, one_return) → (nan, nan)
    assert math.isnan(m.alpha(ONE, ONE))
    assert math.isnan(m.beta(EMPTY, EMPTY))


def test_value_at_risk_pinned():
    # EMP test_value_at_risk (cutoff = 1 − confidence)
    assert m.value_at_risk([1.0, 2.0], 0.7) == pytest.approx(1.3)  # cutoff 0.3 → 1.3
    r = [1, 81, 82, 83, 84, 85]
    assert m.value_at_risk(r, 0.9) == pytest.approx(41)  # cutoff 0.1 → 41
    assert m.value_at_risk(r, 0.8) == pytest.approx(81)  # cutoff 0.2 → 81
    assert m.value_at_risk(r, 0.7) == pytest.approx(81.5)  # cutoff 0.3 → 81.5


def test_cvar_matches_empyrical_definition():
    # EMP test_conditional_value_at_risk: a single value is its own CVaR; on 21 points the
    # CVaR is the mean of the returns at or below the VaR.
    assert m.conditional_value_at_risk([0.0123]) == 0.0123
    rng = np.random.RandomState(1337)
    r = rng.normal(0, 0.02, 21)
    for cutoff in (0.0499, 0.05, 0.20):
        var = np.percentile(r, cutoff * 100)
        expected = np.mean(r[r <= var])
        assert m.conditional_value_at_risk(r, 1 - cutoff) == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# live comparison with empyrical-reloaded (when installed)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def panel():
    rng = np.random.default_rng(7)
    x = rng.normal(0.0004, 0.012, (12, 600))
    x[3, :50] = np.nan  # shorter histories: leading NaNs per row
    x[7, :599] = np.nan  # one observation only
    x[8, :] = np.nan  # no observation
    x[9, 100] = -0.5  # a −50 % day
    x[10, :] = 0.0003  # zero volatility
    b = rng.normal(0.0003, 0.01, 600)
    return x, b


def _trim(row: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(row)
    return row[np.argmax(ok):] if ok.any() else row[:0]


def test_against_empyrical_row_by_row(panel):
    ep = pytest.importorskip("empyrical")
    x, b = panel
    got = m.metric_set(x, b, risk_free=0.00001, confidence=0.95)
    for i, row in enumerate(x):
        r = _trim(row)
        bb = b[len(b) - len(r):]
        if len(r) == 0:
            for k, v in got.items():
                assert math.isnan(v[i]), k
            continue
        expected = {
            "cumulative_return": ep.cum_returns_final(r),
            "annual_return": ep.annual_return(r),
            "annual_volatility": ep.annual_volatility(r),
            "max_drawdown": ep.max_drawdown(r),
            "calmar_ratio": ep.calmar_ratio(r),
            "downside_risk": ep.downside_risk(r),
            "value_at_risk": ep.value_at_risk(r, 0.05),
            "conditional_value_at_risk": ep.conditional_value_at_risk(r, 0.05),
            "beta": ep.beta(r, bb),
            "alpha": ep.alpha(r, bb, risk_free=0.00001),
        }
        sharpe = ep.sharpe_ratio(r, risk_free=0.00001)
        sortino = ep.sortino_ratio(r)
        # documented deviations: ±inf ratios are NaN here
        expected["sharpe_ratio"] = sharpe if np.isfinite(sharpe) else np.nan
        expected["sortino_ratio"] = sortino if np.isfinite(sortino) else np.nan
        for k, e in expected.items():
            v = got[k][i]
            if np.isnan(e):
                assert np.isnan(v), (k, i, v)
            else:
                assert v == pytest.approx(e, rel=1e-9, abs=1e-12), (k, i)


def test_2d_matches_1d(panel):
    x, b = panel
    full = m.metric_set(x, b)
    for i, row in enumerate(x):
        one = m.metric_set(row, b)
        for k in full:
            assert np.allclose(full[k][i], one[k], rtol=1e-12, atol=1e-15, equal_nan=True), k


def test_metric_set_equals_individual_functions(panel):
    x, b = panel
    got = m.metric_set(x, b, risk_free=0.0001, required_return=0.0002, periods_per_year=260,
                       confidence=0.99)
    individual = {
        "cumulative_return": m.cumulative_return(x),
        "annual_return": m.annual_return(x, 260),
        "annual_volatility": m.annual_volatility(x, 260),
        "sharpe_ratio": m.sharpe_ratio(x, 0.0001, 260),
        "sortino_ratio": m.sortino_ratio(x, 0.0002, 260),
        "downside_risk": m.downside_risk(x, 0.0002, 260),
        "max_drawdown": m.max_drawdown(x),
        "calmar_ratio": m.calmar_ratio(x, 260),
        "value_at_risk": m.value_at_risk(x, 0.99),
        "conditional_value_at_risk": m.conditional_value_at_risk(x, 0.99),
        "beta": m.beta(x, b),
        "alpha": m.alpha(x, b, 0.0001, 260),
        "tracking_error": m.tracking_error(x, b, 260),
        "information_ratio": m.information_ratio(x, b, 260),
    }
    assert set(got) == set(individual)
    for k, v in individual.items():
        assert np.allclose(got[k], v, rtol=1e-12, atol=1e-15, equal_nan=True), k


def test_benchmark_per_row_and_shared_agree(panel):
    x, b = panel
    per_row = np.tile(b, (x.shape[0], 1))
    assert np.allclose(m.beta(x, b), m.beta(x, per_row), equal_nan=True, rtol=1e-12)
    assert np.allclose(m.alpha(x, b), m.alpha(x, per_row), equal_nan=True, rtol=1e-12)


def test_tracking_error_definition():
    rng = np.random.default_rng(3)
    r, b = rng.normal(0, 0.01, 300), rng.normal(0, 0.01, 300)
    assert m.tracking_error(r, b) == pytest.approx(np.std(r - b, ddof=1) * math.sqrt(252))
    assert m.information_ratio(r, b) == pytest.approx(
        np.mean(r - b) * 252 / (np.std(r - b, ddof=1) * math.sqrt(252)))
    assert m.tracking_error(r, r) == 0.0


# ---------------------------------------------------------------------------------------------
# VaR methods
# ---------------------------------------------------------------------------------------------

def test_parametric_and_monte_carlo_var():
    rng = np.random.default_rng(11)
    r = rng.normal(0.0005, 0.01, 2000)
    z = NormalDist().inv_cdf(0.05)  # −1.6448536269514729
    expected = r.mean() + z * r.std(ddof=1)
    assert m.value_at_risk(r, 0.95, "parametric") == pytest.approx(expected, rel=1e-12)
    mc = m.value_at_risk(r, 0.95, "monte_carlo")
    assert mc == pytest.approx(expected, rel=0.02)  # 100,000 draws: ≈ 1 % sampling error
    assert mc == m.value_at_risk(r, 0.95, "monte_carlo")  # fixed seed: reproducible
    hist = m.value_at_risk(r, 0.95)
    assert hist == pytest.approx(np.percentile(r, 5), rel=1e-12)
    assert m.conditional_value_at_risk(r, 0.95) <= hist
    assert m.value_at_risk(r, 0.99) <= hist


def test_var_2d_with_different_history_lengths():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.01, (4, 250))
    x[1, :37] = np.nan
    x[2, :200] = np.nan
    for method in ("historical", "parametric"):
        v = m.value_at_risk(x, 0.95, method)
        for i, row in enumerate(x):
            assert v[i] == pytest.approx(m.value_at_risk(_trim(row), 0.95, method), rel=1e-12)
    hist = m.value_at_risk(x, 0.95)
    for i, row in enumerate(x):
        assert hist[i] == pytest.approx(np.percentile(_trim(row), 5), rel=1e-12)


def test_var_bad_arguments():
    with pytest.raises(ValidationError, match="confidence"):
        m.value_at_risk([0.01, 0.02], 1.0)
    with pytest.raises(ValidationError, match="confidence"):
        m.conditional_value_at_risk([0.01, 0.02], 0)
    with pytest.raises(ValidationError, match="unknown VaR method"):
        m.value_at_risk([0.01, 0.02], 0.95, "garch")


# ---------------------------------------------------------------------------------------------
# edge cases and bad input
# ---------------------------------------------------------------------------------------------

ALL_FUNCTIONS = (m.cumulative_return, m.annual_return, m.annual_volatility, m.sharpe_ratio,
                 m.sortino_ratio, m.max_drawdown, m.calmar_ratio, m.value_at_risk,
                 m.conditional_value_at_risk, m.downside_risk)


@pytest.mark.parametrize("f", ALL_FUNCTIONS, ids=lambda f: f.__name__)
def test_empty_and_all_nan_give_nan(f):
    assert math.isnan(f([]))
    assert math.isnan(f([np.nan, np.nan, np.nan]))
    out = f(np.full((3, 5), np.nan))
    assert out.shape == (3,) and np.all(np.isnan(out))
    assert f(np.empty((0, 10))).shape == (0,)  # no assets → no results


@pytest.mark.parametrize("f", ALL_FUNCTIONS, ids=lambda f: f.__name__)
def test_single_asset_2d_equals_1d(f):
    r = np.array([0.01, -0.02, 0.005, 0.03, -0.01])
    got = f(r[np.newaxis, :])
    assert got.shape == (1,)
    assert np.allclose(got[0], f(r), equal_nan=True)


def test_constant_series():
    r = np.full(250, 0.0002)
    assert m.annual_volatility(r) == 0.0
    assert math.isnan(m.sharpe_ratio(r))  # zero volatility: no ratio, not a huge number
    assert math.isnan(m.sortino_ratio(r))
    assert m.max_drawdown(r) == 0.0
    assert math.isnan(m.calmar_ratio(r))
    assert m.value_at_risk(r) == pytest.approx(0.0002)
    assert m.cumulative_return(r) == pytest.approx(1.0002 ** 250 - 1)
    zero = np.zeros(100)
    assert math.isnan(m.sharpe_ratio(zero)) and m.annual_volatility(zero) == 0.0
    assert math.isnan(m.beta(np.linspace(0, 0.01, 100), np.full(100, 0.001)))  # flat benchmark


def test_minus_fifty_percent_day():
    r = np.array([0.01, 0.02, -0.5, 0.01, 0.03])
    assert m.max_drawdown(r) == pytest.approx(-0.5)  # the whole fall happens on one day
    wealth = np.cumprod(1 + r)
    assert m.cumulative_return(r) == pytest.approx(wealth[-1] - 1)
    assert m.max_drawdown(r) == pytest.approx((wealth / np.maximum.accumulate(wealth)).min() - 1)
    assert m.value_at_risk(r, 0.95) < -0.3
    assert m.conditional_value_at_risk(r, 0.95) == pytest.approx(-0.5)
    total_loss = np.array([0.01, -1.0, 0.05])
    assert m.annual_return(total_loss) == -1.0
    assert m.max_drawdown(total_loss) == -1.0
    assert math.isnan(m.annual_return(np.array([0.1, -1.5])))  # below −100 %: no growth rate


def test_first_day_loss_is_a_drawdown():
    assert m.max_drawdown([-0.1, 0.05]) == pytest.approx(-0.1)  # wealth starts at 1


def test_interior_nan_is_skipped_like_empyrical():
    r = np.array([0.01, np.nan, -0.02, 0.03])
    assert m.cumulative_return(r) == pytest.approx(1.01 * 0.98 * 1.03 - 1)
    assert m.annual_volatility(r) == pytest.approx(np.std([0.01, -0.02, 0.03], ddof=1) * math.sqrt(252))


def test_bad_shapes_and_values_are_refused():
    with pytest.raises(ValidationError, match="1-D series or a 2-D array"):
        m.sharpe_ratio(np.zeros((2, 2, 2)))
    with pytest.raises(ValidationError, match="1-D series or a 2-D array"):
        m.sharpe_ratio(0.01)
    with pytest.raises(ValidationError, match="infinite"):
        m.annual_volatility([0.01, np.inf])
    with pytest.raises(ValidationError, match="numbers"):
        m.annual_volatility(["a", "b"])
    with pytest.raises(ValidationError, match="periods"):
        m.beta(np.zeros(10), np.zeros(9))
    with pytest.raises(ValidationError, match="rows"):
        m.beta(np.zeros((3, 10)), np.zeros((2, 10)))
    with pytest.raises(ValidationError, match="periods_per_year"):
        m.annual_return([0.01], periods_per_year=0)
    with pytest.raises(ValidationError, match="risk_free"):
        m.sharpe_ratio([0.01, 0.02], risk_free=float("nan"))
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValidationError, match="DataFrame"):
        m.sharpe_ratio(pd.DataFrame({"a": [0.01, 0.02]}))


def test_drawdown_series_shape():
    r = np.array([[0.1, -0.1, 0.1], [-0.05, 0.0, 0.0]])
    dd = m.drawdown_series(r)
    assert dd.shape == r.shape
    assert dd[0].tolist() == pytest.approx([0.0, -0.1, -0.01])
    assert dd[1].tolist() == pytest.approx([-0.05, -0.05, -0.05])


# ---------------------------------------------------------------------------------------------
# XIRR
# ---------------------------------------------------------------------------------------------

def test_xirr_excel_documentation_example():
    # EXCEL: XIRR of −10,000 on 2008-01-01, 2,750 on 2008-03-01, 4,250 on 2008-10-30,
    # 3,250 on 2009-02-15, 2,750 on 2009-04-01 = 0.373362535 (37.34 %)
    dates = [date(2008, 1, 1), date(2008, 3, 1), date(2008, 10, 30), date(2009, 2, 15), date(2009, 4, 1)]
    amounts = [-10000, 2750, 4250, 3250, 2750]
    # Excel stops iterating at 0.000001 %, so its nine printed decimals are good to ~1e-8
    rate = m.xirr(dates, amounts)
    assert rate == pytest.approx(0.373362535, abs=2e-9)
    t = [(d - dates[0]).days / 365 for d in dates]
    assert abs(sum(a / (1 + rate) ** ti for a, ti in zip(amounts, t))) < 1e-8  # NPV is zero


def test_xirr_openoffice_example():
    # OOO: −2,750 on 2008-02-05, 1,000 on 2008-07-05, 2,000 on 2009-01-05 → "approximately 0.124"
    assert round(m.xirr(["2008-02-05", "2008-07-05", "2009-01-05"], [-2750, 1000, 2000]), 3) == 0.124


@pytest.mark.parametrize("flows, expected", [
    ([-100, 39, 59, 55, 20], 0.28095),  # NPF irr docstring: round(irr(...), 5) == 0.28095
    ([-100, 0, 0, 74], -0.0955),  # NPF: -0.0955
    ([-100, 100, 0, 7], 0.06206),  # NPF: 0.06206
])
def test_xirr_equals_periodic_irr_on_365_day_years(flows, expected):
    dates = [date(2001, 1, 1) + timedelta(days=365 * i) for i in range(len(flows))]
    assert round(m.xirr(dates, flows), 5) == pytest.approx(expected, abs=1e-12)


def test_xirr_against_numpy_financial():
    npf = pytest.importorskip("numpy_financial")
    rng = np.random.default_rng(2)
    for _ in range(20):
        flows = [-1000.0, *rng.uniform(50, 400, 6).tolist()]
        dates = [date(2010, 1, 1) + timedelta(days=365 * i) for i in range(len(flows))]
        assert m.xirr(dates, flows) == pytest.approx(npf.irr(flows), rel=1e-9)


# Portfolio Performance's own IRR test values (name.abuchen.portfolio.math.IRRTest in
# github.com/portfolio-performance/portfolio, which states each figure as Excel's XIRR result).
# PP discounts by actual days / 365 from the first flow, as XIRR does.
@pytest.mark.parametrize(("dates", "flows", "expected", "tolerance"), [
    (["2010-01-01", "2010-12-31"], [-200, 210], 0.050140747, 5e-9),  # testSimpleExcelTestCase
    (["2002-11-30", "2007-06-11", "2008-05-11", "2009-05-01", "2010-06-01", "2011-05-02",
      "2012-04-30", "2012-12-06"],
     [-4398, 200, 270, 280, 280, 300, 330, 14508], 0.1444629967, 1e-4),  # …WithSlowCurve
    (["2019-05-24", "2020-01-13", "2020-06-29"], [-1560.94, -1160, 42.80],
     -0.999251643, 1e-4),  # testSmallConvergenceInterval (PP issue #1904)
])
def test_xirr_portfolio_performance_reference_values(dates, flows, expected, tolerance):
    assert m.xirr(dates, flows) == pytest.approx(expected, abs=tolerance)


def test_xirr_order_and_types():
    # dates after the first may come in any order; datetimes and numpy dates are accepted
    a = m.xirr([date(2020, 1, 1), date(2021, 6, 1), date(2020, 7, 1)], [-100, 60, 50])
    b = m.xirr([np.datetime64("2020-01-01"), "2020-07-01", date(2021, 6, 1)], [-100, 50, 60])
    assert a == pytest.approx(b, abs=1e-12)


def test_xirr_bad_input():
    d = [date(2020, 1, 1), date(2021, 1, 1)]
    with pytest.raises(ValidationError, match="payment .* and one receipt"):
        m.xirr(d, [100, 100])
    with pytest.raises(ValidationError, match="at least two"):
        m.xirr(d[:1], [100])
    with pytest.raises(ValidationError, match="2 dates but 3 amounts"):
        m.xirr(d, [1, 2, 3])
    with pytest.raises(ValidationError, match="before the first"):
        m.xirr([date(2021, 1, 1), date(2020, 1, 1)], [-100, 110])
    with pytest.raises(ValidationError, match="not a date"):
        m.xirr(["yesterday", "2020-01-01"], [-1, 2])


def test_xirr_total_loss_and_fallback():
    # −100 % is the limit: a tiny receipt gives a rate close to −1, found by the bracket search
    r = m.xirr([date(2020, 1, 1), date(2021, 1, 1)], [-100, 1e-6])
    assert -1 < r < -0.9999
    assert m.xirr([date(2020, 1, 1), date(2020, 12, 31)], [-100, 100]) == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# time-weighted return
# ---------------------------------------------------------------------------------------------

def test_twr_without_flows_is_the_value_return():
    v = [100.0, 105.0, 99.75, 110.0]
    assert m.time_weighted_return(v, [0, 0, 0, 0]) == pytest.approx(0.10)


def test_twr_inflow_at_start_outflow_at_end():
    # Day 1: 100 → 110 (+10 %). Day 2: 50 paid in at the start, ends at 176: 176/160 − 1 = +10 %.
    # Day 3: ends at 96.8 after 100 paid out at the end: (96.8 + 100)/176 − 1 = +11.818… %.
    v = [100.0, 110.0, 176.0, 96.8]
    f = [0.0, 0.0, 50.0, -100.0]
    r = m.flow_adjusted_returns(v, f)
    assert r == pytest.approx([0.10, 0.10, 196.8 / 176 - 1])
    assert m.time_weighted_return(v, f) == pytest.approx(1.1 * 1.1 * (196.8 / 176) - 1)


def test_twr_2d_and_errors():
    v = np.array([[100.0, 110.0, 121.0], [50.0, 50.0, 55.0]])
    f = np.zeros_like(v)
    assert m.time_weighted_return(v, f) == pytest.approx([0.21, 0.10])
    assert math.isnan(m.time_weighted_return([100.0], [0.0]))
    assert m.time_weighted_return([0.0, 0.0, 100.0, 110.0], [0.0, 0.0, 100.0, 0.0]) == pytest.approx(0.1)
    with pytest.raises(ValidationError, match="first day"):
        m.time_weighted_return([100.0, 110.0], [5.0, 0.0])
    with pytest.raises(ValidationError, match="period 1.*undefined"):
        m.time_weighted_return([0.0, 10.0], [0.0, 0.0])
    with pytest.raises(ValidationError, match="gaps"):
        m.time_weighted_return([100.0, np.nan], [0.0, 0.0])


# ---------------------------------------------------------------------------------------------
# Herfindahl
# ---------------------------------------------------------------------------------------------

def test_herfindahl_index():
    assert m.herfindahl_index([1.0]) == 1.0
    assert m.herfindahl_index([0.25] * 4) == pytest.approx(0.25)
    assert m.herfindahl_index([600.0, 200.0, 200.0]) == pytest.approx(0.36 + 0.04 + 0.04)
    assert m.herfindahl_index([[1, 1], [3, 1]]) == pytest.approx([0.5, 0.625])
    assert math.isnan(m.herfindahl_index([]))
    assert math.isnan(m.herfindahl_index([0.0, 0.0]))
    with pytest.raises(ValidationError, match="negative"):
        m.herfindahl_index([0.5, -0.1])
    with pytest.raises(ValidationError, match="missing"):
        m.herfindahl_index([0.5, np.nan])


def test_metric_set_in_blocks_equals_functions():
    # more rows than one cache block, mixed history lengths and a benchmark per row
    rng = np.random.default_rng(21)
    x = rng.normal(0.0002, 0.01, (150, 300))
    x[5, :120] = np.nan
    x[70, :] = np.nan
    x[140, :299] = np.nan
    b = rng.normal(0.0002, 0.008, (150, 300))
    got = m.metric_set(x, b)
    assert got["annual_volatility"].shape == (150,)
    for k, f in (("annual_volatility", m.annual_volatility), ("max_drawdown", m.max_drawdown),
                 ("value_at_risk", m.value_at_risk), ("sortino_ratio", m.sortino_ratio),
                 ("conditional_value_at_risk", m.conditional_value_at_risk)):
        assert np.allclose(got[k], f(x), rtol=1e-12, equal_nan=True), k
    assert np.allclose(got["beta"], m.beta(x, b), rtol=1e-12, equal_nan=True)
    assert np.allclose(got["information_ratio"], m.information_ratio(x, b), rtol=1e-12, equal_nan=True)
    serial = m.metric_set(x, b, parallel=False)
    assert all(np.array_equal(serial[k], got[k], equal_nan=True) for k in got)  # threads change nothing
