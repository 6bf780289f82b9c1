"""Property 20 (budget variance detection): every deviation strictly above both thresholds is
flagged and explained, none at or below (issue 8)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, strategies as st

from cio_desktop.domain import budget as bd

money = st.decimals(min_value=0, max_value=Decimal("10000000"), places=2, allow_nan=False, allow_infinity=False)
pct = st.decimals(min_value=0, max_value=Decimal("2"), places=4, allow_nan=False, allow_infinity=False)
drivers = st.lists(st.builds(bd.Driver, counterparty=st.text("abcxyz ", min_size=1, max_size=12),
                             actual=money, typical=money, lines=st.integers(1, 40)), max_size=4)


@given(rows=st.lists(st.tuples(st.sampled_from(["suppliers", "salaries", "rent", "customers"]),
                               st.sampled_from(["2026-09", "2026-10"]), money, money, drivers,
                               st.lists(st.text("abc", min_size=1, max_size=8), max_size=2)), max_size=12),
       abs_thr=money, pct_thr=pct)
def test_property_20_budget_variance_detection(rows, abs_thr, pct_thr) -> None:
    data = [(c, p, "expense", b, a, d, m) for c, p, b, a, d, m in rows]
    out = bd.detect(data, abs_threshold=abs_thr, pct_threshold=pct_thr, currency="EUR")
    assert len(out) == len(rows)
    for (c, p, b, a, _d, _m), v in zip(rows, out):
        dev = abs(a - b)
        above = dev > abs_thr and (b == 0 or dev > pct_thr * b)
        assert v.flagged is above
        assert (v.category, v.period, v.budget, v.actual) == (c, p, b, a)
        if v.flagged:
            # explained in a sentence that names the category, period and the direction
            assert v.explanation.startswith(f"{c} {p}:")
            assert ("above budget" in v.explanation) == (a > b)
            assert ("below budget" in v.explanation) == (a < b)
            assert v.explanation.endswith(".")
        else:
            assert "within the thresholds" in v.explanation


@given(budget=money, abs_thr=money, pct_thr=pct)
def test_property_20_exactly_at_the_threshold_is_not_flagged(budget, abs_thr, pct_thr) -> None:
    edge = max(abs_thr, pct_thr * budget)
    assert not bd.is_flagged(budget, budget + edge, abs_thr, pct_thr) or (budget == 0 and edge > abs_thr)
    step = Decimal("0.01")
    assert bd.is_flagged(budget, budget + edge + step, abs_thr, pct_thr)
