"""Crash safety: a statement import, an API sync and a payment-execution run, each killed with
SIGKILL at 20 random moments (see crash_harness). After every kill the database opens, passes
SQLite's and SQLCipher's integrity checks and the audit chain verifies, and every batch is
wholly present or wholly absent; finishing the work afterwards gives exactly the full result.

Set ``CIO_CRASH_SEED`` to explore other kill moments (the default seed keeps CI repeatable).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cio_desktop.integrations.http import Credentials
from cio_desktop.services.payments import add_beneficiary
from cio_desktop.services.sync import SyncService
from cio_desktop.services.workspace import open_workspace
from cio_desktop.storage.models import (Account, AuditEntry, ImportBatch, Payment, PaymentEvent, SyncRun,
                                        Transaction)
from tests.conftest import TEST_KEY, FakeClock, make_settings
from tests.integration.http_server import CLIENT_ID, CLIENT_SECRET, ApiServer, pki  # noqa: F401 — fixture
from tests.property.helpers import make_session
from tests.reliability.crash_harness import KILLS, check_database, kill_points, run_child, verify_audit

SEED = int(os.environ.get("CIO_CRASH_SEED", "13"))
NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone.utc)
STATEMENT_IBAN = "DE02120300000000202051"
OUTCOMES: dict[str, int] = {}


def _outcome(name: str) -> None:
    OUTCOMES[name] = OUTCOMES.get(name, 0) + 1


def sqlcipher_file(template) -> Path:  # noqa: ANN001
    """The golden database as a file (these tests kill a writer of the SQLCipher file; on
    ``--backend postgres`` the golden databases are server templates instead)."""
    if not isinstance(template, Path):
        pytest.skip("about the SQLCipher file (the PostgreSQL variant is test_crash_safety_postgres)")
    return template


def _copy(template: Path, target_dir: Path) -> Path:
    target_dir.mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        if Path(str(template) + suffix).exists():
            shutil.copyfile(str(template) + suffix, str(target_dir / "cio.db") + suffix)
    return target_dir / "cio.db"


def _open(path: Path):  # noqa: ANN202
    return open_workspace(make_settings(path.parent, path.name), key=TEST_KEY, clock=FakeClock(NOW))


def _count(uow, model, *where) -> int:  # noqa: ANN001
    return uow.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _audits(uow, action: str) -> list[AuditEntry]:  # noqa: ANN001
    return list(uow.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def _campaign(tmp_path: Path, template: Path, prepare_for, check) -> list:  # noqa: ANN001
    """Calibrate on one full run, then 20 kills; ``check(path, kill)`` after each."""
    calibration = _copy(template, tmp_path / "calibration")
    kill, duration = run_child(prepare_for(calibration), None)
    assert kill.finished and not kill.error, kill.error
    check(calibration, kill)
    kills = []
    for i, delay in enumerate(kill_points(duration, SEED)):
        path = _copy(template, tmp_path / f"kill{i:02d}")
        kill, _ = run_child(prepare_for(path), delay)
        assert not kill.error, f"kill {i} (seed {SEED}, {delay:.3f}s): the work itself failed:\n{kill.error}"
        try:
            check_database(path, TEST_KEY)
            check(path, kill)
        except AssertionError as exc:
            raise AssertionError(f"kill {i} at {delay:.3f}s of {duration:.3f}s (seed {SEED}): {exc}") from exc
        kills.append(kill)
        shutil.rmtree(path.parent)
    print(f"\n{len(kills)} kills over {duration:.3f}s, finished before the kill: "
          f"{sum(k.finished for k in kills)}; outcomes: {OUTCOMES}")
    OUTCOMES.clear()
    assert len(kills) == KILLS
    return kills


# -- 1. a large statement import ------------------------------------------------------------------

def _mt940(statements: int, lines: int) -> bytes:
    """``statements`` daily statements of ``lines`` entries each, reconciling balances."""
    out, balance, day, seq = [], 500_000_00, dt.date(2026, 3, 2), 0
    rng = random.Random(5)
    for s in range(statements):
        opening = balance
        out += [f":20:STMT{s:04d}", f":25:{STATEMENT_IBAN}", f":28C:{s + 1}/1",
                f":60F:C{day:%y%m%d}EUR{opening // 100},{opening % 100:02d}"]
        for _ in range(lines):
            seq += 1
            cents = rng.randint(1, 250_000)
            credit = rng.random() < 0.5
            balance += cents if credit else -cents
            out += [f":61:{day:%y%m%d}{day:%m%d}{'C' if credit else 'D'}{cents // 100},{cents % 100:02d}"
                    f"NTRFREF{seq:07d}//B{seq:07d}",
                    f":86:Invoice {seq} Counterparty {seq % 97} GmbH"]
        out.append(f":62F:C{day:%y%m%d}EUR{balance // 100},{balance % 100:02d}")
        out.append("-")
        day += dt.timedelta(days=1)
    return ("\r\n".join(out) + "\r\n").encode("ascii")


IMPORT_STATEMENTS, IMPORT_LINES = 8, 1500


@pytest.fixture(scope="module")
def statement_file(tmp_path_factory) -> Path:  # noqa: ANN001
    path = tmp_path_factory.mktemp("crash_import") / "large.sta"
    path.write_bytes(_mt940(IMPORT_STATEMENTS, IMPORT_LINES))
    return path


def test_import_killed_at_20_points_is_all_or_nothing(tmp_path, golden_empty, statement_file):
    total = IMPORT_STATEMENTS * IMPORT_LINES
    resumed: set[str] = set()   # re-importing after a kill is checked once per outcome (it costs a full import)

    def prepare_for(path: Path):  # noqa: ANN202
        def prepare():  # noqa: ANN202
            ws = _open(path)
            make_session(ws, "treasurer")
            return lambda: ws.imports.import_file(statement_file)
        return prepare

    def check(path: Path, kill) -> None:  # noqa: ANN001
        ws = _open(path)
        try:
            verify_audit(ws)
            with ws.db.unit_of_work(write=False) as uow:
                batches = list(uow.execute(select(ImportBatch)).scalars())
                lines = _count(uow, Transaction)
                accounts = _count(uow, Account)
                imported = _audits(uow, "ledger.imported")
                created = _audits(uow, "account.created")
            if not batches:
                assert not kill.finished, "the import reported success but nothing is stored"
                assert (lines, accounts, imported, created) == (0, 0, [], []), "a partial import is visible"
                _outcome("absent")
                if "absent" not in resumed:     # once: the user simply imports again
                    resumed.add("absent")
                    make_session(ws, "treasurer")
                    result = ws.imports.import_file(statement_file)
                    assert result.new == total and result.duplicates == 0
            else:
                assert len(batches) == 1
                assert lines == total == batches[0].lines_new, f"{lines} of {total} lines stored"
                assert batches[0].statements == IMPORT_STATEMENTS and accounts == 1
                assert [e.entity_id for e in imported] == [str(batches[0].id)] and len(created) == 1
                _outcome("present")
                if "present" not in resumed:
                    resumed.add("present")
                    make_session(ws, "treasurer")
                    again = ws.imports.import_file(statement_file)
                    assert again.new == 0 and again.duplicates == total
        finally:
            ws.close()

    kills = _campaign(tmp_path, sqlcipher_file(golden_empty), prepare_for, check)
    assert any(not k.finished for k in kills), "no kill landed during the import"


# -- 2. a sync batch against the local HTTPS API ------------------------------------------------------

SYNC_PAGE = 3


@pytest.fixture(scope="module")
def sync_server(pki):  # noqa: ANN001, ANN201, F811
    server = ApiServer(pki)
    server.state.page_size = SYNC_PAGE
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sync_template(tmp_path_factory, golden_empty, sync_server, pki) -> tuple[Path, int]:  # noqa: ANN001, F811
    path = _copy(sqlcipher_file(golden_empty), tmp_path_factory.mktemp("crash_sync") / "template")
    ws = _open(path)
    make_session(ws, "treasurer")
    conn = ws.sync.create_connection(
        name="Crash Bank", kind="banking", base_url=sync_server.url, auth_kind="oauth2",
        settings={"token_url": sync_server.token_url, "client_id": CLIENT_ID, "ca_bundle_path": str(pki.ca_cert),
                  "timeout": 5, "page_size": SYNC_PAGE},
        credentials=Credentials(client_secret=CLIENT_SECRET))
    ws.close()
    return path, conn.id


def _sync_service(ws):  # noqa: ANN001, ANN202
    ws.sync = SyncService(ws.ctx, sleep=lambda s: None, rng=random.Random(1))
    return ws.sync


def test_sync_killed_at_20_points_keeps_whole_pages_and_resumes(tmp_path, sync_template, sync_server):
    template, conn_id = sync_template
    total = sum(len(v) for v in sync_server.state.transactions.values())

    def prepare_for(path: Path):  # noqa: ANN202
        def prepare():  # noqa: ANN202
            ws = _open(path)
            make_session(ws, "treasurer")
            service = _sync_service(ws)
            return lambda: service.sync_connection(conn_id)
        return prepare

    def check(path: Path, kill) -> None:  # noqa: ANN001
        ws = _open(path)
        try:
            verify_audit(ws)
            with ws.db.unit_of_work(write=False) as uow:
                batches = list(uow.execute(select(ImportBatch).where(ImportBatch.kind == "sync")).scalars())
                synced = {e.entity_id for e in _audits(uow, "ledger.synced")}
                for batch in batches:    # every page committed is whole, with its audit entry
                    stored = _count(uow, Transaction, Transaction.import_batch_id == batch.id)
                    assert stored == batch.lines_new, f"page batch {batch.id}: {stored} of {batch.lines_new}"
                assert synced == {str(b.id) for b in batches}
                assert _count(uow, Transaction) == sum(b.lines_new for b in batches)
                assert _count(uow, Transaction, Transaction.import_batch_id.is_(None)) == 0
                runs = [r.status for r in uow.execute(select(SyncRun)).scalars()]
            _outcome(f"{len(batches)} pages")
            if kill.finished:
                assert runs == ["ok"], runs
            make_session(ws, "treasurer")
            resumed = _sync_service(ws).sync_connection(conn_id)   # resume from the saved cursor
            assert resumed.ok, resumed.error
            with ws.db.unit_of_work(write=False) as uow:
                assert _count(uow, Transaction) == total, "lines lost or duplicated after the resume"
            verify_audit(ws)
        finally:
            ws.close()

    kills = _campaign(tmp_path, template, prepare_for, check)
    assert any(not k.finished for k in kills)


# -- 3. a payment-execution run (batches and single payments) -----------------------------------------

BATCHES, PER_BATCH, SINGLES = 3, 5, 4


def _iban(n: int) -> str:
    bban = f"50010517{n:010d}"
    digits = "".join(str(int(ch, 36)) for ch in bban + "DE00")
    return f"DE{98 - int(digits) % 97:02d}{bban}"


@pytest.fixture(scope="module")
def payments_template(tmp_path_factory, golden_empty) -> Path:  # noqa: ANN001
    path = _copy(sqlcipher_file(golden_empty), tmp_path_factory.mktemp("crash_payments") / "template")
    ws = _open(path)
    make_session(ws, "treasurer")
    account = ws.accounts.create_account(name="Operating", institution="Test Bank", number=_iban(424242),
                                         currency="EUR", bic="COBADEFFXXX", min_balance="0",
                                         opening_balance="10000000")
    payees = [(f"Supplier {i} GmbH", _iban(7000 + i)) for i in range(BATCHES * PER_BATCH + SINGLES)]
    with ws.db.unit_of_work() as uow:
        for name, iban in payees:
            add_beneficiary(uow, ws.ctx, name=name, account=iban, first_used_on=dt.date(2025, 1, 2), actor="test")
    for i, (name, iban) in enumerate(payees):
        batch = f"RUN-{i // PER_BATCH}" if i < BATCHES * PER_BATCH else None
        make_session(ws, "treasurer")
        view = ws.payments.schedule_transaction(
            account_id=account.id, beneficiary_name=name, beneficiary_account=iban,
            amount=Decimal(1000 + 17 * i).scaleb(-2) * 100, execution_date=NOW.date(), batch=batch).payment
        if view.status != "approved":
            make_session(ws, "approver")
            ws.payments.approve(view.id, "ok")
    with ws.db.unit_of_work(write=False) as uow:
        statuses = {p.status for p in uow.execute(select(Payment)).scalars()}
    assert statuses == {"approved"}, statuses
    ws.close()
    return path


def test_payment_run_killed_at_20_points_executes_batches_whole(tmp_path, payments_template):
    def prepare_for(path: Path):  # noqa: ANN202
        def prepare():  # noqa: ANN202
            ws = _open(path)
            make_session(ws, "treasurer")
            return ws.payments.execute_due
        return prepare

    def check(path: Path, kill) -> None:  # noqa: ANN001
        ws = _open(path)
        try:
            verify_audit(ws)
            with ws.db.unit_of_work(write=False) as uow:
                payments = list(uow.execute(select(Payment)).scalars())
                for p in payments:
                    executed = _count(uow, PaymentEvent, PaymentEvent.payment_id == p.id,
                                      PaymentEvent.to_status == "executed")
                    audited = _count(uow, AuditEntry, AuditEntry.entity == "payment",
                                     AuditEntry.entity_id == str(p.id), AuditEntry.action == "payment.executed")
                    assert p.status in ("approved", "executed"), f"payment {p.id} is {p.status}"
                    want = 1 if p.status == "executed" else 0
                    assert (executed, audited, p.executed_at is not None) == (want, want, bool(want)), \
                        f"payment {p.id} ({p.status}): {executed} events, {audited} audit entries"
            by_batch: dict[str, set[str]] = {}
            for p in payments:
                if p.batch:
                    by_batch.setdefault(p.batch, set()).add(p.status)
            assert len(by_batch) == BATCHES
            for batch, statuses in by_batch.items():
                assert len(statuses) == 1, f"batch {batch} is half executed: {statuses}"
            _outcome(f"{sum(p.status == 'executed' for p in payments)} executed")
            if kill.finished:
                assert {p.status for p in payments} == {"executed"}
            make_session(ws, "treasurer")
            report = ws.payments.execute_due()     # the next tick finishes the run
            assert report.failed == [], report.failed
            with ws.db.unit_of_work(write=False) as uow:
                assert {p.status for p in uow.execute(select(Payment)).scalars()} == {"executed"}
            verify_audit(ws)
        finally:
            ws.close()

    kills = _campaign(tmp_path, payments_template, prepare_for, check)
    assert any(not k.finished for k in kills)
