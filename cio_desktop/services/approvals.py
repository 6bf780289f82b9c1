"""Four-eyes approval, shared by every flow that needs it (payments first).

Segregation of duties is enforced here, in the core: the requester can never approve their own
request, and one approver counts once however often they click. A request is approved when it
has ``required_approvals`` distinct approvals; one rejection rejects it.

Approval policy as data (``approval_policies``): per currency and payment kind, from an amount
threshold on, how many distinct approvers a payment needs (seeded by migration 0008: EUR, USD
and GBP from 0 → 1, from 100,000 → 2; a currency without rules needs 2). The payments service
adds one approval for a first payment to a new beneficiary and one above the requester's daily
limit.

Expiry: a request still pending ``expiry_days`` after it was opened (``app_meta``
``payments.approval_expiry_days``, default 5) expires — at the next decision on it, or at the
next due-payment tick, whichever comes first. Its approvals so far can no longer be used: the
request becomes ``expired`` and the entity's hook ends it (a payment becomes ``rejected``; the
treasurer submits a new one). Approvals given before expiry on a request that completed in time
stay valid.

Entities link in through ``register_hook(entity, hook)``: the hook runs inside the deciding
transaction after every decision (and on expiry), so e.g. the payment becomes ``approved`` in
the same commit as its last approval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from cio_desktop.domain.money import Money, normalise_currency, to_decimal
from cio_desktop.domain.payments import PolicyRule, policy_approvals
from cio_desktop.errors import ComplianceViolation, NotFound, PermissionDenied, ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.services.context import ServiceContext
from cio_desktop.storage.models import AppMeta, ApprovalDecision, ApprovalPolicyRule, ApprovalRequest

EXPIRY_KEY = "payments.approval_expiry_days"
DEFAULT_EXPIRY_DAYS = 5
MAX_APPROVALS_PER_RULE = 3
KINDS = ("any", "external", "internal")

#: (topic, data) pairs a hook asks to publish once the transaction has committed
Events = list[tuple[str, dict[str, Any]]]
#: hook(uow, ctx, request, decision) with decision "approve", "reject" or "expire"
ApprovalHook = Callable[[Session, ServiceContext, ApprovalRequest, str], Events]
ENTITY_HOOKS: dict[str, ApprovalHook] = {}


def register_hook(entity: str, hook: ApprovalHook) -> None:
    """Link an entity (e.g. "payment") to the approvals: ``hook`` runs in the deciding
    transaction after each decision and on expiry."""
    ENTITY_HOOKS[entity] = hook


class ApprovalExpired(ValidationError):
    """The request was pending longer than the expiry allows: its approvals can't be used."""


@dataclass(frozen=True)
class PolicyRuleView:
    id: int
    currency: str
    payment_kind: str
    min_amount: Money
    required_approvals: int
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class ApprovalView:
    id: int
    entity: str
    entity_id: str
    requested_by: str
    required_approvals: int
    approvals: tuple[str, ...]
    status: str
    summary: str
    created_at: datetime
    expires_at: datetime | None = None   # when a pending request stops being usable
    expired: bool = False                # pending but past expires_at (ended at the next tick)
    rejections: tuple[tuple[str, str], ...] = ()  # (approver, reason)


def approvers_of(uow: Session, request_id: int) -> tuple[str, ...]:
    """Distinct approvers who approved the request, in order of decision."""
    return tuple(uow.execute(select(ApprovalDecision.approver).where(
        ApprovalDecision.request_id == request_id, ApprovalDecision.decision == "approve")
        .order_by(ApprovalDecision.id)).scalars())


def _view(uow: Session, req: ApprovalRequest, now: datetime | None = None) -> ApprovalView:
    approvers = approvers_of(uow, req.id)
    rejections = tuple((a, c) for a, c in uow.execute(
        select(ApprovalDecision.approver, ApprovalDecision.comment).where(
            ApprovalDecision.request_id == req.id, ApprovalDecision.decision == "reject")
        .order_by(ApprovalDecision.id)).all())
    days = expiry_days(uow)
    expires = req.created_at + timedelta(days=days) if req.status == "pending" else None
    expired = bool(expires is not None and now is not None and now > expires)
    return ApprovalView(req.id, req.entity, req.entity_id, req.requested_by, req.required_approvals,
                        approvers, req.status, req.summary, req.created_at, expires, expired, rejections)


# -- settings, policy and expiry (module functions: they run inside the caller's transaction) ----
def read_setting(uow: Session, key: str, default: int) -> int:
    row = uow.get(AppMeta, key)
    try:
        return int(row.value) if row is not None else default
    except ValueError:
        return default


def write_setting(uow: Session, key: str, value: int) -> None:
    row = uow.get(AppMeta, key)
    if row is None:
        uow.add(AppMeta(key=key, value=str(value)))
    else:
        row.value = str(value)
    uow.flush()


def expiry_days(uow: Session) -> int:
    return max(1, read_setting(uow, EXPIRY_KEY, DEFAULT_EXPIRY_DAYS))


def is_expired(req: ApprovalRequest, now: datetime, days: int) -> bool:
    return req.status == "pending" and now - req.created_at > timedelta(days=days)


def policy_rules(uow: Session) -> list[PolicyRule]:
    return [PolicyRule(r.currency, r.payment_kind, r.min_amount_minor, r.required_approvals)
            for r in uow.execute(select(ApprovalPolicyRule)).scalars()]


def required_by_policy(uow: Session, currency: str, kind: str, amount_minor: int) -> int:
    """Distinct approvals the policy table asks for (see ``domain.payments.policy_approvals``)."""
    return policy_approvals(policy_rules(uow), currency, kind, amount_minor)


def expire_request(uow: Session, ctx: ServiceContext, req: ApprovalRequest, days: int) -> Events:
    """End a pending request that outlived the expiry (one audit entry), then its entity's hook."""
    now = ctx.now()
    req.status, req.decided_at = "expired", now
    uow.flush()
    audit_log(uow, actor=ctx.actor, action="approval.expired", entity=req.entity, entity_id=req.entity_id,
              after={"request": req.id, "opened": req.created_at, "expiry_days": days,
                     "approvals": len(approvers_of(uow, req.id)), "required": req.required_approvals},
              at=now)
    events: Events = [("approvals.changed", {"request": req.id, "status": req.status, "entity": req.entity,
                                             "entity_id": req.entity_id})]
    hook = ENTITY_HOOKS.get(req.entity)
    if hook is not None:
        events += hook(uow, ctx, req, "expire")
    return events


def expire_stale(uow: Session, ctx: ServiceContext) -> tuple[list[int], Events]:
    """Expire every pending request older than the expiry, inside the caller's transaction."""
    days = expiry_days(uow)
    cutoff = ctx.now() - timedelta(days=days)
    stale = list(uow.execute(select(ApprovalRequest).where(
        ApprovalRequest.status == "pending", ApprovalRequest.created_at < cutoff)
        .order_by(ApprovalRequest.id)).scalars())
    events: Events = []
    expired = []
    for req in stale:
        if is_expired(req, ctx.now(), days):
            events += expire_request(uow, ctx, req, days)
            expired.append(req.id)
    return expired, events


def withdraw_request(uow: Session, ctx: ServiceContext, req: ApprovalRequest, reason: str) -> None:
    """The requester's side ended the matter (e.g. the payment was cancelled): one audit entry."""
    if req.status != "pending":
        return
    req.status, req.decided_at = "withdrawn", ctx.now()
    uow.flush()
    audit_log(uow, actor=ctx.actor, action="approval.withdrawn", entity=req.entity, entity_id=req.entity_id,
              after={"request": req.id, "reason": reason}, at=ctx.now())


def publish_all(ctx: ServiceContext, events: Events) -> None:
    for topic, data in events:
        ctx.bus.publish(topic, **data)


def open_request(uow: Session, ctx: ServiceContext, *, entity: str, entity_id: str,
                 required_approvals: int, summary: str) -> ApprovalRequest:
    """Create a request inside the caller's transaction (the caller audits its own change)."""
    if required_approvals < 1:
        raise ValidationError("an approval request needs at least one approval", field="approvals")
    req = ApprovalRequest(entity=entity, entity_id=str(entity_id), requested_by=ctx.actor,
                          required_approvals=required_approvals, status="pending", summary=summary,
                          created_at=ctx.now())
    uow.add(req)
    uow.flush()
    audit_log(uow, actor=ctx.actor, action="approval.requested", entity=entity, entity_id=entity_id,
              after={"request": req.id, "required": required_approvals, "summary": summary}, at=ctx.now())
    return req


class ApprovalsService(Service):
    @action(Permission.PAYMENTS_READ, description="view approval requests")
    def pending(self) -> list[ApprovalView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = uow.execute(select(ApprovalRequest).where(ApprovalRequest.status == "pending")
                               .order_by(ApprovalRequest.created_at)).scalars()
            return [_view(uow, r, self.ctx.now()) for r in rows]

    @action(Permission.PAYMENTS_READ, description="view an approval request")
    def request(self, request_id: int) -> ApprovalView:
        with self.ctx.db.unit_of_work(write=False) as uow:
            req = uow.get(ApprovalRequest, request_id)
            if req is None:
                raise NotFound(f"no approval request {request_id}")
            return _view(uow, req, self.ctx.now())

    # -- policy as data ---------------------------------------------------------------------
    @action(Permission.PAYMENTS_READ, description="view the approval policy")
    def policy(self) -> list[PolicyRuleView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = uow.execute(select(ApprovalPolicyRule).order_by(
                ApprovalPolicyRule.currency, ApprovalPolicyRule.payment_kind,
                ApprovalPolicyRule.min_amount_minor)).scalars()
            return [_rule_view(r) for r in rows]

    @action(Permission.PAYMENTS_READ, description="view the approval policy")
    def required_approvals(self, currency: str, amount: Decimal | str, kind: str = "external") -> int:
        """What the policy table alone asks for this amount (extras are added per payment)."""
        cur = _currency(currency)
        minor = _minor(amount, cur, allow_zero=True)
        with self.ctx.db.unit_of_work(write=False) as uow:
            return required_by_policy(uow, cur, kind, minor)

    @action(Permission.COMPLIANCE_MANAGE, description="change the approval policy")
    def set_policy_rule(self, currency: str, min_amount: Decimal | str, required_approvals: int,
                        kind: str = "any") -> PolicyRuleView:
        """Add or change the rule for (currency, kind, threshold)."""
        cur = _currency(currency)
        minor = _minor(min_amount, cur, allow_zero=True)
        if kind not in KINDS:
            raise ValidationError(f"the payment kind is one of {', '.join(KINDS)}, not '{kind}'", field="kind")
        if isinstance(required_approvals, bool) or not isinstance(required_approvals, int) or \
                not 0 <= required_approvals <= MAX_APPROVALS_PER_RULE:
            raise ValidationError(f"required approvals is a whole number from 0 to {MAX_APPROVALS_PER_RULE}",
                                  field="required approvals")
        with self.ctx.db.unit_of_work() as uow:
            row = uow.execute(select(ApprovalPolicyRule).where(
                ApprovalPolicyRule.currency == cur, ApprovalPolicyRule.payment_kind == kind,
                ApprovalPolicyRule.min_amount_minor == minor)).scalar_one_or_none()
            before = {"required": row.required_approvals} if row is not None else {}
            if row is None:
                row = ApprovalPolicyRule(currency=cur, payment_kind=kind, min_amount_minor=minor,
                                         required_approvals=required_approvals)
                uow.add(row)
            row.required_approvals, row.updated_by, row.updated_at = \
                required_approvals, self.ctx.actor, self.ctx.now()
            uow.flush()
            audit_log(uow, actor=self.ctx.actor, action="approval_policy.set", entity="approval_policy",
                      entity_id=row.id, before=before,
                      after={"currency": cur, "kind": kind, "from": Money.from_minor(minor, cur).format(),
                             "required": required_approvals}, at=self.ctx.now())
            view = _rule_view(row)
        self.ctx.bus.publish("approvals.policy_changed", rule=view.id)
        return view

    @action(Permission.COMPLIANCE_MANAGE, description="change the approval policy")
    def remove_policy_rule(self, rule_id: int) -> None:
        with self.ctx.db.unit_of_work() as uow:
            row = uow.get(ApprovalPolicyRule, rule_id)
            if row is None:
                raise NotFound(f"no approval policy rule {rule_id}")
            audit_log(uow, actor=self.ctx.actor, action="approval_policy.removed", entity="approval_policy",
                      entity_id=row.id, before={"currency": row.currency, "kind": row.payment_kind,
                                                "from_minor": row.min_amount_minor,
                                                "required": row.required_approvals}, at=self.ctx.now())
            uow.delete(row)
        self.ctx.bus.publish("approvals.policy_changed", rule=rule_id)

    @action(Permission.PAYMENTS_READ, description="view the approval expiry")
    def expiry_days(self) -> int:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return expiry_days(uow)

    @action(Permission.COMPLIANCE_MANAGE, description="change the approval expiry")
    def set_expiry_days(self, days: int) -> int:
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 90:
            raise ValidationError("approval requests expire after 1 to 90 days", field="expiry days")
        with self.ctx.db.unit_of_work() as uow:
            before = expiry_days(uow)
            write_setting(uow, EXPIRY_KEY, days)
            audit_log(uow, actor=self.ctx.actor, action="approval_policy.expiry_set", entity="approval_policy",
                      entity_id="expiry", before={"days": before}, after={"days": days}, at=self.ctx.now())
        self.ctx.bus.publish("approvals.policy_changed", expiry_days=days)
        return days

    @action(Permission.PAYMENTS_APPROVE, description="approve a request")
    def approve(self, request_id: int, comment: str = "") -> ApprovalView:
        try:
            return self._decide(request_id, "approve", comment)
        except ComplianceViolation as exc:  # an entity hook's compliance check refused it
            from cio_desktop.services.compliance import record_refusal

            record_refusal(self.ctx, exc)
            raise

    @action(Permission.PAYMENTS_APPROVE, description="reject a request")
    def reject(self, request_id: int, reason: str) -> ApprovalView:
        if not (reason or "").strip():
            raise ValidationError("say why you reject it", field="reason")
        return self._decide(request_id, "reject", reason)

    def _decide(self, request_id: int, decision: str, comment: str) -> ApprovalView:
        me = self.ctx.actor
        events: Events = []
        with self.ctx.db.unit_of_work() as uow:
            req = uow.execute(select(ApprovalRequest).where(ApprovalRequest.id == request_id)
                              .with_for_update()).scalar_one_or_none()
            if req is None:
                raise NotFound(f"no approval request {request_id}")
            days = expiry_days(uow)
            if is_expired(req, self.ctx.now(), days):
                events = expire_request(uow, self.ctx, req, days)
                opened = req.created_at
                uow.commit()
                publish_all(self.ctx, events)
                raise ApprovalExpired(
                    f"approval request {request_id} ({req.entity} {req.entity_id}) expired: it was opened "
                    f"{opened:%Y-%m-%d %H:%M} UTC and requests expire after {days} days, so its approvals "
                    f"can no longer be used; submit the {req.entity} again", field="approval")
            if req.status != "pending":
                raise ValidationError(f"request {request_id} is already {req.status}", field="status")
            if req.requested_by == me:
                audit_log(uow, actor=me, action="approval.self_refused", entity=req.entity,
                          entity_id=req.entity_id, after={"request": req.id}, at=self.ctx.now())
                uow.commit()
                raise PermissionDenied(f"{me} requested this and cannot {decision} it: another "
                                       "approver must decide (four-eyes principle)",
                                       permission=Permission.PAYMENTS_APPROVE.value)
            already = uow.execute(select(ApprovalDecision.id).where(
                ApprovalDecision.request_id == req.id, ApprovalDecision.approver == me)).first()
            if already:
                raise ValidationError(f"{me} has already decided on request {request_id}; another "
                                      "approver is needed", field="approver")
            uow.add(ApprovalDecision(request_id=req.id, approver=me, decision=decision, comment=comment,
                                     decided_at=self.ctx.now()))
            uow.flush()
            approvals = len(_view(uow, req).approvals)
            if decision == "reject":
                req.status, req.decided_at = "rejected", self.ctx.now()
            elif approvals >= req.required_approvals:
                req.status, req.decided_at = "approved", self.ctx.now()
            audit_log(uow, actor=me, action=f"approval.{decision}d", entity=req.entity,
                      entity_id=req.entity_id, after={"request": req.id, "status": req.status,
                                                      "approvals": approvals}, at=self.ctx.now())
            hook = ENTITY_HOOKS.get(req.entity)
            if hook is not None:
                events += hook(uow, self.ctx, req, decision)
            view = _view(uow, req, self.ctx.now())
        self.ctx.bus.publish("approvals.changed", request=request_id, status=view.status,
                             entity=view.entity, entity_id=view.entity_id)
        publish_all(self.ctx, events)
        return view


def _rule_view(r: ApprovalPolicyRule) -> PolicyRuleView:
    return PolicyRuleView(r.id, r.currency, r.payment_kind, Money.from_minor(r.min_amount_minor, r.currency),
                          r.required_approvals, r.updated_by, r.updated_at)


def _currency(currency: str) -> str:
    try:
        return normalise_currency(currency)
    except ValueError as exc:
        raise ValidationError(str(exc), field="currency") from None


def _minor(amount: Decimal | str, currency: str, *, allow_zero: bool) -> int:
    try:
        minor = Money(to_decimal(amount), currency).to_minor()
    except (TypeError, ValueError) as exc:
        raise ValidationError(str(exc), field="amount") from None
    if minor < 0 or (minor == 0 and not allow_zero):
        raise ValidationError("the amount cannot be negative", field="amount")
    return minor
