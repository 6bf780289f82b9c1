"""Team mode at run time: other workstations' changes reach this one's event bus, and every use
of a user-allowed insecure connection is written to the audit trail.

Every state change writes exactly one audit entry (property 8), so the audit trail is also the
team's change feed: ``ChangeFeed`` reads entries newer than the last one it saw and publishes
them. On PostgreSQL it sleeps on ``LISTEN cio_changes`` (a trigger from migration 0013 notifies
on each new entry); elsewhere — several processes on one SQLCipher file — it polls the audit
head every ``team_poll_seconds``.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from cio_desktop.events import EventBus
from cio_desktop.services.audit import audit_log
from cio_desktop.storage.database import Database
from cio_desktop.storage.models import AuditEntry, AuditHead
from cio_desktop.storage.team import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

#: audit entity → the bus topic the panels listen to
ENTITY_TOPICS = {"payment": "payments.changed", "approval": "approvals.changed",
                 "beneficiary": "beneficiaries.changed", "account": "accounts.changed",
                 "transaction": "ledger.changed", "import": "ledger.changed",
                 "connection": "connections.changed", "portfolio": "portfolio.changed",
                 "holding": "portfolio.changed", "price": "prices.changed", "user": "users.changed",
                 "alert": "alerts.changed", "notification": "notifications.changed"}
TEAM_TOPIC = "team.changed"


def record_insecure_use(db: Database, host: str, what: str, actor: str = "system") -> None:
    """One audit entry per opened insecure connection (the user allowed ``host`` by name)."""
    with db.unit_of_work() as uow:
        audit_log(uow, actor=actor, action="tls.insecure_allowed", entity="connection", entity_id=host,
                  after={"host": host, "kind": what, "reason": "host listed in allow_insecure_hosts"})
    log.warning("insecure %s connection to %s allowed by the setting allow_insecure_hosts (audited)",
                what, host)


class ChangeFeed:
    """Publishes audit entries written by anyone (any workstation) since the last look."""

    def __init__(self, db: Database, bus: EventBus, *, poll_seconds: float = 5.0) -> None:
        self.db, self.bus, self.poll_seconds = db, bus, max(0.05, float(poll_seconds))
        with db.unit_of_work(write=False) as uow:
            head = uow.get(AuditHead, 1)
            self.last_id = head.last_id if head else 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listen_conn: Any = None

    def poll_once(self, limit: int = 1000) -> int:
        """Publish what is new; returns how many entries were seen."""
        with self.db.unit_of_work(write=False) as uow:
            entries = list(uow.execute(select(AuditEntry.id, AuditEntry.entity, AuditEntry.entity_id,
                                              AuditEntry.action, AuditEntry.actor)
                                       .where(AuditEntry.id > self.last_id)
                                       .order_by(AuditEntry.id).limit(limit)).all())
        if not entries:
            return 0
        self.last_id = entries[-1].id
        by_topic: dict[str, set[str]] = defaultdict(set)
        for e in entries:
            topic = ENTITY_TOPICS.get(e.entity)
            if topic:
                by_topic[topic].add(e.entity_id)
        for topic, ids in by_topic.items():
            int_ids = sorted(int(i) for i in ids if i.isdigit())
            self.bus.publish(topic, ids=int_ids, action="remote", remote=True)
        self.bus.publish(TEAM_TOPIC, last_id=self.last_id, count=len(entries),
                         entities=sorted({e.entity for e in entries}),
                         actors=sorted({e.actor for e in entries}))
        return len(entries)

    # -- background thread -----------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cio-change-feed", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        conn = self._listen_conn
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.db.kind == "postgresql":
                    self._listen_loop()
                else:
                    self._stop.wait(self.poll_seconds)
                    if not self._stop.is_set():
                        self.poll_once()
            except Exception:  # noqa: BLE001 — a dropped server connection: retry after a pause
                if self._stop.is_set():
                    return
                log.warning("change feed interrupted; retrying", exc_info=True)
                self._stop.wait(self.poll_seconds)

    def _listen_loop(self) -> None:
        raw = self.db.engine.raw_connection()  # same TLS settings as every other connection
        try:
            conn = raw.driver_connection
            conn.autocommit = True
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._listen_conn = conn
            self.poll_once()  # anything committed before LISTEN took effect
            while not self._stop.is_set():
                # wakes on a notification, or after poll_seconds (a notification sent while
                # reconnecting would otherwise be missed), then reads what is new either way
                for _ in conn.notifies(timeout=self.poll_seconds, stop_after=1):
                    pass
                if self._stop.is_set():
                    return
                self.poll_once()
        finally:
            self._listen_conn = None
            try:
                raw.invalidate()
            except Exception:  # noqa: BLE001
                pass
