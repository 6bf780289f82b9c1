"""Four-eyes: the requester can never approve their own request (segregation of duties)."""

import pytest

from cio_desktop.errors import PermissionDenied, ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services.approvals import open_request
from tests.conftest import login
from tests.property.helpers import make_session


def _request(ws, requester: str, required: int = 2) -> int:  # noqa: ANN001
    make_session(ws, requester)
    with ws.db.unit_of_work() as uow:
        return open_request(uow, ws.ctx, entity="payment", entity_id="P-1", required_approvals=required,
                            summary="EUR 250,000.00 to ACME").id


def test_self_approval_is_refused_even_with_the_approve_permission(ws):
    login(ws, "admin", mfa=True)
    ws.users.set_role_permission("treasurer", Permission.PAYMENTS_APPROVE.value, True)
    req = _request(ws, "treasurer")
    make_session(ws, "treasurer")  # fresh MFA, holds payments.approve now
    assert ws.ctx.session.can(Permission.PAYMENTS_APPROVE)
    with pytest.raises(PermissionDenied, match="requested this and cannot approve it"):
        ws.approvals.approve(req)
    make_session(ws, "approver")
    view = ws.approvals.approve(req, "ok")
    assert view.status == "pending" and view.approvals == ("approver",)
    with pytest.raises(ValidationError, match="already decided"):
        ws.approvals.approve(req)
    make_session(ws, "treasurer")
    with pytest.raises(PermissionDenied):
        ws.approvals.approve(req)
    assert ws.approvals.pending()[0].approvals == ("approver",)


def test_distinct_approvals_complete_and_rejection_ends(ws):
    login(ws, "admin", mfa=True)
    ws.users.set_role_permission("auditor", Permission.PAYMENTS_APPROVE.value, True)  # a 2nd approver role
    req = _request(ws, "treasurer")
    make_session(ws, "approver")
    ws.approvals.approve(req)
    make_session(ws, "auditor")
    assert ws.approvals.approve(req).status == "approved"
    req2 = _request(ws, "treasurer", required=1)
    make_session(ws, "approver")
    with pytest.raises(ValidationError, match="say why"):
        ws.approvals.reject(req2, " ")
    assert ws.approvals.reject(req2, "wrong beneficiary").status == "rejected"
    with pytest.raises(ValidationError, match="already rejected"):
        ws.approvals.approve(req2)


def test_approval_needs_fresh_mfa(ws):
    from cio_desktop.errors import MfaRequired

    req = _request(ws, "treasurer")
    make_session(ws, "approver", mfa_age_seconds=None)
    with pytest.raises(MfaRequired):
        ws.approvals.approve(req)
