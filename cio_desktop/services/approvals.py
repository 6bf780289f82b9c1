"""Four-eyes approval, shared by every flow that needs it (payments first).

Segregation of duties is enforced here, in the core: the requester can never approve their own
request, and one approver counts once however often they click. A request is approved when it
has ``required_approvals`` distinct approvals; one rejection rejects it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cio_desktop.errors import NotFound, PermissionDenied, ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.services.context import ServiceContext
from cio_desktop.storage.models import ApprovalDecision, ApprovalRequest


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


def _view(uow: Session, req: ApprovalRequest) -> ApprovalView:
    approvers = tuple(uow.execute(select(ApprovalDecision.approver).where(
        ApprovalDecision.request_id == req.id, ApprovalDecision.decision == "approve")
        .order_by(ApprovalDecision.id)).scalars())
    return ApprovalView(req.id, req.entity, req.entity_id, req.requested_by, req.required_approvals,
                        approvers, req.status, req.summary, req.created_at)


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
            return [_view(uow, r) for r in rows]

    @action(Permission.PAYMENTS_APPROVE, description="approve a request")
    def approve(self, request_id: int, comment: str = "") -> ApprovalView:
        return self._decide(request_id, "approve", comment)

    @action(Permission.PAYMENTS_APPROVE, description="reject a request")
    def reject(self, request_id: int, reason: str) -> ApprovalView:
        if not (reason or "").strip():
            raise ValidationError("say why you reject it", field="reason")
        return self._decide(request_id, "reject", reason)

    def _decide(self, request_id: int, decision: str, comment: str) -> ApprovalView:
        me = self.ctx.actor
        with self.ctx.db.unit_of_work() as uow:
            req = uow.execute(select(ApprovalRequest).where(ApprovalRequest.id == request_id)
                              .with_for_update()).scalar_one_or_none()
            if req is None:
                raise NotFound(f"no approval request {request_id}")
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
            view = _view(uow, req)
        self.ctx.bus.publish("approvals.changed", request=request_id, status=view.status,
                             entity=view.entity, entity_id=view.entity_id)
        return view
