"""The background scheduler: one APScheduler BackgroundScheduler thread per running app (or per
``cio-desktop jobs run-forever``), with its schedules in the database.

**Persistence.** Jobs live in APScheduler's ``SQLAlchemyJobStore`` on the app's own engine (the
``apscheduler_jobs`` table, created by migration 0011), so a paused job, a changed cron and the
next run times survive a restart. A persistent store pickles a *reference* to the job function,
so every job is the module-level :func:`run_job` with the job's name; it finds the running
:class:`BackgroundJobs` of this process. Defaults: coalesce missed runs into one, at most one
instance of a job at a time, and a misfire grace of 5 minutes (a laptop that slept for an hour
runs each job once on waking, not sixty times).

**Jobs** (``JOBS``): ``sync`` (every minute; each connection runs when its own interval, 15
minutes by default, is due), ``payments`` (every minute: due payments), ``metrics`` (every 15
minutes: every alert rule is measured), ``escalation`` (every minute), ``deliveries`` (every
minute: notification retries), ``advisory`` (cron, default 07:00 Mon-Fri), ``daily_summary``
(cron, default 07:30 every day: in the app and by e-mail with the PDF), ``forecast_snapshot``
(cron, default Mondays 06:00: today's consolidated forecast is kept so the analytics engine's
``analyze_outcomes`` can later compare it with what happened), ``learning`` (cron, default 02:00
every day: the categoriser adapts to new lines and corrections; on Sundays (UTC) the forecast
model too; "too little data to learn from" is a result, not a failure) and ``market`` (cron,
default 17:30 UTC Mon-Fri, after the ECB publishes its reference rates around 16:00 CET: the
watch list and FX rates from the market-data providers). ``set_schedule`` changes a cron (a
cron that does not parse is refused with the reason).

A job whose background session lacks the permission its work needs reports "skipped: no
permission …" and succeeds (nothing to retry). The ``market`` job fails only when the service
raises, or when no request could be answered at all (every provider failed with nothing
cached); a provider failure with the cache served is reported in the result and is not a
failure.

**Failures.** A job that raises is retried with exponential backoff (``RETRY``: 1, 2, 4 minutes);
when the retries are used up the "Job failed" alert is raised; the next success resolves it.
``job_states`` keeps what the Jobs panel shows: last run, result, failures, next retry.

**Identity.** Jobs act with a background copy of the session of the user who started them (the
same permissions; the window's idle lock does not pause them, a log-out stops them). Before each
tick the copy follows the live session: a log-out ends it, and a fresh two-factor verification in
the window refreshes its MFA time. Executing payments is MFA-sensitive: the tick runs only while
the user's verification is fresh; otherwise it publishes ``payments.release_waiting`` once.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import or_, update

from cio_desktop.domain.retry import BackoffPolicy
from cio_desktop.errors import CioError, NotAuthenticated, ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.session import AuthSession
from cio_desktop.storage import search_index
from cio_desktop.storage.models_alerts import JobState

log = logging.getLogger(__name__)

SYNC_TICK_SECONDS = 60
PAYMENTS_TICK_SECONDS = 60
MISFIRE_GRACE_SECONDS = 300
METRICS_AFTER_START_SECONDS = 30
RETRY = BackoffPolicy(base=60.0, cap=900.0, max_attempts=4, jitter=0.1)


@dataclass(frozen=True)
class JobDef:
    name: str
    title: str
    kind: str          # "interval" (seconds) or "cron"
    default: str       # seconds, or a crontab expression
    method: str        # BackgroundJobs method that does the work (raises on failure)


JOBS: dict[str, JobDef] = {d.name: d for d in (
    JobDef("sync", "Synchronise due connections", "interval", str(SYNC_TICK_SECONDS), "job_sync"),
    JobDef("payments", "Execute due payments", "interval", str(PAYMENTS_TICK_SECONDS), "job_payments"),
    JobDef("metrics", "Refresh metrics, risk and alert rules", "interval", "900", "job_metrics"),
    JobDef("escalation", "Escalate unacknowledged critical alerts", "interval", "60", "job_escalation"),
    JobDef("deliveries", "Retry failed notifications", "interval", "60", "job_deliveries"),
    JobDef("advisory", "Advisory report", "cron", "0 7 * * 1-5", "job_advisory"),
    JobDef("daily_summary", "Daily summary", "cron", "30 7 * * *", "job_daily_summary"),
    JobDef("forecast_snapshot", "Forecast snapshot", "cron", "0 6 * * 1", "job_forecast_snapshot"),
    JobDef("learning", "Adapt analytics models", "cron", "0 2 * * *", "job_learning"),
    JobDef("market", "Fetch market data", "cron", "30 17 * * 1-5", "job_market"),
)}


class MarketDataUnavailable(CioError):
    """The ``market`` job got no usable answer at all (every request failed, nothing cached)."""


_DOW = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _cron_weekdays(field: str) -> str:
    """Crontab weekdays (0 or 7 = Sunday, 1 = Monday) as APScheduler names. APScheduler 3 counts
    0 = Monday and its ``from_crontab`` passes numbers through unchanged, so ``1-5`` would run
    Tuesday to Saturday; spelling the days out avoids that."""
    if not any(ch.isdigit() for ch in field):
        return field
    days: list[int] = []
    for part in field.split(","):
        rng, _, step = part.partition("/")
        if rng == "*":
            lo, hi = 0, 6
        elif "-" in rng:
            a, b = rng.split("-", 1)
            lo, hi = int(a), int(b)
        else:
            lo = hi = int(rng)
            if step:
                hi = 6
        if not (0 <= lo <= 7 and 0 <= hi <= 7 and lo <= hi):
            raise ValueError(f"weekday '{part}' is out of range 0-7")
        for n in range(lo, hi + 1, int(step) if step else 1):
            days.append((n - 1) % 7)
    return ",".join(_DOW[d] for d in sorted(set(days)))


def parse_cron(expression: str) -> CronTrigger:
    """A five-field crontab (minute hour day month weekday), UTC; a clear error otherwise."""
    try:
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(f"expected 5 fields, got {len(fields)}")
        minute, hour, day, month, dow = fields
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_cron_weekdays(dow),
                           timezone=timezone.utc)
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"the schedule '{expression}' is not a valid cron expression "
                              f"(minute hour day month weekday, e.g. '30 7 * * *'): {exc}",
                              field="cron") from None


def _trigger(d: JobDef, cron: str = "") -> Any:
    if d.kind == "interval":
        return IntervalTrigger(seconds=int(d.default), timezone=timezone.utc)
    return parse_cron(cron or d.default)


@dataclass(frozen=True)
class JobInfo:
    name: str
    title: str
    schedule: str
    next_run: datetime | None
    paused: bool
    last_run_at: datetime | None
    last_result: str
    last_ok: bool
    failures: int
    next_retry_at: datetime | None


def claim_window(d: JobDef) -> timedelta:
    """How long a scheduled run's claim keeps other schedulers off the job: half the interval for
    an interval job (several schedulers then take turns, about one run per interval), 10 minutes
    for a cron job (the same slot fires on every workstation within the misfire grace)."""
    if d.kind == "interval":
        return timedelta(seconds=max(10, int(d.default) // 2))
    return timedelta(minutes=10)


@dataclass(frozen=True)
class JobResult:
    name: str
    ok: bool
    message: str
    retry_at: datetime | None = None
    alerted: bool = False


# -- the job function the store references -----------------------------------------------------
_ACTIVE: list["BackgroundJobs"] = []
_ACTIVE_LOCK = threading.Lock()


def run_job(name: str) -> None:
    """Entry point of every stored job (must stay importable at this path: it is pickled)."""
    with _ACTIVE_LOCK:
        runner = _ACTIVE[-1] if _ACTIVE else None
    if runner is None:
        log.warning("job %s fired with no background jobs running in this process", name)
        return
    runner.run(name.split(".")[0], scheduled=True)


def background_workspace(workspace, session: AuthSession):  # noqa: ANN001, ANN201
    """A Workspace sharing the database, cipher and event bus, acting as ``session``'s user."""
    from cio_desktop.services.workspace import Workspace

    copy = dataclasses.replace(session, locked=False, extra={**session.extra, "background": True})
    return Workspace(dataclasses.replace(workspace.ctx, session=copy))


class BackgroundJobs:
    def __init__(self, workspace, session: AuthSession, *,  # noqa: ANN001
                 scheduler_factory: Callable[[], BackgroundScheduler] | None = None,
                 rng: random.Random | None = None) -> None:
        self._live = session
        self.ws = background_workspace(workspace, session)
        self._factory = scheduler_factory
        self._scheduler: BackgroundScheduler | None = None
        self._unwire: Callable[[], None] | None = None
        self._rng = rng or random.Random()
        self.payments_waiting_for_mfa = False

    # -- lifecycle -------------------------------------------------------------------------------
    def _make_scheduler(self) -> BackgroundScheduler:
        if self._factory is not None:
            return self._factory()
        store = SQLAlchemyJobStore(engine=self.ws.db.engine, tablename="apscheduler_jobs")
        return BackgroundScheduler(jobstores={"default": store}, timezone=timezone.utc,
                                   job_defaults={"coalesce": True, "max_instances": 1,
                                                 "misfire_grace_time": MISFIRE_GRACE_SECONDS})

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self, *, wire_events: bool = True, paused: bool = False) -> None:
        """Start the scheduler thread with the stored schedules (adding the missing defaults).
        ``paused``: load and change schedules without running anything (the CLI's list/pause)."""
        self._scheduler = self._make_scheduler()
        self._scheduler.start(paused=True)
        self.ensure_jobs()
        with _ACTIVE_LOCK:
            _ACTIVE.append(self)
        if wire_events:
            from cio_desktop.jobs.wiring import wire

            self._unwire = wire(self.ws)
        if not paused:
            # the alert rules are measured soon after start, not up to 15 minutes later: the
            # treasurer opening the app should see today's breaches in the Alerts panel
            job = self._scheduler.get_job("metrics")
            if job is not None and job.next_run_time is not None:
                soon = datetime.now(timezone.utc) + timedelta(seconds=METRICS_AFTER_START_SECONDS)
                if job.next_run_time > soon:
                    job.modify(next_run_time=soon)
            self._scheduler.resume()
            log.info("background jobs started for %s", self.ws.ctx.actor)

    def stop(self) -> None:
        with _ACTIVE_LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
        if self._unwire is not None:
            self._unwire()
            self._unwire = None
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def ensure_jobs(self) -> None:
        """Add each job the store does not hold yet; apply a cron changed while stopped."""
        assert self._scheduler is not None
        crons = self._crons()
        for d in JOBS.values():
            job = self._scheduler.get_job(d.name)
            if job is None:
                self._scheduler.add_job(run_job, _trigger(d, crons.get(d.name, "")), args=[d.name], id=d.name,
                                        name=d.title, replace_existing=True)
            elif d.kind == "cron" and crons.get(d.name) and str(job.trigger) != str(_trigger(d, crons[d.name])):
                self._scheduler.reschedule_job(d.name, trigger=_trigger(d, crons[d.name]))

    def _crons(self) -> dict[str, str]:
        from sqlalchemy import select

        with self.ws.db.unit_of_work(write=False) as uow:
            return {s.name: s.cron for s in uow.execute(select(JobState)).scalars() if s.cron}

    # -- management (Jobs panel, CLI) -----------------------------------------------------------
    def jobs(self) -> list[JobInfo]:
        from sqlalchemy import select

        self.ws.ctx.authorize(None, "view background jobs")
        with self.ws.db.unit_of_work(write=False) as uow:
            states = {s.name: s for s in uow.execute(select(JobState)).scalars()}
        scheduled = {j.id: j for j in self._scheduler.get_jobs()} if self._scheduler else {}
        out = []
        for d in JOBS.values():
            job, st = scheduled.get(d.name), states.get(d.name)
            sched = (f"every {int(d.default) // 60} min" if d.kind == "interval" and int(d.default) >= 60
                     else f"every {d.default} s" if d.kind == "interval" else (st.cron if st and st.cron else d.default))
            out.append(JobInfo(d.name, d.title, sched, getattr(job, "next_run_time", None),
                               job is not None and job.next_run_time is None,
                               st.last_run_at if st else None, st.last_result if st else "",
                               st.last_ok if st else True, st.failures if st else 0,
                               st.next_retry_at if st else None))
        return out

    def _manage(self, what: str, name: str, **after: Any) -> None:
        if name not in JOBS:
            raise ValidationError(f"unknown job '{name}'; jobs are {', '.join(JOBS)}", field="job")
        self.ws.ctx.authorize(Permission.JOBS_MANAGE, f"{what} a background job")
        with self.ws.db.unit_of_work(write=True) as uow:
            audit_log(uow, actor=self.ws.ctx.actor, action=f"job.{what}", entity="job", entity_id=name,
                      after=after, at=self.ws.ctx.now())

    def pause(self, name: str) -> None:
        self._manage("pause", name)
        assert self._scheduler is not None
        self._scheduler.pause_job(name)
        self.ws.ctx.bus.publish("jobs.changed", job=name, paused=True)

    def resume(self, name: str) -> None:
        self._manage("resume", name)
        assert self._scheduler is not None
        self._scheduler.resume_job(name)
        self.ws.ctx.bus.publish("jobs.changed", job=name, paused=False)

    def set_schedule(self, name: str, cron: str) -> None:
        """Change a cron job's schedule (``kind == "cron"`` in ``JOBS``); stored and applied."""
        d = JOBS.get(name)
        if d is None or d.kind != "cron":
            raise ValidationError(f"'{name}' has a fixed interval; only "
                                  f"{', '.join(n for n, j in JOBS.items() if j.kind == 'cron')} take a cron",
                                  field="job")
        trigger = parse_cron(cron)
        self._manage("schedule", name, cron=cron)
        with self.ws.db.unit_of_work(write=True) as uow:
            st = uow.get(JobState, name) or JobState(name=name, last_result="", last_ok=True, failures=0, cron="")
            st.cron = cron.strip()
            uow.add(st)
        if self._scheduler is not None:
            self._scheduler.reschedule_job(name, trigger=trigger)
        self.ws.ctx.bus.publish("jobs.changed", job=name, cron=cron)

    def run_now(self, name: str) -> JobResult:
        self._manage("run", name)
        return self.run(name)

    # -- running -------------------------------------------------------------------------------
    def run(self, name: str, *, scheduled: bool = False) -> JobResult:
        """Run one job now on this thread: record the outcome, retry with backoff on failure,
        alert when the retries are used up. Never raises. A ``scheduled`` run (fired by the
        scheduler, not "run now") first claims the job (:meth:`_claim`), so with several
        schedulers on one database only one of them runs it per claim window."""
        d = JOBS[name]
        try:
            self._follow_live_session()
            if scheduled and not self._claim(name):
                return JobResult(name, True, "skipped: another scheduler on this database ran it just now")
            message = getattr(self, d.method)() or "ok"
            return self._record(name, True, str(message))
        except NotAuthenticated:
            log.info("%s skipped: the session has ended", name)
            self.stop()
            return JobResult(name, False, "the session has ended")
        except Exception as exc:  # noqa: BLE001 — the scheduler thread must survive any job failure
            text = str(exc) if isinstance(exc, CioError) else f"{exc.__class__.__name__}: {exc}"
            if not isinstance(exc, CioError):
                log.exception("job %s failed", name)
            else:
                log.warning("job %s failed: %s", name, text)
            try:
                return self._record(name, False, text)
            except Exception:  # noqa: BLE001
                log.exception("could not record the failure of job %s", name)
                return JobResult(name, False, text)

    def _claim(self, name: str) -> bool:
        """Compare-and-set on ``job_states.claimed_at``: True when this scheduler may run ``name``
        now, False when another one (another workstation in team mode, or ``jobs run-forever``
        beside the app) claimed it within :func:`claim_window`. Sync and payments are safe to
        run twice (their own compare-and-set), but a daily summary or an escalation step is not."""
        now = self.ws.ctx.now()
        me = f"{self.ws.ctx.actor}@{socket.gethostname()}:{os.getpid()}"[:128]
        cutoff = now - claim_window(JOBS[name])
        with self.ws.db.unit_of_work(write=True) as uow:
            if uow.get(JobState, name) is None:
                uow.add(JobState(name=name, last_result="", last_ok=True, failures=0, cron="",
                                 claimed_by=""))
                uow.flush()
            won = uow.execute(
                update(JobState).where(JobState.name == name,
                                       or_(JobState.claimed_at.is_(None), JobState.claimed_at <= cutoff))
                .values(claimed_at=now, claimed_by=me).execution_options(synchronize_session=False)).rowcount
        return bool(won)

    def _record(self, name: str, ok: bool, message: str) -> JobResult:
        now = self.ws.ctx.now()
        retry_at, alerted, recovered = None, False, False
        with self.ws.db.unit_of_work(write=True) as uow:
            st = uow.get(JobState, name)
            if st is None:
                st = JobState(name=name, last_result="", last_ok=True, failures=0, cron="")
                uow.add(st)
            recovered = ok and (st.failures or 0) > 0
            st.last_run_at, st.last_result, st.last_ok = now, message[:2000], ok
            if ok:
                st.failures, st.next_retry_at = 0, None
            else:
                st.failures = (st.failures or 0) + 1
                if st.failures < RETRY.max_attempts:
                    retry_at = now + timedelta(seconds=RETRY.delay(st.failures, self._rng))
                else:
                    alerted = True
                st.next_retry_at = retry_at
        if retry_at is not None and self._scheduler is not None and self._scheduler.running:
            self._scheduler.add_job(run_job, DateTrigger(run_date=retry_at), args=[f"{name}.retry"],
                                    id=f"{name}.retry", name=f"{JOBS[name].title} (retry)", replace_existing=True)
        if alerted or recovered:
            try:
                self.ws.alerts.record_event("job", "failure", f"job:{name}", failed=not ok,
                                            message=f"failed {RETRY.max_attempts} times: {message}",
                                            label=JOBS[name].title, panel="jobs", ref=f"job:{name}")
            except CioError as exc:
                log.warning("could not raise the job-failure alert for %s: %s", name, exc)
        self.ws.ctx.bus.publish("jobs.ran", job=name, ok=ok, message=message[:500])
        return JobResult(name, ok, message, retry_at, alerted)

    def _follow_live_session(self) -> None:
        copy = self.ws.ctx.session
        if copy is not None and copy is not self._live:
            copy.ended = copy.ended or self._live.ended
            if self._live.mfa_verified_at is not None and (
                    copy.mfa_verified_at is None or self._live.mfa_verified_at > copy.mfa_verified_at):
                copy.mfa_verified_at = self._live.mfa_verified_at

    # -- the jobs --------------------------------------------------------------------------------
    def job_sync(self) -> str:
        self.ws.ctx.require_session()
        if not self.ws.ctx.session.can(Permission.SYNC_RUN):  # type: ignore[union-attr]
            return "skipped: no permission to synchronise"
        results = self.ws.sync.sync_due()
        search_index.catch_up(self.ws.db)
        done = [r for r in results if not r.skipped]
        for r in done:
            log.info("sync: %s", r.summary())
        return f"{len(done)} connections synchronised" if done else "nothing due"

    def job_payments(self) -> str:
        report = self._payments()
        return report.summary() if report is not None else "nothing executed"

    def job_metrics(self) -> str:
        return self.ws.alerts.evaluate().summary()

    def job_escalation(self) -> str:
        steps = self.ws.notifications.escalate_due()
        return f"{len(steps)} escalation steps" if steps else "nothing to escalate"

    def job_deliveries(self) -> str:
        report = self.ws.notifications.retry_due()
        return report.summary() if report.deliveries else "nothing to retry"

    def job_advisory(self) -> str:
        if not self.ws.ctx.require_session().can(Permission.ADVISORY_READ):
            return "skipped: no permission to read advisory reports"
        report = self.ws.advisory.generate_report()  # issue 10: stored, prioritised recommendations
        return f"advisory report {report.id}: {len(report.recommendations)} recommendations"

    def job_daily_summary(self) -> str:
        return "daily summary: " + self.ws.notifications.send_daily_summary().summary()

    def job_forecast_snapshot(self) -> str:
        if not self.ws.ctx.require_session().can(Permission.BUDGET_MANAGE):
            return "skipped: no permission to save forecast snapshots (budget.manage)"
        snapshot_id = self.ws.forecasts.save_snapshot()
        return f"forecast snapshot {snapshot_id} saved"

    def job_learning(self) -> str:
        """The categoriser every run; the forecast model too on Sundays (UTC)."""
        if not self.ws.ctx.require_session().can(Permission.BUDGET_MANAGE):
            return "skipped: no permission to train analytics models (budget.manage)"
        kinds = ["categoriser"]
        if self.ws.ctx.now().astimezone(timezone.utc).weekday() == 6:
            kinds.append("forecast")
        parts = []
        for kind in kinds:
            try:
                version = self.ws.analytics.adapt_model(kind)
            except ValidationError as exc:
                if exc.field != "history":
                    raise
                parts.append(f"{kind}: not enough data to learn from yet ({exc.reason})")
                continue
            parts.append(f"{kind}: up to date (nothing new since the active version)" if version is None
                         else f"{kind}: version {version.version} trained on {version.samples} samples")
        return "; ".join(parts)

    def job_market(self) -> str:
        if not self.ws.ctx.require_session().can(Permission.MARKET_READ):
            return "skipped: no permission to read market data (market.read)"
        report = self.ws.market.fetch_market_data()
        if not report.outcomes:
            return "market data: nothing to fetch (no enabled provider or watched symbol)"
        problems = report.problems()
        if all(o.status == "failed" for o in report.outcomes):
            raise MarketDataUnavailable("market data: nothing could be fetched and nothing is cached: "
                                        + "; ".join(o.describe() for o in problems))
        counts: dict[str, int] = {}
        for o in report.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        text = (f"market data: {', '.join(f'{n} {st}' for st, n in sorted(counts.items()))}; "
                f"{report.prices_written} prices and {report.fx_written} FX rates written")
        if problems:
            text += "; problems: " + "; ".join(o.describe() for o in problems)
        return text

    # -- the ticks (kept for direct calls: they never raise) ------------------------------------
    def sync_tick(self) -> None:
        try:
            self._follow_live_session()
            for result in self.ws.sync.sync_due():
                if not result.skipped:
                    log.info("sync: %s", result.summary())
            search_index.catch_up(self.ws.db)
        except NotAuthenticated:
            log.info("sync skipped: the session has ended")
            self.stop()
        except CioError as exc:
            log.warning("sync tick refused: %s", exc)
        except Exception:  # noqa: BLE001 — the scheduler thread must survive any job failure
            log.exception("sync tick failed")

    def _payments(self):  # noqa: ANN202 — DueRunReport | None; raises
        self._follow_live_session()
        ctx = self.ws.ctx
        session = ctx.require_session()  # ended or expired: NotAuthenticated
        if not session.can(Permission.PAYMENTS_EXECUTE):
            return None
        if not ctx.mfa_is_fresh(session):
            if not self.payments_waiting_for_mfa:
                self.payments_waiting_for_mfa = True
                due = len(self.ws.payments.due_payments())
                log.info("due payments wait for a fresh two-factor verification (%s due)", due)
                ctx.bus.publish("payments.release_waiting", due=due, reason="mfa")
            return None
        self.payments_waiting_for_mfa = False
        report = self.ws.payments.execute_due()
        if report.executed or report.failed:
            log.info("payments: %s", report.summary())
        return report

    def payments_tick(self):  # noqa: ANN201 — DueRunReport | None
        """Execute due payments (see the module doc); never raises into the scheduler."""
        try:
            return self._payments()
        except NotAuthenticated:
            log.info("payments tick skipped: the session has ended")
            self.stop()
        except CioError as exc:
            log.warning("payments tick refused: %s", exc)
        except Exception:  # noqa: BLE001 — the scheduler thread must survive any job failure
            log.exception("payments tick failed")
        return None
