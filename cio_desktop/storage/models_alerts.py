"""Alerts, alert rules, notifications, preferences, escalations and the job store (issue 9).

Tables live here (not in models.py) so each domain owns its own module; ``models.py``
imports this module at its end, so ``Base.metadata`` always holds every table.

``alerts.open_key`` is ``"<rule id>:<subject>"`` while the alert is open and NULL once it is
resolved: its unique constraint is what guarantees one open alert per breach on SQLite and
PostgreSQL alike (both allow many NULLs). ``apscheduler_jobs`` is APScheduler's own
SQLAlchemyJobStore table, declared here so the migration creates it and the drift test sees it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text)
from sqlalchemy.orm import Mapped, mapped_column

from cio_desktop.storage.models import Base
from cio_desktop.storage.types import UTCDateTime, utcnow

BIGID = BigInteger().with_variant(Integer, "sqlite")


class AlertRule(Base):
    """A threshold rule as data: which measure, compared how with what, at which severity, and
    who hears about it (the escalation path: first entry first, then up every N minutes)."""

    __tablename__ = "alert_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    source: Mapped[str] = mapped_column(String(32))          # portfolio, risk, budget, liquidity, sync, job
    metric: Mapped[str] = mapped_column(String(64))          # e.g. drawdown, var, balance_below_min
    subject: Mapped[str] = mapped_column(String(128), default="*")   # "*" or a portfolio/account id
    comparison: Mapped[str] = mapped_column(String(8), default="above")
    threshold: Mapped[str] = mapped_column(String(64), default="0")  # a Decimal as text
    params: Mapped[str] = mapped_column(Text, default="{}")  # JSON, e.g. {"days": 5}
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    escalation_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    escalation_path: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of user names
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(64), default="system")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id"), nullable=True, index=True)
    rule: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128))
    open_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text, default="")
    measured: Mapped[str] = mapped_column(String(64), default="")
    threshold: Mapped[str] = mapped_column(String(64), default="")
    unit: Mapped[str] = mapped_column(String(16), default="")
    panel: Mapped[str] = mapped_column(String(32), default="alerts")
    ref: Mapped[str] = mapped_column(String(128), default="")
    action_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)


class AlertEscalation(Base):
    """One step up an escalation path (also in the audit trail)."""

    __tablename__ = "alert_escalations"
    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Notification(Base):
    """One delivery of one message to one user on one channel. In-app rows are the
    notification centre (``read_at`` NULL = unread); failed rows wait for a retry."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))            # alert, escalation, action, summary, channel
    username: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text, default="")
    panel: Mapped[str] = mapped_column(String(32), default="alerts")
    ref: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(16))          # sent, retrying, failed, skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class NotificationPreference(Base):
    __tablename__ = "notification_prefs"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    channels_info: Mapped[str] = mapped_column(String(64), default="in_app")
    channels_warning: Mapped[str] = mapped_column(String(64), default="in_app,desktop")
    channels_critical: Mapped[str] = mapped_column(String(64), default="in_app,desktop,email")
    quiet_start: Mapped[str] = mapped_column(String(5), default="")
    quiet_end: Mapped[str] = mapped_column(String(5), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    daily_summary: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobState(Base):
    """What the Jobs panel shows beside the schedule: last run, result, failures, retry."""

    __tablename__ = "job_states"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_result: Mapped[str] = mapped_column(Text, default="")
    last_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cron: Mapped[str] = mapped_column(String(64), default="")
    #: who started the latest scheduled run and when: several schedulers on one database (team
    #: workstations, or the app beside ``jobs run-forever``) claim a run first, so each
    #: scheduled job runs once per claim window, not once per workstation
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_by: Mapped[str] = mapped_column(String(128), default="")


class ApschedulerJob(Base):
    """APScheduler 3's SQLAlchemyJobStore table, same columns and types."""

    __tablename__ = "apscheduler_jobs"
    id: Mapped[str] = mapped_column(String(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), nullable=True, index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)
