"""Compliance rules as data, validation of payments and portfolio changes, reports (issue 6).

How it hangs together:

* **Rules** are versioned rows (``storage.models_compliance``). ``update_rules`` (MFA, audited)
  adds, edits or retires rules in one transaction: each change writes a new immutable version and
  moves the rule's ``current_version``; nothing else changes. Since every check reads the rule
  set inside its own operation's transaction, an update is in force for the very next operation
  (property 24), and old checks keep the version they ran against.
* **Validation** — :func:`validate_transaction` (a payment about to be scheduled, approved or
  executed) and :func:`validate_portfolio_change` (a rebalancing about to be accepted) — run
  inside the caller's transaction: they gather the facts, let the pure
  :mod:`cio_desktop.domain.compliance` decide, and record the check (one row per rule version).
  A blocking breach raises :class:`ComplianceBlocked` (a ``ComplianceViolation`` naming the rule,
  the limit and the actual figure), so the caller's transaction rolls back and the operation
  does not happen (property 22); its check record is written afterwards, in its own
  transaction, by :func:`record_refusal` (the callers' refusal paths call it). A warning lets
  the operation go on and is recorded with it.
* **Overrides**: a compliance manager may let one entity (a payment, a portfolio plan) pass one
  blocking rule once (MFA, audited, expires); the check then says ``overridden`` and who allowed it.
* **Reports**: :meth:`ComplianceService.generate_compliance_report` gathers the period's rules in
  force (with versions), every check with its outcome, violations, warnings, overrides and the
  payments' approval trails, signs it with the generating user and time and hashes the content
  (SHA-256 over canonical JSON). :func:`compliance_document` lays it out as a ``ReportDocument``
  for the report renderers; ``export_report`` writes PDF, Excel, the renderers' CSV zip, or the
  report's own single CSV / JSON (format from the file's suffix), refusing a report whose
  content no longer matches its hash.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import logging
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from cio_desktop.domain import compliance as dc
from cio_desktop.domain.compliance import Outcome, RuleResult, RuleSpec, RuleType
from cio_desktop.domain.money import Money
from cio_desktop.errors import CioError, ComplianceViolation, ConcurrentUpdate, NotFound, ValidationError
from cio_desktop.reports import Column, Period, ReportDocument, Section, Table, Text
from cio_desktop.reports import export_report as render_report
from cio_desktop.reports.output import atomic_output, check_target
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.services.context import ServiceContext
from cio_desktop.storage.models import (Account, ApprovalDecision, Asset, FxRate, Payment,
                                        PaymentEvent, Transaction)
from cio_desktop.storage.models_compliance import (ComplianceCheck, ComplianceCheckResult, ComplianceOverride,
                                                   ComplianceRule, ComplianceRuleVersion, SanctionsEntry)

log = logging.getLogger(__name__)

TOPIC_RULES = "compliance.rules_changed"
TOPIC_CHECKED = "compliance.checked"
OPERATIONS = ("payment.schedule", "payment.approve", "payment.execute", "portfolio.rebalance")
LIVE_OUT = ("pending_approval", "approved", "scheduled", "executed")
MAX_SANCTIONS_BYTES = 20_000_000


# -- errors ---------------------------------------------------------------------------------------
class ComplianceBlocked(ComplianceViolation):
    """A blocking rule in force stops the operation. Carries the check to record (after the
    caller's transaction rolled back) and every rule's result."""

    def __init__(self, first: RuleResult, results: Sequence[RuleResult], pending: "PendingCheck") -> None:
        self.results, self.pending = tuple(results), pending
        self.rule_id, self.rule_version = first.rule_id, first.version
        blocked = [r for r in results if r.outcome is Outcome.BLOCK]
        more = f" (and {len(blocked) - 1} more rule(s))" if len(blocked) > 1 else ""
        super().__init__(first.name, f"{first.message}{more}", limit=first.limit, actual=first.actual)


# -- views ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleView:
    id: int
    name: str
    rule_type: str
    type_label: str
    parameters: dict[str, Any]
    severity: str
    scope: dict[str, Any]
    valid_from: date | None
    valid_to: date | None
    version: int
    is_active: bool
    author: str
    changed_at: datetime
    note: str
    limit: str                       # the rule in plain words


@dataclass(frozen=True)
class StandingRow:
    """One rule's standing now: the limit, the actual figure, the headroom (per portfolio for
    portfolio rules; the worst account or payment for payment rules)."""

    rule_id: int
    version: int
    name: str
    rule_type: str
    severity: str
    subject: str                     # what the figure is about ("company", "portfolio X", ...)
    limit: str
    actual: str
    headroom: str
    status: str                      # ok | breach (blocking rule) | warning (warning rule) | n/a
    note: str


@dataclass(frozen=True)
class CheckResultView:
    rule_id: int
    rule_name: str
    rule_version: int
    outcome: str
    limit: str
    actual: str
    message: str


@dataclass(frozen=True)
class CheckView:
    id: int
    checked_at: datetime
    operation: str
    entity: str
    entity_id: str
    actor: str
    outcome: str
    subject: str
    ruleset: str
    results: tuple[CheckResultView, ...] = ()

    @property
    def breaches(self) -> tuple[CheckResultView, ...]:
        return tuple(r for r in self.results if r.outcome in ("block", "warn", "overridden"))


@dataclass(frozen=True)
class OverrideView:
    id: int
    rule_id: int
    rule_name: str
    entity: str
    entity_id: str
    reason: str
    approved_by: str
    approved_at: datetime
    expires_at: datetime
    used_check_id: int | None


@dataclass(frozen=True)
class SanctionsImport:
    path: str
    sha256: str
    entries: int
    replaced: int


@dataclass
class ComplianceReport:
    """The regulator's record for a period; ``sha256`` covers every other field."""

    period_start: date
    period_end: date
    generated_at: datetime
    generated_by: str
    rules: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    violations: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    approval_trails: list[dict[str, Any]] = field(default_factory=list)
    sha256: str = ""

    def content(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sha256"}

    def canonical(self) -> str:
        return json.dumps(self.content(), sort_keys=True, default=_json_default, ensure_ascii=False,
                          separators=(",", ":"))

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()

    def verify(self) -> bool:
        return self.sha256 == self.compute_hash()


def _json_default(v: Any) -> Any:
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (set, frozenset, tuple)):
        return list(v)
    raise TypeError(f"cannot serialise {type(v).__name__}")


# -- loading rules ----------------------------------------------------------------------------------
def _spec(v: ComplianceRuleVersion) -> RuleSpec:
    return _parsed(v.rule_id, v.version, v.name, v.rule_type, v.parameters_json, v.severity, v.scope_json,
                   v.valid_from, v.valid_to, v.author)


@functools.lru_cache(maxsize=4096)
def _parsed(rule_id: int, version: int, name: str, rule_type: str, parameters_json: str, severity: str,
            scope_json: str, valid_from: date | None, valid_to: date | None, author: str) -> RuleSpec:
    """Versions never change, so a parsed one is cached by its full content (safe across databases)."""
    return dc.rule_from_stored(rule_id=rule_id, version=version, name=name, rule_type=rule_type,
                               parameters_json=parameters_json, severity=severity, scope_json=scope_json,
                               valid_from=valid_from, valid_to=valid_to, author=author)


def rules_in_force(uow: Session, day: date | None = None) -> list[RuleSpec]:
    """The current version of every active rule (valid on ``day`` when given), by rule id."""
    rows = uow.execute(select(ComplianceRuleVersion).join(
        ComplianceRule, and_(ComplianceRule.id == ComplianceRuleVersion.rule_id,
                             ComplianceRule.current_version == ComplianceRuleVersion.version))
        .where(ComplianceRule.is_active.is_(True)).order_by(ComplianceRule.id)).scalars()
    specs = [_spec(v) for v in rows]
    return [s for s in specs if day is None or s.in_force(day)]


def _today(ctx: ServiceContext) -> date:
    return ctx.now().astimezone(timezone.utc).date()


# -- FX for the money limits ------------------------------------------------------------------------
class _Rates:
    """Latest stored rate on or before ``day``; direct, inverted or crossed through EUR/USD."""

    def __init__(self, uow: Session, day: date) -> None:
        self.uow, self.day, self.cache = uow, day, {}

    def _direct(self, base: str, quote: str) -> Decimal | None:
        key = (base, quote)
        if key not in self.cache:
            r = self.uow.execute(select(FxRate.rate).where(FxRate.base == base, FxRate.quote == quote,
                                                          FxRate.rate_date <= self.day)
                                 .order_by(FxRate.rate_date.desc()).limit(1)).scalar_one_or_none()
            self.cache[key] = Decimal(r) if r is not None and r > 0 else None
        return self.cache[key]

    def _pair(self, frm: str, to: str) -> Decimal | None:
        if frm == to:
            return Decimal(1)
        d = self._direct(frm, to)
        if d is not None:
            return d
        inv = self._direct(to, frm)
        return (Decimal(1) / inv) if inv else None

    def __call__(self, frm: str, to: str) -> Decimal | None:
        r = self._pair(frm, to)
        if r is not None:
            return r
        for via in ("EUR", "USD"):
            if via in (frm, to):
                continue
            a, b = self._pair(frm, via), self._pair(via, to)
            if a is not None and b is not None:
                return a * b
        return None


# -- recording checks ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PendingCheck:
    checked_at: datetime
    operation: str
    entity: str
    entity_id: str
    actor: str
    outcome: str
    subject: str
    results: tuple[RuleResult, ...]
    override_ids: tuple[int, ...] = ()


def _write_check(uow: Session, pc: PendingCheck) -> ComplianceCheck:
    ruleset = ",".join(f"{r.rule_id}:{r.version}" for r in pc.results)
    row = ComplianceCheck(checked_at=pc.checked_at, operation=pc.operation, entity=pc.entity,
                          entity_id=pc.entity_id, actor=pc.actor, outcome=pc.outcome, subject=pc.subject[:2000],
                          ruleset=ruleset)
    uow.add(row)
    uow.flush()
    uow.add_all([ComplianceCheckResult(check_id=row.id, rule_id=r.rule_id, rule_version=r.version,
                                       outcome=r.outcome.value, limit_text=r.limit, actual_text=r.actual,
                                       message=r.message[:2000]) for r in pc.results])
    for oid in pc.override_ids:
        o = uow.get(ComplianceOverride, oid)
        if o is not None and o.used_check_id is None:
            o.used_check_id = row.id
    uow.flush()
    return row


def record_refusal(ctx: ServiceContext, exc: BaseException) -> None:
    """Write a blocked operation's check in its own transaction (the operation's one rolled
    back). Idempotent per exception; never raises (the refusal must still reach the user)."""
    cause = getattr(exc, "cause", None)          # BatchFailed wraps the member's refusal
    if not isinstance(exc, ComplianceBlocked) and isinstance(cause, ComplianceBlocked):
        exc = cause
    if not isinstance(exc, ComplianceBlocked) or getattr(exc, "_compliance_recorded", False):
        return
    exc._compliance_recorded = True  # type: ignore[attr-defined]
    pc = exc.pending
    try:
        with ctx.db.unit_of_work() as uow:
            row = _write_check(uow, pc)
            audit_log(uow, actor=pc.actor, action="compliance.blocked", entity=pc.entity, entity_id=pc.entity_id,
                      after={"operation": pc.operation, "check": row.id, "rule": exc.rule,
                             "rule_id": exc.rule_id, "version": exc.rule_version, "limit": exc.limit,
                             "actual": exc.actual}, at=pc.checked_at)
        ctx.bus.publish(TOPIC_CHECKED, operation=pc.operation, entity=pc.entity, entity_id=pc.entity_id,
                        outcome=pc.outcome)
    except Exception:  # noqa: BLE001
        log.exception("could not record a blocked compliance check")


def _conclude(uow: Session, ctx: ServiceContext, *, operation: str, entity: str, entity_id: str, subject: str,
              results: list[RuleResult]) -> list[RuleResult]:
    """Apply overrides, record the check (passing/warning: in this transaction; blocking: raise
    and let :func:`record_refusal` write it after the rollback)."""
    now = ctx.now()
    blocked_ids = {r.rule_id for r in results if r.outcome is Outcome.BLOCK}
    override_ids: list[int] = []
    if blocked_ids:
        for o in uow.execute(select(ComplianceOverride).where(
                ComplianceOverride.entity == entity, ComplianceOverride.entity_id == entity_id,
                ComplianceOverride.rule_id.in_(blocked_ids), ComplianceOverride.used_check_id.is_(None),
                ComplianceOverride.expires_at > now).order_by(ComplianceOverride.id)).scalars():
            if o.rule_id not in {uow.get(ComplianceOverride, i).rule_id for i in override_ids}:
                override_ids.append(o.id)
        covered = {uow.get(ComplianceOverride, i).rule_id for i in override_ids}
        results = dc.apply_overrides(results, covered)
    outcome = dc.worst(results)
    pc = PendingCheck(now, operation, entity, entity_id, ctx.actor, outcome.value, subject, tuple(results),
                      tuple(override_ids) if outcome is not Outcome.BLOCK else ())
    if outcome is Outcome.BLOCK:
        first = next(r for r in results if r.outcome is Outcome.BLOCK)
        raise ComplianceBlocked(first, results, pc)
    row = _write_check(uow, pc)
    if outcome is not Outcome.PASS:
        audit_log(uow, actor=ctx.actor, action=f"compliance.{outcome.value}", entity=entity, entity_id=entity_id,
                  after={"operation": operation, "check": row.id,
                         "rules": [f"{r.name} v{r.version}: {r.message}" for r in results if r.breached]}, at=now)
    return results


# -- payments ------------------------------------------------------------------------------------------
def _liquidity(uow: Session, currency: str, exclude_payment_id: int | None) -> Decimal:
    """Company-wide available money in ``currency``: booked balances of active accounts, less
    executed payments the bank has not booked yet and approved/scheduled payments (this one
    excluded)."""
    ids = list(uow.execute(select(Account.id).where(Account.currency == currency, Account.is_active.is_(True)))
               .scalars())
    if not ids:
        return Decimal(0)
    opening = int(uow.execute(select(func.coalesce(func.sum(Account.opening_balance_minor), 0))
                              .where(Account.id.in_(ids))).scalar_one())
    ledger = int(uow.execute(select(func.coalesce(func.sum(Transaction.amount_minor), 0))
                             .where(Transaction.account_id.in_(ids))).scalar_one())
    q = select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
        Payment.debit_account_id.in_(ids),
        or_(Payment.status.in_(("approved", "scheduled")),
            and_(Payment.status == "executed", Payment.booked_transaction_id.is_(None))))
    if exclude_payment_id is not None:
        q = q.where(Payment.id != exclude_payment_id)
    out = int(uow.execute(q).scalar_one())
    return Money.from_minor(opening + ledger - out, currency).amount


def payment_facts(uow: Session, p: Payment, rules: Sequence[RuleSpec]) -> dc.PaymentFacts:
    from cio_desktop.domain.payments import bic_country

    amount = Money.from_minor(p.amount_minor, p.currency).amount
    countries = tuple(dict.fromkeys(c for c in (p.country, bic_country(p.bic),
                                                p.account_masked[:2] if p.account_is_iban else "")
                                    if c and c.isalpha()))
    types = {r.rule_type for r in rules}
    same_day: tuple[dc.SameDayPayment, ...] = ()
    if RuleType.DAILY_OUTGOING_LIMIT in types:
        rows = uow.execute(select(Payment.debit_account_id, Payment.amount_minor, Payment.currency, Payment.kind)
                           .where(Payment.execution_date == p.execution_date, Payment.status.in_(LIVE_OUT),
                                  Payment.id != p.id)).all()
        same_day = tuple(dc.SameDayPayment(a, Money.from_minor(m, c).amount, c, k == "internal")
                         for a, m, c, k in rows)
    liquidity: dict[str, Decimal] = {}
    for r in rules:
        if r.rule_type is RuleType.MIN_LIQUIDITY and r.parameters["currency"] == p.currency:
            liquidity[p.currency] = _liquidity(uow, p.currency, p.id)
            break
    sanctioned: frozenset[str] = frozenset()
    if any(r.rule_type is RuleType.COUNTERPARTY_BLOCK and r.parameters["sanctions_list"] for r in rules):
        key = dc.name_key(p.beneficiary_name)
        hit = uow.execute(select(SanctionsEntry.name_key).where(SanctionsEntry.name_key == key)).first()
        sanctioned = frozenset({key}) if hit else frozenset()
    return dc.PaymentFacts(amount, p.currency, p.debit_account_id, p.beneficiary_name, countries, p.execution_date,
                           same_day, liquidity, sanctioned, internal=p.kind == "internal")


def validate_transaction(uow: Session, ctx: ServiceContext, payment: Payment, operation: str, *,
                         created: bool = False) -> list[RuleResult]:
    """Check ``payment`` against every rule in force before ``operation`` (schedule, approve,
    execute), inside the caller's transaction. Records the check; raises
    :class:`ComplianceBlocked` on a blocking breach (the caller then calls
    :func:`record_refusal` once its transaction has rolled back). ``created``: the payment row
    was inserted by this very transaction, so a block leaves no payment (recorded as "new")."""
    op = operation if operation.startswith("payment.") else f"payment.{operation}"
    if op not in OPERATIONS:
        raise ValueError(f"unknown operation {operation}")
    day = _today(ctx)
    rules = rules_in_force(uow, day)
    facts = payment_facts(uow, payment, rules)
    results = dc.evaluate_payment(rules, facts, _Rates(uow, day))
    what = (f"{Money.from_minor(payment.amount_minor, payment.currency).format()} to {payment.beneficiary_name} "
            f"on {payment.execution_date.isoformat()} from account {payment.debit_account_id}")
    subject = f"payment {payment.id}: {what}"
    if created and dc.worst(results) is Outcome.BLOCK:
        subject = f"new payment (refused, not created): {what}"
    return _conclude(uow, ctx, operation=op, entity="payment",
                     entity_id="new" if created and dc.worst(results) is Outcome.BLOCK else str(payment.id),
                     subject=subject, results=results)


# -- portfolios ----------------------------------------------------------------------------------------
def _instrument(a: Asset) -> dc.Instrument:
    return dc.Instrument(a.identifier, a.asset_class, a.issuer, a.country, a.currency, a.rating)


def portfolio_facts(uow: Session, portfolio_id: int, trades: Mapping[str, Decimal],
                    as_of: date | None = None) -> dc.PortfolioFacts:
    """Current values (base currency) and the given signed trade values per identifier."""
    from cio_desktop.services.portfolio import value_holdings

    val = value_holdings(uow, portfolio_id, as_of)
    values = {h.identifier: h.value_base.amount for h in val.holdings}
    instruments = {h.identifier: dc.Instrument(h.asset.identifier, h.asset.asset_class, h.asset.issuer,
                                               h.asset.country, h.asset.currency, h.asset.rating)
                   for h in val.holdings}
    missing = [k for k in trades if k not in instruments]
    if missing:
        for a in uow.execute(select(Asset).where(Asset.identifier.in_(missing))).scalars():
            instruments[a.identifier] = _instrument(a)
        unknown = [k for k in missing if k not in instruments]
        if unknown:
            raise ValidationError(f"{unknown[0]}: no such asset", field="trades")
    return dc.PortfolioFacts(portfolio_id, val.portfolio.base_currency, values,
                             {k: Decimal(v) for k, v in trades.items()}, instruments)


def trade_values(trades: Iterable[Any]) -> dict[str, Decimal]:
    """Signed base-currency values per identifier from ``Trade``-like objects (asset, value) or
    (identifier, value) pairs; floats become Decimal at the cent."""
    out: dict[str, Decimal] = {}
    for t in trades:
        ident, value = (t.asset, t.value) if hasattr(t, "asset") else (t[0], t[1])
        v = Decimal(str(value)).quantize(Decimal("0.01")) if isinstance(value, float) else Decimal(value)
        out[str(ident)] = out.get(str(ident), Decimal(0)) + v
    return out


def validate_portfolio_change(uow: Session, ctx: ServiceContext, portfolio_id: int, trades: Mapping[str, Decimal],
                              *, entity_id: str | None = None, as_of: date | None = None) -> list[RuleResult]:
    """Check a planned change (signed traded value per identifier, base currency) against every
    rule in force, inside the caller's transaction; records the check, raises
    :class:`ComplianceBlocked` on a blocking breach."""
    day = _today(ctx)
    rules = rules_in_force(uow, day)
    facts = portfolio_facts(uow, portfolio_id, trades, as_of)
    results = dc.evaluate_portfolio(rules, facts)
    buys = sum((v for v in trades.values() if v > 0), Decimal(0))
    sells = -sum((v for v in trades.values() if v < 0), Decimal(0))
    subject = (f"portfolio {portfolio_id}: {len(trades)} trade(s), buys {buys:,.2f} / sells {sells:,.2f} "
               f"{facts.base_currency}")
    return _conclude(uow, ctx, operation="portfolio.rebalance", entity="portfolio",
                     entity_id=entity_id or str(portfolio_id), subject=subject, results=results)


# -- rule changes -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleChange:
    """One change for :meth:`ComplianceService.update_rules`: ``rule_id`` None adds a rule;
    ``retire`` retires it; otherwise the given fields replace the current version's."""

    rule_id: int | None = None
    name: str | None = None
    rule_type: str | None = None
    parameters: Mapping[str, Any] | None = None
    severity: str | None = None
    scope: Mapping[str, Any] | None = None
    valid_from: date | str | None = None
    valid_to: date | str | None = None
    retire: bool = False
    note: str = ""
    #: the version the editing screen showed: when the rule has moved on since, the change is
    #: refused with who changed it and when (team mode). None: no check (CLI, rule files).
    seen_version: int | None = None


def _as_change(c: RuleChange | Mapping[str, Any]) -> RuleChange:
    if isinstance(c, RuleChange):
        return c
    data = dict(c)
    if "type" in data and "rule_type" not in data:
        data["rule_type"] = data.pop("type")
    unknown = set(data) - set(RuleChange.__dataclass_fields__)
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    return RuleChange(**data)


def _view(rule: ComplianceRule, v: ComplianceRuleVersion) -> RuleView:
    spec = _spec(v)
    return RuleView(rule.id, v.name, v.rule_type, dc.LABELS[spec.rule_type], json.loads(v.parameters_json),
                    v.severity, json.loads(v.scope_json), v.valid_from, v.valid_to, v.version,
                    rule.is_active and v.is_active, v.author, v.created_at, v.note, spec.describe_limit())


def _apply_change(uow: Session, ctx: ServiceContext, change: RuleChange, index: int) -> tuple[ComplianceRule,
                                                                                              ComplianceRuleVersion,
                                                                                              dict | None]:
    now = ctx.now()
    where = f"change {index + 1}"
    if change.rule_id is None:
        if change.retire:
            raise ValidationError(f"{where}: name the rule to retire", field="rule_id")
        try:
            spec = dc.validate_rule(name=change.name or "", rule_type=change.rule_type or "",
                                    parameters=change.parameters, severity=change.severity or "block",
                                    scope=change.scope, valid_from=change.valid_from, valid_to=change.valid_to)
        except ValidationError as exc:
            raise ValidationError(f"{where}: {exc.reason}", field=exc.field) from None
        if uow.execute(select(ComplianceRule.id).where(ComplianceRule.name == spec.name)).first():
            raise ValidationError(f"{where}: a rule named '{spec.name}' already exists", field="name")
        rule = ComplianceRule(name=spec.name, current_version=1, is_active=True, created_by=ctx.actor, created_at=now)
        uow.add(rule)
        uow.flush()
        before = None
        version = 1
    else:
        rule = uow.execute(select(ComplianceRule).where(ComplianceRule.id == change.rule_id)
                           .with_for_update()).scalar_one_or_none()
        if rule is None:
            raise ValidationError(f"{where}: there is no rule {change.rule_id}", field="rule_id")
        if not rule.is_active:
            raise ValidationError(f"{where}: rule {rule.id} ({rule.name}) is retired", field="rule_id")
        cur = uow.execute(select(ComplianceRuleVersion).where(ComplianceRuleVersion.rule_id == rule.id,
                                                              ComplianceRuleVersion.version == rule.current_version)
                          ).scalar_one()
        if change.seen_version is not None and change.seen_version != cur.version:
            raise ConcurrentUpdate(f"{where}: rule '{rule.name}' was changed by {cur.author} at "
                                   f"{cur.created_at:%Y-%m-%d %H:%M:%S} UTC (now version {cur.version}, you edited "
                                   f"version {change.seen_version}): reload it and try again (nothing was saved)")
        before = _version_summary(cur)
        old = _spec(cur)
        if change.rule_type is not None and change.rule_type != cur.rule_type:
            raise ValidationError(f"{where}: a rule keeps its type ({cur.rule_type}); add a new rule instead",
                                  field="type")
        if change.retire:
            spec = old
        else:
            params = dict(json.loads(cur.parameters_json))
            if change.parameters is not None:
                params = dict(change.parameters)
            try:
                spec = dc.validate_rule(
                    name=change.name if change.name is not None else cur.name, rule_type=cur.rule_type,
                    parameters=params, severity=change.severity if change.severity is not None else cur.severity,
                    scope=change.scope if change.scope is not None else json.loads(cur.scope_json),
                    valid_from=change.valid_from if change.valid_from is not None else cur.valid_from,
                    valid_to=change.valid_to if change.valid_to is not None else cur.valid_to)
            except ValidationError as exc:
                raise ValidationError(f"{where} (rule {rule.id}, {cur.name}): {exc.reason}", field=exc.field) from None
            if spec.name != rule.name:
                clash = uow.execute(select(ComplianceRule.id).where(ComplianceRule.name == spec.name,
                                                                    ComplianceRule.id != rule.id)).first()
                if clash:
                    raise ValidationError(f"{where}: a rule named '{spec.name}' already exists", field="name")
                rule.name = spec.name
        version = rule.current_version + 1
        rule.current_version = version
        if change.retire:
            rule.is_active = False
    v = ComplianceRuleVersion(rule_id=rule.id, version=version, name=spec.name, rule_type=spec.rule_type.value,
                              parameters_json=spec.parameters_json(), severity=spec.severity.value,
                              scope_json=json.dumps(spec.scope.to_json(), sort_keys=True),
                              valid_from=spec.valid_from, valid_to=spec.valid_to, is_active=not change.retire,
                              author=ctx.actor, note=" ".join((change.note or "").split())[:500], created_at=now)
    uow.add(v)
    uow.flush()
    return rule, v, before


def _version_summary(v: ComplianceRuleVersion) -> dict[str, Any]:
    return {"version": v.version, "name": v.name, "type": v.rule_type, "parameters": json.loads(v.parameters_json),
            "severity": v.severity, "scope": json.loads(v.scope_json), "valid_from": v.valid_from,
            "valid_to": v.valid_to, "active": v.is_active}


def seed_default_rules(uow: Session, ctx: ServiceContext, *, actor: str = "system") -> int:
    """The demo's starting rule set (idempotent: only into an empty rule table)."""
    if uow.execute(select(func.count()).select_from(ComplianceRule)).scalar_one():
        return 0
    defaults = [
        dict(name="Single payment cap", rule_type="max_single_payment",
             parameters={"amount": "2500000", "currency": "EUR"}),
        dict(name="Daily outflow (company)", rule_type="daily_outgoing_limit",
             parameters={"amount": "10000000", "currency": "EUR", "per": "entity"}),
        dict(name="Large payment warning", rule_type="max_single_payment", severity="warn",
             parameters={"amount": "500000", "currency": "EUR"}),
        dict(name="Sanctioned counterparties", rule_type="counterparty_block",
             parameters={"names": ["Blocked Trading Ltd"], "sanctions_list": True}),
        dict(name="Embargoed countries", rule_type="country_block",
             parameters={"countries": ["KP", "IR", "SY", "CU", "RU"]}),   # the demo adds BY later
        dict(name="EUR liquidity buffer", rule_type="min_liquidity",
             parameters={"amount": "1000000", "currency": "EUR"}),
        dict(name="Single asset ≤ 20 %", rule_type="max_weight", parameters={"dimension": "asset", "max": "0.20"}),
        dict(name="Single issuer ≤ 25 %", rule_type="max_weight", parameters={"dimension": "issuer", "max": "0.25"}),
        dict(name="Equities ≤ 60 %", rule_type="max_weight",
             parameters={"dimension": "asset_class", "value": "equity", "max": "0.60"}),
        dict(name="One country ≤ 50 %", rule_type="max_weight", severity="warn",
             parameters={"dimension": "country", "max": "0.50"}),
        dict(name="Investment grade bonds", rule_type="min_credit_rating",
             parameters={"rating": "BBB-", "asset_classes": ["government_bond", "corporate_bond", "bond"]}),
        dict(name="Permitted instruments", rule_type="allowed_instruments",
             parameters={"asset_classes": ["equity", "government_bond", "corporate_bond", "bond", "money_market",
                                           "cash"]}),
        dict(name="FX exposure ≤ 60 %", rule_type="fx_exposure_limit", parameters={"max": "0.60"}),
    ]
    n = 0
    for i, d in enumerate(defaults):
        rule, v, _ = _apply_change(uow, _ActorCtx(ctx, actor), RuleChange(**d, note="default rule set"), i)
        n += 1
    audit_log(uow, actor=actor, action="compliance.rules_seeded", entity="compliance_rules", entity_id="defaults",
              after={"rules": n}, at=ctx.now())
    return n


class _ActorCtx:
    """A context stand-in naming a fixed actor (seeding runs without a session)."""

    def __init__(self, ctx: ServiceContext, actor: str) -> None:
        self._ctx, self.actor = ctx, actor

    def now(self) -> datetime:
        return self._ctx.now()


# -- standing ---------------------------------------------------------------------------------------------
def _standing(uow: Session, ctx: ServiceContext) -> list[StandingRow]:
    from cio_desktop.storage.models import Portfolio

    day = _today(ctx)
    rules = rules_in_force(uow, day)
    rates = _Rates(uow, day)
    out: list[StandingRow] = []
    live = list(uow.execute(select(Payment).where(Payment.status.in_(("pending_approval", "approved", "scheduled")))
                            .order_by(Payment.id)).scalars())
    portfolios = list(uow.execute(select(Portfolio).order_by(Portfolio.id)).scalars())
    facts_by_portfolio: dict[int, dc.PortfolioFacts | str] = {}
    for pf in portfolios:
        try:
            facts_by_portfolio[pf.id] = portfolio_facts(uow, pf.id, {})
        except CioError as exc:
            facts_by_portfolio[pf.id] = str(exc)
    names = {pf.id: pf.name for pf in portfolios}
    # every open payment's facts once, judged by every payment rule at once
    pay_rules = [r for r in rules if r.rule_type in dc.PAYMENT_TYPES and r.rule_type is not RuleType.MIN_LIQUIDITY]
    verdicts: dict[int, dict[int, RuleResult]] = {}
    for pay in live if pay_rules else ():
        results = dc.evaluate_payment(pay_rules, payment_facts(uow, pay, pay_rules), rates)
        verdicts[pay.id] = {r.rule_id: r for r in results}

    def row(rule: RuleSpec, subject: str, r: RuleResult | None, status: str, note: str = "",
            actual: str | None = None, headroom: str | None = None) -> StandingRow:
        return StandingRow(rule.rule_id, rule.version, rule.name, rule.rule_type.value, rule.severity.value, subject,
                           rule.describe_limit(), actual if actual is not None else (r.actual if r else ""),
                           headroom if headroom is not None else (r.headroom if r else ""), status,
                           note or (r.message if r else ""))

    for rule in rules:
        t, p = rule.rule_type, rule.parameters
        if t in dc.PORTFOLIO_TYPES:
            for pid, facts in facts_by_portfolio.items():
                if rule.scope.portfolio_ids and pid not in rule.scope.portfolio_ids:
                    continue
                if isinstance(facts, str):
                    out.append(row(rule, names[pid], None, "n/a", facts))
                    continue
                # standing = the holdings as if bought from nothing: every weight and every
                # instrument held is judged (no "the trades reduce it" allowance)
                probe = dc.PortfolioFacts(pid, facts.base_currency, {}, dict(facts.values), facts.instruments)
                r = dc.evaluate_portfolio([rule], probe)[0]
                status = ("n/a" if r.outcome is Outcome.NOT_APPLICABLE else
                          "ok" if r.outcome is Outcome.PASS else _breach_status(rule))
                note = r.message if status in ("ok", "n/a") else f"in breach now: {r.actual} against {r.limit}"
                out.append(row(rule, names[pid], r, status, note))
            continue
        if t is RuleType.MIN_LIQUIDITY:
            cur = p["currency"]
            have = _liquidity(uow, cur, None)
            ok = have >= p["amount"]
            out.append(row(rule, f"company {cur}", None, "ok" if ok else _breach_status(rule),
                           "the buffer holds" if ok else "liquidity is below the buffer",
                           actual=f"{have:,.2f} {cur}", headroom=f"{have - p['amount']:,.2f} {cur}"))
            continue
        if t in (RuleType.COUNTRY_BLOCK, RuleType.COUNTERPARTY_BLOCK):
            hits, checked = [], 0
            for pay in live:
                r = verdicts[pay.id][rule.rule_id]
                if r.outcome is Outcome.NOT_APPLICABLE:
                    continue
                checked += 1
                if r.breached:
                    hits.append(pay.id)
            status = "ok" if not hits else _breach_status(rule)
            note = ("no open payment goes to a listed " + ("country" if t is RuleType.COUNTRY_BLOCK else "counterparty")
                    if not hits else "open payment(s) " + ", ".join(map(str, hits)) + " hit the list")
            out.append(row(rule, "open payments", None, status, note, actual=f"{len(hits)} of {checked} listed",
                           headroom="—"))
            continue
        # payment rules: the worst open payment (or the worst day) under the rule
        worst_r: RuleResult | None = None
        worst_subject = "no open payment"
        for pay in live:
            r = verdicts[pay.id][rule.rule_id]
            if r.outcome is Outcome.NOT_APPLICABLE:
                continue
            if worst_r is None or (r.breached and not worst_r.breached) or (
                    r.breached == worst_r.breached and _headroom_key(r) < _headroom_key(worst_r)):
                worst_r, worst_subject = r, f"payment {pay.id}"
        if worst_r is None:
            out.append(row(rule, worst_subject, None, "ok", "nothing open to check", actual="—", headroom="—"))
        else:
            out.append(row(rule, worst_subject, worst_r, _breach_status(rule) if worst_r.breached else "ok"))
    return out


def _breach_status(rule: RuleSpec) -> str:
    """A blocking rule in breach is a "breach"; a warning rule's is a "warning"."""
    return "breach" if rule.severity is dc.Severity.BLOCK else "warning"


def _headroom_key(r: RuleResult) -> Decimal:
    try:
        return Decimal(r.headroom.split()[0].replace(",", ""))
    except Exception:  # noqa: BLE001 — no numeric headroom (block lists)
        return Decimal("Infinity")


# -- the service ------------------------------------------------------------------------------------------
class ComplianceService(Service):
    """Rules, standing, checks, overrides, sanctions list and reports (see the module doc)."""

    # ---- reads --------------------------------------------------------------------------------
    @action(Permission.COMPLIANCE_READ, description="view compliance rules")
    def rules(self, *, include_retired: bool = False) -> list[RuleView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            q = select(ComplianceRule, ComplianceRuleVersion).join(
                ComplianceRuleVersion, and_(ComplianceRuleVersion.rule_id == ComplianceRule.id,
                                            ComplianceRuleVersion.version == ComplianceRule.current_version)
            ).order_by(ComplianceRule.id)
            if not include_retired:
                q = q.where(ComplianceRule.is_active.is_(True))
            return [_view(r, v) for r, v in uow.execute(q).all()]

    @action(Permission.COMPLIANCE_READ, description="view a compliance rule's history")
    def rule_history(self, rule_id: int) -> list[RuleView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            rule = uow.get(ComplianceRule, rule_id)
            if rule is None:
                raise NotFound(f"no compliance rule {rule_id}")
            versions = uow.execute(select(ComplianceRuleVersion).where(ComplianceRuleVersion.rule_id == rule_id)
                                   .order_by(ComplianceRuleVersion.version)).scalars()
            return [_view(rule, v) for v in versions]

    @action(Permission.COMPLIANCE_READ, description="view compliance standing")
    def standing(self) -> list[StandingRow]:
        """Each rule in force now: its limit, the actual figure and the headroom."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            return _standing(uow, self.ctx)

    @action(Permission.COMPLIANCE_READ, description="view compliance checks")
    def checks(self, start: date | None = None, end: date | None = None, *, outcome: str | Sequence[str] | None = None,
               entity: str | None = None, entity_id: str | None = None, limit: int = 1000) -> list[CheckView]:
        """Newest first; ``start``/``end`` are inclusive UTC days."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            return _load_checks(uow, start, end, outcome=outcome, entity=entity, entity_id=entity_id, limit=limit,
                                newest_first=True)

    @action(Permission.COMPLIANCE_READ, description="view compliance violations")
    def violations(self, start: date | None = None, end: date | None = None, limit: int = 1000) -> list[CheckView]:
        """Checks that blocked, warned or were overridden, newest first."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            return _load_checks(uow, start, end, outcome=("block", "warn", "overridden"), limit=limit,
                                newest_first=True)

    @action(Permission.COMPLIANCE_READ, description="view compliance overrides")
    def overrides(self) -> list[OverrideView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return _load_overrides(uow, None, None)

    @action(Permission.COMPLIANCE_READ, description="view active compliance overrides")
    def active_overrides(self) -> list[OverrideView]:
        """Overrides that can still let an operation pass a blocking rule (not used, not expired),
        soonest to expire first: the screen and the CLI show what is open, not the whole history
        (that is in the report)."""
        now = self.ctx.now()
        with self.ctx.db.unit_of_work(write=False) as uow:
            q = (select(ComplianceOverride, ComplianceRule.name)
                 .join(ComplianceRule, ComplianceRule.id == ComplianceOverride.rule_id)
                 .where(ComplianceOverride.used_check_id.is_(None), ComplianceOverride.expires_at > now)
                 .order_by(ComplianceOverride.expires_at, ComplianceOverride.id))
            return [_override_view(o, n) for o, n in uow.execute(q).all()]

    @action(Permission.COMPLIANCE_READ, description="view the sanctions list")
    def sanctions(self, limit: int = 10_000) -> list[tuple[str, str, str, str]]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return [(r.name, r.country, r.list_name, r.reference) for r in uow.execute(
                select(SanctionsEntry).order_by(SanctionsEntry.name).limit(limit)).scalars()]

    @action(Permission.COMPLIANCE_READ, description="check a payment against the compliance rules")
    def preview_payment(self, payment_id: int) -> list[RuleResult]:
        """What the rules in force say about an existing payment now (nothing recorded)."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            p = uow.get(Payment, payment_id)
            if p is None:
                raise NotFound(f"no payment {payment_id}")
            day = _today(self.ctx)
            rules = rules_in_force(uow, day)
            return dc.evaluate_payment(rules, payment_facts(uow, p, rules), _Rates(uow, day))

    @action(Permission.COMPLIANCE_READ, description="check a portfolio change against the compliance rules")
    def preview_portfolio_change(self, portfolio_id: int, trades: Iterable[Any]) -> list[RuleResult]:
        """What the rules in force say about a planned change (``Trade`` objects or
        (identifier, signed base value) pairs); nothing recorded."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            rules = rules_in_force(uow, _today(self.ctx))
            return dc.evaluate_portfolio(rules, portfolio_facts(uow, portfolio_id, trade_values(trades)))

    # ---- changes ------------------------------------------------------------------------------
    @action(Permission.COMPLIANCE_MANAGE, description="change compliance rules")
    def update_rules(self, changes: Sequence[RuleChange | Mapping[str, Any]]) -> list[RuleView]:
        """Add, edit or retire rules — all or none, in one transaction, one new version and one
        audit entry per rule changed. In force for the next operation."""
        items = [_as_change(c) for c in changes]
        if not items:
            raise ValidationError("no change given", field="changes")
        views = []
        with self.ctx.db.unit_of_work() as uow:
            for i, change in enumerate(items):
                rule, v, before = _apply_change(uow, self.ctx, change, i)
                what = "added" if before is None else ("retired" if change.retire else "changed")
                audit_log(uow, actor=self.ctx.actor, action=f"compliance_rule.{what}", entity="compliance_rule",
                          entity_id=rule.id, before=before or {}, after=_version_summary(v), at=self.ctx.now())
                views.append(_view(rule, v))
        self.ctx.bus.publish(TOPIC_RULES, ids=[v.id for v in views])
        return views

    @action(Permission.COMPLIANCE_MANAGE, description="let one operation pass a compliance rule")
    def grant_override(self, rule_id: int, entity: str, entity_id: int | str, reason: str,
                       *, hours: int = 24) -> OverrideView:
        """One-off permission for ``entity`` (payment or portfolio) ``entity_id`` to pass the
        blocking rule ``rule_id`` at its next check, within ``hours``."""
        if entity not in ("payment", "portfolio"):
            raise ValidationError(f"an override is for a payment or a portfolio, not '{entity}'", field="entity")
        why = " ".join((reason or "").split())
        if len(why) < 5:
            raise ValidationError("say why the rule may be passed (at least 5 characters)", field="reason")
        if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 24 * 14:
            raise ValidationError("an override lasts 1 hour to 14 days", field="hours")
        now = self.ctx.now()
        with self.ctx.db.unit_of_work() as uow:
            rule = uow.get(ComplianceRule, rule_id)
            if rule is None or not rule.is_active:
                raise ValidationError(f"there is no rule {rule_id} in force", field="rule_id")
            from cio_desktop.storage.models import Portfolio

            model = Payment if entity == "payment" else Portfolio
            number = str(entity_id).strip()
            if not number.isdigit() or uow.get(model, int(number)) is None:
                raise ValidationError(f"there is no {entity} {entity_id}", field="entity_id")
            entity_id = int(number)
            o = ComplianceOverride(rule_id=rule_id, entity=entity, entity_id=str(entity_id), reason=why,
                                   approved_by=self.ctx.actor, approved_at=now, expires_at=now + timedelta(hours=hours))
            uow.add(o)
            uow.flush()
            audit_log(uow, actor=self.ctx.actor, action="compliance.override_granted", entity=entity,
                      entity_id=entity_id, after={"override": o.id, "rule": rule.name, "rule_id": rule_id,
                                                  "reason": why, "expires_at": o.expires_at}, at=now)
            view = _override_view(o, rule.name)
        self.ctx.bus.publish(TOPIC_RULES, ids=[rule_id], override=view.id)
        return view

    @action(Permission.COMPLIANCE_MANAGE, description="import a sanctions list")
    def import_sanctions(self, path: str | Path) -> SanctionsImport:
        """Replace the sanctions list with the CSV at ``path`` (header: name[, country, list,
        reference]). A malformed file is refused whole (file, line, field); the list in force
        stays as it was."""
        src = Path(path).expanduser()
        if not src.is_file():
            raise ValidationError("the file does not exist", source=str(src))
        raw = src.read_bytes()
        if len(raw) > MAX_SANCTIONS_BYTES:
            raise ValidationError(f"the file is larger than {MAX_SANCTIONS_BYTES // 1_000_000} MB", source=src.name)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise ValidationError("not UTF-8 text", source=src.name, line=line) from None
        entries = dc.parse_sanctions_csv(text, src.name)
        digest = hashlib.sha256(raw).hexdigest()
        now = self.ctx.now()
        with self.ctx.db.unit_of_work() as uow:
            replaced = uow.execute(select(func.count()).select_from(SanctionsEntry)).scalar_one()
            uow.query(SanctionsEntry).delete(synchronize_session=False)
            uow.add_all([SanctionsEntry(name=e.name, name_key=e.key, country=e.country, list_name=e.list_name,
                                        reference=e.reference, imported_at=now) for e in entries])
            uow.flush()
            audit_log(uow, actor=self.ctx.actor, action="compliance.sanctions_imported", entity="sanctions_list",
                      entity_id=digest[:16], before={"entries": replaced},
                      after={"file": src.name, "sha256": digest, "entries": len(entries)}, at=now)
        self.ctx.bus.publish(TOPIC_RULES, ids=[], sanctions=len(entries))
        return SanctionsImport(str(src), digest, len(entries), int(replaced))

    # ---- reports ------------------------------------------------------------------------------
    @action(Permission.COMPLIANCE_READ, description="generate a compliance report")
    def generate_compliance_report(self, start: date | str, end: date | str) -> ComplianceReport:
        """The period's record (inclusive UTC days): see :class:`ComplianceReport`."""
        d0, d1 = _parse_day(start, "from"), _parse_day(end, "to")
        if d1 < d0:
            raise ValidationError(f"the period ends ({d1}) before it starts ({d0})", field="to")
        with self.ctx.db.unit_of_work(write=False) as uow:
            report = build_report(uow, d0, d1, generated_at=self.ctx.now(), generated_by=self.ctx.actor)
        return report

    @action(Permission.REPORTS_EXPORT, description="export a compliance report")
    def export_report(self, report: ComplianceReport, path: str | Path, fmt: str | None = None) -> Path:
        """Write ``report`` as PDF, Excel, the renderers' CSV zip, one CSV or JSON (by ``fmt`` or
        the file's suffix, see :func:`report_format`); refused when the content no longer matches
        its hash. The file is rendered to a temporary file beside the target, one audit entry
        (with the hash) is committed, then the file takes its final name; a failure on the way
        leaves neither a file nor an entry. ``reports.exported`` is published."""
        kind = report_format(path, fmt)
        target = Path(path).expanduser()
        if not target.parent.is_dir():
            raise ValidationError(f"the folder {target.parent} does not exist", field="path")
        if not report.verify():
            raise ValidationError("the report's content no longer matches its hash", field="report")
        target = check_target(target)
        # rendered outside the transaction (a big PDF must not hold the write lock); the file
        # takes its final name only after the audit entry is committed
        with atomic_output(target) as tmp:
            if kind in DOCUMENT_FORMATS:
                render_report(_document(report), DOCUMENT_FORMATS[kind], tmp)
            else:
                tmp.write_text(report_json(report) if kind == "json" else report_csv(report), encoding="utf-8",
                               newline="")
            with self.ctx.db.unit_of_work() as uow:
                audit_log(uow, actor=self.ctx.actor, action="compliance.report_exported",
                          entity="compliance_report", entity_id=report.sha256[:16],
                          after={"file": target.name, "format": kind, "from": report.period_start,
                                 "to": report.period_end, "sha256": report.sha256}, at=self.ctx.now())
        self.ctx.bus.publish("reports.exported", kind="compliance", path=str(target), format=kind)
        return target


# -- loading helpers --------------------------------------------------------------------------------------
def _parse_day(v: date | str, fieldname: str) -> date:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v).strip())
    except ValueError:
        raise ValidationError(f"'{v}' is not a date (YYYY-MM-DD)", field=fieldname) from None


def _bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    lo = datetime.combine(start, time.min, tzinfo=timezone.utc) if start else None
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=timezone.utc) if end else None
    return lo, hi


def _load_checks(uow: Session, start: date | None, end: date | None, *, outcome: str | Sequence[str] | None = None,
                 entity: str | None = None, entity_id: str | None = None, limit: int | None = None,
                 newest_first: bool = False) -> list[CheckView]:
    lo, hi = _bounds(start, end)
    C = ComplianceCheck
    q = select(C.id, C.checked_at, C.operation, C.entity, C.entity_id, C.actor, C.outcome, C.subject, C.ruleset)
    if lo is not None:
        q = q.where(ComplianceCheck.checked_at >= lo)
    if hi is not None:
        q = q.where(ComplianceCheck.checked_at < hi)
    if outcome:
        q = q.where(ComplianceCheck.outcome.in_([outcome] if isinstance(outcome, str) else list(outcome)))
    if entity:
        q = q.where(ComplianceCheck.entity == entity)
    if entity_id is not None:
        q = q.where(ComplianceCheck.entity_id == str(entity_id))
    q = q.order_by(ComplianceCheck.id.desc() if newest_first else ComplianceCheck.id)
    if limit:
        q = q.limit(limit)
    checks = list(uow.execute(q).all())
    if not checks:
        return []
    names = dict(uow.execute(select(ComplianceRuleVersion.rule_id, ComplianceRuleVersion.name)
                             .order_by(ComplianceRuleVersion.version)).all())
    by_check: dict[int, list[CheckResultView]] = {}
    ids = [c[0] for c in checks]
    R = ComplianceCheckResult
    cols = (R.check_id, R.rule_id, R.rule_version, R.outcome, R.limit_text, R.actual_text, R.message)
    if len(ids) > 2000:   # most of the period: one range scan beats many IN lists
        q = select(*cols).where(R.check_id >= min(ids), R.check_id <= max(ids)).order_by(R.id)
        chunks = [q]
    else:
        chunks = [select(*cols).where(R.check_id.in_(ids[i:i + 500])).order_by(R.id) for i in range(0, len(ids), 500)]
    wanted = set(ids)
    for q in chunks:
        for cid, rid, ver, out, lim, act, msg in uow.execute(q):
            if cid in wanted:
                by_check.setdefault(cid, []).append(CheckResultView(rid, names.get(rid, ""), ver, out, lim, act, msg))
    return [CheckView(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], tuple(by_check.get(c[0], ())))
            for c in checks]


def _override_view(o: ComplianceOverride, rule_name: str) -> OverrideView:
    return OverrideView(o.id, o.rule_id, rule_name, o.entity, o.entity_id, o.reason, o.approved_by, o.approved_at,
                        o.expires_at, o.used_check_id)


def _load_overrides(uow: Session, start: date | None, end: date | None) -> list[OverrideView]:
    lo, hi = _bounds(start, end)
    q = select(ComplianceOverride, ComplianceRule.name).join(ComplianceRule,
                                                             ComplianceRule.id == ComplianceOverride.rule_id)
    if lo is not None:
        q = q.where(ComplianceOverride.approved_at >= lo)
    if hi is not None:
        q = q.where(ComplianceOverride.approved_at < hi)
    return [_override_view(o, n) for o, n in uow.execute(q.order_by(ComplianceOverride.id)).all()]


REQUIRED_CHECK_FIELDS = ("check_id", "checked_at", "operation", "entity", "entity_id", "actor", "outcome", "subject",
                         "rules")


def build_report(uow: Session, start: date, end: date, *, generated_at: datetime, generated_by: str) -> ComplianceReport:
    lo, hi = _bounds(start, end)
    # every version current at some moment of the period: created before its end, superseded after its start
    versions = list(uow.execute(select(ComplianceRuleVersion).order_by(ComplianceRuleVersion.rule_id,
                                                                       ComplianceRuleVersion.version)).scalars())
    rules: list[dict[str, Any]] = []
    for i, v in enumerate(versions):
        nxt = versions[i + 1] if i + 1 < len(versions) and versions[i + 1].rule_id == v.rule_id else None
        until = nxt.created_at if nxt is not None else None
        if v.created_at < hi and (until is None or until > lo) and v.is_active:
            spec = _spec(v)
            rules.append({"rule_id": v.rule_id, "version": v.version, "name": v.name, "type": v.rule_type,
                          "severity": v.severity, "limit": spec.describe_limit(),
                          "parameters": json.loads(v.parameters_json), "scope": json.loads(v.scope_json),
                          "valid_from": v.valid_from, "valid_to": v.valid_to, "author": v.author,
                          "in_force_from": v.created_at, "in_force_until": until})
    checks = _load_checks(uow, start, end)
    check_rows, violations, warnings = [], [], []
    for c in checks:
        results = [{"rule_id": r.rule_id, "rule": r.rule_name, "version": r.rule_version, "outcome": r.outcome,
                    "limit": r.limit, "actual": r.actual, "message": r.message} for r in c.results]
        check_rows.append({"check_id": c.id, "checked_at": c.checked_at, "operation": c.operation, "entity": c.entity,
                           "entity_id": c.entity_id, "actor": c.actor, "outcome": c.outcome, "subject": c.subject,
                           "rules": results})
        for r in results:
            base = {"check_id": c.id, "checked_at": c.checked_at, "operation": c.operation, "entity": c.entity,
                    "entity_id": c.entity_id, "actor": c.actor, **r}
            if r["outcome"] in ("block", "overridden"):
                violations.append(base)
            elif r["outcome"] == "warn":
                warnings.append(base)
    overrides = [{"override_id": o.id, "rule_id": o.rule_id, "rule": o.rule_name, "entity": o.entity,
                  "entity_id": o.entity_id, "reason": o.reason, "approved_by": o.approved_by,
                  "approved_at": o.approved_at, "expires_at": o.expires_at, "used_by_check": o.used_check_id}
                 for o in _load_overrides(uow, start, end)]
    payment_ids = sorted({int(c.entity_id) for c in checks if c.entity == "payment" and c.entity_id.isdigit()})
    trails = []
    for i in range(0, len(payment_ids), 500):
        chunk = payment_ids[i:i + 500]
        pays = {p.id: p for p in uow.execute(select(Payment).where(Payment.id.in_(chunk))).scalars()}
        decisions: dict[int, list[dict[str, Any]]] = {}
        req_ids = [p.approval_request_id for p in pays.values() if p.approval_request_id]
        if req_ids:
            for d in uow.execute(select(ApprovalDecision).where(ApprovalDecision.request_id.in_(req_ids))
                                 .order_by(ApprovalDecision.id)).scalars():
                decisions.setdefault(d.request_id, []).append(
                    {"approver": d.approver, "decision": d.decision, "at": d.decided_at, "comment": d.comment})
        events: dict[int, list[dict[str, Any]]] = {}
        for e in uow.execute(select(PaymentEvent).where(PaymentEvent.payment_id.in_(chunk))
                             .order_by(PaymentEvent.id)).scalars():
            events.setdefault(e.payment_id, []).append(
                {"at": e.at, "actor": e.actor, "from": e.from_status, "to": e.to_status, "note": e.note})
        for pid in chunk:
            p = pays.get(pid)
            if p is None:
                continue
            trails.append({"payment_id": pid, "amount": Money.from_minor(p.amount_minor, p.currency).format(),
                           "beneficiary": p.beneficiary_name, "requested_by": p.requested_by, "status": p.status,
                           "required_approvals": p.required_approvals,
                           "approvals": decisions.get(p.approval_request_id, []) if p.approval_request_id else [],
                           "history": events.get(pid, [])})
    report = ComplianceReport(start, end, generated_at, generated_by, rules, check_rows, violations, warnings,
                              overrides, trails)
    report.sha256 = report.compute_hash()
    return report


def report_json(report: ComplianceReport) -> str:
    data = report.content()
    data["sha256"] = report.sha256
    data["hash_algorithm"] = HASH_ALGORITHM
    return json.dumps(data, indent=2, sort_keys=True, default=_json_default, ensure_ascii=False) + "\n"


def _cell(v: Any) -> str:
    s = v.isoformat() if isinstance(v, (datetime, date)) else ("" if v is None else str(v))
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") and not _numeric(s) else s


def _numeric(s: str) -> bool:
    try:
        Decimal(s.replace(",", "").split()[0])
        return True
    except Exception:  # noqa: BLE001
        return False


def report_csv(report: ComplianceReport) -> str:
    """One CSV, sections one after another (``section`` first column), hash last."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "field", "value"])
    for k, v in (("period_start", report.period_start), ("period_end", report.period_end),
                 ("generated_at", report.generated_at), ("generated_by", report.generated_by)):
        w.writerow(["report", k, _cell(v)])
    w.writerow([])
    w.writerow(["section", "rule_id", "version", "name", "type", "severity", "limit", "author", "in_force_from",
                "in_force_until"])
    for r in report.rules:
        w.writerow(["rule"] + [_cell(r[k]) for k in ("rule_id", "version", "name", "type", "severity", "limit",
                                                     "author", "in_force_from", "in_force_until")])
    w.writerow([])
    w.writerow(["section", "check_id", "checked_at", "operation", "entity", "entity_id", "actor", "outcome",
                "subject", "rule_id", "rule", "version", "rule_outcome", "limit", "actual", "message"])
    for c in report.checks:
        head = [_cell(c[k]) for k in ("check_id", "checked_at", "operation", "entity", "entity_id", "actor",
                                      "outcome", "subject")]
        for r in c["rules"] or [{}]:
            w.writerow(["check"] + head + [_cell(r.get(k)) for k in ("rule_id", "rule", "version", "outcome", "limit",
                                                                      "actual", "message")])
    w.writerow([])
    w.writerow(["section", "override_id", "rule_id", "rule", "entity", "entity_id", "reason", "approved_by",
                "approved_at", "expires_at", "used_by_check"])
    for o in report.overrides:
        w.writerow(["override"] + [_cell(o[k]) for k in ("override_id", "rule_id", "rule", "entity", "entity_id",
                                                         "reason", "approved_by", "approved_at", "expires_at",
                                                         "used_by_check")])
    w.writerow([])
    w.writerow(["section", "payment_id", "amount", "beneficiary", "requested_by", "status", "required_approvals",
                "at", "actor", "step", "note"])
    for t in report.approval_trails:
        head = [_cell(t[k]) for k in ("payment_id", "amount", "beneficiary", "requested_by", "status",
                                      "required_approvals")]
        for a in t["approvals"]:
            w.writerow(["approval"] + head + [_cell(a["at"]), _cell(a["approver"]), _cell(a["decision"]),
                                              _cell(a["comment"])])
        for e in t["history"]:
            w.writerow(["history"] + head + [_cell(e["at"]), _cell(e["actor"]), _cell(f"{e['from']}→{e['to']}"),
                                             _cell(e["note"])])
    w.writerow([])
    w.writerow(["report", "sha256", report.sha256])
    return buf.getvalue()


# -- the report as a ReportDocument (PDF, Excel, CSV zip) -------------------------------------------------
#: compliance export format → the report renderers' format name
DOCUMENT_FORMATS = {"pdf": "pdf", "xlsx": "xlsx", "zip": "csv"}
#: every export format, by file suffix; "csv" is the report's own single CSV, "zip" the renderers'
#: one-CSV-per-table zip
REPORT_SUFFIXES = {".pdf": "pdf", ".xlsx": "xlsx", ".zip": "zip", ".csv": "csv", ".json": "json"}
_FORMAT_ALIASES = {"excel": "xlsx", "csv-zip": "zip", "csvzip": "zip"}
HASH_ALGORITHM = "SHA-256 over the canonical JSON of every other field (sorted keys, no spaces)"


def report_format(path: str | Path, fmt: str | None = None) -> str:
    """The export format: ``fmt`` when given, otherwise from the file's suffix — ``pdf``,
    ``xlsx``, ``zip`` (one CSV per table), ``csv`` (one CSV, sections one after another) or
    ``json``. Anything else is refused with the choices in plain words."""
    if fmt:
        f = fmt.strip().lower().lstrip(".")
        f = _FORMAT_ALIASES.get(f, f)
        if f in REPORT_SUFFIXES.values():
            return f
        raise ValidationError(f"cannot export a compliance report as '{fmt}': use pdf, xlsx, zip, csv or json",
                              field="format")
    suffix = Path(path).suffix.lower()
    if suffix in REPORT_SUFFIXES:
        return REPORT_SUFFIXES[suffix]
    what = f"a '{suffix}' file" if suffix else f"'{Path(path).name}' (no file extension)"
    raise ValidationError(f"cannot export a compliance report as {what}: name the file .pdf, .xlsx (Excel), "
                          ".zip (CSV files), .csv or .json", field="format")


_SCOPE_LABELS = {"account_ids": "accounts", "portfolio_ids": "portfolios", "currencies": "currencies"}


def _scope_text(scope: Any) -> str:
    """A rule's scope in words: "accounts 1, 2; currencies EUR", or "all" when unrestricted."""
    if not isinstance(scope, Mapping):
        return json.dumps(scope, sort_keys=True, ensure_ascii=False, default=_json_default) if scope else "all"
    parts = [f"{_SCOPE_LABELS.get(k, k)} {', '.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
             for k, v in sorted(scope.items()) if v not in (None, "", [], ())]
    return "; ".join(parts) or "all"


def _rules_text(results: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(f"{r['rule']} v{r['version']}: {r['outcome']}" for r in results)


def compliance_document(report: ComplianceReport) -> ReportDocument:
    """``report`` laid out for the report renderers: signature (who, when, the content SHA-256),
    rules in force with versions, every check with its outcome, violations and warnings,
    overrides with who approved them, payment approval trails. Refuses a report whose content
    no longer matches its hash (the document would show a hash that proves nothing)."""
    if not report.verify():
        raise ValidationError("the report's content no longer matches its hash", field="report")
    return _document(report)


def _document(report: ComplianceReport) -> ReportDocument:
    period = Period(report.period_start, report.period_end)
    doc = ReportDocument("Compliance report", period, subtitle="Rules, checks, violations, overrides and "
                         "approval trails", generated_at=report.generated_at, generated_by=report.generated_by,
                         audience="Compliance and the regulator")
    at = report.generated_at.astimezone(timezone.utc) if report.generated_at.tzinfo else report.generated_at
    sig = doc.add(Section("Signature"))
    sig.add(Text(f"Generated by {report.generated_by} at {at:%Y-%m-%d %H:%M:%S} UTC for {period.label}: "
                 f"{len(report.rules)} rule version(s) in force, {len(report.checks)} check(s), "
                 f"{len(report.violations)} violation(s), {len(report.warnings)} warning(s), "
                 f"{len(report.overrides)} override(s), {len(report.approval_trails)} payment trail(s)."))
    sig.add(Text(f"Content SHA-256: {report.sha256}"))
    sig.add(Text(f"The hash is {HASH_ALGORITHM}; the JSON export carries that content.", "note"))
    sig.add(Table("Signature", [Column("Field"), Column("Value")], [
        ("Period from", report.period_start.isoformat()), ("Period to", report.period_end.isoformat()),
        ("Generated by", report.generated_by), ("Generated at (UTC)", f"{at:%Y-%m-%d %H:%M:%S}"),
        ("Content SHA-256", report.sha256), ("Hash algorithm", HASH_ALGORITHM)]))

    # Portrait A4 holds about seven columns once a date-time is among them: the wide records are
    # split into tables that share a key (rule, check, payment); width hints keep words whole.
    def text(title: str, width: float) -> Column:
        return Column(title, width=width)

    s = doc.add(Section("Rules in force"))
    s.add(Table("Rules and limits",
                [Column("Rule ID", "int"), text("Rule", 18), Column("Version", "int"), text("Type", 16),
                 text("Severity", 9), text("Limit", 26), text("Scope", 18)],
                [(r["rule_id"], r["name"], r["version"], dc.LABELS.get(r["type"], r["type"]), r["severity"],
                  r["limit"], _scope_text(r["scope"])) for r in report.rules],
                note="Every version in force at some moment of the period, a rule's versions one after another."))
    s.add(Table("When each version applied",
                [Column("Rule ID", "int"), Column("Version", "int"), Column("Valid from", "date"),
                 Column("Valid to", "date"), text("Changed by", 12), Column("In force from", "datetime"),
                 Column("In force until", "datetime")],
                [(r["rule_id"], r["version"], r["valid_from"], r["valid_to"], r["author"], r["in_force_from"],
                  r["in_force_until"]) for r in report.rules],
                note="Times in UTC. Valid from/to: the dates the rule itself names; in force: from the change "
                     "that created the version until the next one (empty: still current)."))

    s = doc.add(Section("Checks"))
    s.add(Table("Every check with its outcome",
                [Column("Check", "int"), Column("Checked at", "datetime"), text("Operation", 19), text("Actor", 10),
                 text("Outcome", 11), text("Subject", 20), text("Rules (version: outcome)", 20)],
                [(c["check_id"], c["checked_at"], c["operation"], c["actor"], c["outcome"], c["subject"],
                  _rules_text(c["rules"])) for c in report.checks],
                note="Times in UTC."))

    cols = [Column("Check", "int"), Column("Checked at", "datetime"), text("Rule", 16), Column("Version", "int"),
            text("Outcome", 11), text("Limit", 13), text("Actual", 13), text("Message", 18)]

    def breach_rows(items: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        return [(v["check_id"], v["checked_at"], v["rule"], v["version"], v["outcome"], v["limit"], v["actual"],
                 v["message"]) for v in items]

    s = doc.add(Section("Violations and warnings"))
    s.add(Table("Violations (blocked or overridden)", cols, breach_rows(report.violations),
                note="The operation, who asked and what it was about: the check of the same number."))
    s.add(Table("Warnings", cols, breach_rows(report.warnings)))

    s = doc.add(Section("Overrides"))
    s.add(Table("Overrides granted in the period",
                [Column("Override", "int"), text("Rule", 15), text("For", 10), text("Reason", 18),
                 text("Approved by", 13), Column("Approved at", "datetime"), Column("Expires at", "datetime"),
                 Column("Used by check", "int")],
                [(o["override_id"], o["rule"], f"{o['entity']} {o['entity_id']}", o["reason"], o["approved_by"],
                  o["approved_at"], o["expires_at"], o["used_by_check"]) for o in report.overrides],
                note="Times in UTC; an empty 'Used by check' means the override was not used."))

    s = doc.add(Section("Payment approval trails"))
    trails = report.approval_trails
    s.add(Table("Payments checked in the period",
                [Column("Payment", "int"), text("Amount", 16), text("Beneficiary", 22), text("Requested by", 12),
                 text("Status", 14), Column("Approvals required", "int")],
                [(t["payment_id"], t["amount"], t["beneficiary"], t["requested_by"], t["status"],
                  t["required_approvals"]) for t in trails]))
    s.add(Table("Approval decisions",
                [Column("Payment", "int"), Column("At", "datetime"), text("Approver", 12), text("Decision", 10),
                 text("Comment", 30)],
                [(t["payment_id"], a["at"], a["approver"], a["decision"], a["comment"])
                 for t in trails for a in t["approvals"]]))
    s.add(Table("Status history",
                [Column("Payment", "int"), Column("At", "datetime"), text("Actor", 12), text("From", 17),
                 text("To", 17), text("Note", 20)],
                [(t["payment_id"], e["at"], e["actor"], e["from"], e["to"], e["note"])
                 for t in trails for e in t["history"]], note="Times in UTC."))
    return doc


# -- accepting a rebalancing plan (PortfolioService.accept_rebalancing delegates here) ---------------------
@dataclass(frozen=True)
class AcceptedPlan:
    portfolio_id: int
    trades: int
    outcome: str                     # pass | warn | overridden
    warnings: tuple[str, ...]        # the rules that warned, in plain words
    accepted_by: str
    accepted_at: datetime
    check_results: tuple[RuleResult, ...] = ()


def accept_plan(ctx: ServiceContext, portfolio_id: int, trades: Sequence[Any], *, note: str = "") -> AcceptedPlan:
    """Check the plan against the rules in force and record it as accepted (one transaction:
    check record + audit entry with every trade). A blocking breach refuses it
    (``ComplianceBlocked``), recorded as a blocked check."""
    items = list(trades)
    if not items:
        raise ValidationError("the plan has no trades to accept", field="trades")
    values = trade_values(items)
    now = ctx.now()
    try:
        with ctx.db.unit_of_work() as uow:
            results = validate_portfolio_change(uow, ctx, portfolio_id, values)
            rows = []
            for t in items:
                if hasattr(t, "asset"):
                    rows.append({"asset": t.asset, "side": t.side, "quantity": f"{t.quantity:.6f}",
                                 "price": f"{t.price:.6f}", "value": f"{t.value:.2f}"})
                else:
                    rows.append({"asset": str(t[0]), "value": str(t[1])})
            outcome = dc.worst(results)
            audit_log(uow, actor=ctx.actor, action="rebalancing.accepted", entity="portfolio",
                      entity_id=portfolio_id, after={"trades": rows, "compliance": outcome.value,
                                                     "note": " ".join((note or "").split())[:500]}, at=now)
    except ComplianceBlocked as exc:
        record_refusal(ctx, exc)
        raise
    ctx.bus.publish("portfolio.plan_accepted", portfolio_id=portfolio_id, trades=len(items), outcome=outcome.value)
    ctx.bus.publish(TOPIC_CHECKED, operation="portfolio.rebalance", entity="portfolio", entity_id=str(portfolio_id),
                    outcome=outcome.value)
    warnings = tuple(f"{r.name}: {r.message}" for r in results if r.outcome in (Outcome.WARN, Outcome.OVERRIDDEN))
    return AcceptedPlan(portfolio_id, len(items), outcome.value, warnings, ctx.actor, now, tuple(results))
