"""The tamper-evident audit trail.

Each entry stores the SHA-256 of its own content chained to the previous entry's hash, and the
``audit_head`` row holds the newest id and hash. Editing, deleting or inserting any row breaks
the chain at that row; deleting the newest rows no longer matches the head.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cio_desktop.security.permissions import Permission
from cio_desktop.services.base import Service, action
from cio_desktop.storage.models import AuditEntry, AuditHead
from cio_desktop.storage.types import utcnow

GENESIS = "0" * 64


def _canonical(entry_id: int, ts: datetime, actor: str, action_name: str, entity: str,
               entity_id: str, summary: str) -> str:
    return json.dumps([entry_id, ts.isoformat(timespec="microseconds"), actor, action_name, entity,
                       entity_id, summary], ensure_ascii=False, separators=(",", ":"))


def entry_hash(prev_hash: str, entry_id: int, ts: datetime, actor: str, action_name: str,
               entity: str, entity_id: str, summary: str) -> str:
    payload = prev_hash + "\n" + _canonical(entry_id, ts, actor, action_name, entity, entity_id, summary)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def audit_log(session: Session, *, actor: str, action: str, entity: str, entity_id: Any = "",
              before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
              at: datetime | None = None) -> AuditEntry:
    """Append one entry inside the caller's transaction (so it commits or rolls back with the
    change it records). Callers pass masked values only: never a password or full number."""
    # FOR UPDATE serialises concurrent writers (PostgreSQL: a row lock; SQLCipher: the write
    # transaction already holds the file lock); populate_existing re-reads the head even if this
    # session loaded it earlier, so the next id and hash are always the committed ones
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one()
    ts = at or utcnow()
    summary = json.dumps({"before": dict(before or {}), "after": dict(after or {})},
                         sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    new_id = head.last_id + 1
    digest = entry_hash(head.last_hash, new_id, ts, actor, action, entity, str(entity_id), summary)
    entry = AuditEntry(id=new_id, ts=ts, actor=actor, action=action, entity=entity,
                       entity_id=str(entity_id), summary=summary, prev_hash=head.last_hash,
                       hash=digest)
    session.add(entry)
    head.last_id, head.last_hash = new_id, digest
    session.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str = ""

    def message(self) -> str:
        if self.ok:
            return f"audit trail OK: {self.checked} entries, chain intact"
        return f"audit trail BROKEN at entry {self.first_bad_id}: {self.reason}"


def verify_chain(session: Session) -> VerifyResult:
    prev, expected, checked = GENESIS, 1, 0
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=2000))
    for entry in rows.scalars():
        if entry.id != expected:
            reason = (f"entry {expected} is missing (deleted)" if entry.id > expected
                      else f"unexpected entry id {entry.id}")
            return VerifyResult(False, checked, expected, reason)
        if entry.prev_hash != prev:
            return VerifyResult(False, checked, entry.id, "it does not link to the previous entry "
                                "(an entry was inserted, deleted or edited)")
        recomputed = entry_hash(entry.prev_hash, entry.id, entry.ts, entry.actor, entry.action,
                                entry.entity, entry.entity_id, entry.summary)
        if recomputed != entry.hash:
            return VerifyResult(False, checked, entry.id, "its content was changed after it was written")
        prev, expected, checked = entry.hash, expected + 1, checked + 1
    head = session.get(AuditHead, 1)
    if head is None:
        return VerifyResult(False, checked, None, "the audit head record is missing")
    if head.last_id != expected - 1 or head.last_hash != prev:
        return VerifyResult(False, checked, expected,
                            f"the newest entries after {expected - 1} were deleted "
                            f"(head says {head.last_id})")
    return VerifyResult(True, checked)


class AuditService(Service):
    @action(Permission.AUDIT_READ, description="verify the audit trail")
    def verify(self) -> VerifyResult:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return verify_chain(uow)

    @action(Permission.AUDIT_READ, description="read the audit trail")
    def recent(self, limit: int = 200, offset: int = 0) -> list[AuditEntry]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return list(uow.execute(select(AuditEntry).order_by(AuditEntry.id.desc())
                                    .limit(limit).offset(offset)).scalars())

    @action(Permission.AUDIT_READ, description="count audit entries")
    def count(self) -> int:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return uow.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
