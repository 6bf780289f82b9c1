"""Properties 25 (opportunity identification), 26 (investment analysis completeness) and 27
(portfolio context in opportunities), over generated universes, criteria and price histories."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
from hypothesis import given, strategies as st

from cio_desktop.domain.analysis import SECTIONS, analyze
from cio_desktop.domain.opportunities import Candidate, Criteria, failures, portfolio_context, screen
from cio_desktop.domain.technical import NOT_AVAILABLE

CLASSES = ["equity", "government_bond", "corporate_bond", "money_market"]
CURRENCIES = ["EUR", "USD", "GBP"]
SECTORS = ["", "Energy", "Financials", "Health Care"]
maybe_num = st.one_of(st.just(math.nan), st.floats(-0.5, 2.0, allow_nan=False))
maybe_opt = st.one_of(st.none(), st.floats(-5.0, 60.0, allow_nan=False))


@st.composite
def universes(draw) -> list[Candidate]:  # noqa: ANN001
    n = draw(st.integers(0, 25))
    out = []
    for i in range(n):
        out.append(Candidate(
            identifier=f"A{i:03d}", name=f"Asset {i}", asset_class=draw(st.sampled_from(CLASSES)),
            currency=draw(st.sampled_from(CURRENCIES)), sector=draw(st.sampled_from(SECTORS)),
            country=draw(st.sampled_from(["DE", "US", "GB", ""])),
            liquidity=draw(st.one_of(st.just(math.nan), st.floats(0, 1e9, allow_nan=False))),
            volatility=draw(st.one_of(st.just(math.nan), st.floats(0, 1.0, allow_nan=False))),
            momentum=draw(maybe_num), pe_ratio=draw(maybe_opt),
            dividend_yield=draw(st.one_of(st.none(), st.floats(0, 0.1, allow_nan=False))),
            signal=draw(st.floats(-1, 1, allow_nan=False))))
    return out


@st.composite
def criteria(draw) -> Criteria:  # noqa: ANN001
    opt = lambda s: draw(st.one_of(st.none(), s))  # noqa: E731
    return Criteria(
        name="gen", asset_classes=frozenset(draw(st.sets(st.sampled_from(CLASSES), max_size=3))),
        currencies=frozenset(draw(st.sets(st.sampled_from(CURRENCIES), max_size=2))),
        min_liquidity=opt(st.floats(0, 1e9, allow_nan=False)), max_volatility=opt(st.floats(0, 1, allow_nan=False)),
        min_momentum=opt(st.floats(-0.5, 0.5, allow_nan=False)), max_pe=opt(st.floats(0, 50, allow_nan=False)),
        min_dividend_yield=opt(st.floats(0, 0.1, allow_nan=False)),
        exclude_assets=frozenset(draw(st.sets(st.sampled_from([f"A{i:03d}" for i in range(25)]), max_size=4))),
        exclude_sectors=frozenset(draw(st.sets(st.sampled_from(SECTORS[1:]), max_size=2))),
        exclude_countries=frozenset(draw(st.sets(st.sampled_from(["DE", "US", "GB"]), max_size=1))))


def _meets(c: Candidate, k: Criteria) -> bool:
    """The oracle, written from the criteria's definition (unknown figures never pass)."""
    def known(v: float | None) -> bool:
        return v is not None and not math.isnan(v)

    return all([
        not k.asset_classes or c.asset_class in k.asset_classes,
        not k.currencies or c.currency in k.currencies,
        c.identifier not in k.exclude_assets,
        not (c.sector and c.sector in k.exclude_sectors),
        not (c.country and c.country in k.exclude_countries),
        k.min_liquidity is None or (known(c.liquidity) and c.liquidity >= k.min_liquidity),
        k.max_volatility is None or (known(c.volatility) and c.volatility <= k.max_volatility),
        k.min_momentum is None or (known(c.momentum) and c.momentum >= k.min_momentum),
        k.max_pe is None or (known(c.pe_ratio) and 0 < c.pe_ratio <= k.max_pe),
        k.min_dividend_yield is None or (known(c.dividend_yield) and c.dividend_yield >= k.min_dividend_yield),
    ])


@given(universes(), criteria())
def test_property_25_opportunity_identification(universe: list[Candidate], k: Criteria) -> None:
    found = screen(universe, k)
    ids = [c.identifier for c in found]
    assert len(ids) == len(set(ids))
    assert set(ids) == {c.identifier for c in universe if _meets(c, k)}  # sound and complete
    for c in universe:
        assert (failures(c, k) == []) == _meets(c, k)  # every miss is explained, every hit has none
    assert screen(list(reversed(universe)), k) == found  # the order does not depend on the input order
    assert Criteria.from_dict(k.to_dict()) == k  # criteria are data: they round-trip


@st.composite
def histories(draw) -> tuple[list[date], list[float]]:  # noqa: ANN001
    n = draw(st.integers(0, 320))
    kind = draw(st.sampled_from(["random", "flat", "rising", "falling"]))
    steps = draw(st.lists(st.integers(1, 20), min_size=n, max_size=n)) if draw(st.booleans()) else [1] * n
    d, days = date(2024, 1, 1), []
    for s in steps:
        d += timedelta(days=s)
        days.append(d)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "flat":
        closes = [draw(st.floats(0.01, 1e5))] * n
    elif kind == "random":
        closes = list(100 * np.exp(np.cumsum(rng.normal(0, 0.03, n))))
    else:
        g = 1.002 if kind == "rising" else 0.998
        closes = [100 * g ** i for i in range(n)]
    return days, closes


fund_values = st.one_of(st.none(), st.floats(-100, 100, allow_nan=False))


@given(histories(), st.one_of(st.none(), st.dictionaries(
    st.sampled_from(["pe_ratio", "dividend_yield", "debt_to_equity", "profit_margin", "operating_margin", "eps"]),
    fund_values)))
def test_property_26_investment_analysis_completeness(history, fundamentals) -> None:  # noqa: ANN001
    days, closes = history
    today = (days[-1] if days else date(2025, 1, 1)) + timedelta(days=3)
    a = analyze("X", "X", days, closes, today, fundamentals=fundamentals, fundamentals_as_of=date(2024, 12, 31),
                fundamentals_missing="no overview cached")
    assert set(a.sections) == set(SECTIONS)
    for section, keys in SECTIONS.items():
        assert tuple(r.key for r in a.sections[section]) == keys
        for r in a.sections[section]:
            if r.value is None:
                assert r.signal == NOT_AVAILABLE and r.reason.strip(), (section, r)
                assert r.text().startswith("not available: ")
            else:
                assert math.isfinite(r.value), (section, r)
                assert r.signal in ("bullish", "bearish", "neutral")
                assert r.as_of is not None  # every value carries its data date


@st.composite
def portfolios(draw):  # noqa: ANN001, ANN201
    n = draw(st.integers(0, 6))
    names = [f"H{i}" for i in range(n)]
    holdings = {k: draw(st.floats(0.0, 1e7)) for k in names}
    t = draw(st.integers(0, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cand = draw(st.sampled_from(names + ["NEW"])) if names else "NEW"
    returns = {k: rng.normal(0, 0.01, t) for k in [*names, "NEW"]}
    if draw(st.booleans()) and names:
        returns.pop(draw(st.sampled_from(names + ["NEW"])))
    if draw(st.booleans()):
        returns[cand] = np.zeros(t)  # a flat candidate
    return cand, holdings, {k: 1.0 for k in holdings}, returns, draw(st.floats(0.0, 1e7))


@given(portfolios())
def test_property_27_portfolio_context_in_opportunities(p) -> None:  # noqa: ANN001
    cand, holdings, qty, returns, size = p
    ctx = portfolio_context(cand, holdings, qty, returns, size)
    total = sum(holdings.values())
    assert ctx.holding_value == holdings.get(cand, 0.0)
    assert math.isclose(ctx.weight, holdings.get(cand, 0.0) / total if total > 0 else 0.0, abs_tol=1e-12)
    assert 0.0 <= ctx.weight <= 1.0 + 1e-12 and 0.0 <= ctx.weight_after <= 1.0 + 1e-12
    # correlation: a value in [−1, 1] or the reason why not
    if ctx.correlation is None:
        assert ctx.correlation_reason.strip()
    else:
        assert -1.0 - 1e-9 <= ctx.correlation <= 1.0 + 1e-9
    # risk effect: both volatilities or the reason why not
    if ctx.volatility_before is None or ctx.volatility_after is None:
        assert ctx.risk_reason.strip()
    else:
        assert ctx.volatility_before >= 0 and ctx.volatility_after >= 0
        if size == 0:
            assert math.isclose(ctx.volatility_after, ctx.volatility_before, rel_tol=1e-9, abs_tol=1e-12)
    # concentration effect always present
    if total + size > 0:
        assert 0.0 < ctx.hhi_after <= 1.0 + 1e-12 and ctx.max_weight_after >= ctx.weight_after - 1e-12
