"""The analytics engine on a real database: versioned categoriser and forecast models,
corrections that change the next prediction, feedback, confidence, outcomes and patterns."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select, text

from cio_desktop.domain import categoriser as cz
from cio_desktop.errors import PermissionDenied, ValidationError
from cio_desktop.services.analytics import holdout_split, training_set
from cio_desktop.storage.models import Transaction
from tests.conftest import login
from tests.planning_fixtures import add_accounts, daily_ledger, write_lines


def test_categoriser_versions_corrections_and_adaptation(demo_ws) -> None:
    login(demo_ws, "treasurer")
    v1 = demo_ws.analytics.train_model("categoriser")
    assert v1.version == 1 and v1.accuracy > 0.95 and v1.samples > 20000
    assert demo_ws.analytics.adapt_model("categoriser") is None          # nothing new
    with demo_ws.db.unit_of_work(write=False) as s:
        tx = s.execute(select(Transaction).where(Transaction.category == "suppliers").limit(1)).scalar_one()
        tx_id, cp, desc, amt = tx.id, tx.counterparty, tx.description, tx.amount_minor
    assert demo_ws.analytics.predict_category(cp, desc, amt).category == "suppliers"
    # property 36 through the service: the correction changes the next prediction for that case
    demo_ws.analytics.correct_category(tx_id, "utilities")
    p = demo_ws.analytics.predict_category(cp, desc, amt)
    assert (p.category, p.source) == ("utilities", "correction")
    v2 = demo_ws.analytics.adapt_model("categoriser")
    assert v2 is not None and v2.version == 2 and v2.corrections == 1
    assert [m.version for m in demo_ws.analytics.list_models("categoriser")] == [2, 1]
    assert [m.is_active for m in demo_ws.analytics.list_models("categoriser")] == [True, False]
    with pytest.raises(ValidationError, match="unknown category"):
        demo_ws.analytics.correct_category(tx_id, "marketing")


def test_tampered_model_is_not_loaded(demo_ws) -> None:
    login(demo_ws, "treasurer")
    demo_ws.analytics.train_model("categoriser")
    assert demo_ws.analytics.predict_category("Someone", "INVOICE NW-26-000001 CUST 12345", 100).source == "model"
    with demo_ws.db.engine.begin() as conn:
        conn.execute(text("UPDATE analytics_models SET sha256 = :h"), {"h": "0" * 64})
    p = demo_ws.analytics.predict_category("Someone", "INVOICE NW-26-000001 CUST 12345", 100)
    assert (p.category, p.source) == ("other", "default")


def test_property_34_on_demo_accuracy_rises_with_training_data(demo_ws) -> None:
    login(demo_ws, "analyst")
    with demo_ws.db.unit_of_work(write=False) as s:
        texts, labels, _w, _n = training_set(s)
    train_idx, test_idx = holdout_split(len(texts))
    held_t, held_l = [texts[i] for i in test_idx], [labels[i] for i in test_idx]
    accs = []
    for m in (10, 50, 200, 1000, len(train_idx)):
        idx = train_idx[:m]
        accs.append(cz.accuracy(cz.train([texts[i] for i in idx], [labels[i] for i in idx]), held_t, held_l))
    assert all(b >= a for a, b in zip(accs, accs[1:])), accs
    assert accs[-1] > accs[0] + 0.2, accs


def test_suggestions_accept_and_reject(demo_ws) -> None:
    login(demo_ws, "treasurer")
    with demo_ws.db.engine.begin() as conn:   # lines imported without a category
        ids = [r[0] for r in conn.execute(text("SELECT id FROM transactions WHERE category='salaries' LIMIT 3"))]
        conn.execute(text(f"UPDATE transactions SET category='' WHERE id IN ({','.join(map(str, ids))})"))
    demo_ws.analytics.train_model("categoriser")
    sug = demo_ws.analytics.suggest_recategorisations(limit=10)
    assert {s.transaction_id for s in sug} == set(ids)
    assert all(s.suggested == "salaries" and s.current == "" for s in sug)
    demo_ws.analytics.correct_category(ids[0], sug[0].suggested)
    demo_ws.analytics.reject_suggestion(ids[1])
    assert {s.transaction_id for s in demo_ws.analytics.suggest_recategorisations(limit=10)} == {ids[2]}


def test_forecast_model_training_and_confidence(demo_ws) -> None:
    login(demo_ws, "treasurer")
    none = demo_ws.analytics.calculate_confidence("forecast")
    assert none.score == 0 and "no forecast model" in none.basis
    v = demo_ws.analytics.train_model("forecast")
    assert v.params["alpha"] in (1.0, 3.0, 10.0, 30.0) and v.metrics["skill"] > 0
    conf = demo_ws.analytics.calculate_confidence("forecast", level=0.8)
    assert conf.coverage == v.metrics["coverage_80"] and 0 < conf.score <= 1 and conf.samples == v.metrics["periods"]
    # the forecast service uses the trained version's penalty
    res = demo_ws.forecasts.forecast_cashflow(horizon=4)
    assert len(res.rows) == 4


def test_feedback_intake_and_confidence_for_recommendations(demo_ws) -> None:
    login(demo_ws, "approver")
    for i in range(40):
        demo_ws.analytics.record_feedback("recommendation", f"rec-{i}", accepted=i % 4 != 0, comment="ok")
    c = demo_ws.analytics.calculate_confidence("recommendation")
    assert c.coverage == pytest.approx(0.75) and c.samples == 40 and 0.6 < c.score < 0.75
    assert demo_ws.analytics.calculate_confidence("other-kind").score == 0.5
    with pytest.raises(ValidationError):
        demo_ws.analytics.record_feedback("", "x", True)
    login(demo_ws, "viewer")
    with pytest.raises(PermissionDenied):
        demo_ws.analytics.record_feedback("recommendation", "x", True)


def test_outcomes_compare_snapshots_with_the_ledger(demo_ws, clock) -> None:
    """A forecast saved 10 weeks before the ledger's end is compared with what happened."""
    login(demo_ws, "treasurer")
    real_now = clock.now
    clock.now = real_now - timedelta(weeks=10)
    sid = demo_ws.forecasts.save_snapshot(horizon=6, granularity="week")
    clock.now = real_now
    login(demo_ws, "treasurer")
    demo_ws.analytics.record_feedback("recommendation", "r1", accepted=False)
    rep = demo_ws.analytics.analyze_outcomes()
    (snap,) = rep.forecasts
    assert snap["snapshot"] == sid and len(snap["periods"]) == 6
    assert rep.mae is not None and rep.mae > 0 and 0 <= rep.coverage_80 <= 1
    assert rep.feedback["recommendation"] == {"accepted": 0, "rejected": 1}


def test_patterns_on_demo(demo_ws) -> None:
    login(demo_ws, "analyst")
    pats = {p.kind: p for p in demo_ws.analytics.identify_patterns()}
    assert pats["weekly"].found          # supplier runs on Thursdays, nothing at weekends
    sp = demo_ws.analytics.analyze_spending_patterns()
    assert sp.by_category["customers"] > 0 > sp.by_category["suppliers"]
    assert any(r.category == "rent" and r.period == "monthly" for r in sp.recurring)
    assert len(sp.by_month) >= 12 and "salaries" in sp.trends


def test_conflicting_injected_patterns_are_both_found_and_forecast(ws, clock) -> None:
    """A weekly spike and a monthly dip in the same series: both found, both in the forecast."""
    login(ws, "analyst")
    (acct,) = add_accounts(ws, [("Main", "EUR")])
    rng = np.random.default_rng(3)
    first = clock().date() - timedelta(days=500)
    noise = {first + timedelta(days=i): rng.normal(0, 50) for i in range(500)}
    write_lines(ws, daily_ledger(acct, first, 500, lambda d: 1000 + noise[d] + (800 if d.weekday() == 1 else 0)
                                 - (1500 if d.day == 15 else 0)))
    found = {p.kind: p for p in ws.analytics.identify_patterns(days=500)}
    assert found["weekly"].found and found["monthly"].found
    assert int(np.argmax(found["weekly"].profile)) == 1
    assert int(np.argmin(found["monthly"].profile)) == 14
    res = ws.forecasts.forecast_cashflow(horizon=35, granularity="day")
    tue = [r.net_p50 for r in res.rows if r.first.weekday() == 1 and r.first.day != 15]
    other = [r.net_p50 for r in res.rows if r.first.weekday() not in (1,) and r.first.day != 15]
    fifteenth = [r.net_p50 for r in res.rows if r.first.day == 15]
    assert np.mean(tue) > np.mean(other) + 400 and fifteenth and np.mean(fifteenth) < np.mean(other) - 700
