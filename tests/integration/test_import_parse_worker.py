"""A large file's statements are parsed in a worker process (services.parse_worker) while the
import inserts. The worker must not change what an import does: every sample file, and every
mutated (mostly broken) variant of one, gives the same ledger rows or the same error message
with nothing stored as the in-process path. A worker that dies refuses the file whole.

The size threshold is lowered so the small sample files take the worker path."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from cio_desktop.errors import CioError, ImportFailed
from cio_desktop.services import parse_worker, statement_import
from cio_desktop.storage.models import AuditEntry, ImportBatch, Transaction
from tests.property.helpers import make_session

pytestmark = pytest.mark.sqlcipher_only  # the worker feeds SQLite imports only

DATA = Path(__file__).resolve().parents[1] / "data" / "statements"
SAMPLES = sorted(p for p in DATA.rglob("*") if p.is_file())
LEDGER = [c for c in Transaction.__table__.columns if c.name not in ("id", "import_batch_id", "created_at")]


def outcome(ws, path: Path, *, worker: bool, monkeypatch) -> tuple:  # noqa: ANN001
    """(error message or None, ledger rows, batches, audit entries) after importing ``path``."""
    monkeypatch.setattr(statement_import, "PARALLEL_MIN_BYTES", 0 if worker else 1 << 62)
    try:
        ws.imports.import_file(path)
        error = None
    except CioError as exc:
        error = f"{type(exc).__name__}: {exc}"
    with ws.db.unit_of_work(write=False) as uow:
        rows = [tuple(r) for r in uow.execute(select(*LEDGER).order_by(Transaction.id))]
        batches = len(uow.execute(select(ImportBatch.id)).all())
        audits = len(uow.execute(select(AuditEntry.id)).all())
    return error, rows, batches, audits


def mutate(data: bytes, seed: int) -> bytes:
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(out))
        op = rng.choice(["flip", "delete", "insert", "truncate"])
        if op == "flip":
            out[i] = rng.choice(b"0123456789.,-;:/ ABCxyz\xff\n")
        elif op == "delete":
            del out[i:i + rng.randint(1, 12)]
        elif op == "insert":
            out[i:i] = bytes(rng.choice(b"0123456789.,-;:/ A\n") for _ in range(rng.randint(1, 6)))
        else:
            del out[max(1, i):]
    return bytes(out)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_worker_imports_every_sample_exactly_as_in_process(workspaces, golden_empty, sample, monkeypatch):
    local, remote = workspaces.open(golden_empty, "local.db"), workspaces.open(golden_empty, "worker.db")
    for w in (local, remote):
        make_session(w, "treasurer")
    expected = outcome(local, sample, worker=False, monkeypatch=monkeypatch)
    got = outcome(remote, sample, worker=True, monkeypatch=monkeypatch)
    assert got == expected
    if sample.parent.name != "csv":  # some CSV samples need an account chosen: refused alike
        assert expected[0] is None and expected[1]


@pytest.mark.parametrize("seed", range(40))
def test_worker_refuses_broken_files_with_the_same_message(workspaces, golden_empty, tmp_path, seed, monkeypatch):
    sample = SAMPLES[seed % len(SAMPLES)]
    path = tmp_path / sample.name
    path.write_bytes(mutate(sample.read_bytes(), seed))
    local, remote = workspaces.open(golden_empty, "local.db"), workspaces.open(golden_empty, "worker.db")
    for w in (local, remote):
        make_session(w, "treasurer")
    expected = outcome(local, path, worker=False, monkeypatch=monkeypatch)
    assert outcome(remote, path, worker=True, monkeypatch=monkeypatch) == expected


def test_earliest_fault_is_reported_whichever_comes_first(ws, tmp_path, monkeypatch):
    """A foreign currency on line 3 and a bad amount on line 4: line 3's currency is the error,
    though the builder meets the currency check and the writer's account check apart."""
    make_session(ws, "treasurer")
    path = tmp_path / "two_faults.csv"
    path.write_text("Date,Amount,Currency,Payee,Reference\n2026-01-02,10.00,EUR,A,R1\n"
                    "2026-01-03,5.00,USD,B,R2\n2026-01-04,1.234,EUR,C,R3\n", encoding="utf-8")
    account = ws.accounts.create_account(name="Ops", institution="Bank", number="DE89370400440532013000",
                                         currency="EUR")
    for worker in (False, True):
        monkeypatch.setattr(statement_import, "PARALLEL_MIN_BYTES", 0 if worker else 1 << 62)
        with pytest.raises(CioError) as err:
            ws.imports.import_file(path, account_id=account.id)
        assert "line 3" in str(err.value) and "USD differs from the account currency EUR" in str(err.value)


def test_a_worker_that_dies_refuses_the_file_whole(ws, monkeypatch):
    make_session(ws, "treasurer")
    monkeypatch.setattr(statement_import, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parse_worker, "worker_command", lambda: [sys.executable, "-c", "import sys; sys.exit(7)"])
    with pytest.raises(ImportFailed, match="exit code 7"):
        ws.imports.import_file(SAMPLES[0])
    with ws.db.unit_of_work(write=False) as uow:
        assert uow.execute(select(Transaction.id)).first() is None
        assert uow.execute(select(ImportBatch.id)).first() is None
