"""Spending patterns, categoriser and forecast models that learn from outcomes (issue 8).

* **Categories** of a ledger line, in order: the line's own category (imported or set by a
  user), a user correction of identical text, the first matching rule (``category_rules``),
  the active categoriser model (``domain.categoriser``), else ``other``.
* **Models are versioned in ``analytics_models``**: the categoriser's arrays as ``numpy.savez``
  bytes with their SHA-256 (checked before loading, loaded with ``allow_pickle=False``), the
  forecast model as JSON parameters (the ridge penalty chosen by rolling-origin backtest) with
  its backtest metrics. ``train_model`` always makes a new version; ``adapt_model`` makes one
  only when lines or corrections were added since the active version.
* **Feedback**: ``correct_category`` stores the correction (and sets the line's category),
  so the next prediction for identical text is the corrected one at once (property 36);
  ``record_feedback`` is the intake for other areas' recommendations (advisory).
* **Confidence** (``calculate_confidence``): for the forecast, the empirical coverage of the
  backtest's 80 % and 90 % bands (calibrated when they are near 0.8 and 0.9); for feedback
  kinds, the acceptance rate with a Wilson lower bound.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Mapping, Sequence

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cio_desktop.domain import categoriser as cz
from cio_desktop.domain import forecasting as fc
from cio_desktop.domain.cashflow import backtest_many
from cio_desktop.domain.patterns import Pattern, identify_patterns as find_patterns
from cio_desktop.domain.recurring import RecurringItem, detect_recurring
from cio_desktop.errors import NotFound, ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services import planning_data as pdata
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.storage.models import Transaction
from cio_desktop.storage.models_planning import (AnalyticsFeedback, AnalyticsModel, CategoryCorrection,
                                                  CategoryRule, ForecastSnapshot, PlanningCategory)

log = logging.getLogger(__name__)

TOPIC = "analytics.changed"
KINDS = ("categoriser", "forecast")
MIN_TRAINING_LINES = 20
HOLDOUT_SHARE = 0.2
ALPHAS = (1.0, 3.0, 10.0, 30.0)
FORECAST_ORIGINS = 6
SUGGEST_MIN_CONFIDENCE = 0.8


# -- views ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelVersionView:
    id: int
    kind: str
    version: int
    created_at: datetime
    created_by: str
    samples: int
    corrections: int
    metrics: dict[str, Any]
    params: dict[str, Any]
    is_active: bool

    @property
    def accuracy(self) -> float | None:
        v = self.metrics.get("accuracy", self.metrics.get("skill"))
        return float(v) if v is not None else None


@dataclass(frozen=True)
class Prediction:
    category: str
    confidence: float
    source: str           # own | correction | rule | model | default


@dataclass(frozen=True)
class Suggestion:
    transaction_id: int
    booking_date: date
    account_id: int
    counterparty: str
    description: str
    amount: float
    currency: str
    current: str
    suggested: str
    confidence: float


@dataclass(frozen=True)
class FeedbackView:
    id: int
    kind: str
    item_id: str
    accepted: bool
    comment: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class Confidence:
    """How far to trust a kind of output. ``score`` in [0, 1]; ``calibrated`` says whether the
    stated level matched reality in backtest (coverage within ±``tolerance`` of the level)."""

    kind: str
    level: float
    score: float
    coverage: float | None
    samples: int
    calibrated: bool
    basis: str


@dataclass(frozen=True)
class SpendingReport:
    start: date
    end: date
    currency: str
    by_category: dict[str, float]
    by_counterparty: list[tuple[str, float]]        # largest absolute first
    by_account: dict[int, float]
    by_month: dict[str, dict[str, float]]           # YYYY-MM → category → net
    trends: dict[str, float]                        # category → slope per month (base currency)
    seasonality: dict[str, float]                   # category → strength of the month-of-year profile
    recurring: list[RecurringItem]


@dataclass(frozen=True)
class OutcomeReport:
    forecasts: list[dict[str, Any]]                 # one per snapshot with completed periods
    mae: float | None
    coverage_80: float | None
    feedback: dict[str, dict[str, int]]             # kind → {"accepted": n, "rejected": n}
    models: list[ModelVersionView]


# -- categorising (module functions, shared with the budget service) -----------------------------
def _active_model(s: Session, kind: str) -> AnalyticsModel | None:
    return s.execute(select(AnalyticsModel).where(AnalyticsModel.kind == kind, AnalyticsModel.is_active.is_(True))
                     .order_by(AnalyticsModel.version.desc()).limit(1)).scalar_one_or_none()


def corrections_map(s: Session) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, cat in s.execute(select(CategoryCorrection.text_key, CategoryCorrection.category)
                              .order_by(CategoryCorrection.id)):
        out[key] = cat      # the latest correction of a text wins
    return out


def load_categoriser(s: Session) -> cz.Categoriser | None:
    row = _active_model(s, "categoriser")
    if row is None or row.payload is None:
        return None
    if cz.digest(row.payload) != row.sha256:
        log.error("categoriser version %s failed its integrity check: not loaded", row.version)
        return None
    return cz.Categoriser.from_bytes(row.payload, corrections_map(s))


class Categorising:
    """Categories for many lines in one session (rules, corrections and model loaded once)."""

    def __init__(self, s: Session) -> None:
        self.rules = [(r.pattern.lower(), r.category) for r in s.execute(
            select(CategoryRule).order_by(CategoryRule.priority, CategoryRule.id)).scalars()]
        self.corrections = corrections_map(s)
        self.model = load_categoriser(s)

    def predict(self, counterparty: str, description: str, amount: float, own: str = "") -> Prediction:
        return self.predict_many([(counterparty, description, amount, own)])[0]

    def predict_many(self, rows: Sequence[tuple[str, str, float, str]]) -> list[Prediction]:
        out: list[Prediction | None] = [None] * len(rows)
        pending: list[int] = []
        texts: list[str] = []
        for i, (cp, desc, amt, own) in enumerate(rows):
            key = cz.normalise(cp, desc, amt)
            if key in self.corrections:
                out[i] = Prediction(self.corrections[key], 1.0, "correction")
                continue
            if own:
                out[i] = Prediction(own, 1.0, "own")
                continue
            hay = f"{cp} {desc}".lower()
            rule = next((c for p, c in self.rules if p and p in hay), None)
            if rule:
                out[i] = Prediction(rule, 1.0, "rule")
                continue
            pending.append(i)
            texts.append(key)
        if pending:
            if self.model is not None:
                labels, conf = self.model.predict_proba(texts)
                for i, lab, c in zip(pending, labels, conf):
                    out[i] = Prediction(lab, float(c), "model")
            else:
                for i in pending:
                    out[i] = Prediction("other", 0.0, "default")
        return out  # type: ignore[return-value]


def _model_view(row: AnalyticsModel) -> ModelVersionView:
    return ModelVersionView(row.id, row.kind, row.version, row.created_at, row.created_by, row.samples,
                            row.corrections, json.loads(row.metrics_json or "{}"),
                            json.loads(row.params_json or "{}"), row.is_active)


def training_set(s: Session) -> tuple[list[str], list[str], list[float], int]:
    """(texts, labels, weights, corrections) in booking order: every categorised line plus
    each correction at ``CORRECTION_WEIGHT``."""
    texts, labels, weights = [], [], []
    q = (select(Transaction.counterparty, Transaction.description, Transaction.amount_minor, Transaction.category)
         .where(Transaction.category != "").order_by(Transaction.booking_date, Transaction.id))
    for cp, desc, amt, cat in s.execute(q):
        texts.append(cz.normalise(cp or "", desc or "", amt))
        labels.append(cat)
        weights.append(1.0)
    corr = corrections_map(s)
    for key, cat in corr.items():
        texts.append(key)
        labels.append(cat)
        weights.append(cz.CORRECTION_WEIGHT)
    return texts, labels, weights, len(corr)


def holdout_split(n: int, share: float = HOLDOUT_SHARE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed pseudo-random held-out set, so accuracy is comparable across versions."""
    rng = np.random.default_rng(seed)
    mask = rng.random(n) < share
    return np.flatnonzero(~mask), np.flatnonzero(mask)


class AnalyticsService(Service):
    # -- categories ----------------------------------------------------------------------------
    @action(Permission.FORECAST_READ, description="view categories")
    def list_categories(self) -> list[tuple[str, str, str]]:
        """(name, kind, description) of every category."""
        with self.ctx.db.unit_of_work(write=False) as s:
            return [(c.name, c.kind, c.description) for c in
                    s.execute(select(PlanningCategory).order_by(PlanningCategory.name)).scalars()]

    @action(Permission.FORECAST_READ, description="predict a transaction's category")
    def predict_category(self, counterparty: str, description: str, amount: float | int = -1) -> Prediction:
        """The category the engine would give a new line (ignores the line's own category)."""
        with self.ctx.db.unit_of_work(write=False) as s:
            return Categorising(s).predict(counterparty, description, float(amount))

    @action(Permission.FORECAST_READ, description="view recategorisation suggestions")
    def suggest_recategorisations(self, limit: int = 50, min_confidence: float = SUGGEST_MIN_CONFIDENCE,
                                  since: date | None = None) -> list[Suggestion]:
        """Lines without a category, or whose category the model confidently disagrees with,
        most confident first. Corrected lines are never suggested again."""
        with self.ctx.db.unit_of_work(write=False) as s:
            engine = Categorising(s)
            if engine.model is None:
                return []
            corrected = {t for (t,) in s.execute(select(CategoryCorrection.transaction_id))}
            rejected = {int(i) for (i,) in s.execute(select(AnalyticsFeedback.item_id).where(
                AnalyticsFeedback.kind == "category_suggestion", AnalyticsFeedback.accepted.is_(False)))
                if str(i).isdigit()}
            q = select(Transaction).order_by(Transaction.booking_date.desc(), Transaction.id.desc())
            if since is not None:
                q = q.where(Transaction.booking_date >= since)
            seen: set[int] = set()
            rows = []
            # every uncategorised line (up to 5,000), then the latest 5,000 for disagreements
            for t in list(s.execute(q.where(Transaction.category == "").limit(5000)).scalars()) + \
                    list(s.execute(q.limit(5000)).scalars()):
                if t.id not in seen and t.id not in corrected and t.id not in rejected:
                    seen.add(t.id)
                    rows.append(t)
            texts = [cz.normalise(t.counterparty or "", t.description or "", t.amount_minor) for t in rows]
            labels, conf = engine.model.predict_proba(texts) if texts else ([], np.zeros(0))
            out = []
            for t, lab, c in zip(rows, labels, conf):
                if lab != (t.category or "") and (not t.category or c >= min_confidence):
                    f = pdata.scale(t.currency)
                    out.append(Suggestion(t.id, t.booking_date, t.account_id, t.counterparty, t.description,
                                          t.amount_minor / f, t.currency, t.category or "", lab, float(c)))
            out.sort(key=lambda x: (-x.confidence, x.transaction_id))
            return out[:limit]

    @action(Permission.BUDGET_MANAGE, description="recategorise a transaction")
    def correct_category(self, transaction_id: int, category: str) -> Prediction:
        """Set the line's category and remember the correction for identical text; the next
        prediction for that text is the corrected category (property 36)."""
        with self.ctx.db.unit_of_work(write=True) as s:
            cat = s.get(PlanningCategory, (category or "").strip())
            if cat is None:
                raise ValidationError(f"unknown category '{category}'", field="category")
            t = s.get(Transaction, transaction_id)
            if t is None:
                raise NotFound(f"no transaction {transaction_id}")
            key = cz.normalise(t.counterparty or "", t.description or "", t.amount_minor)
            old = t.category or ""
            s.add(CategoryCorrection(transaction_id=t.id, text_key=key[:400], old_category=old, category=cat.name,
                                     corrected_by=self.ctx.actor, corrected_at=self.ctx.now()))
            t.category = cat.name
            s.flush()
            audit_log(s, actor=self.ctx.actor, action="transaction.recategorised", entity="transaction",
                      entity_id=t.id, before={"category": old}, after={"category": cat.name}, at=self.ctx.now())
        self.ctx.bus.publish(TOPIC, corrections=[transaction_id])
        self.ctx.bus.publish("ledger.changed", recategorised=[transaction_id])
        return Prediction(cat.name, 1.0, "correction")

    @action(Permission.BUDGET_MANAGE, description="reject a recategorisation suggestion")
    def reject_suggestion(self, transaction_id: int, comment: str = "") -> FeedbackView:
        return self._feedback("category_suggestion", str(transaction_id), False, comment, {})

    # -- feedback intake (advisory, alerts, …) ------------------------------------------------
    @action(Permission.ADVISORY_READ, description="give feedback on a recommendation")
    def record_feedback(self, kind: str, item_id: str | int, accepted: bool, comment: str = "",
                        detail: Mapping[str, Any] | None = None) -> FeedbackView:
        """Record whether a user accepted something the system proposed (``kind`` e.g.
        "recommendation", ``item_id`` its id). Feeds ``calculate_confidence(kind)`` and
        ``analyze_outcomes``."""
        if not (kind or "").strip() or len(kind) > 32:
            raise ValidationError("the feedback kind must be 1–32 characters", field="kind")
        if not isinstance(accepted, bool):
            raise ValidationError("accepted must be true or false", field="accepted")
        return self._feedback(kind.strip(), str(item_id)[:64], accepted, comment, detail or {})

    def _feedback(self, kind: str, item_id: str, accepted: bool, comment: str, detail: Mapping) -> FeedbackView:
        with self.ctx.db.unit_of_work(write=True) as s:
            row = AnalyticsFeedback(kind=kind, item_id=item_id, accepted=accepted, comment=comment or "",
                                    detail_json=json.dumps(dict(detail), default=str), actor=self.ctx.actor,
                                    at=self.ctx.now())
            s.add(row)
            s.flush()
            audit_log(s, actor=self.ctx.actor, action="analytics.feedback", entity=kind, entity_id=item_id,
                      after={"accepted": accepted}, at=self.ctx.now())
            view = FeedbackView(row.id, kind, item_id, accepted, row.comment, row.actor, row.at)
        self.ctx.bus.publish(TOPIC, feedback=view.id, kind=kind)
        return view

    # -- models --------------------------------------------------------------------------------
    @action(Permission.FORECAST_READ, description="view analytics model versions")
    def list_models(self, kind: str | None = None) -> list[ModelVersionView]:
        with self.ctx.db.unit_of_work(write=False) as s:
            q = select(AnalyticsModel).order_by(AnalyticsModel.kind, AnalyticsModel.version.desc())
            if kind:
                q = q.where(AnalyticsModel.kind == kind)
            return [_model_view(r) for r in s.execute(q).scalars()]

    @action(Permission.BUDGET_MANAGE, description="train an analytics model")
    def train_model(self, kind: str = "categoriser") -> ModelVersionView:
        """Train a new version on all data now in the database and make it active."""
        if kind not in KINDS:
            raise ValidationError(f"unknown model kind '{kind}': use {' or '.join(KINDS)}", field="kind")
        with self.ctx.db.unit_of_work(write=True) as s:
            row = self._train_categoriser(s) if kind == "categoriser" else self._train_forecast(s)
            view = _model_view(row)
        self.ctx.bus.publish(TOPIC, model=kind, version=view.version)
        return view

    @action(Permission.BUDGET_MANAGE, description="adapt an analytics model to new data")
    def adapt_model(self, kind: str = "categoriser") -> ModelVersionView | None:
        """Retrain only when lines or corrections were added since the active version; returns
        the new version, or None when the active one is up to date."""
        if kind not in KINDS:
            raise ValidationError(f"unknown model kind '{kind}': use {' or '.join(KINDS)}", field="kind")
        with self.ctx.db.unit_of_work(write=True) as s:
            active = _active_model(s, kind)
            lines = s.execute(select(func.count()).select_from(Transaction)).scalar_one()
            corr = s.execute(select(func.count()).select_from(CategoryCorrection)).scalar_one()
            params = json.loads(active.params_json) if active else {}
            if active is not None and params.get("ledger_lines") == lines and active.corrections == corr:
                return None
            row = self._train_categoriser(s) if kind == "categoriser" else self._train_forecast(s)
            view = _model_view(row)
        self.ctx.bus.publish(TOPIC, model=kind, version=view.version)
        return view

    def _store(self, s: Session, kind: str, samples: int, corrections: int, metrics: dict, params: dict,
               payload: bytes | None) -> AnalyticsModel:
        last = s.execute(select(func.max(AnalyticsModel.version)).where(AnalyticsModel.kind == kind)).scalar_one() or 0
        s.execute(update(AnalyticsModel).where(AnalyticsModel.kind == kind).values(is_active=False))
        row = AnalyticsModel(kind=kind, version=last + 1, created_at=self.ctx.now(), created_by=self.ctx.actor,
                             samples=samples, corrections=corrections, metrics_json=json.dumps(metrics),
                             params_json=json.dumps(params), payload=payload,
                             sha256=cz.digest(payload) if payload is not None else "", is_active=True)
        s.add(row)
        s.flush()
        audit_log(s, actor=self.ctx.actor, action="analytics.model.trained", entity="analytics_model",
                  entity_id=f"{kind}:{row.version}", after={"samples": samples, **metrics}, at=self.ctx.now())
        return row

    def _train_categoriser(self, s: Session) -> AnalyticsModel:
        texts, labels, weights, n_corr = training_set(s)
        n_lines = len(texts) - n_corr
        if n_lines < MIN_TRAINING_LINES:
            raise ValidationError(f"only {n_lines} categorised line(s): the categoriser needs at least "
                                  f"{MIN_TRAINING_LINES} to learn from", field="history")
        train_idx, test_idx = holdout_split(n_lines)
        corr_idx = np.arange(n_lines, len(texts))
        idx = np.concatenate([train_idx, corr_idx])
        model = cz.train([texts[i] for i in idx], [labels[i] for i in idx], weights=[weights[i] for i in idx])
        acc = cz.accuracy(model, [texts[i] for i in test_idx], [labels[i] for i in test_idx])
        final = cz.train(texts, labels, weights=weights)
        lines = s.execute(select(func.count()).select_from(Transaction)).scalar_one()
        metrics = {"accuracy": round(acc, 4), "held_out": int(len(test_idx)), "classes": len(final.classes)}
        return self._store(s, "categoriser", n_lines, n_corr, metrics,
                           {"n_features": cz.N_FEATURES, "smoothing": cz.SMOOTHING, "ledger_lines": lines},
                           final.to_bytes())

    def _train_forecast(self, s: Session) -> AnalyticsModel:
        """Choose the ridge penalty with the lowest backtest error, then calibrate the bands:
        the scale that puts 80 % of backtest actuals inside P10–P90. The scale is estimated on
        the older half of the origins and its coverage checked on the newer half (reported as
        ``coverage_80_holdout``), then re-estimated on all of them for the stored version."""
        start = self.ctx.now().date()
        base = self.ctx.settings.base_currency
        accts = pdata.load_accounts(s, start)
        lines = pdata.load_lines(s, accts, before=start)
        fx = pdata.fx_to_base(s, base, start)
        try:
            results = backtest_many(accts, lines, fx, base, horizon=13, granularity="week", origins=FORECAST_ORIGINS,
                                    step_days=28, alphas=ALPHAS)
        except fc.InsufficientHistory as exc:
            raise ValidationError(f"cannot train the forecast model: {exc}", field="history") from None
        alpha, acc = min(results.items(), key=lambda kv: kv[1].mae_model)
        z = acc.z
        half = len(z) // 2
        older = fc.Accuracy(0, 0, 0.0, 0.0, 0.0, 0.0, z[half:])
        newer = fc.Accuracy(0, 0, 0.0, 0.0, 0.0, 0.0, z[:half])
        holdout = newer.coverage_at(older.band_scale(0.8))
        scale = acc.band_scale(0.8)
        n_lines = s.execute(select(func.count()).select_from(Transaction)).scalar_one()
        metrics = {k: round(v, 4) if isinstance(v, float) else v for k, v in acc.as_dict().items()}
        metrics.update({"coverage_80_raw": round(acc.coverage_80, 4), "coverage_80": round(acc.coverage_at(scale), 4),
                        "coverage_90": round(acc.coverage_at(scale * 1.6449 / 1.2816), 4),
                        "coverage_80_holdout": round(holdout, 4), "band_scale": round(scale, 4)})
        return self._store(s, "forecast", len(lines), 0, metrics,
                           {"alpha": alpha, "band_scale": scale, "ledger_lines": n_lines}, None)

    # -- patterns and outcomes -----------------------------------------------------------------
    @action(Permission.FORECAST_READ, description="view spending patterns")
    def analyze_spending_patterns(self, start: date | None = None, end: date | None = None,
                                  accounts: Sequence[int] | None = None, top: int = 20) -> SpendingReport:
        """Net flows (base currency) by category, counterparty, account and month, each
        category's trend (slope per month) and seasonality, and the recurring items."""
        end = end or self.ctx.now().date()
        start = start or (end - timedelta(days=365))
        if start >= end:
            raise ValidationError("the start must be before the end", field="start")
        base = self.ctx.settings.base_currency
        with self.ctx.db.unit_of_work(write=False) as s:
            accts = pdata.load_accounts(s, end, accounts)
            lines = pdata.load_lines(s, accts, before=end, since=start)
            fx = pdata.fx_to_base(s, base, end)
            preds = Categorising(s).predict_many([(ln.counterparty, ln.description, ln.amount, ln.category)
                                                  for ln in lines])
        rate = {a.id: fx.get(a.currency, 0.0) for a in accts}
        by_cat: dict[str, float] = defaultdict(float)
        by_cp: dict[str, float] = defaultdict(float)
        by_acct: dict[int, float] = defaultdict(float)
        by_month: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for ln, p in zip(lines, preds):
            v = ln.amount * rate[ln.account_id]
            by_cat[p.category] += v
            by_cp[ln.counterparty or "(none)"] += v
            by_acct[ln.account_id] += v
            by_month[f"{ln.booking_date:%Y-%m}"][p.category] += v
        months = sorted(by_month)
        trends, season = {}, {}
        for cat in by_cat:
            series = np.array([by_month[m].get(cat, 0.0) for m in months])
            trends[cat] = float(np.polyfit(np.arange(len(series)), series, 1)[0]) if len(series) >= 3 else 0.0
            if len(series) >= 12:
                mean = series.mean()
                season[cat] = float(np.std(series) / abs(mean)) if mean else 0.0
        recurring = detect_recurring(lines, end)
        cps = sorted(by_cp.items(), key=lambda kv: -abs(kv[1]))[:top]
        return SpendingReport(start, end, base, dict(by_cat), cps, dict(by_acct),
                              {m: dict(v) for m, v in by_month.items()}, trends, season, recurring)

    @action(Permission.FORECAST_READ, description="view patterns in cash flows")
    def identify_patterns(self, accounts: Sequence[int] | None = None, category: str | None = None,
                          days: int = 730) -> list[Pattern]:
        """Seasonal (weekly, monthly, yearly), cyclical and trend patterns in the daily net
        flow (base currency), each with its strength (``domain.patterns``)."""
        end = self.ctx.now().date()
        first = end - timedelta(days=days)
        with self.ctx.db.unit_of_work(write=False) as s:
            accts = pdata.load_accounts(s, end, accounts)
            lines = pdata.load_lines(s, accts, before=end, since=first)
            fx = pdata.fx_to_base(s, self.ctx.settings.base_currency, end)
            if category:
                preds = Categorising(s).predict_many([(ln.counterparty, ln.description, ln.amount, ln.category)
                                                      for ln in lines])
                lines = [ln for ln, p in zip(lines, preds) if p.category == category]
        if not lines:
            return []
        first = min(ln.booking_date for ln in lines)
        n = (end - first).days
        rate = {a.id: fx.get(a.currency, 0.0) for a in accts}
        y = np.zeros(max(n, 0))
        for ln in lines:
            y[(ln.booking_date - first).days] += ln.amount * rate[ln.account_id]
        return find_patterns(first, y)

    @action(Permission.FORECAST_READ, description="compare past forecasts and recommendations with outcomes")
    def analyze_outcomes(self) -> OutcomeReport:
        """How each saved forecast's completed periods compared with the ledger (error, and
        whether the actual fell inside P10–P90), and how users judged recommendations."""
        today = self.ctx.now().date()
        base = self.ctx.settings.base_currency
        out: list[dict[str, Any]] = []
        errs: list[float] = []
        inside = 0
        with self.ctx.db.unit_of_work(write=False) as s:
            snaps = s.execute(select(ForecastSnapshot).where(ForecastSnapshot.start_date < today)
                              .order_by(ForecastSnapshot.id)).scalars().all()
            if snaps:
                accts = pdata.load_accounts(s, today)
                fx = pdata.fx_to_base(s, base, today)
                rate = {a.id: fx.get(a.currency, 0.0) for a in accts}
                lines = pdata.load_lines(s, accts, before=today, since=min(x.start_date for x in snaps))
            for snap in snaps:
                periods = []
                for r in json.loads(snap.rows_json):
                    first, last = date.fromisoformat(r["first"]), date.fromisoformat(r["last"])
                    if last >= today:
                        continue
                    actual = sum(ln.amount * rate.get(ln.account_id, 0.0) for ln in lines
                                 if first <= ln.booking_date <= last)
                    err = actual - r["net_p50"]
                    hit = r["net_p10"] <= actual <= r["net_p90"]
                    errs.append(abs(err))
                    inside += int(hit)
                    periods.append({"period": r["period"], "forecast": r["net_p50"], "actual": round(actual, 2),
                                    "error": round(err, 2), "inside_band": hit})
                if periods:
                    out.append({"snapshot": snap.id, "made": snap.created_at.isoformat(),
                                "model_version": snap.model_version, "periods": periods})
            fb: dict[str, dict[str, int]] = defaultdict(lambda: {"accepted": 0, "rejected": 0})
            for kind, acc, n in s.execute(select(AnalyticsFeedback.kind, AnalyticsFeedback.accepted, func.count())
                                          .group_by(AnalyticsFeedback.kind, AnalyticsFeedback.accepted)):
                fb[kind]["accepted" if acc else "rejected"] += n
            models = [_model_view(r) for r in s.execute(select(AnalyticsModel).order_by(
                AnalyticsModel.kind, AnalyticsModel.version)).scalars()]
        return OutcomeReport(out, float(np.mean(errs)) if errs else None,
                             inside / len(errs) if errs else None, {k: dict(v) for k, v in fb.items()}, models)

    @action(Permission.FORECAST_READ, description="calculate confidence")
    def calculate_confidence(self, kind: str = "forecast", level: float = 0.9,
                             tolerance: float = 0.07) -> Confidence:
        """``kind`` "forecast": coverage of the backtest band at ``level`` (0.8 or 0.9) from
        the active forecast model version (train it first, else the score is 0 with the reason);
        ``kind`` "categoriser": its held-out accuracy; any other kind (e.g. "recommendation"):
        the Wilson lower bound of the share of that kind's feedback users accepted."""
        if not 0.5 <= level < 1.0:
            raise ValidationError("the level must be between 0.5 and 1", field="level")
        with self.ctx.db.unit_of_work(write=False) as s:
            if kind in KINDS:
                row = _active_model(s, kind)
                if row is None:
                    return Confidence(kind, level, 0.0, None, 0, False,
                                      f"no {kind} model has been trained yet")
                m = json.loads(row.metrics_json)
                if kind == "categoriser":
                    acc = float(m.get("accuracy", 0.0))
                    return Confidence(kind, level, acc, None, int(m.get("held_out", 0)), True,
                                      f"held-out accuracy {acc:.0%} of version {row.version}")
                cov = float(m.get("coverage_90" if level >= 0.85 else "coverage_80", 0.0))
                holdout = m.get("coverage_80_holdout")
                nominal = 0.9 if level >= 0.85 else 0.8
                calibrated = abs(cov - nominal) <= tolerance
                skill = max(0.0, float(m.get("skill", 0.0)))
                score = max(0.0, 1.0 - abs(cov - nominal) / nominal) * (0.5 + 0.5 * min(1.0, skill * 2))
                return Confidence(kind, level, round(score, 4), cov, int(m.get("periods", 0)), calibrated,
                                  f"the {nominal:.0%} band covered {cov:.0%} of {m.get('periods', 0)} backtest "
                                  f"periods; skill vs seasonal-naive {skill:.0%} (version {row.version})"
                                  + (f"; calibration checked on later origins: {holdout:.0%} inside P10–P90"
                                     if holdout is not None else ""))
            acc_n = s.execute(select(func.count()).where(AnalyticsFeedback.kind == kind,
                                                         AnalyticsFeedback.accepted.is_(True))).scalar_one()
            tot = s.execute(select(func.count()).where(AnalyticsFeedback.kind == kind)).scalar_one()
        if not tot:
            return Confidence(kind, level, 0.5, None, 0, False, f"no feedback on {kind} yet: neutral 50%")
        z = 1.6449 if level >= 0.85 else 1.2816
        p = acc_n / tot
        denom = 1 + z * z / tot
        centre = p + z * z / (2 * tot)
        margin = z * math.sqrt(p * (1 - p) / tot + z * z / (4 * tot * tot))
        lower = (centre - margin) / denom
        return Confidence(kind, level, round(lower, 4), p, tot, tot >= 30,
                          f"{acc_n} of {tot} {kind}(s) accepted; lower bound {lower:.0%}")
