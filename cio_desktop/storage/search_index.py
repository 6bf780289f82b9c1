"""Catching the ledger's full-text index (SQLite trigram FTS5) up with new lines.

Lines above ``app_meta['fts_upto']`` are not yet indexed; the ledger search treats them all as
candidates (and filters them with LIKE), so results are exact at any moment. ``catch_up``
indexes them in batches, each batch one transaction that also advances ``fts_upto``.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from cio_desktop.storage.database import Database

log = logging.getLogger(__name__)

BATCH = 50_000


def has_index(db: Database) -> bool:
    if db.kind != "sqlite":
        return False
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name = 'transactions_fts'")).scalar_one() > 0


def indexed_upto(session) -> int:  # noqa: ANN001
    value = session.execute(text("SELECT value FROM app_meta WHERE key = 'fts_upto'")).scalar_one_or_none()
    return int(value) if value is not None else 0


def pending(db: Database) -> int:
    if not has_index(db):
        return 0
    with db.unit_of_work(write=False) as uow:
        upto = indexed_upto(uow)
        return uow.execute(text("SELECT count(*) FROM transactions WHERE id > :u"), {"u": upto}).scalar_one()


def catch_up(db: Database, *, batch: int = BATCH, max_batches: int | None = None) -> int:
    """Index pending lines; returns how many were indexed. Safe to call from any thread."""
    if not has_index(db):
        return 0
    done, batches = 0, 0
    while max_batches is None or batches < max_batches:
        with db.unit_of_work() as uow:
            upto = indexed_upto(uow)
            top = uow.execute(text("SELECT max(id) FROM (SELECT id FROM transactions WHERE id > :u "
                                   "ORDER BY id LIMIT :n)"), {"u": upto, "n": batch}).scalar_one()
            if top is None:
                break
            uow.execute(text("INSERT INTO transactions_fts(rowid, search_text) SELECT id, search_text "
                             "FROM transactions WHERE id > :u AND id <= :t"), {"u": upto, "t": top})
            n = uow.execute(text("SELECT count(*) FROM transactions WHERE id > :u AND id <= :t"),
                            {"u": upto, "t": top}).scalar_one()
            uow.execute(text("INSERT OR REPLACE INTO app_meta (key, value) VALUES ('fts_upto', :t)"),
                        {"t": str(top)})
        done += n
        batches += 1
    if done:
        log.info("search index: %d ledger lines indexed", done)
    return done
