"""The background scheduler over a real SQLCipher file: the persistent job store survives a
restart (pause and cron kept), failed jobs retry with backoff and then alert, bad crons are
refused with the reason, management needs jobs.manage and is audited."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cio_desktop.errors import PermissionDenied, ValidationError
from cio_desktop.jobs import scheduler as sched
from cio_desktop.jobs.scheduler import JOBS, RETRY, BackgroundJobs
from cio_desktop.storage.models import AuditEntry
from tests import market_fixtures
from tests.property.helpers import make_session

# the local HTTPS market-data server (fixtures bound by name, so pyflakes sees no unused import)
market_pki = market_fixtures.market_pki
market_server = market_fixtures.market_server


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


def test_alert_rules_are_measured_soon_after_start(ws):
    """Not up to 15 minutes after the app opens: the metrics job is brought forward on start."""
    from datetime import datetime, timezone

    jobs = BackgroundJobs(ws, make_session(ws, "treasurer"))
    jobs.start(wire_events=False)
    try:
        nxt = {j.name: j for j in jobs.jobs()}["metrics"].next_run
        assert nxt <= datetime.now(timezone.utc) + timedelta(seconds=sched.METRICS_AFTER_START_SECONDS + 5)
    finally:
        jobs.stop()


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


# -- forecast snapshot, learning and market data ---------------------------------------------------
NEW_JOBS = {"forecast_snapshot": "0 6 * * 1", "learning": "0 2 * * *", "market": "30 17 * * 1-5"}


def test_new_jobs_are_listed_with_their_default_schedules(ws):
    jobs = BackgroundJobs(ws, make_session(ws, "treasurer"))
    jobs.start(wire_events=False, paused=True)
    try:
        info = {j.name: j for j in jobs.jobs()}
    finally:
        jobs.stop()
    assert {n: info[n].schedule for n in NEW_JOBS} == NEW_JOBS
    assert all(JOBS[n].kind == "cron" for n in NEW_JOBS)
    snap, learn, market = (info[n].next_run for n in NEW_JOBS)
    assert (snap.weekday(), snap.hour, snap.minute) == (0, 6, 0)
    assert (learn.hour, learn.minute) == (2, 0)
    assert market.weekday() < 5 and (market.hour, market.minute) == (17, 30)
    assert str(market.utcoffset()) == "0:00:00"


def test_forecast_snapshot_job_feeds_outcome_analysis(demo_ws, clock):
    from cio_desktop.storage.models_planning import ForecastSnapshot

    jobs = BackgroundJobs(demo_ws, make_session(demo_ws, "treasurer"))
    result = jobs.run_now("forecast_snapshot")
    assert result.ok and result.message.startswith("forecast snapshot ") and result.message.endswith(" saved")
    with demo_ws.db.unit_of_work(write=False) as uow:
        snaps = uow.execute(select(ForecastSnapshot)).scalars().all()
    assert len(snaps) == 1 and snaps[0].created_by == "treasurer" and _audits(demo_ws, "forecast.snapshot") == 1
    clock.advance(days=15)
    make_session(demo_ws, "treasurer")
    outcomes = demo_ws.analytics.analyze_outcomes()
    assert [o["snapshot"] for o in outcomes.forecasts] == [snaps[0].id]
    # a user who may not manage budgets: skipped, not failed, nothing saved
    skipped = BackgroundJobs(demo_ws, make_session(demo_ws, "admin")).run_now("forecast_snapshot")
    assert skipped.ok and skipped.message == "skipped: no permission to save forecast snapshots (budget.manage)"
    with demo_ws.db.unit_of_work(write=False) as uow:
        assert uow.execute(select(func.count()).select_from(ForecastSnapshot)).scalar_one() == 1


def test_learning_job_adapts_categoriser_daily_and_forecast_on_sundays(demo_ws, clock):
    assert clock.now.weekday() == 0  # Monday: the categoriser only
    jobs = BackgroundJobs(demo_ws, make_session(demo_ws, "treasurer"))
    first = jobs.run_now("learning")
    assert first.ok, first.message
    assert first.message.startswith("categoriser: version 1 trained on ") and "forecast" not in first.message
    again = jobs.run_now("learning")
    assert again.ok and again.message == "categoriser: up to date (nothing new since the active version)"
    clock.advance(days=6)  # Sunday
    sunday = BackgroundJobs(demo_ws, make_session(demo_ws, "treasurer")).run_now("learning")
    assert sunday.ok, sunday.message
    assert "categoriser: up to date" in sunday.message and "forecast: version 1 trained" in sunday.message
    make_session(demo_ws, "treasurer")
    assert {(m.kind, m.version, m.created_by) for m in demo_ws.analytics.list_models() if m.is_active} == {
        ("categoriser", 1, "treasurer"), ("forecast", 1, "treasurer")}
    skipped = BackgroundJobs(demo_ws, make_session(demo_ws, "admin")).run_now("learning")
    assert skipped.ok and skipped.message == "skipped: no permission to train analytics models (budget.manage)"


def test_learning_job_with_too_little_data_is_not_a_failure(ws, clock):
    clock.advance(days=6)  # Sunday: both models
    jobs = BackgroundJobs(ws, make_session(ws, "treasurer"))
    result = jobs.run_now("learning")
    assert result.ok and result.retry_at is None
    assert "categoriser: not enough data to learn from yet (only 0 categorised line(s)" in result.message
    assert "forecast: not enough data to learn from yet" in result.message
    info = {j.name: j for j in jobs.jobs()}["learning"]
    assert info.last_ok and info.failures == 0


def test_market_job_uses_the_providers_and_serves_the_cache_when_they_fail(demo_ws, clock, market_server):
    from tests.market_fixtures import business_days, point_providers

    make_session(demo_ws, "treasurer")
    point_providers(demo_ws, market_server)  # no real network: every provider is the local test server
    jobs = BackgroundJobs(demo_ws, make_session(demo_ws, "treasurer"))
    jobs.ws.market.provider_options = demo_ws.market.provider_options  # no real waiting between retries
    # the ECB is down and nothing is cached: a clear failure, retried later
    market_server.route("/ecb/eurofxref-daily.xml", "maintenance", status=503)
    down = jobs.run_now("market")
    assert not down.ok and down.retry_at is not None
    assert "nothing could be fetched and nothing is cached" in down.message and "ECB [daily]" in down.message
    # the rates are published: fetched and stored
    day = business_days(clock.now.date() - timedelta(days=1), 1)
    market_server.ecb("eurofxref-daily.xml", day, {"USD": [1.0921], "GBP": [0.8612]})
    up = jobs.run_now("market")
    assert up.ok, up.message
    assert up.message == "market data: 1 fetched; 0 prices and 2 FX rates written"
    # a day later the ECB fails again: the cache is served with its age, which is not a job failure
    clock.advance(days=1)
    market_server.route("/ecb/eurofxref-daily.xml", "maintenance", status=503)
    stale = BackgroundJobs(demo_ws, make_session(demo_ws, "treasurer"))
    stale.ws.market.provider_options = demo_ws.market.provider_options
    result = stale.run_now("market")
    assert result.ok and result.message.startswith("market data: 1 stale;")
    assert "ECB [daily]" in result.message and "showing cached data 24 h old" in result.message
    assert all(p.startswith("/ecb/") for p in market_server.requests())
    # a user who may not read market data: skipped without any request
    seen = len(market_server.requests())
    skipped = BackgroundJobs(demo_ws, make_session(demo_ws, "viewer")).run("market")
    assert skipped.ok and skipped.message == "skipped: no permission to read market data (market.read)"
    assert len(market_server.requests()) == seen


def test_two_schedulers_on_one_database_run_a_scheduled_job_once(ws, clock):
    """Team mode (or the app beside ``jobs run-forever``): every scheduler fires the same jobs;
    the claim lets one of them run each, and 'run now' is never held back."""
    from cio_desktop.services.workspace import open_workspace

    other_ws = open_workspace(ws.ctx.settings, key=ws.db.key, clock=clock)
    try:
        a = BackgroundJobs(ws, make_session(ws, "treasurer"))
        b = BackgroundJobs(other_ws, make_session(other_ws, "admin"))
        first, second = a.run("escalation", scheduled=True), b.run("escalation", scheduled=True)
        assert first.ok and "skipped" not in first.message
        assert second.ok and second.message.startswith("skipped: another scheduler")
        clock.advance(seconds=sched.claim_window(JOBS["escalation"]).total_seconds() + 1)
        assert "skipped" not in b.run("escalation", scheduled=True).message
        assert "skipped" in a.run("escalation", scheduled=True).message
        assert "skipped" not in a.run("escalation").message  # run now: always runs
        # a daily cron slot fires on both workstations within minutes: one summary, not two
        sent = [r for r in (a.run("daily_summary", scheduled=True), b.run("daily_summary", scheduled=True))
                if "skipped" not in r.message]
        assert len(sent) == 1
    finally:
        other_ws.close()
