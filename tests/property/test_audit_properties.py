"""Property 8: audit trail completeness and tamper evidence."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings, strategies as st
from sqlalchemy import func, select, text

from cio_desktop.errors import CioError, PermissionDenied
from cio_desktop.services.audit import verify_chain
from cio_desktop.storage.models import AuditEntry, Base
from tests.property.helpers import make_session

USERS = ["admin", "treasurer", "approver", "analyst", "auditor", "viewer"]


def state_digest(ws) -> str:  # noqa: ANN001
    """Hash of every table except the audit trail itself: did anything change?"""
    h = hashlib.sha256()
    with ws.db.unit_of_work(write=False) as uow:
        for table in Base.metadata.sorted_tables:
            if table.name in ("audit_entries", "audit_head", "alembic_version"):
                continue
            rows = uow.execute(select(table)).all()
            for row in sorted(repr(tuple(r)) for r in rows):
                h.update(row.encode())
    return h.hexdigest()


def audit_count(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


operation = st.one_of(
    st.tuples(st.just("account"), st.text("ABCDEFGHJK", min_size=1, max_size=6),
              st.integers(100000000, 999999999999)),
    st.tuples(st.just("user"), st.text("abcdefgh", min_size=2, max_size=8),
              st.sampled_from(USERS)),
    st.tuples(st.just("role"), st.sampled_from(USERS[1:]), st.sampled_from(USERS)),
    st.tuples(st.just("unlock"), st.sampled_from(USERS), st.none()),
    st.tuples(st.just("reset_mfa"), st.sampled_from(USERS[1:]), st.none()),
    st.tuples(st.just("active"), st.sampled_from(USERS[1:]), st.booleans()),
    st.tuples(st.just("perm"), st.sampled_from(USERS[1:]), st.sampled_from(["ledger.read", "users.read",
                                                                          "reports.export"])),
)


def run(ws, op) -> None:  # noqa: ANN001
    kind, a, b = op
    if kind == "account":
        make_session(ws, "treasurer")
        ws.accounts.create_account(name=f"Acct {a}", institution="Bank", number=str(b), currency="EUR",
                                   opening_balance="10.00")
        return
    make_session(ws, "admin")
    if kind == "user":
        ws.users.add_user(f"u{a}", b, "Long-Enough-Passw0rd!")
    elif kind == "role":
        ws.users.set_role(a, b if b != "admin" else "viewer")
    elif kind == "unlock":
        ws.users.unlock(a)
    elif kind == "reset_mfa":
        ws.users.reset_mfa(a)
    elif kind == "active":
        ws.users.set_active(a, b)
    elif kind == "perm":
        current = ws.users.role_matrix()[a]
        ws.users.set_role_permission(a, b, b not in current)


@settings(max_examples=100)
@given(ops=st.lists(operation, min_size=1, max_size=5), tamper=st.sampled_from(
    ["edit_summary", "edit_actor", "edit_ts", "edit_action", "delete_middle", "delete_last",
     "forge_append", "rehash_one"]), pick=st.floats(0, 1))
def test_property_8_audit_trail_completeness(ws, ops, tamper, pick):
    for op in ops:
        before_state, before_count = state_digest(ws), audit_count(ws)
        refused = False
        try:
            run(ws, op)
        except PermissionDenied:
            refused = True  # (a user whose role an earlier step changed) — the refusal is audited
        except CioError:
            pass  # refused input: nothing may have changed
        changed = state_digest(ws) != before_state
        assert not (changed and refused)
        assert audit_count(ws) - before_count == (1 if changed or refused else 0), op
    with ws.db.unit_of_work(write=False) as uow:
        assert verify_chain(uow).ok
    # Any single edit or deletion of the trail is detected (done in a transaction, rolled back).
    with ws.db.unit_of_work(write=False) as uow:
        n = uow.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        target = max(1, min(n, 1 + int(pick * n)))
        sql = {
            "edit_summary": "UPDATE audit_entries SET summary = summary || ' ' WHERE id = :i",
            "edit_actor": "UPDATE audit_entries SET actor = actor || 'x' WHERE id = :i",
            "edit_ts": "UPDATE audit_entries SET ts = '2001-01-01 00:00:00.000000' WHERE id = :i",
            "edit_action": "UPDATE audit_entries SET action = 'nothing.happened' WHERE id = :i",
            "delete_middle": "DELETE FROM audit_entries WHERE id = :i",
            "delete_last": "DELETE FROM audit_entries WHERE id = (SELECT max(id) FROM audit_entries)",
            "forge_append": "INSERT INTO audit_entries (id, ts, actor, action, entity, entity_id, summary,"
                            " prev_hash, hash) SELECT id + 1, ts, actor, action, entity, entity_id, summary,"
                            " hash, hash FROM audit_entries WHERE id = (SELECT max(id) FROM audit_entries)",
            "rehash_one": "UPDATE audit_entries SET actor = 'mallory', hash = prev_hash WHERE id = :i",
        }[tamper]
        uow.execute(text(sql), {"i": target})
        result = verify_chain(uow)
        assert not result.ok, tamper
        assert result.first_bad_id is not None and result.reason
