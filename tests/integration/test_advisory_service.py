"""Opportunities and advisory over the demo company (real SQLCipher file): properties 25 and
27 at the service level, recommendations complete and prioritised (16, 17), the strategy
matrix complete (18), the stored report, accept/reject with audit, decisions recorded as
analytics feedback, budget variances as recommendations, and the learned confidence taking
over from the heuristic once there is enough feedback (the real analytics and budget services)."""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import func, select

from cio_desktop.domain import advisory as adv
from cio_desktop.domain.opportunities import Criteria, failures
from cio_desktop.errors import CioError, PermissionDenied, ValidationError
from cio_desktop.services import advisory as advisory_service
from cio_desktop.storage.models import AuditEntry
from cio_desktop.storage.models_planning import AnalyticsFeedback
from tests.conftest import login


@pytest.fixture
def dws(demo_ws):  # noqa: ANN001, ANN201
    login(demo_ws, "analyst")
    return demo_ws


def _audits(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def test_opportunities_are_exactly_the_qualifying_assets_with_context(dws) -> None:  # noqa: ANN001
    crit = Criteria(name="t", asset_classes=frozenset({"equity"}), currencies=frozenset({"EUR", "USD"}),
                    max_volatility=0.30, min_momentum=0.0, exclude_sectors=frozenset({"Energy"}))
    result = dws.market.identify_opportunities(crit, proposed_value=500_000.0)
    hits = {o.candidate.identifier for o in result.opportunities}
    assert result.universe == 40 and hits and set(result.rejected).isdisjoint(hits)
    assert len(hits) + len(result.rejected) == result.universe  # every asset is either in or explained out
    for o in result.opportunities:
        c, ctx = o.candidate, o.context
        assert failures(c, crit) == [] and c.asset_class == "equity" and c.volatility <= 0.30 and c.momentum >= 0
        assert ctx.proposed_value == 500_000.0
        assert ctx.correlation is not None and -1 <= ctx.correlation <= 1  # property 27 on real data
        assert ctx.volatility_before is not None and ctx.volatility_after is not None
        assert 0 < ctx.hhi_after <= 1 and ctx.weight_after > ctx.weight
    for ident, reasons in result.rejected.items():
        assert reasons and all(isinstance(r, str) and r for r in reasons)


def test_criteria_are_saved_as_data_and_audited(dws) -> None:  # noqa: ANN001
    before = _audits(dws)
    dws.market.save_criteria({"name": "value", "asset_classes": "equity", "max_pe": 15, "min_dividend_yield": 0.03})
    saved = {c.name: c for c in dws.market.criteria()}
    assert saved["value"].max_pe == 15 and saved["value"].asset_classes == frozenset({"equity"})
    assert _audits(dws) == before + 1
    # no demo equity has fundamentals cached, so a P/E criterion is met by none (unknown is not a pass)
    result = dws.market.identify_opportunities("value")
    assert result.opportunities == () and all("P/E is not known" in " ".join(r) for r in
                                              (result.rejected[i] for i in result.rejected)
                                              if any("P/E" in x for x in r))
    with pytest.raises(ValidationError, match="unknown criterion 'max_price'"):
        dws.market.save_criteria({"name": "bad", "max_price": 3})


def test_recommendations_are_complete_and_prioritised(dws) -> None:  # noqa: ANN001
    result = dws.advisory.generate_recommendations()
    recs = result.recommendations
    assert recs and {r.category for r in recs} >= {"risk", "opportunity", "budget"}
    for r in recs:  # property 17 on the real engine
        assert r.rationale and r.data and 0 <= r.confidence <= 1 and r.confidence_source
        assert r.action in adv.ACTIONS and math.isfinite(r.expected_impact)
    assert list(recs) == adv.prioritize(recs)  # property 16
    assert len({r.key for r in recs}) == len(recs)
    assert result.inputs["analytics"].startswith(("used", "not available"))
    assert result.inputs["opportunities"].startswith("used")
    assert result.inputs["budget"].startswith("used: 2 flagged variance(s)")
    # no feedback yet on the demo: every confidence is the stated heuristic, and the report says so
    assert {r.confidence_source.split(":")[0] for r in recs} == {"heuristic"}
    assert result.inputs["analytics"].startswith("not available: too few calibrated decisions")


def test_strategy_matrix_is_complete(dws) -> None:  # noqa: ANN001
    m = dws.advisory.compare_strategies()
    assert len(m.strategies) == 4 and m.metrics == adv.METRICS
    for s in m.strategies:
        for k in m.metrics:
            cell = m.cell(s, k)
            assert (cell.value is not None and math.isfinite(cell.value)) or cell.reason
    assert m.cell("Current", "cost").value == 0.0
    assert m.cell("De-risked", "volatility").value < m.cell("Current", "volatility").value


def test_report_is_stored_and_decisions_are_audited(dws) -> None:  # noqa: ANN001
    before = _audits(dws)
    report = dws.advisory.generate_report()
    assert _audits(dws) == before + 1 and report.recommendations
    stored = dws.advisory.recommendations()
    assert [s.id for s in stored] == [s.id for s in report.recommendations]
    first, second = stored[0], stored[1]
    dws.advisory.decide(first.id, True, "agreed in the investment committee")
    dws.advisory.decide(second.id, False, "not now")
    assert _audits(dws) == before + 5  # each decision: the advisory entry and the analytics feedback entry
    after = {s.id: s for s in dws.advisory.recommendations()}
    assert after[first.id].status == "accepted" and after[first.id].decided_by == "analyst"
    assert after[second.id].status == "rejected" and after[second.id].feedback == "not now"
    with pytest.raises(ValidationError, match="already accepted"):
        dws.advisory.decide(first.id, False)
    assert [s.id for s in dws.advisory.recommendations(status="open")] == [s.id for s in stored[2:]]


def _feedback(ws) -> list[AnalyticsFeedback]:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return list(uow.execute(select(AnalyticsFeedback).order_by(AnalyticsFeedback.id)).scalars())


def test_decisions_are_recorded_as_analytics_feedback(dws) -> None:  # noqa: ANN001
    report = dws.advisory.generate_report()
    first, second = report.recommendations[0], report.recommendations[1]
    dws.advisory.decide(first.id, True, "agreed")
    dws.advisory.decide(second.id, False, "too risky")
    rows = _feedback(dws)
    assert [(r.kind, r.item_id, r.accepted, r.comment, r.actor) for r in rows] == [
        (f"rec.{first.rec.category}", str(first.id), True, "agreed", "analyst"),
        (f"rec.{second.rec.category}", str(second.id), False, "too risky", "analyst")]
    detail = json.loads(rows[1].detail_json)
    assert detail["key"] == second.rec.key and detail["confidence"] == second.rec.confidence
    assert detail["report"] == report.id and detail["confidence_source"] == second.rec.confidence_source
    # what the analytics engine reports back is what was decided
    counts = dws.analytics.analyze_outcomes().feedback
    expected: dict[str, dict[str, int]] = {}
    for rec, accepted in ((first, True), (second, False)):
        kind = expected.setdefault(f"rec.{rec.rec.category}", {"accepted": 0, "rejected": 0})
        kind["accepted" if accepted else "rejected"] += 1
    assert {k: v for k, v in counts.items() if k.startswith("rec.")} == expected
    assert dws.analytics.calculate_confidence(kind=f"rec.{second.rec.category}").samples == \
        expected[f"rec.{second.rec.category}"]["accepted"] + expected[f"rec.{second.rec.category}"]["rejected"]


def test_a_decision_stands_when_analytics_refuses_the_feedback(dws, monkeypatch) -> None:  # noqa: ANN001
    def refuse(self, **kw):  # noqa: ANN001, ANN003, ANN202
        raise CioError("analytics store is read-only")

    report = dws.advisory.generate_report()
    monkeypatch.setattr(advisory_service.AnalyticsService, "record_feedback", refuse)
    view = dws.advisory.decide(report.recommendations[0].id, True, "go")
    assert view.status == "accepted"
    assert {s.id: s for s in dws.advisory.recommendations()}[view.id].status == "accepted"
    assert _feedback(dws) == []


def _budget_recs(result) -> dict[str, adv.Recommendation]:  # noqa: ANN001
    return {r.key: r for r in result.recommendations if r.category == "budget"}


def test_flagged_budget_variances_become_recommendations(dws) -> None:  # noqa: ANN001
    variances = dws.budget.detect_budget_variance(only_flagged=True)  # the last complete month
    assert variances, "the demo budget should flag variances in the last complete month"
    recs = _budget_recs(dws.advisory.generate_recommendations())
    assert set(recs) == {f"budget:{v.period}:{v.category}" for v in variances}
    for v in variances:
        r = recs[f"budget:{v.period}:{v.category}"]
        assert r.action == "review" and r.portfolio_id is None and v.category in r.subject
        assert r.rationale.startswith(v.explanation) and f"{float(v.deviation):+,.0f}" in r.rationale
        assert r.data["budget"] == float(v.budget) and r.data["actual"] == float(v.actual)
        assert r.data["deviation"] == float(v.deviation) and r.data["pct"] == round(v.pct, 4)
        assert r.expected_impact == abs(float(v.deviation))
        assert r.urgency == ("high" if abs(v.pct) >= 0.5 else "medium" if abs(v.pct) >= 0.2 else "low")
        assert 0 < r.confidence <= 1 and r.confidence_source.startswith("heuristic:")
    # urgency follows the size of the deviation: shrink two budgets of that month
    period = variances[0].period
    by_cat = {v.category: v for v in variances}
    big, mid = sorted(by_cat)[:2]
    dws.budget.set_budget_line(big, period, str(round(float(by_cat[big].actual) / 2.5)))   # actual ~ +150 %
    dws.budget.set_budget_line(mid, period, str(round(float(by_cat[mid].actual) / 1.3)))   # actual ~ +30 %
    recs = _budget_recs(dws.advisory.generate_recommendations())
    assert recs[f"budget:{period}:{big}"].urgency == "high"
    assert recs[f"budget:{period}:{mid}"].urgency == "medium"


def test_confidence_switches_to_analytics_after_enough_feedback(dws) -> None:  # noqa: ANN001
    report = dws.advisory.generate_report()
    budget = [s for s in report.recommendations if s.rec.category == "budget"]
    assert len(budget) == 2
    dws.advisory.decide(budget[0].id, True, "reviewed with the controller")
    dws.advisory.decide(budget[1].id, False, "known one-off")
    # earlier months' decisions on budget recommendations (the real intake, as advisory uses it)
    for i in range(26):
        dws.analytics.record_feedback(kind="rec.budget", item_id=f"earlier-{i}", accepted=i % 5 != 0)
    learned = dws.analytics.calculate_confidence(kind="rec.budget")
    assert learned.samples == 28 and not learned.calibrated  # too few: still the heuristic
    recs = _budget_recs(dws.advisory.generate_recommendations())
    assert {r.confidence_source.split(":")[0] for r in recs.values()} == {"heuristic"}
    for i in range(2):
        dws.analytics.record_feedback(kind="rec.budget", item_id=f"earlier-more-{i}", accepted=True)
    learned = dws.analytics.calculate_confidence(kind="rec.budget")
    assert learned.samples >= advisory_service.MIN_FEEDBACK_SAMPLES and learned.calibrated
    result = dws.advisory.generate_recommendations()
    recs = _budget_recs(result)
    assert recs and all(r.confidence == learned.score and r.confidence_source == f"analytics: {learned.basis}"
                        for r in recs.values())
    # only the category with enough feedback switches
    assert all(r.confidence_source.startswith("heuristic:") for r in result.recommendations if r.category != "budget")
    assert result.inputs["analytics"].startswith("used: rec.budget from 30 decisions")


def test_viewer_may_not_see_advice(dws) -> None:  # noqa: ANN001
    login(dws, "viewer")
    with pytest.raises(PermissionDenied):
        dws.advisory.generate_recommendations()
    with pytest.raises(PermissionDenied):
        dws.market.identify_opportunities()
