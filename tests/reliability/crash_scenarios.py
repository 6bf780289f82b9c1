"""The three kinds of work the crash tests kill, the same on both back ends (crash_harness runs
them): a large statement import, an API sync (page by page) and a payment-execution run
(batches and single payments). Each says how to build its template, how to start the work in
the killed child, and what a kill may leave: every batch wholly present or wholly absent, then
finishing the work afterwards gives exactly the full result (a sync resumes from its cursor, a
payment run executes what is left and nothing twice)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select

from cio_desktop.integrations.http import Credentials
from cio_desktop.services.payments import add_beneficiary
from cio_desktop.services.sync import SyncService
from cio_desktop.storage.models import (Account, AuditEntry, Connection, ImportBatch, Payment, PaymentEvent,
                                        SyncRun, Transaction)
from tests.integration.http_server import CLIENT_ID, CLIENT_SECRET
from tests.property.helpers import make_session
from tests.reliability.crash_harness import NOW, Kill

STATEMENT_IBAN = "DE02120300000000202051"


def _count(uow, model, *where) -> int:  # noqa: ANN001
    return uow.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _audits(uow, action: str) -> list[AuditEntry]:  # noqa: ANN001
    return list(uow.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


# -- 1. a large statement import ------------------------------------------------------------------

def mt940(statements: int, lines: int) -> bytes:
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


class ImportScenario:
    """One MT940 file of ``statements`` × ``lines`` entries, imported in one transaction: after a
    kill the batch, its lines, its account and its audit entries are all there or none is. The
    first time each outcome is seen the file is imported again (a full import each, so once):
    absent → everything comes in; present → everything is a duplicate. With ``parse_worker`` the
    killed import reads the file through the parse worker process, as a large file does."""

    name = "import"

    def __init__(self, directory: Path, statements: int, lines: int, *, parse_worker: bool = False) -> None:
        self.statements, self.total = statements, statements * lines
        self.parse_worker = parse_worker
        self.path = directory / "large.sta"
        self.path.write_bytes(mt940(statements, lines))
        self.resumed: set[str] = set()

    def start(self, ws) -> Callable[[], object]:  # noqa: ANN001
        make_session(ws, "treasurer")
        if self.parse_worker:  # in the child only: take the large-file path (services.parse_worker)
            from cio_desktop.services import statement_import

            statement_import.PARALLEL_MIN_BYTES = 0
        return lambda: ws.imports.import_file(self.path)

    def check(self, ws, kill: Kill) -> str:  # noqa: ANN001
        with ws.db.unit_of_work(write=False) as uow:
            batches = list(uow.execute(select(ImportBatch)).scalars())
            lines = _count(uow, Transaction)
            accounts = _count(uow, Account)
            imported = _audits(uow, "ledger.imported")
            created = _audits(uow, "account.created")
        if not batches:
            assert not kill.finished, "the import reported success but nothing is stored"
            assert (lines, accounts, imported, created) == (0, 0, [], []), "a partial import is visible"
            outcome, want_new = "absent", self.total
        else:
            assert len(batches) == 1
            assert lines == self.total == batches[0].lines_new, f"{lines} of {self.total} lines stored"
            assert batches[0].statements == self.statements and accounts == 1
            assert [e.entity_id for e in imported] == [str(batches[0].id)] and len(created) == 1
            outcome, want_new = "present", 0
        if outcome not in self.resumed:      # the user simply imports the file again
            self.resumed.add(outcome)
            make_session(ws, "treasurer")
            again = ws.imports.import_file(self.path)
            assert (again.new, again.duplicates) == (want_new, self.total - want_new)
        return outcome


# -- 2. a sync batch against the local HTTPS API ------------------------------------------------------

def _sync_service(ws) -> SyncService:  # noqa: ANN001
    ws.sync = SyncService(ws.ctx, sleep=lambda s: None, rng=random.Random(1))
    return ws.sync


class SyncScenario:
    """A banking connection to tests/integration/http_server.py with ``page_size`` lines a page:
    one page = one batch = one transaction (lines, cursor, audit entry). After a kill every
    stored page is whole with its audit entry and no line is outside a page; syncing again
    resumes from the saved cursor — it fetches only what is missing (no duplicates) and the
    ledger then holds exactly the server's lines."""

    name = "sync"

    def __init__(self, server, ca_cert: Path, page_size: int) -> None:  # noqa: ANN001 — an ApiServer
        self.server, self.ca_cert, self.page_size = server, ca_cert, page_size
        self.total = sum(len(v) for v in server.state.transactions.values())
        self.connection_id = 0

    def fill(self, ws) -> None:  # noqa: ANN001
        make_session(ws, "treasurer")
        self.connection_id = ws.sync.create_connection(
            name="Crash Bank", kind="banking", base_url=self.server.url, auth_kind="oauth2",
            settings={"token_url": self.server.token_url, "client_id": CLIENT_ID,
                      "ca_bundle_path": str(self.ca_cert), "timeout": 5, "page_size": self.page_size},
            credentials=Credentials(client_secret=CLIENT_SECRET)).id

    def start(self, ws) -> Callable[[], object]:  # noqa: ANN001
        make_session(ws, "treasurer")
        service = _sync_service(ws)
        return lambda: service.sync_connection(self.connection_id)

    def check(self, ws, kill: Kill) -> str:  # noqa: ANN001
        with ws.db.unit_of_work(write=False) as uow:
            batches = list(uow.execute(select(ImportBatch).where(ImportBatch.kind == "sync")).scalars())
            synced = {e.entity_id for e in _audits(uow, "ledger.synced")}
            for batch in batches:    # every page committed is whole, with its audit entry
                stored = _count(uow, Transaction, Transaction.import_batch_id == batch.id)
                assert stored == batch.lines_new, f"page batch {batch.id}: {stored} of {batch.lines_new}"
            assert synced == {str(b.id) for b in batches}
            stored = _count(uow, Transaction)
            assert stored == sum(b.lines_new for b in batches)
            assert _count(uow, Transaction, Transaction.import_batch_id.is_(None)) == 0
            cursor = uow.get(Connection, self.connection_id).cursor_json
            runs = [r.status for r in uow.execute(select(SyncRun)).scalars()]
        assert bool(batches) == bool(cursor and cursor != "{}"), f"{len(batches)} pages stored, cursor {cursor!r}"
        if kill.finished:
            assert runs == ["ok"] and stored == self.total, (runs, stored)
        make_session(ws, "treasurer")
        resumed = _sync_service(ws).sync_connection(self.connection_id)   # resume from the saved cursor
        assert resumed.ok, resumed.error
        assert (resumed.new, resumed.duplicates) == (self.total - stored, 0), \
            f"the resumed sync did not start at the cursor: {resumed.new} new, {resumed.duplicates} again"
        with ws.db.unit_of_work(write=False) as uow:
            assert _count(uow, Transaction) == self.total, "lines lost or duplicated after the resume"
        return f"{len(batches)} pages"


# -- 3. a payment-execution run (batches and single payments) -----------------------------------------

def iban(n: int) -> str:
    bban = f"50010517{n:010d}"
    digits = "".join(str(int(ch, 36)) for ch in bban + "DE00")
    return f"DE{98 - int(digits) % 97:02d}{bban}"


class PaymentsScenario:
    """``batches`` batches of ``per_batch`` approved payments and ``singles`` single ones, all
    due today, executed by one ``execute_due`` tick (a batch in one transaction, each single in
    its own). After a kill no batch is half executed, and every payment is either approved with
    no execution record or executed with exactly one status event and one audit entry; the
    next tick executes the rest, and still nothing twice."""

    name = "payment run"

    def __init__(self, batches: int, per_batch: int, singles: int) -> None:
        self.batches, self.per_batch, self.singles = batches, per_batch, singles

    def fill(self, ws) -> None:  # noqa: ANN001
        make_session(ws, "treasurer")
        account = ws.accounts.create_account(name="Operating", institution="Test Bank", number=iban(424242),
                                             currency="EUR", bic="COBADEFFXXX", min_balance="0",
                                             opening_balance="10000000")
        in_batches = self.batches * self.per_batch
        payees = [(f"Supplier {i} GmbH", iban(7000 + i)) for i in range(in_batches + self.singles)]
        with ws.db.unit_of_work() as uow:
            for name, number in payees:
                add_beneficiary(uow, ws.ctx, name=name, account=number, first_used_on=dt.date(2025, 1, 2),
                                actor="test")
        for i, (name, number) in enumerate(payees):
            make_session(ws, "treasurer")
            view = ws.payments.schedule_transaction(
                account_id=account.id, beneficiary_name=name, beneficiary_account=number,
                amount=Decimal(1000 + 17 * i).scaleb(-2) * 100, execution_date=NOW.date(),
                batch=f"RUN-{i // self.per_batch}" if i < in_batches else None).payment
            if view.status != "approved":
                make_session(ws, "approver")
                ws.payments.approve(view.id, "ok")
        with ws.db.unit_of_work(write=False) as uow:
            statuses = {p.status for p in uow.execute(select(Payment)).scalars()}
        assert statuses == {"approved"}, statuses

    def start(self, ws) -> Callable[[], object]:  # noqa: ANN001
        make_session(ws, "treasurer")
        return ws.payments.execute_due

    @staticmethod
    def _each_executed_once(ws) -> list[Payment]:  # noqa: ANN001
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
        return payments

    def check(self, ws, kill: Kill) -> str:  # noqa: ANN001
        payments = self._each_executed_once(ws)
        by_batch: dict[str, set[str]] = {}
        for p in payments:
            if p.batch:
                by_batch.setdefault(p.batch, set()).add(p.status)
        assert len(by_batch) == self.batches
        for batch, statuses in by_batch.items():
            assert len(statuses) == 1, f"batch {batch} is half executed: {statuses}"
        executed = sum(p.status == "executed" for p in payments)
        if kill.finished:
            assert executed == len(payments)
        make_session(ws, "treasurer")
        report = ws.payments.execute_due()     # the next tick finishes the run
        assert report.failed == [], report.failed
        assert len(report.executed) == len(payments) - executed, report.executed
        assert {p.status for p in self._each_executed_once(ws)} == {"executed"}
        return f"{executed} executed"
