"""Threshold alert rules and alerts (issue 9).

Rules are data (``alert_rules``): a measure (``services.alert_measures.MEASURES`` keyed by
source and metric), a comparison and threshold, a severity and an escalation path. The engine
measures every subject of a rule and reconciles with the open alerts (``domain.alerting``):
one alert per breach, none again while it persists, resolved when it clears (property 12).
Failures that arrive as events (a sync, a job, a notification channel) use the same path with
``record_event``.

Each raise, resolve and acknowledgement is one audit entry in the transaction that makes it,
followed by ``alerts.raised`` / ``alerts.resolved`` / ``alerts.changed`` on the bus (the
notification service delivers raised alerts; the panels refresh).

Team mode (issue 12): a rule edited on a screen carries what that screen showed (``seen``: the
rule's ``updated_at``, or None for "no such rule"), so two treasurers at different desks never
silently overwrite each other's threshold; the CLI leaves it out and the last write wins.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cio_desktop.domain import alerting
from cio_desktop.errors import ConcurrentUpdate, NotFound, ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services.alert_measures import (EVENT_SOURCES, MEASURES, Measurement, SourceUnavailable)
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import UNCHECKED, Service, action
from cio_desktop.services.context import ServiceContext
from cio_desktop.storage.models_alerts import Alert, AlertRule

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class RuleView:
    id: int
    name: str
    source: str
    metric: str
    subject: str
    comparison: str
    threshold: str
    params: dict
    severity: str
    escalation_minutes: int | None
    escalation_path: tuple[str, ...]
    enabled: bool
    #: who saved the rule last and when; ``updated_at`` is the ``seen`` token an editor passes back
    updated_by: str = ""
    updated_at: datetime | None = None

    @property
    def event_driven(self) -> bool:
        return (self.source, self.metric) in EVENT_SOURCES


@dataclass(frozen=True)
class AlertView:
    id: int
    rule_id: int | None
    rule: str
    source: str
    subject: str
    severity: str
    title: str
    message: str
    measured: str
    threshold: str
    unit: str
    panel: str
    ref: str
    created_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    escalation_level: int
    action_due_at: datetime | None = None

    @property
    def status(self) -> str:
        if self.resolved_at is not None:
            return "resolved"
        return "acknowledged" if self.acknowledged_at is not None else "open"


@dataclass(frozen=True)
class AlertOutcome:
    """What one measurement did: ``raised`` a new alert, kept one ``open``, ``resolved`` one,
    or nothing (``clear``)."""

    subject: str
    status: str
    alert_id: int | None


@dataclass(frozen=True)
class EvaluationReport:
    outcomes: dict[str, list[AlertOutcome]]     # rule name -> outcomes
    unavailable: dict[str, str]                 # rule name -> why it could not be measured

    @property
    def raised(self) -> list[int]:
        return [o.alert_id for os_ in self.outcomes.values() for o in os_ if o.status == "raised" and o.alert_id]

    @property
    def resolved(self) -> list[int]:
        return [o.alert_id for os_ in self.outcomes.values() for o in os_ if o.status == "resolved" and o.alert_id]

    def summary(self) -> str:
        return (f"{len(self.outcomes)} rules checked, {len(self.raised)} alerts raised, "
                f"{len(self.resolved)} resolved, {len(self.unavailable)} not available")


def rule_view(r: AlertRule) -> RuleView:
    try:
        params = json.loads(r.params or "{}")
        path = tuple(json.loads(r.escalation_path or "[]"))
    except ValueError:
        params, path = {}, ()
    return RuleView(r.id, r.name, r.source, r.metric, r.subject, r.comparison, r.threshold, params,
                    r.severity, r.escalation_minutes, path, r.enabled, r.updated_by, r.updated_at)


def alert_view(a: Alert) -> AlertView:
    return AlertView(a.id, a.rule_id, a.rule, a.source, a.subject, a.severity, a.title, a.message,
                     a.measured, a.threshold, a.unit, a.panel, a.ref, a.created_at, a.acknowledged_by,
                     a.acknowledged_at, a.resolved_at, a.escalation_level, a.action_due_at)


def format_value(value: Any, unit: str) -> str:
    d = alerting.to_decimal(value)
    if d is None:
        return "n/a"
    if unit == "%":
        return f"{float(d):.2%}"
    if len(unit) == 3 and unit.isalpha():
        return f"{d:,.2f} {unit}"
    return f"{d.normalize():f}" if d == d.to_integral_value() else f"{d}"


def _text(value: Any) -> str:
    d = alerting.to_decimal(value)
    return "" if d is None else str(d)[:64]


def find_rule(uow: Session, rule: int | str) -> AlertRule:
    row = (uow.get(AlertRule, rule) if isinstance(rule, int)
           else uow.execute(select(AlertRule).where(AlertRule.name == rule)).scalar_one_or_none())
    if row is None:
        raise NotFound(f"no alert rule '{rule}'")
    return row


def rule_for(uow: Session, source: str, metric: str) -> AlertRule | None:
    return uow.execute(select(AlertRule).where(AlertRule.source == source, AlertRule.metric == metric)
                       .order_by(AlertRule.id)).scalars().first()


def open_alerts(uow: Session, rule_id: int) -> dict[str, Alert]:
    rows = uow.execute(select(Alert).where(Alert.rule_id == rule_id, Alert.resolved_at.is_(None))).scalars()
    return {a.subject: a for a in rows}


def apply_measurements(uow: Session, ctx: ServiceContext, rule: AlertRule,
                       measurements: Sequence[Measurement], *, complete: bool) -> list[AlertOutcome]:
    """Reconcile one rule's measurements with its open alerts inside the caller's transaction."""
    now = ctx.now()
    by_subject = {m.subject: m for m in measurements}
    breached = {}
    for m in measurements:
        if m.value is None and m.breached is None:
            continue  # not measurable now: leave an open alert as it is
        threshold = rule.threshold if m.threshold is None else m.threshold
        breached[m.subject] = (m.breached if m.breached is not None
                               else alerting.is_breached(m.value, threshold, rule.comparison))
    current = open_alerts(uow, rule.id)
    unmeasured = {m.subject for m in measurements if m.subject not in breached}
    plan = alerting.reconcile([s for s in current if s not in unmeasured], breached, complete=complete)
    outcomes: list[AlertOutcome] = []
    for subject in plan.raise_:
        m = by_subject[subject]
        threshold = rule.threshold if m.threshold is None else m.threshold
        label = m.label or subject
        relation = "above" if rule.comparison == "above" else "below"
        if m.breached is not None and m.threshold is not None:
            relation = "beyond"
        alert = Alert(rule_id=rule.id, rule=rule.name, source=rule.source, subject=subject,
                      open_key=f"{rule.id}:{subject}", severity=rule.severity,
                      title=f"{rule.name}: {label}"[:255],
                      message=(f"{label}: {format_value(m.value, m.unit)} is {relation} the threshold "
                               f"{format_value(threshold, m.unit)}"),
                      measured=_text(m.value), threshold=_text(threshold), unit=m.unit[:16],
                      panel=m.panel or "alerts", ref=m.ref[:128], created_at=now, last_seen_at=now,
                      escalation_level=0)
        uow.add(alert)
        uow.flush()
        audit_log(uow, actor=ctx.actor, action="alert.raised", entity="alert", entity_id=alert.id,
                  after={"rule": rule.name, "subject": subject, "severity": rule.severity,
                         "measured": alert.measured, "threshold": alert.threshold}, at=now)
        outcomes.append(AlertOutcome(subject, "raised", alert.id))
    for subject in plan.keep:
        outcomes.append(AlertOutcome(subject, "open", current[subject].id))
    for subject in plan.resolve:
        alert = current[subject]
        alert.resolved_at, alert.open_key, alert.last_seen_at = now, None, now
        m = by_subject.get(subject)
        audit_log(uow, actor=ctx.actor, action="alert.resolved", entity="alert", entity_id=alert.id,
                  after={"rule": rule.name, "subject": subject,
                         "measured": _text(m.value) if m else "no longer measured"}, at=now)
        outcomes.append(AlertOutcome(subject, "resolved", alert.id))
    for subject, b in breached.items():
        if not b and subject not in current:
            outcomes.append(AlertOutcome(subject, "clear", None))
    uow.flush()
    return outcomes


def publish_outcomes(ctx: ServiceContext, outcomes: Iterable[AlertOutcome]) -> None:
    outcomes = list(outcomes)
    raised = [o.alert_id for o in outcomes if o.status == "raised"]
    resolved = [o.alert_id for o in outcomes if o.status == "resolved"]
    if raised:
        ctx.bus.publish("alerts.raised", ids=raised)
    if resolved:
        ctx.bus.publish("alerts.resolved", ids=resolved)
    if raised or resolved:
        ctx.bus.publish("alerts.changed", raised=raised, resolved=resolved)


def _check_rule_fields(source: str, metric: str, comparison: str, threshold: Any, severity: str,
                       escalation_minutes: int | None, escalation_path: Sequence[str]) -> None:
    if (source, metric) not in MEASURES and (source, metric) not in EVENT_SOURCES:
        known = sorted(f"{s}/{m}" for s, m in set(MEASURES) | EVENT_SOURCES)
        raise ValidationError(f"unknown measure '{source}/{metric}'; known: {', '.join(known)}", field="metric")
    if comparison not in alerting.COMPARISONS:
        raise ValidationError("comparison must be 'above' or 'below'", field="comparison")
    if alerting.to_decimal(threshold) is None:
        raise ValidationError(f"threshold '{threshold}' is not a number", field="threshold")
    try:
        alerting.check_severity(severity)
    except ValueError as exc:
        raise ValidationError(str(exc), field="severity") from None
    if escalation_minutes is not None and escalation_minutes <= 0:
        raise ValidationError("escalation minutes must be a positive whole number", field="escalation_minutes")
    if any(not str(p).strip() for p in escalation_path):
        raise ValidationError("the escalation path has an empty step", field="escalation_path")


def _rule_conflict(name: str, row: AlertRule | None, seen: Any) -> str:
    """The words for a refused save: which rule, who changed it and when (UTC, as stored)."""
    what = f"the alert rule '{name}'"
    if row is None:
        return f"{what} no longer exists: reload the rules (your change was not saved)"
    return (f"{what} was {'created' if seen is None else 'changed'} by {row.updated_by} at "
            f"{row.updated_at:%Y-%m-%d %H:%M:%S} UTC: reload it and try again (your change was not saved)")


class AlertsService(Service):
    # -- rules ---------------------------------------------------------------------------------
    @action(Permission.ALERTS_READ, description="view alert rules")
    def rules(self) -> list[RuleView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return [rule_view(r) for r in uow.execute(select(AlertRule).order_by(AlertRule.source,
                                                                                  AlertRule.name)).scalars()]

    @action(Permission.ALERTS_MANAGE, description="change an alert rule")
    def save_rule(self, *, name: str, source: str, metric: str, threshold: Any, comparison: str = "above",
                  severity: str = "warning", subject: str = "*", params: dict | None = None,
                  escalation_minutes: int | None = None, escalation_path: Sequence[str] | None = None,
                  enabled: bool = True, seen: Any = UNCHECKED) -> RuleView:
        """Create the rule ``name`` or replace its settings (open alerts stay open until the next
        evaluation decides with the new threshold).

        ``seen`` is what the editing screen showed: the rule's ``updated_at``, or None when it
        showed no rule of that name (a new rule). When the rule was changed (or created) since,
        the save is refused with who did it and when, and nothing is written — another desk's
        threshold is never silently replaced. Left out (the CLI), the last write wins."""
        name = (name or "").strip()
        if not name:
            raise ValidationError("an alert rule needs a name", field="name")
        if len(name) > 128:
            raise ValidationError("a rule name has at most 128 characters", field="name")
        subject = (subject or "").strip() or "*"
        if len(subject) > 128:
            raise ValidationError("the subject has at most 128 characters", field="subject")
        path = [str(p).strip() for p in (escalation_path or [])]
        severity = (severity or "").strip().lower()
        _check_rule_fields(source, metric, comparison, threshold, severity, escalation_minutes, path)
        fields = {"source": source, "metric": metric, "subject": subject, "comparison": comparison,
                  "threshold": str(alerting.to_decimal(threshold)), "params": json.dumps(params or {}, sort_keys=True),
                  "severity": severity, "escalation_minutes": escalation_minutes,
                  "escalation_path": json.dumps(path), "enabled": bool(enabled)}
        try:
            view = self._write_rule(name, fields, seen)
        except IntegrityError:
            # PostgreSQL: another workstation inserted a rule of this name after our check read
            # none (its row was not there to lock). SQLite serialises writers, so never there.
            with self.ctx.db.unit_of_work(write=False) as uow:
                other = uow.execute(select(AlertRule).where(AlertRule.name == name)).scalar_one_or_none()
            if other is None:
                raise
            if seen is not UNCHECKED:
                raise ConcurrentUpdate(_rule_conflict(name, other, None)) from None
            view = self._write_rule(name, fields, seen)  # last write wins: now an update
        self.ctx.bus.publish("alerts.rules_changed", rule=view.id)
        return view

    def _write_rule(self, name: str, fields: dict[str, Any], seen: Any) -> RuleView:
        """Check ``seen`` and write, in one transaction with the audit entry. The row is read
        ``FOR UPDATE`` so that on PostgreSQL a concurrent save waits and then sees ours."""
        now = self.ctx.now()
        with self.ctx.db.unit_of_work(write=True) as uow:
            row = uow.execute(select(AlertRule).where(AlertRule.name == name).with_for_update()
                              ).scalar_one_or_none()
            if seen is not UNCHECKED and (row.updated_at if row is not None else None) != seen:
                raise ConcurrentUpdate(_rule_conflict(name, row, seen))
            before = rule_view(row).__dict__ if row else {}
            if row is None:
                row = AlertRule(name=name)
                uow.add(row)
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_by, row.updated_at = self.ctx.actor, now
            uow.flush()
            view = rule_view(row)
            audit_log(uow, actor=self.ctx.actor, action="alert_rule.saved", entity="alert_rule",
                      entity_id=row.id, before={k: str(v) for k, v in before.items()},
                      after={k: str(v) for k, v in view.__dict__.items()}, at=now)
        return view

    # -- evaluation ----------------------------------------------------------------------------
    @action(Permission.ALERTS_READ, description="record an alert measurement")
    def generate_alert(self, rule: int | str, subject: str, measured: Any, *, threshold: Any = None,
                       breached: bool | None = None, label: str = "", unit: str = "",
                       panel: str = "alerts", ref: str = "") -> AlertOutcome:
        """One measurement of one subject: raises an alert the first time it breaches the rule,
        nothing while the breach persists, resolves the alert when it clears."""
        m = Measurement(subject, measured, label, threshold, breached, unit, panel, ref)
        with self.ctx.db.unit_of_work(write=True) as uow:
            row = find_rule(uow, rule)
            outcomes = apply_measurements(uow, self.ctx, row, [m], complete=False)
        publish_outcomes(self.ctx, outcomes)
        return outcomes[0] if outcomes else AlertOutcome(subject, "clear", None)

    @action(Permission.ALERTS_READ, description="check alert rules")
    def evaluate(self, rules: Sequence[int | str] | None = None) -> EvaluationReport:
        """Measure every enabled measured rule (or the ones named) and reconcile its alerts.
        Each rule commits on its own, so one unavailable source never holds back the others."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = list(uow.execute(select(AlertRule).where(AlertRule.enabled.is_(True))
                                    .order_by(AlertRule.id)).scalars())
        if rules is not None:
            wanted = {str(r) for r in rules}
            rows = [r for r in rows if r.name in wanted or str(r.id) in wanted]
        outcomes: dict[str, list[AlertOutcome]] = {}
        unavailable: dict[str, str] = {}
        for rule in rows:
            fn = MEASURES.get((rule.source, rule.metric))
            if fn is None:
                continue  # event-driven
            try:
                measurements = fn(self.ctx, rule)
            except SourceUnavailable as exc:
                unavailable[rule.name] = str(exc)
                continue
            with self.ctx.db.unit_of_work(write=True) as uow:
                fresh = uow.get(AlertRule, rule.id)
                if fresh is None or not fresh.enabled:
                    continue
                outcomes[rule.name] = apply_measurements(uow, self.ctx, fresh, measurements, complete=True)
            publish_outcomes(self.ctx, outcomes[rule.name])
        return EvaluationReport(outcomes, unavailable)

    @action(Permission.ALERTS_READ, description="record a failure or recovery")
    def record_event(self, source: str, metric: str, subject: str, *, failed: bool, message: str = "",
                     label: str = "", panel: str = "alerts", ref: str = "") -> AlertOutcome | None:
        """A failure (``failed``) raises the rule's alert for ``subject`` once; a later success
        resolves it. None when no rule for (source, metric) exists or it is disabled."""
        with self.ctx.db.unit_of_work(write=True) as uow:
            rule = rule_for(uow, source, metric)
            if rule is None or not rule.enabled:
                return None
            m = Measurement(subject, 1 if failed else 0, label or subject, threshold=0, breached=failed,
                            panel=panel, ref=ref)
            outcomes = apply_measurements(uow, self.ctx, rule, [m], complete=False)
            for o in outcomes:
                if o.status == "raised" and message:
                    a = uow.get(Alert, o.alert_id)
                    a.message = f"{label or subject}: {message}"[:4000]
        publish_outcomes(self.ctx, outcomes)
        return outcomes[0] if outcomes else None

    # -- reading and acknowledging -------------------------------------------------------------
    @action(Permission.ALERTS_READ, description="view alerts")
    def list_alerts(self, status: str = "open", limit: int = 500) -> list[AlertView]:
        """``open`` (unresolved, acknowledged or not), ``unacknowledged``, ``resolved`` or ``all``."""
        q = select(Alert)
        if status in ("open", "unacknowledged"):
            q = q.where(Alert.resolved_at.is_(None))
            if status == "unacknowledged":
                q = q.where(Alert.acknowledged_at.is_(None))
        elif status == "resolved":
            q = q.where(Alert.resolved_at.is_not(None))
        elif status != "all":
            raise ValidationError("status must be open, unacknowledged, resolved or all", field="status")
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = uow.execute(q.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit)).scalars()
            return [alert_view(a) for a in rows]

    @action(Permission.ALERTS_READ, description="view an alert")
    def get(self, alert_id: int) -> AlertView:
        with self.ctx.db.unit_of_work(write=False) as uow:
            a = uow.get(Alert, alert_id)
            if a is None:
                raise NotFound(f"no alert {alert_id}")
            return alert_view(a)

    @action(Permission.ALERTS_READ, description="count open alerts")
    def open_counts(self) -> dict[str, int]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = uow.execute(select(Alert.severity, func.count()).where(Alert.resolved_at.is_(None))
                               .group_by(Alert.severity)).all()
        return {sev: int(n) for sev, n in rows}

    @action(Permission.ALERTS_READ, description="acknowledge an alert")
    def acknowledge(self, alert_id: int, note: str = "") -> AlertView:
        """The user has seen the alert and takes it on: escalation stops. Acknowledging twice
        keeps the first acknowledgement."""
        now = self.ctx.now()
        with self.ctx.db.unit_of_work(write=True) as uow:
            a = uow.get(Alert, alert_id)
            if a is None:
                raise NotFound(f"no alert {alert_id}")
            if a.acknowledged_at is None:
                a.acknowledged_by, a.acknowledged_at = self.ctx.actor, now
                audit_log(uow, actor=self.ctx.actor, action="alert.acknowledged", entity="alert",
                          entity_id=a.id, after={"note": note[:500], "level": a.escalation_level}, at=now)
            view = alert_view(a)
        self.ctx.bus.publish("alerts.changed", acknowledged=[alert_id])
        return view


__all__ = ["AlertsService", "AlertView", "AlertOutcome", "EvaluationReport", "RuleView", "Measurement",
           "apply_measurements", "format_value"]
