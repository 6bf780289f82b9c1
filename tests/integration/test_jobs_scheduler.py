"""The background scheduler over a real SQLCipher file: the persistent job store survives a
restart (pause and cron kept), failed jobs retry with backoff and then alert, bad crons are
refused with the reason, management needs jobs.manage and is audited."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from cio_desktop.errors import PermissionDenied, ValidationError
from cio_desktop.jobs import scheduler as sched
from cio_desktop.jobs.scheduler import JOBS, RETRY, BackgroundJobs
from cio_desktop.storage.models import AuditEntry
from tests.property.helpers import make_session


def _audits(ws, action: str) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)).scalar_one()


def test_job_store_survives_a_restart(workspaces, golden_empty):
    ws = workspaces.open(golden_empty)
    jobs = BackgroundJobs(ws, make_session(ws, "treasurer"))
    jobs.start(wire_events=False)
    try:
        assert {j.name for j in jobs.jobs()} == set(JOBS)
        assert all(j.next_run is not None for j in jobs.jobs())
        jobs.pause("advisory")
        jobs.set_schedule("daily_summary", "15 6 * * 1-5")
    finally:
        jobs.stop()
    with ws.db.engine.connect() as conn:
        stored = {r[0] for r in conn.exec_driver_sql("SELECT id FROM apscheduler_jobs")}
    assert set(JOBS) <= stored
    settings, key = ws.ctx.settings, ws.db.key
    ws.close()
    # a new process: reopen the same database (the encrypted file, or the PostgreSQL database)
    from cio_desktop.services.workspace import open_workspace

    again = open_workspace(settings, key=key, clock=workspaces.clock)
    try:
        restarted = BackgroundJobs(again, make_session(again, "treasurer"))
        restarted.start(wire_events=False)
        try:
            info = {j.name: j for j in restarted.jobs()}
            assert info["advisory"].paused and info["advisory"].next_run is None
            assert info["daily_summary"].schedule == "15 6 * * 1-5"
            nxt = info["daily_summary"].next_run
            assert (nxt.hour, nxt.minute) == (6, 15) and nxt.weekday() < 5
            restarted.resume("advisory")
            assert not {j.name: j for j in restarted.jobs()}["advisory"].paused
        finally:
            restarted.stop()
        assert _audits(again, "job.pause") == 1 and _audits(again, "job.resume") == 1
    finally:
        again.close()


def test_bad_cron_and_permissions(ws):
    jobs = BackgroundJobs(ws, make_session(ws, "treasurer"))
    with pytest.raises(ValidationError, match="not a valid cron expression"):
        jobs.set_schedule("daily_summary", "every morning")
    with pytest.raises(ValidationError, match="fixed interval"):
        jobs.set_schedule("sync", "* * * * *")
    with pytest.raises(ValidationError, match="unknown job"):
        jobs.run_now("mine_bitcoin")
    viewer = BackgroundJobs(ws, make_session(ws, "viewer"))
    with pytest.raises(PermissionDenied):
        viewer.run_now("metrics")


def test_failed_job_retries_with_backoff_then_alerts_and_recovers(ws, clock, monkeypatch):
    jobs = BackgroundJobs(ws, make_session(ws, "treasurer"), rng=random.Random(3))
    calls = {"n": 0}

    def broken() -> str:
        calls["n"] += 1
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(jobs, "job_metrics", broken)
    results = [jobs.run("metrics") for _ in range(RETRY.max_attempts)]
    assert [r.ok for r in results] == [False] * RETRY.max_attempts
    waits = [(r.retry_at - clock.now).total_seconds() for r in results[:-1]]
    for k, w in enumerate(waits, start=1):
        assert RETRY.nominal(k) * (1 - RETRY.jitter) <= w <= RETRY.nominal(k) * (1 + RETRY.jitter)
    assert results[-1].retry_at is None and results[-1].alerted
    alerts = [a for a in ws.alerts.list_alerts() if a.source == "job"]
    assert len(alerts) == 1 and "disk on fire" in alerts[0].message and alerts[0].panel == "jobs"
    monkeypatch.setattr(jobs, "job_metrics", lambda: "fine")
    assert jobs.run("metrics").ok
    assert [a for a in ws.alerts.list_alerts() if a.source == "job"] == []
    info = {j.name: j for j in jobs.jobs()}["metrics"]
    assert info.last_ok and info.failures == 0 and info.last_result == "fine"


def test_run_job_entry_point_runs_the_active_scheduler_job(ws, clock, monkeypatch):
    from datetime import datetime, timezone

    clock.now = datetime.now(timezone.utc)  # APScheduler reads the real clock: keep the retry in its future
    jobs = BackgroundJobs(ws, make_session(ws, "treasurer"))
    jobs.start(wire_events=False, paused=True)
    try:
        sched.run_job("escalation")
        assert {j.name: j for j in jobs.jobs()}["escalation"].last_result == "nothing to escalate"
        result = jobs.run_now("daily_summary")
        assert result.ok and "daily summary" in result.message
        assert jobs.run_now("advisory").ok
        # a failure schedules its retry as a one-off job in the persistent store
        monkeypatch.setattr(jobs, "job_deliveries", lambda: (_ for _ in ()).throw(RuntimeError("smtp down")))
        failed = jobs.run("deliveries")
        retry = jobs._scheduler.get_job("deliveries.retry")  # noqa: SLF001
        assert not failed.ok and retry is not None and tuple(retry.args) == ("deliveries.retry",)
        assert retry.trigger.run_date == failed.retry_at
    finally:
        jobs.stop()
    assert sched._ACTIVE == []
