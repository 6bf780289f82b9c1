"""Deferring a table's secondary indexes during a very large insert (SQLite/SQLCipher only).

Why: each inserted ledger row updates five B-trees (the natural-key unique index plus four
query indexes the Ledger panel needs at a million rows). For an import that is large compared
with the table, dropping the four query indexes inside the import's transaction and building
them again afterwards (one sort each) is cheaper than maintaining them row by row — measured
in ``bench/import.py``. Unique indexes stay, so ``ON CONFLICT DO NOTHING`` still de-duplicates.

DDL is transactional in SQLite: when the import fails and its transaction rolls back, the
dropped indexes come back with it, so the schema is never left without them; readers in other
connections keep seeing the committed schema (WAL) until the import commits.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator


def secondary_indexes(cursor: Any, table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the table's non-unique indexes that have their own SQL."""
    rows = cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                          "AND sql IS NOT NULL ORDER BY name", (table,)).fetchall()
    return [(name, sql) for name, sql in rows if not sql.lstrip().upper().startswith("CREATE UNIQUE")]


@contextmanager
def indexes_deferred(cursor: Any, table: str) -> Iterator[list[str]]:
    """Drop ``table``'s secondary indexes now and create them again when the block succeeds.

    Must run inside an open write transaction on ``cursor``'s connection. Yields the names of
    the deferred indexes. On an exception nothing is re-created here: the caller's rollback
    restores the dropped indexes together with everything else.
    """
    deferred = secondary_indexes(cursor, table)
    for name, _sql in deferred:
        cursor.execute(f'DROP INDEX "{name}"')
    yield [name for name, _sql in deferred]
    for _name, sql in deferred:
        cursor.execute(sql)
