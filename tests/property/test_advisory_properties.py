"""Properties 16 (recommendation prioritisation), 17 (recommendation completeness) and 18
(strategy comparison completeness)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from cio_desktop.domain import advisory as adv
from cio_desktop.errors import ValidationError

URG = list(adv.URGENCY)


@st.composite
def recommendations(draw) -> list[adv.Recommendation]:  # noqa: ANN001
    n = draw(st.integers(0, 30))
    keys = draw(st.lists(st.text("abcdef:", min_size=1, max_size=6), min_size=n, max_size=n, unique=True))
    impacts = st.one_of(st.sampled_from([0.0, 100.0, 1e6]), st.floats(0, 1e9, allow_nan=False))
    return [adv.make(key=k, category="risk", subject=k, action="review", rationale="because", data={"x": 1},
                     expected_impact=draw(impacts), impact_text="", urgency=draw(st.sampled_from(URG)),
                     confidence=draw(st.floats(0, 1)), confidence_source="heuristic: test") for k in keys]


@given(recommendations(), st.randoms(use_true_random=False))
def test_property_16_recommendation_prioritisation(recs: list[adv.Recommendation], rnd) -> None:  # noqa: ANN001
    ranked = adv.prioritize(recs)
    shuffled = list(recs)
    rnd.shuffle(shuffled)
    assert adv.prioritize(shuffled) == ranked  # total: the input order does not matter
    assert adv.prioritize(ranked) == ranked  # stable: re-ranking changes nothing
    assert sorted(map(id, ranked)) == sorted(map(id, recs))  # nothing lost or added
    pos = {r.key: i for i, r in enumerate(ranked)}
    for a in recs:
        for b in recs:
            if a.urgency_rank > b.urgency_rank:
                assert pos[a.key] < pos[b.key]
            if a.urgency_rank == b.urgency_rank and a.expected_impact > b.expected_impact:
                assert pos[a.key] < pos[b.key]  # higher impact, equally urgent: never below


@given(rationale=st.one_of(st.just(""), st.just("   "), st.text(min_size=1, max_size=40)),
       data=st.dictionaries(st.text(max_size=5), st.floats(allow_nan=False), max_size=3),
       confidence=st.one_of(st.floats(-1, 2), st.just(math.nan)),
       source=st.sampled_from(["", "analytics", "heuristic: x"]),
       impact=st.one_of(st.floats(-10, 1e9), st.just(math.inf)),
       urgency=st.sampled_from([*URG, "whenever"]))
def test_property_17_recommendation_completeness(rationale, data, confidence, source, impact, urgency) -> None:  # noqa: ANN001
    complete = (bool(rationale.strip()) and bool(data) and 0 <= confidence <= 1 and bool(source.strip())
                and math.isfinite(impact) and impact >= 0 and urgency in adv.URGENCY)
    kwargs = dict(key="k", category="risk", subject="s", action="review", rationale=rationale, data=data,
                  expected_impact=impact, impact_text="", urgency=urgency, confidence=confidence,
                  confidence_source=source)
    if not complete:
        with pytest.raises(ValidationError):
            adv.make(**kwargs)
        return
    r = adv.make(**kwargs)
    assert r.rationale.strip() and r.data and 0 <= r.confidence <= 1 and r.confidence_source


@given(st.integers(-5, 3000), st.integers(0, 20), st.integers(0, 20), st.integers(-10, 400))
def test_property_17_heuristic_confidence_is_a_stated_probability(obs, agree, total, age) -> None:  # noqa: ANN001
    agree = min(agree, total)
    c, src = adv.heuristic_confidence(observations=obs, agreeing=agree, total_signals=total, age_days=age)
    assert 0.05 <= c <= 0.95 and src.startswith("heuristic:")


@st.composite
def strategies_(draw) -> list[adv.Strategy]:  # noqa: ANN001
    n = draw(st.integers(1, 5))
    out = []
    for i in range(n):
        t = draw(st.integers(0, 300))
        kind = draw(st.sampled_from(["random", "flat", "nan", "loss"]))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        r = rng.normal(0.0002, 0.01, t)
        if kind == "flat":
            r = np.zeros(t)
        elif kind == "nan" and t:
            r[rng.random(t) < 0.3] = np.nan
        elif kind == "loss" and t:
            r[0] = -1.0
        out.append(adv.Strategy(f"S{i}", "", r, draw(st.one_of(st.none(), st.floats(0, 0.01))),
                                draw(st.one_of(st.none(), st.just(math.nan), st.floats(0, 1)))))
    return out


@given(strategies_())
def test_property_18_strategy_comparison_completeness(strats: list[adv.Strategy]) -> None:
    m = adv.compare(strats)
    assert m.strategies == tuple(s.name for s in strats) and m.metrics == adv.METRICS
    assert set(m.cells) == {(s.name, k) for s in strats for k in adv.METRICS}
    for cell in m.cells.values():
        assert (cell.value is not None and math.isfinite(cell.value)) or cell.reason.strip()
