"""Opportunities and prioritised recommendations with rationale (issue 10).

Inputs of :meth:`AdvisoryService.generate_recommendations` and what each contributes:

* **Risk** (per portfolio, the conservative profile for a portfolio without equities, the
  moderate one otherwise): each limit breach → ``reduce`` (or ``raise_cash`` for the liquid
  share), impact = the amount that must move to comply.
* **Market signals** on holdings (the investment analysis): a held equity whose overall signal
  is bearish → ``review``, impact = holding value × its 3-month loss.
* **Opportunities** (the saved ``default`` criteria): the three best → ``buy`` at the proposed
  size (2 % of the portfolio), with correlation and the effect on volatility/concentration;
  impact = size × positive 3-month momentum (a trend assumption, stated in the rationale).
* **Cash forecast** (``ForecastService.buffer_breaches`` / ``forecast_cashflow``): a period below
  the consolidated buffer (the accounts' minimum balances in the base currency) → ``raise_cash``;
  a lowest forecast balance above twice that buffer → ``invest_cash``.
* **Budget** (``BudgetService.detect_budget_variance(only_flagged=True)``, the last complete
  month): each flagged variance → ``review``; rationale = the variance's explanation plus the
  figures, impact = |deviation| in the base currency, urgency from |deviation / budget|:
  ≥ 50 % (or no budget at all) ``high``, ≥ 20 % ``medium``, else ``low`` (a flagged variance
  already exceeds the configured thresholds, 10 % by default).

**Confidence** of every recommendation: ``AnalyticsService.calculate_confidence(kind="rec.<category>")``
is the Wilson lower bound of the share of that category's recommendations users accepted. It is
used (``confidence_source`` "analytics: …") only when it rests on at least
``MIN_FEEDBACK_SAMPLES`` (10) decisions *and* analytics calls it calibrated — for feedback kinds
that means at least 30 decisions, so in practice 30. Below that, or when analytics cannot answer,
the confidence is the stated heuristic (``domain.advisory.heuristic_confidence``,
``confidence_source`` "heuristic: …"); the report's ``analytics`` input says which.

Every recommendation passes ``domain.advisory.make`` (property 17) and is ranked by
``domain.advisory.prioritize`` (property 16). Accept/reject decisions are stored on the
recommendation (audited) and recorded with ``AnalyticsService.record_feedback`` under
``rec.<category>``, which is what the learned confidence above counts.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
from sqlalchemy import select

from cio_desktop.domain import advisory as adv
from cio_desktop.domain.analysis import InvestmentAnalysis
from cio_desktop.domain.risk import PortfolioSnapshot, evaluate
from cio_desktop.domain.technical import BEARISH, BULLISH
from cio_desktop.errors import CioError, NotFound, ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services import planning_data as pdata
from cio_desktop.services.analytics import AnalyticsService, Confidence
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.services.budget import BudgetService, month_bounds
from cio_desktop.services.forecasting import ForecastService
from cio_desktop.services.portfolio import load_value_series, value_holdings
from cio_desktop.services.risk import CONSERVATIVE, LIQUID_CLASSES, MODERATE, positions_from
from cio_desktop.storage.models import Portfolio
from cio_desktop.storage.models_market import AdvisoryReport, RecommendationRow

log = logging.getLogger(__name__)

TRANSACTION_COST_BPS = 10.0  # one-way cost assumed for strategy switches
OPPORTUNITIES_PER_REPORT = 3
#: the learned confidence counts only from this many decisions on the category (and calibrated)
MIN_FEEDBACK_SAMPLES = 10
#: budget urgency: |deviation / budget| at or above → urgency (below the last: "low")
BUDGET_URGENCY = ((0.50, "high"), (0.20, "medium"))


def feedback_kind(category: str) -> str:
    """The analytics feedback kind of a recommendation category (1–32 characters)."""
    return f"rec.{category}"[:32]


@dataclass(frozen=True)
class AdvisoryResult:
    recommendations: tuple[adv.Recommendation, ...]  # prioritised
    inputs: Mapping[str, str]  # input → "used: …" or "not available: …"


@dataclass(frozen=True)
class StoredRecommendation:
    id: int
    report_id: int | None
    created_at: datetime
    rec: adv.Recommendation
    status: str
    decided_by: str
    decided_at: datetime | None
    feedback: str


@dataclass(frozen=True)
class ReportView:
    id: int
    generated_at: datetime
    generated_by: str
    recommendations: tuple[StoredRecommendation, ...]
    inputs: Mapping[str, str] = field(default_factory=dict)


def _fmt(amount: float, cur: str) -> str:
    return f"{cur} {amount:,.0f}"


class _Confidences:
    """The confidence of each recommendation in one generation run. The learned confidence of a
    category (``calculate_confidence(kind="rec.<category>")``) is asked once per run and used
    only when it rests on enough decisions (``MIN_FEEDBACK_SAMPLES`` and calibrated, see the
    module docstring); otherwise the stated heuristic."""

    def __init__(self, analytics: AnalyticsService) -> None:
        self.analytics = analytics
        self.learned: dict[str, Confidence | None] = {}
        self.problems: dict[str, str] = {}

    def learned_for(self, category: str) -> Confidence | None:
        if category not in self.learned:
            try:
                self.learned[category] = self.analytics.calculate_confidence(kind=feedback_kind(category))
            except CioError as exc:  # e.g. a custom role without forecast.read: the heuristic still works
                log.info("no learned confidence for %s (%s); using the heuristic", category, exc)
                self.learned[category] = None
                self.problems[category] = str(exc)
        return self.learned[category]

    @staticmethod
    def usable(c: Confidence | None) -> bool:
        return c is not None and c.samples >= MIN_FEEDBACK_SAMPLES and c.calibrated

    def __call__(self, category: str, *, observations: int, agreeing: int, total: int,
                 age_days: int) -> tuple[float, str]:
        c = self.learned_for(category)
        if c is not None and self.usable(c):  # (None check for the type checker)
            return float(c.score), f"analytics: {c.basis}"
        return adv.heuristic_confidence(observations=observations, agreeing=agreeing, total_signals=total,
                                        age_days=age_days)

    def summary(self) -> str:
        """The report's ``analytics`` input: which categories used the learned confidence."""
        used = {k: c for k, c in self.learned.items() if self.usable(c)}
        if used:
            return "used: " + "; ".join(f"{feedback_kind(k)} from {c.samples} decisions (score {c.score:.0%})"
                                        for k, c in sorted(used.items())) + \
                ("" if len(used) == len(self.learned) else "; the other categories use the stated heuristic")
        if self.problems:
            return "not available: " + "; ".join(f"{feedback_kind(k)}: {e}" for k, e in sorted(self.problems.items())) \
                + "; confidence from the stated heuristic"
        counts = ", ".join(f"{feedback_kind(k)} {c.samples if c else 0}" for k, c in sorted(self.learned.items()))
        return (f"not available: too few calibrated decisions yet (at least {MIN_FEEDBACK_SAMPLES} and calibrated "
                f"per category; {counts or 'no recommendations'}); confidence from the stated heuristic")


class AdvisoryService(Service):
    # -- inputs ------------------------------------------------------------------------------
    def _portfolios(self, portfolio_id: int | None) -> list[tuple[int, str]]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            q = select(Portfolio.id, Portfolio.name).order_by(Portfolio.id)
            if portfolio_id is not None:
                q = q.where(Portfolio.id == portfolio_id)
            rows = [tuple(r) for r in uow.execute(q).all()]
        if portfolio_id is not None and not rows:
            raise NotFound(f"no portfolio with id {portfolio_id}")
        return rows  # type: ignore[return-value]

    def _risk_recs(self, pid: int, pname: str, inputs: dict[str, str], confidences: _Confidences
                   ) -> list[adv.Recommendation]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            val = value_holdings(uow, pid)
            series = load_value_series(uow, pid, None, None)
        positions = positions_from(val)
        has_equity = any(p.asset_class == "equity" for p in positions)
        prof = MODERATE if has_equity else CONSERVATIVE
        snap = PortfolioSnapshot.from_returns(positions, series.returns, confidence=prof.var_confidence)
        ev = evaluate(prof, snap)
        total = float(val.total.amount)
        cur = val.portfolio.base_currency
        age = (self.ctx.now().date() - val.as_of).days
        inputs[f"risk:{pname}"] = f"used: {prof.name} profile, {len(ev.checks)} limits, {len(ev.breaches)} breach(es)"
        out = []
        for b in ev.breaches:
            excess = abs(b.excess)
            move = excess * total if b.dimension not in ("volatility", "max_drawdown", "value_at_risk") else \
                min(total, excess / max(abs(b.actual), 1e-9) * total)
            what = b.dimension.replace("_", " ") + (f" {b.key}" if b.key else "")
            action = "raise_cash" if b.dimension == "liquidity" else "reduce"
            severe = excess > 0.5 * abs(b.limit) if b.limit else True
            data = {"portfolio": pname, "dimension": b.dimension, "key": b.key or "", "limit": b.limit,
                    "actual": b.actual, "portfolio_value": total, "amount_to_move": move, "profile": prof.name}
            conf, src = confidences("risk", observations=len(series.returns), agreeing=1, total=1,
                                    age_days=age)
            verb = "Raise the liquid share" if action == "raise_cash" else f"Reduce {what}"
            out.append(adv.make(
                key=f"risk:{pid}:{b.dimension}:{b.key or '-'}", category="risk", subject=f"{pname}: {what}",
                action=action, portfolio_id=pid, data=data, expected_impact=move, urgency="critical" if severe else "high",
                impact_text=f"about {_fmt(move, cur)} to move to comply with the {prof.name} profile",
                rationale=(f"In {pname}, {b.describe()} under the {prof.name} profile. {verb}: moving about "
                           f"{_fmt(move, cur)} brings it back within the limit."),
                confidence=conf, confidence_source=src))
        return out

    def _market_recs(self, pid: int, pname: str, analyses: Mapping[str, InvestmentAnalysis],
                     holdings: Mapping[str, tuple[float, float, str]], cur: str, confidences: _Confidences
                     ) -> list[adv.Recommendation]:
        out = []
        for ident, (value, weight, klass) in sorted(holdings.items()):
            an = analyses.get(ident)
            if an is None or klass != "equity" or an.overall.signal != BEARISH or weight < 0.01:
                continue
            tech = [r for r in an.sections["technical"] if r.available]
            bearish = [r for r in tech if r.signal == BEARISH]
            mom = an.value("technical", "momentum_3m") or 0.0
            impact = value * max(-mom, 0.0)
            data = {"portfolio": pname, "holding_value": value, "weight": weight,
                    "overall_signal": an.overall.value, **{r.key: r.value for r in bearish}}
            conf, src = confidences("market", observations=int(an.value("data", "observations") or 0),
                                    agreeing=len(bearish), total=len(tech),
                                    age_days=int(an.value("data", "age_days") or 0))
            reasons = "; ".join(f"{r.label} {r.text()}" for r in bearish[:4])
            out.append(adv.make(
                key=f"market:{pid}:{ident}", category="market", subject=f"{an.name} ({ident})", action="review",
                portfolio_id=pid, data=data, expected_impact=impact, urgency="medium" if mom < -0.10 else "low",
                impact_text=f"{_fmt(impact, cur)} if the 3-month trend ({mom:+.1%}) repeats",
                rationale=(f"{an.name} is {weight:.1%} of {pname} and its signals are bearish: {reasons}. "
                           "Review the position and consider reducing it."),
                confidence=conf, confidence_source=src))
        return out

    def _opportunity_recs(self, inputs: dict[str, str], confidences: _Confidences) -> list[adv.Recommendation]:
        from cio_desktop.services.market import MarketService

        market = MarketService(self.ctx)
        try:
            result = market.identify_opportunities(None)
        except CioError as exc:
            inputs["opportunities"] = f"not available: {exc}"
            return []
        inputs["opportunities"] = (f"used: criteria '{result.criteria.name}', {len(result.opportunities)} of "
                                   f"{result.universe} assets qualify")
        out = []
        for o in result.opportunities[:OPPORTUNITIES_PER_REPORT]:
            c, ctx, an = o.candidate, o.context, o.analysis
            mom = c.momentum if math.isfinite(c.momentum) else 0.0
            impact = ctx.proposed_value * max(mom, 0.0)
            tech = [r for r in an.sections["technical"] if r.available]
            bullish = [r for r in tech if r.signal == BULLISH]
            corr = f"{ctx.correlation:+.2f}" if ctx.correlation is not None else f"unknown ({ctx.correlation_reason})"
            vol = (f"portfolio volatility {ctx.volatility_before:.2%} → {ctx.volatility_after:.2%}"
                   if ctx.volatility_change is not None else f"risk effect unknown ({ctx.risk_reason})")
            data = {"proposed_value": ctx.proposed_value, "current_weight": ctx.weight, "weight_after": ctx.weight_after,
                    "correlation": ctx.correlation, "volatility_before": ctx.volatility_before,
                    "volatility_after": ctx.volatility_after, "hhi_after": ctx.hhi_after, "momentum_3m": c.momentum,
                    "volatility": c.volatility, "overall_signal": c.signal}
            conf, src = confidences("opportunity", observations=int(an.value("data", "observations") or 0),
                                    agreeing=len(bullish), total=len(tech),
                                    age_days=int(an.value("data", "age_days") or 0))
            out.append(adv.make(
                key=f"opportunity:{c.identifier}", category="opportunity", subject=f"{c.name} ({c.identifier})",
                action="buy", portfolio_id=result.portfolio_id, data=data, expected_impact=impact, urgency="low",
                impact_text=f"{impact:,.0f} expected if the 3-month momentum ({mom:+.1%}) continues",
                rationale=(f"{c.name} meets the '{result.criteria.name}' criteria: 3-month momentum {mom:+.1%}, "
                           f"volatility {c.volatility:.1%}, overall signal {an.overall.signal}. Buying "
                           f"{ctx.proposed_value:,.0f} takes it to {ctx.weight_after:.1%} of the portfolio; correlation "
                           f"with the portfolio {corr}; {vol}."),
                confidence=conf, confidence_source=src))
        return out

    def _cash_recs(self, inputs: dict[str, str], confidences: _Confidences) -> list[adv.Recommendation]:
        svc = ForecastService(self.ctx)
        cur = self.ctx.settings.base_currency
        try:
            breaches = svc.buffer_breaches()
            result = svc.forecast_cashflow()
        except CioError as exc:
            inputs["cash_forecast"] = f"not available: {exc}"
            return []
        rows = result.rows
        inputs["cash_forecast"] = f"used: {len(rows)} periods, {len(breaches)} buffer breach(es)"
        today = self.ctx.now().date()
        out = []
        consolidated = [b for b in breaches if b.account_id is None]
        if consolidated:
            first = consolidated[0]
            gap = max(b.buffer - b.closing_p50 for b in consolidated)
            days = (first.first - today).days
            data = {"first_period": first.period, "closing_p50": first.closing_p50, "buffer": first.buffer,
                    "largest_shortfall": gap, "periods_below": len(consolidated)}
            conf, src = confidences("cash", observations=result.history_days, agreeing=1, total=1, age_days=0)
            out.append(adv.make(
                key="cash:buffer", category="cash", subject="Consolidated cash buffer", action="raise_cash", data=data,
                expected_impact=gap, urgency="critical" if days <= 14 else "high" if days <= 28 else "medium",
                impact_text=f"{_fmt(gap, cur)} shortfall to cover",
                rationale=(f"The cash forecast falls below the buffer in {len(consolidated)} period(s), first in "
                           f"{first.period} ({first.first}): P50 closing balance {_fmt(first.closing_p50, cur)} against "
                           f"a buffer of {_fmt(first.buffer, cur)}. Raise about {_fmt(gap, cur)} from the liquidity "
                           "portfolio or a credit line before then."),
                confidence=conf, confidence_source=src))
        elif rows:
            low = min(r.closing_p50 for r in rows)
            # the consolidated buffer as buffer_breaches() sets it: the accounts' minimum balances in the
            # base currency (the per-account breaches above are in each account's own currency)
            with self.ctx.db.unit_of_work(write=False) as s:
                fx = pdata.fx_to_base(s, result.base_currency, result.start)
            buffer = sum(a.min_balance * fx.get(a.currency, 0.0) for a in result.accounts)
            surplus = low - 2 * buffer if buffer > 0 else 0.0
            if surplus > 0:
                data = {"lowest_closing_p50": low, "buffer": buffer, "surplus": surplus, "periods": len(rows)}
                conf, src = confidences("cash", observations=result.history_days, agreeing=1, total=1, age_days=0)
                out.append(adv.make(
                    key="cash:surplus", category="cash", subject="Idle cash", action="invest_cash", data=data,
                    expected_impact=surplus * 0.02 * len(rows) / 52.0, urgency="low",
                    impact_text=f"about {_fmt(surplus * 0.02 * len(rows) / 52.0, cur)} of yield at 2 % over the horizon",
                    rationale=(f"The lowest forecast balance over the next {len(rows)} periods is {_fmt(low, cur)}, more "
                               f"than twice the buffer of {_fmt(buffer, cur)}. About {_fmt(surplus, cur)} could go into "
                               "money-market funds or short bonds."),
                    confidence=conf, confidence_source=src))
        return out

    def _budget_recs(self, inputs: dict[str, str], confidences: _Confidences) -> list[adv.Recommendation]:
        """One ``review`` per flagged variance of the last complete month (see the module docstring).
        Heuristic confidence: observations = the month's lines of the variance's main counterparties,
        agreement = those of them that moved the way the variance goes, age = days since the month ended."""
        cur = self.ctx.settings.base_currency
        try:
            variances = BudgetService(self.ctx).detect_budget_variance(only_flagged=True)
        except CioError as exc:
            inputs["budget"] = f"not available: {exc}"
            return []
        today = self.ctx.now().date()
        out = []
        for v in variances:
            dev, pct = v.deviation, v.pct
            size = abs(pct) if pct is not None else math.inf  # nothing budgeted: as large as it gets
            urgency = next((u for limit, u in BUDGET_URGENCY if size >= limit), "low")
            moved = [d for d in v.drivers if d.delta != 0]
            agreeing = [d for d in moved if (d.delta > 0) == (dev > 0)]
            data = {"category": v.category, "period": v.period, "kind": v.kind, "currency": cur,
                    "budget": float(v.budget), "actual": float(v.actual), "deviation": float(dev),
                    "pct": round(pct, 4) if pct is not None else "n/a (nothing budgeted)"}
            conf, src = confidences("budget", observations=sum(d.lines for d in v.drivers), agreeing=len(agreeing),
                                    total=len(moved), age_days=(today - month_bounds(v.period)[1]).days)
            word = "above" if dev > 0 else "below"
            share = f" ({pct:+.1%})" if pct is not None else " (nothing was budgeted)"
            flows = "receipts" if v.kind == "income" else "payments"
            out.append(adv.make(
                key=f"budget:{v.period}:{v.category}", category="budget", subject=f"{v.category} budget {v.period}",
                action="review", data=data, expected_impact=float(abs(dev)), urgency=urgency,
                impact_text=f"{_fmt(float(abs(dev)), cur)} {word} the {v.period} budget",
                rationale=(f"{v.explanation} Budget {_fmt(float(v.budget), cur)}, actual {_fmt(float(v.actual), cur)}, "
                           f"deviation {cur} {float(dev):+,.0f}{share}: review the {v.category} {flows} of "
                           f"{v.period} and whether the budget still holds."),
                confidence=conf, confidence_source=src))
        period = variances[0].period if variances else "the last complete month"
        inputs["budget"] = f"used: {len(out)} flagged variance(s) in {period}"
        return out

    # -- public ------------------------------------------------------------------------------
    @action(Permission.ADVISORY_READ, description="generate recommendations")
    def generate_recommendations(self, portfolio_id: int | None = None) -> AdvisoryResult:
        """Recommendations from risk, market signals, opportunities, cash forecast and budget,
        prioritised (see the module docstring). Nothing is stored: :meth:`generate_report` does."""
        from cio_desktop.services.market import MarketService

        inputs: dict[str, str] = {}
        recs: list[adv.Recommendation] = []
        market = MarketService(self.ctx)
        confidences = _Confidences(AnalyticsService(self.ctx))
        for pid, pname in self._portfolios(portfolio_id):
            try:
                recs += self._risk_recs(pid, pname, inputs, confidences)
            except CioError as exc:
                inputs[f"risk:{pname}"] = f"not available: {exc}"
            try:
                with self.ctx.db.unit_of_work(write=False) as uow:
                    val = value_holdings(uow, pid)
                holdings = {h.identifier: (float(h.value_base.amount), h.weight, h.asset.asset_class)
                            for h in val.holdings}
                analyses = {i: market.analyze_investment(i) for i, (_, _, k) in holdings.items() if k == "equity"}
                recs += self._market_recs(pid, pname, analyses, holdings, val.portfolio.base_currency,
                                          confidences)
                inputs[f"market:{pname}"] = f"used: {len(analyses)} equity analyses"
            except CioError as exc:
                inputs[f"market:{pname}"] = f"not available: {exc}"
        if portfolio_id is None:
            recs += self._opportunity_recs(inputs, confidences)
            recs += self._cash_recs(inputs, confidences)
            recs += self._budget_recs(inputs, confidences)
        inputs["analytics"] = confidences.summary()
        return AdvisoryResult(tuple(adv.prioritize(recs)), inputs)

    @action(Permission.ADVISORY_READ, description="prioritise recommendations")
    def prioritize_recommendations(self, recs: Sequence[adv.Recommendation]) -> list[adv.Recommendation]:
        return adv.prioritize(recs)

    @action(Permission.ADVISORY_READ, description="compare strategies")
    def compare_strategies(self, portfolio_id: int | None = None, *, start: date | None = None,
                           end: date | None = None) -> adv.ComparisonMatrix:
        """Current holdings, equal weight, de-risked (half moved to money-market funds) and
        minimum concentration (the current holdings capped at 10 % each) over the same history:
        strategies × (expected return, volatility, Sharpe, max drawdown, VaR, cost, liquidity)."""
        from cio_desktop.services.market import MarketService

        pid = portfolio_id
        if pid is None:
            with self.ctx.db.unit_of_work(write=False) as uow:
                pid = MarketService._default_portfolio(uow)
            if pid is None:
                raise ValidationError("there is no portfolio to compare strategies for", field="portfolio_id")
        with self.ctx.db.unit_of_work(write=False) as uow:
            series = load_value_series(uow, pid, start, end)
            val = value_holdings(uow, pid)
        values = series.values[:, -1]
        w0 = values / values.sum()
        r = series.asset_returns()
        r = np.nan_to_num(r, nan=0.0)
        classes = [a.asset_class for a in series.assets]
        liquid = np.array([c in LIQUID_CLASSES for c in classes], dtype=float)
        mm = np.array([c == "money_market" for c in classes], dtype=float)

        def turnover(w: np.ndarray) -> float:
            return float(np.abs(w - w0).sum()) * TRANSACTION_COST_BPS / 1e4

        n = len(w0)
        eq = np.full(n, 1.0 / n)
        derisk = w0 * 0.5 + (mm / mm.sum() * 0.5 if mm.sum() > 0 else 0.0)
        derisk_returns = derisk @ r if mm.sum() > 0 else 0.5 * (w0 @ r)
        capped = np.minimum(w0, 0.10)
        capped = capped / capped.sum() if capped.sum() > 0 else w0
        strategies = [
            adv.Strategy("Current", f"today's holdings of {val.portfolio.name}, held", w0 @ r, 0.0, float(w0 @ liquid)),
            adv.Strategy("Equal weight", "the same assets, equally weighted", eq @ r, turnover(eq), float(eq @ liquid)),
            adv.Strategy("De-risked", "half of every position moved to money-market funds (or cash)",
                         derisk_returns, turnover(derisk) if mm.sum() > 0 else 0.5 * TRANSACTION_COST_BPS / 1e4,
                         float(derisk @ liquid) if mm.sum() > 0 else float(0.5 * (w0 @ liquid) + 0.5)),
            adv.Strategy("Capped 10 %", "no position above 10 %, the excess spread pro rata", capped @ r,
                         turnover(capped), float(capped @ liquid)),
        ]
        return adv.compare(strategies)

    @action(Permission.ADVISORY_READ, description="generate the advisory report")
    def generate_report(self, portfolio_id: int | None = None) -> ReportView:
        """Generate, prioritise and store the recommendations (the scheduled advisory job)."""
        result = self.generate_recommendations(portfolio_id)
        now = self.ctx.now()
        with self.ctx.db.unit_of_work() as uow:
            report = AdvisoryReport(generated_at=now, generated_by=self.ctx.actor, portfolio_id=portfolio_id,
                                    summary_json=json.dumps({"inputs": dict(result.inputs),
                                                             "count": len(result.recommendations)}, sort_keys=True))
            uow.add(report)
            uow.flush()
            rows = []
            for r in result.recommendations:
                row = RecommendationRow(report_id=report.id, created_at=now, key=r.key[:128], category=r.category,
                                        subject=r.subject[:128], action=r.action, rationale=r.rationale,
                                        data_json=json.dumps(r.data, sort_keys=True, default=str),
                                        expected_impact=r.expected_impact, impact_text=r.impact_text,
                                        urgency=r.urgency, confidence=r.confidence,
                                        confidence_source=r.confidence_source[:200], portfolio_id=r.portfolio_id,
                                        status="open", decided_by="", decided_at=None, feedback="")
                uow.add(row)
                rows.append(row)
            uow.flush()
            audit_log(uow, actor=self.ctx.actor, action="advisory.report_generated", entity="advisory_report",
                      entity_id=report.id, after={"recommendations": len(rows), "portfolio": portfolio_id}, at=now)
            view = ReportView(report.id, now, self.ctx.actor, tuple(self._stored(x) for x in rows), dict(result.inputs))
        self.ctx.bus.publish("advisory.report", report=view.id, count=len(view.recommendations))
        return view

    @staticmethod
    def _stored(row: RecommendationRow) -> StoredRecommendation:
        rec = adv.Recommendation(row.key, row.category, row.subject, row.action, row.rationale,
                                 json.loads(row.data_json or "{}"), row.expected_impact, row.impact_text, row.urgency,
                                 row.confidence, row.confidence_source, row.portfolio_id)
        return StoredRecommendation(row.id, row.report_id, row.created_at, rec, row.status, row.decided_by,
                                    row.decided_at, row.feedback)

    @action(Permission.ADVISORY_READ, description="view recommendations")
    def recommendations(self, *, status: str | None = None, latest_report: bool = True) -> list[StoredRecommendation]:
        """Stored recommendations in priority order (default: those of the newest report)."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            q = select(RecommendationRow)
            if latest_report:
                rid = uow.execute(select(AdvisoryReport.id).order_by(AdvisoryReport.id.desc()).limit(1)).scalar_one_or_none()
                if rid is None:
                    return []
                q = q.where(RecommendationRow.report_id == rid)
            if status:
                q = q.where(RecommendationRow.status == status)
            rows = [self._stored(r) for r in uow.execute(q.order_by(RecommendationRow.id)).scalars()]
        return sorted(rows, key=lambda r: adv.priority_key(r.rec))  # stable: the order of prioritize()

    @action(Permission.ADVISORY_READ, description="accept or reject a recommendation")
    def decide(self, recommendation_id: int, accept: bool, note: str = "") -> StoredRecommendation:
        """Record the decision (audited) and give it to analytics as feedback on ``rec.<category>``,
        which the confidence of later recommendations of that category learns from."""
        now = self.ctx.now()
        with self.ctx.db.unit_of_work() as uow:
            row = uow.get(RecommendationRow, recommendation_id)
            if row is None:
                raise NotFound(f"no recommendation {recommendation_id}")
            if row.status != "open":
                raise ValidationError(f"recommendation {recommendation_id} was already {row.status} by "
                                      f"{row.decided_by}", field="status")
            row.status = "accepted" if accept else "rejected"
            row.decided_by, row.decided_at, row.feedback = self.ctx.actor, now, note.strip()[:2000]
            audit_log(uow, actor=self.ctx.actor, action=f"advisory.{row.status}", entity="recommendation",
                      entity_id=row.id, before={"status": "open"},
                      after={"status": row.status, "key": row.key, "note": row.feedback}, at=now)
            view = self._stored(row)
        # The learning signal goes to analytics in its own audited transaction, after the decision is
        # committed (SQLite allows one writer at a time, so it cannot nest in the one above). If analytics
        # refuses it (a CioError), the decision stands: it is the user's audited record and must not be lost
        # or undone over a derived statistic; the confidence of this category just learns from one fewer.
        try:
            AnalyticsService(self.ctx).record_feedback(
                kind=feedback_kind(view.rec.category), item_id=view.id, accepted=view.status == "accepted",
                comment=view.feedback,
                detail={"key": view.rec.key, "report": view.report_id, "action": view.rec.action,
                        "urgency": view.rec.urgency, "expected_impact": view.rec.expected_impact,
                        "confidence": view.rec.confidence, "confidence_source": view.rec.confidence_source})
        except CioError as exc:
            log.warning("recommendation %s was %s, but analytics did not record the feedback: %s",
                        view.id, view.status, exc)
        self.ctx.bus.publish("advisory.decided", recommendation=recommendation_id, status=view.status)
        return view


__all__ = ["AdvisoryResult", "AdvisoryService", "ReportView", "StoredRecommendation"]
