"""Large imports defer the ledger's query indexes (storage.bulk_load): the indexes are all back
after a successful import, and after a refused one the rollback restores them with nothing
imported. The size threshold is lowered so ordinary sample files take the bulk path."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from cio_desktop.errors import ValidationError
from cio_desktop.services import statement_import
from cio_desktop.storage.models import Transaction
from tests.property.helpers import make_session

pytestmark = pytest.mark.sqlcipher_only  # index deferral is SQLite's (reads sqlite_master)

DATA = Path(__file__).resolve().parents[1] / "data" / "statements"
MT940 = sorted((DATA / "mt940").glob("*"))[0]


def ledger_indexes(ws) -> list[str]:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return sorted(uow.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' "
                                       "AND tbl_name = 'transactions'")).scalars())


def ledger_lines(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(Transaction)).scalar_one()


@pytest.fixture
def bulk_always(monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setattr(statement_import, "BULK_LOAD_MIN_BYTES", 0)
    monkeypatch.setattr(statement_import, "BULK_LOAD_BYTES_PER_LINE", 1)


def test_bulk_import_rebuilds_every_index_and_still_deduplicates(ws, bulk_always):
    make_session(ws, "treasurer")
    before = ledger_indexes(ws)
    assert len(before) >= 5  # the natural key and the four query indexes
    first = ws.imports.import_file(MT940)
    assert first.new > 0
    assert ledger_indexes(ws) == before
    again = ws.imports.import_file(MT940)
    assert again.new == 0 and again.duplicates == first.new
    with ws.db.unit_of_work(write=False) as uow:
        assert uow.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
        plan = " ".join(str(r) for r in uow.execute(text(
            "EXPLAIN QUERY PLAN SELECT id FROM transactions ORDER BY amount_minor, id LIMIT 5")))
    assert "ix_transactions_amount" in plan


def test_refused_bulk_import_leaves_indexes_and_ledger_as_they_were(ws, bulk_always, tmp_path):
    make_session(ws, "treasurer")
    before = ledger_indexes(ws)
    broken = tmp_path / "broken.sta"
    good = MT940.read_text(encoding="latin-1")
    broken.write_text(good.replace(":62F:", ":62F:X", 1), encoding="latin-1")
    with pytest.raises(ValidationError):
        ws.imports.import_file(broken)
    assert ledger_indexes(ws) == before
    assert ledger_lines(ws) == 0


def test_small_import_into_a_large_ledger_keeps_indexes_in_place(ws, monkeypatch):
    """The estimate decides: a file smaller than the stored ledger does not take the bulk path."""
    make_session(ws, "treasurer")
    monkeypatch.setattr(statement_import, "BULK_LOAD_MIN_BYTES", 0)
    dropped: list[str] = []
    real = statement_import.indexes_deferred

    def spy(cursor, table):  # noqa: ANN001, ANN202
        dropped.append(table)
        return real(cursor, table)

    monkeypatch.setattr(statement_import, "indexes_deferred", spy)
    ws.imports.import_file(MT940)  # empty ledger: bulk
    assert dropped == ["transactions"]
    monkeypatch.setattr(statement_import, "BULK_LOAD_BYTES_PER_LINE", 10**9)
    ws.imports.import_file(MT940)  # estimate 0 lines < stored lines: indexes stay
    assert dropped == ["transactions"]
