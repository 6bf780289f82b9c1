"""Synchronisation with connections, end to end: the real local HTTPS server, a real encrypted
database, the scheduler's compare-and-set, resumable cursors and failures."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import func, select

from cio_desktop.integrations.http import Credentials
from cio_desktop.services.sync import SyncService
from cio_desktop.storage.models import Connection, Holding, OpenItem, Price, SyncRun, Transaction
from tests.integration.http_server import (  # noqa: F401 — fixtures
    API_KEY, CLIENT_ID, CLIENT_SECRET, api_server, generate_transactions, pki, start_server)
from tests.property.helpers import make_session


def service(ws, sleeps):  # noqa: ANN001, ANN201
    ws.sync = SyncService(ws.ctx, sleep=sleeps.append, rng=random.Random(3))
    return ws.sync


def connect(ws, server, pki, kind="banking", interval=15):  # noqa: ANN001, ANN201
    make_session(ws, "treasurer")
    return ws.sync.create_connection(
        name=f"Bank {kind}", kind=kind, base_url=server.url, auth_kind="oauth2",
        settings={"token_url": server.token_url, "client_id": CLIENT_ID, "ca_bundle_path": str(pki.ca_cert),
                  "timeout": 0.5, "page_size": 5},
        credentials=Credentials(client_secret=CLIENT_SECRET), interval_minutes=interval)


def ledger(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(Transaction)).scalar_one()


def test_sync_imports_every_transaction_once_and_resumes(ws, api_server, pki, clock):
    service(ws, [])
    api_server.state.page_size = 5
    conn = connect(ws, api_server, pki)
    clock.now = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.timezone.utc)
    first = ws.sync.sync_connection(conn.id)
    assert first.ok, first.error
    assert first.new == 30 == ledger(ws) and first.pages >= 7
    assert sorted(first.accounts)[0].startswith("CH93")  # the account with no lines is created too
    again = ws.sync.sync_connection(conn.id)
    assert again.ok and again.new == 0
    more = generate_transactions("acc-eur-1", "EUR", 30, dt.date(2026, 10, 1))[23:]
    api_server.state.transactions["acc-eur-1"].extend(more)
    third = ws.sync.sync_connection(conn.id)
    assert third.ok and third.new == 7 and ledger(ws) == 37
    with ws.db.unit_of_work(write=False) as uow:
        row = uow.get(Connection, conn.id)
        assert CLIENT_SECRET not in (row.credentials_enc or "") and row.last_error == ""
    make_session(ws, "auditor")
    assert ws.audit.verify().ok


def test_failure_after_retries_is_recorded_and_published(ws, api_server, pki):
    sleeps: list[float] = []
    service(ws, sleeps)
    conn = connect(ws, api_server, pki)
    events = []
    ws.ctx.bus.subscribe("sync.failed", events.append)
    api_server.fail_next(50, 503)
    result = ws.sync.sync_connection(conn.id)
    assert not result.ok and "503" in result.error and "gave up after 5 attempts" in result.error
    assert len(sleeps) == 4 and sleeps[0] < sleeps[1] < sleeps[2] < sleeps[3]
    assert events and events[0].data["connection"] == conn.name
    with ws.db.unit_of_work(write=False) as uow:
        run = uow.execute(select(SyncRun).order_by(SyncRun.id.desc())).scalars().first()
        assert run.status == "failed" and "503" in run.error
    assert ledger(ws) == 0
    api_server.state.faults.clear()
    assert ws.sync.sync_connection(conn.id).ok and ledger(ws) == 30


def test_interrupted_sync_keeps_whole_pages_and_resumes_without_duplicates(ws, api_server, pki):
    service(ws, [])
    conn = connect(ws, api_server, pki)
    api_server.malformed_next(1, path="/v1/accounts/acc-eur-1/transactions")  # not retried
    broken = ws.sync.sync_connection(conn.id)
    assert not broken.ok and "malformed JSON" in broken.error
    partial = ledger(ws)
    fixed = ws.sync.sync_connection(conn.id)
    assert fixed.ok and partial + fixed.new == 30 == ledger(ws)


def test_a_run_cut_off_is_closed_by_the_next_run(ws, api_server, pki, clock):
    """A killed process leaves its run "running"; the next run records it as interrupted, but
    leaves a run that may still be going (younger than STALE_RUN_AFTER) alone."""
    from cio_desktop.services.sync import INTERRUPTED, STALE_RUN_AFTER

    service(ws, [])
    conn = connect(ws, api_server, pki)
    with ws.db.unit_of_work() as uow:
        uow.add(SyncRun(connection_id=conn.id, started_at=clock.now - STALE_RUN_AFTER - dt.timedelta(minutes=1),
                        status="running", attempts=0, error=""))
        uow.add(SyncRun(connection_id=conn.id, started_at=clock.now - dt.timedelta(minutes=5),
                        status="running", attempts=0, error=""))
    assert ws.sync.sync_connection(conn.id).ok
    with ws.db.unit_of_work(write=False) as uow:
        runs = uow.execute(select(SyncRun).order_by(SyncRun.id)).scalars().all()
        assert [(r.status, r.error) for r in runs] == [("failed", INTERRUPTED), ("running", ""), ("ok", "")]
        assert runs[0].finished_at == clock.now


def test_scheduler_tick_syncs_once_per_interval(ws, api_server, pki, clock):
    service(ws, [])
    connect(ws, api_server, pki, interval=15)
    starts = []
    for minute in range(0, 46):  # a tick every minute for 45 minutes
        results = ws.sync.sync_due()
        starts += [minute for r in results if not r.skipped]
        clock.advance(minutes=1)
    assert starts == [0, 15, 30, 45]
    with ws.db.unit_of_work(write=False) as uow:
        assert uow.execute(select(func.count()).select_from(SyncRun)).scalar_one() == 4


def test_paused_connection_is_not_synced(ws, api_server, pki):
    service(ws, [])
    conn = connect(ws, api_server, pki)
    make_session(ws, "treasurer")
    ws.sync.update_connection(conn.id, paused=True)
    assert ws.sync.sync_due() == []


def test_accounting_open_items_snapshot(ws, api_server, pki):
    service(ws, [])
    conn = connect(ws, api_server, pki, kind="accounting")
    assert ws.sync.sync_connection(conn.id).ok
    with ws.db.unit_of_work(write=False) as uow:
        items = {i.external_id: i for i in uow.execute(select(OpenItem)).scalars()}
    assert len(items) == 11 and items["AP-3"].amount_minor == 9999999999 and items["AR-0"].currency == "USD"
    api_server.state.payables = api_server.state.payables[1:]   # AP-0 was paid
    assert ws.sync.sync_connection(conn.id).ok
    with ws.db.unit_of_work(write=False) as uow:
        assert uow.execute(select(OpenItem.status).where(OpenItem.external_id == "AP-0")).scalar_one() == "closed"


def test_investment_positions_and_prices(ws, api_server, pki):
    service(ws, [])
    conn = connect(ws, api_server, pki, kind="investment")
    result = ws.sync.sync_connection(conn.id)
    assert result.ok, result.error
    with ws.db.unit_of_work(write=False) as uow:
        assert uow.execute(select(func.count()).select_from(Holding)).scalar_one() == 7
        assert uow.execute(select(func.count()).select_from(Price)).scalar_one() == 12


def test_test_connection_and_bad_configuration(ws, api_server, pki):
    import pytest

    from cio_desktop.errors import ValidationError

    service(ws, [])
    conn = connect(ws, api_server, pki)
    assert ws.sync.test_connection(conn.id).startswith("OK: 3 accounts")
    with pytest.raises(ValidationError):
        ws.sync.create_connection(name="Plain", kind="banking", base_url="http://bank.example.com",
                                  auth_kind="none")
    with pytest.raises(ValidationError, match="kind"):
        ws.sync.create_connection(name="X", kind="crypto", base_url=api_server.url, auth_kind="none")


def test_background_jobs_tick_with_the_users_permissions(ws, api_server, pki):
    from cio_desktop.jobs.scheduler import BackgroundJobs

    service(ws, [])
    connect(ws, api_server, pki)
    jobs = BackgroundJobs(ws, ws.ctx.session)
    jobs.ws.sync = SyncService(jobs.ws.ctx, sleep=lambda s: None)
    ws.auth.lock()  # the window's idle lock does not stop background sync
    jobs.sync_tick()
    assert ledger(ws) == 30
    viewer_jobs = BackgroundJobs(ws, make_session(ws, "viewer"))
    viewer_jobs.sync_tick()  # refused (no sync.run): logged, never raised into the scheduler
