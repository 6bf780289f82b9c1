"""Delivery of alerts on the user's channels, escalation, action-required notices and the daily
summary (issue 9).

Channels: ``in_app`` (a row in ``notifications``: the notification centre), ``desktop`` (the
injected desktop notifier, see ``integrations.notify.desktop``), ``email`` (SMTP with STARTTLS)
and ``sms`` (an HTTP gateway). For each recipient the channels are the user's choice for the
alert's severity, minus desktop/e-mail/SMS during quiet hours unless the alert is critical
(``domain.alerting.choose_channels``; properties 37 and 39).

Each external channel is tried in its own worker thread, so a hanging SMTP server never holds
back the SMS or the desktop notice. A retryable failure is stored as ``retrying`` with the next
attempt time from the backoff policy; ``retry_due()`` (the scheduler's ``deliveries`` job)
tries again until ``MAX_ATTEMPTS``; a definite failure raises the "Notification channel
failing" alert, and a later success on that channel resolves it. Network I/O happens outside
any database transaction; its outcome is then written in one transaction with one audit entry.

Escalation (property 38): a critical alert nobody acknowledged moves one step up its rule's
escalation path every ``escalation_minutes``; each step is a row in ``alert_escalations`` and
an audit entry, and the next person is notified.

Daily summary: ``send_daily_summary`` delivers the text in the app and by e-mail with the same
content as a PDF attached (``summary_document`` → ``reports.export_report``); a PDF that cannot
be rendered is logged and the text summary goes out without it.

Channel settings live in ``app_meta`` (``notify.smtp.*``, ``notify.sms.*``); the SMTP password and
the SMS API key only field-encrypted (AES-GCM under the database's data key).
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cio_desktop.domain import alerting
from cio_desktop.domain.retry import BackoffPolicy
from cio_desktop.errors import NotFound, ValidationError
from cio_desktop.events import EventBus
from cio_desktop.integrations.notify.base import ChannelUnavailable, DeliveryFailed, OutgoingMessage
from cio_desktop.integrations.notify.desktop import DesktopNotifier, NoDesktop
from cio_desktop.reports import Column, Period, ReportDocument, Section, Table, Text, export_report
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.services.context import ServiceContext
from cio_desktop.storage.models import AppMeta, User
from cio_desktop.storage.models_alerts import (Alert, AlertEscalation, AlertRule, Notification,
                                               NotificationPreference)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_POLICY = BackoffPolicy(base=60.0, cap=3600.0, max_attempts=MAX_ATTEMPTS, jitter=0.1)
SMTP_PASSWORD_CONTEXT = "notify.smtp.password"
SMS_KEY_CONTEXT = "notify.sms.api_key"

# -- desktop notifier injection ---------------------------------------------------------------
# Keyed by the event bus: the window's workspace and the scheduler's background copy share one
# bus, so a notifier installed by the window serves both, and two open databases never mix.
_DESKTOP: "weakref.WeakKeyDictionary[EventBus, DesktopNotifier]" = weakref.WeakKeyDictionary()
_DESKTOP_LOCK = threading.Lock()


def install_desktop_notifier(bus: EventBus, notifier: DesktopNotifier) -> Callable[[], None]:
    with _DESKTOP_LOCK:
        _DESKTOP[bus] = notifier

    def uninstall() -> None:
        with _DESKTOP_LOCK:
            if _DESKTOP.get(bus) is notifier:
                del _DESKTOP[bus]

    return uninstall


def desktop_notifier(bus: EventBus) -> DesktopNotifier:
    with _DESKTOP_LOCK:
        return _DESKTOP.get(bus) or NoDesktop()


# -- views ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PreferencesView:
    username: str
    channels: dict[str, frozenset[str]]
    quiet_start: str
    quiet_end: str
    timezone: str
    email: str
    phone: str
    daily_summary: bool

    def as_domain(self) -> alerting.Preferences:
        return alerting.Preferences(
            dict(self.channels),
            alerting.parse_hhmm(self.quiet_start) if self.quiet_start else None,
            alerting.parse_hhmm(self.quiet_end) if self.quiet_end else None,
            self.timezone or "UTC")


@dataclass(frozen=True)
class NotificationView:
    id: int
    alert_id: int | None
    kind: str
    username: str
    channel: str
    severity: str
    title: str
    body: str
    panel: str
    ref: str
    status: str
    attempts: int
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
    read_at: datetime | None


@dataclass(frozen=True)
class Delivery:
    username: str
    channel: str
    status: str          # sent, retrying, failed, skipped (channel not available here)
    error: str = ""
    notification_id: int | None = None


@dataclass(frozen=True)
class DeliveryReport:
    deliveries: tuple[Delivery, ...]

    def channels_for(self, username: str, status: str = "sent") -> set[str]:
        return {d.channel for d in self.deliveries if d.username == username and d.status == status}

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for d in self.deliveries:
            counts[d.status] = counts.get(d.status, 0) + 1
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to deliver"


@dataclass(frozen=True)
class EscalationStep:
    alert_id: int
    level: int
    recipients: tuple[str, ...]
    due_at: datetime


@dataclass(frozen=True)
class ChannelSettings:
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_sender: str = ""
    smtp_username: str = ""
    smtp_has_password: bool = False
    smtp_ca_file: str = ""
    smtp_implicit_tls: bool = False
    sms_url: str = ""
    sms_sender: str = "CIO"
    sms_has_key: bool = False
    sms_ca_file: str = ""


@dataclass(frozen=True)
class SummarySection:
    title: str
    rows: tuple[tuple[str, str], ...] = ()
    unavailable: str = ""    # "not available: reason" when the source could not be read


@dataclass(frozen=True)
class DailySummary:
    generated_at: datetime
    username: str
    sections: tuple[SummarySection, ...] = field(default_factory=tuple)

    def text(self) -> str:
        lines = [f"Daily treasury summary — {self.generated_at:%Y-%m-%d %H:%M} UTC", ""]
        for s in self.sections:
            lines.append(s.title)
            if s.unavailable:
                lines.append(f"  not available: {s.unavailable}")
            for k, v in s.rows:
                lines.append(f"  {k}: {v}")
            if not s.rows and not s.unavailable:
                lines.append("  none")
            lines.append("")
        return "\n".join(lines)


# -- the daily summary as a report document and PDF ----------------------------------------------
SUMMARY_COLUMNS = (Column("Item"), Column("Value"))


def summary_document(summary: DailySummary) -> ReportDocument:
    """The summary as a :class:`ReportDocument`: one section per summary section, its rows a
    two-column table; a section that could not be read says why (``Section.no_data``)."""
    day = summary.generated_at.date()
    doc = ReportDocument("Daily treasury summary", Period(day, day, f"{day:%A %d %B %Y}"),
                         subtitle=f"Prepared for {summary.username}" if summary.username else "",
                         generated_at=summary.generated_at, generated_by=summary.username)
    for s in summary.sections:
        if s.unavailable:
            doc.add(Section(s.title, no_data=s.unavailable))
            continue
        section = doc.add(Section(s.title))
        if s.rows:
            section.add(Table("", SUMMARY_COLUMNS, rows=[tuple(r) for r in s.rows]))
        else:
            section.add(Text("None."))
    return doc


def summary_pdf(summary: DailySummary) -> bytes:
    """The summary rendered as PDF (through ``export_report`` into a temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="cio-summary-") as folder:
        target = export_report(summary_document(summary), "pdf",
                               Path(folder) / f"summary-{summary.generated_at:%Y-%m-%d}.pdf")
        return target.read_bytes()


def _view(n: Notification) -> NotificationView:
    return NotificationView(n.id, n.alert_id, n.kind, n.username, n.channel, n.severity, n.title, n.body,
                            n.panel, n.ref, n.status, n.attempts, n.last_error, n.created_at, n.delivered_at,
                            n.read_at)


def _prefs_view(username: str, row: NotificationPreference | None) -> PreferencesView:
    if row is None:
        d = alerting.default_preferences()
        return PreferencesView(username, dict(d.channels), "", "", "UTC", "", "", True)
    return PreferencesView(username, {
        "info": alerting.split_channels(row.channels_info),
        "warning": alerting.split_channels(row.channels_warning),
        "critical": alerting.split_channels(row.channels_critical)},
        row.quiet_start, row.quiet_end, row.timezone, row.email, row.phone, row.daily_summary)


def load_prefs(uow: Session, username: str) -> PreferencesView:
    return _prefs_view(username, uow.get(NotificationPreference, username))


def _meta(uow: Session, prefix: str) -> dict[str, str]:
    rows = uow.execute(select(AppMeta).where(AppMeta.key.like(prefix + "%"))).scalars()
    return {r.key[len(prefix):]: r.value for r in rows}


def _set_meta(uow: Session, key: str, value: str) -> None:
    row = uow.get(AppMeta, key)
    if row is None:
        uow.add(AppMeta(key=key, value=value))
    else:
        row.value = value


def resolve_recipients(uow: Session, step: str) -> list[str]:
    """A path step is a user name or ``role:<role>`` (every active user with that role)."""
    step = step.strip()
    if step.startswith("role:"):
        role = step[5:]
        return list(uow.execute(select(User.username).where(User.role == role, User.is_active.is_(True))
                                .order_by(User.username)).scalars())
    exists = uow.execute(select(User.username).where(User.username == step, User.is_active.is_(True))).scalar()
    return [exists] if exists else []


def _path(rule: AlertRule | None) -> list[str]:
    import json

    if rule is None:
        return []
    try:
        return [str(s) for s in json.loads(rule.escalation_path or "[]")]
    except ValueError:
        return []


class NotificationsService(Service):
    def __init__(self, ctx: ServiceContext, *, rng: random.Random | None = None) -> None:
        super().__init__(ctx)
        self._rng = rng or random.Random()

    # -- preferences ---------------------------------------------------------------------------
    @action(Permission.ALERTS_READ, description="view notification preferences")
    def preferences(self, username: str | None = None) -> PreferencesView:
        name = self._whose(username)
        with self.ctx.db.unit_of_work(write=False) as uow:
            return load_prefs(uow, name)

    @action(Permission.ALERTS_READ, description="change notification preferences")
    def set_preferences(self, *, channels: dict[str, Any] | None = None, quiet_start: str | None = None,
                        quiet_end: str | None = None, timezone: str | None = None, email: str | None = None,
                        phone: str | None = None, daily_summary: bool | None = None,
                        username: str | None = None) -> PreferencesView:
        """Your own preferences (another user's needs the settings permission). Everything is
        checked before anything is written: a bad address, phone number, time or channel name is
        refused with the field it concerns."""
        name = self._whose(username)
        new_channels: dict[str, frozenset[str]] = {}
        try:
            for sev, value in (channels or {}).items():
                new_channels[alerting.check_severity(sev)] = alerting.split_channels(value)
        except ValueError as exc:
            raise ValidationError(str(exc), field="channels") from None
        checks = (("quiet_start", quiet_start, lambda v: alerting.parse_hhmm(v, "quiet hours start")),
                  ("quiet_end", quiet_end, lambda v: alerting.parse_hhmm(v, "quiet hours end")),
                  ("timezone", timezone, alerting.check_timezone), ("email", email, alerting.check_email),
                  ("phone", phone, alerting.check_phone))
        for fname, value, check in checks:
            if value:
                try:
                    check(value)
                except ValueError as exc:
                    raise ValidationError(str(exc), field=fname) from None
        if bool(quiet_start) != bool(quiet_end) and quiet_start is not None and quiet_end is not None:
            raise ValidationError("quiet hours need both a start and an end (or neither)", field="quiet_end")
        now = self.ctx.now()
        with self.ctx.db.unit_of_work(write=True) as uow:
            row = uow.get(NotificationPreference, name)
            before = _prefs_view(name, row)
            if row is None:
                row = NotificationPreference(username=name)
                uow.add(row)
                d = alerting.DEFAULT_CHANNELS
                row.channels_info, row.channels_warning, row.channels_critical = (
                    ",".join(sorted(d["info"])), ",".join(sorted(d["warning"])), ",".join(sorted(d["critical"])))
                row.quiet_start = row.quiet_end = row.email = row.phone = ""
                row.timezone, row.daily_summary = "UTC", True
            for sev, chans in new_channels.items():
                setattr(row, f"channels_{sev}", ",".join(sorted(chans)))
            if quiet_start is not None:
                row.quiet_start = alerting.parse_hhmm(quiet_start).strftime("%H:%M") if quiet_start else ""
            if quiet_end is not None:
                row.quiet_end = alerting.parse_hhmm(quiet_end).strftime("%H:%M") if quiet_end else ""
            if bool(row.quiet_start) != bool(row.quiet_end):
                raise ValidationError("quiet hours need both a start and an end (or neither)", field="quiet_end")
            if timezone is not None:
                row.timezone = alerting.check_timezone(timezone)
            if email is not None:
                row.email = alerting.check_email(email) if email else ""
            if phone is not None:
                row.phone = alerting.check_phone(phone) if phone else ""
            if daily_summary is not None:
                row.daily_summary = bool(daily_summary)
            row.updated_at = now
            uow.flush()
            view = _prefs_view(name, row)
            audit_log(uow, actor=self.ctx.actor, action="notification_prefs.changed", entity="user",
                      entity_id=name, before=self._masked(before), after=self._masked(view), at=now)
        self.ctx.bus.publish("notifications.preferences_changed", username=name)
        return view

    @staticmethod
    def _masked(p: PreferencesView) -> dict[str, str]:
        return {"channels": ";".join(f"{k}={','.join(sorted(v))}" for k, v in sorted(p.channels.items())),
                "quiet": f"{p.quiet_start}-{p.quiet_end} {p.timezone}",
                "email": (p.email[:2] + "***@" + p.email.partition("@")[2]) if p.email else "",
                "phone": (p.phone[:4] + "****" + p.phone[-2:]) if p.phone else "",
                "daily_summary": str(p.daily_summary)}

    def _whose(self, username: str | None) -> str:
        me = self.ctx.actor
        if username and username != me:
            s = self.ctx.require_session()
            if not s.can(Permission.SETTINGS_MANAGE):
                raise ValidationError("you can change only your own notification preferences", field="username")
            return username
        return me

    # -- channel settings ----------------------------------------------------------------------
    @action(Permission.ALERTS_READ, description="view notification channel settings")
    def channel_settings(self) -> ChannelSettings:
        with self.ctx.db.unit_of_work(write=False) as uow:
            smtp, sms = _meta(uow, "notify.smtp."), _meta(uow, "notify.sms.")
        return ChannelSettings(smtp.get("host", ""), int(smtp.get("port", "587") or 587), smtp.get("sender", ""),
                               smtp.get("username", ""), bool(smtp.get("password_enc")), smtp.get("ca_file", ""),
                               smtp.get("implicit_tls", "") == "1", sms.get("url", ""), sms.get("sender", "CIO"),
                               bool(sms.get("api_key_enc")), sms.get("ca_file", ""))

    @action(Permission.SETTINGS_MANAGE, description="configure the e-mail channel")
    def configure_email(self, *, host: str, port: int = 587, sender: str, username: str = "",
                        password: str | None = None, ca_file: str = "", implicit_tls: bool = False) -> ChannelSettings:
        if not host.strip():
            raise ValidationError("the SMTP server name is empty", field="host")
        if not 0 < int(port) < 65536:
            raise ValidationError(f"port {port} is not a TCP port", field="port")
        try:
            alerting.check_email(sender)
        except ValueError as exc:
            raise ValidationError(str(exc), field="sender") from None
        now = self.ctx.now()
        with self.ctx.db.unit_of_work(write=True) as uow:
            for k, v in (("host", host.strip()), ("port", str(int(port))), ("sender", sender.strip()),
                         ("username", username), ("ca_file", ca_file), ("implicit_tls", "1" if implicit_tls else "")):
                _set_meta(uow, f"notify.smtp.{k}", v)
            if password is not None:
                _set_meta(uow, "notify.smtp.password_enc",
                          self.ctx.cipher.encrypt(password, SMTP_PASSWORD_CONTEXT) if password else "")
            audit_log(uow, actor=self.ctx.actor, action="notify.email_configured", entity="settings",
                      entity_id="notify.smtp", after={"host": host, "port": port, "sender": sender,
                                                      "username": username, "password": "set" if password else
                                                      ("unchanged" if password is None else "cleared")}, at=now)
        self.ctx.bus.publish("notifications.channels_changed", channel="email")
        return self.channel_settings()

    @action(Permission.SETTINGS_MANAGE, description="configure the SMS channel")
    def configure_sms(self, *, url: str, api_key: str | None = None, sender: str = "CIO",
                      ca_file: str = "") -> ChannelSettings:
        from cio_desktop.integrations.notify.sms import check_gateway_url

        try:
            check_gateway_url(url)
        except ValueError as exc:
            raise ValidationError(str(exc), field="url") from None
        now = self.ctx.now()
        with self.ctx.db.unit_of_work(write=True) as uow:
            for k, v in (("url", url), ("sender", sender), ("ca_file", ca_file)):
                _set_meta(uow, f"notify.sms.{k}", v)
            if api_key is not None:
                _set_meta(uow, "notify.sms.api_key_enc",
                          self.ctx.cipher.encrypt(api_key, SMS_KEY_CONTEXT) if api_key else "")
            audit_log(uow, actor=self.ctx.actor, action="notify.sms_configured", entity="settings",
                      entity_id="notify.sms", after={"url": url, "sender": sender,
                                                     "api_key": "set" if api_key else "unchanged"}, at=now)
        self.ctx.bus.publish("notifications.channels_changed", channel="sms")
        return self.channel_settings()

    # -- transports ----------------------------------------------------------------------------
    def _transport_send(self, channel: str, prefs: PreferencesView, message: OutgoingMessage) -> None:
        """Deliver on one external channel; raises DeliveryFailed with plain words."""
        if channel == "desktop":
            desktop_notifier(self.ctx.bus).notify(message)
            return
        with self.ctx.db.unit_of_work(write=False) as uow:
            meta = _meta(uow, f"notify.{'smtp' if channel == 'email' else 'sms'}.")
        if channel == "email":
            from cio_desktop.integrations.notify.smtp import SmtpSettings, SmtpTransport

            if not prefs.email:
                raise DeliveryFailed("email", f"{prefs.username} has no e-mail address in the preferences",
                                     retryable=False)
            pw = meta.get("password_enc", "")
            settings = SmtpSettings(meta.get("host", ""), int(meta.get("port", "587") or 587),
                                    meta.get("sender", ""), meta.get("username", ""),
                                    self.ctx.cipher.decrypt(pw, SMTP_PASSWORD_CONTEXT) if pw else "",
                                    meta.get("ca_file", ""), meta.get("implicit_tls", "") == "1")
            SmtpTransport(settings).send(prefs.email, message)
            return
        if channel == "sms":
            from cio_desktop.integrations.notify.sms import SmsSettings, SmsTransport

            if not prefs.phone:
                raise DeliveryFailed("sms", f"{prefs.username} has no phone number in the preferences",
                                     retryable=False)
            key = meta.get("api_key_enc", "")
            settings = SmsSettings(meta.get("url", ""), self.ctx.cipher.decrypt(key, SMS_KEY_CONTEXT) if key else "",
                                   meta.get("sender", "CIO"), meta.get("ca_file", ""))
            SmsTransport(settings).send(prefs.phone, message)
            return
        raise DeliveryFailed(channel, "unknown channel", retryable=False)

    def _attempt_all(self, jobs: Sequence[tuple[str, PreferencesView, OutgoingMessage]]) -> list[DeliveryFailed | None]:
        """Try each (channel, prefs, message) concurrently; never raises."""
        def one(job: tuple[str, PreferencesView, OutgoingMessage]) -> DeliveryFailed | None:
            channel, prefs, message = job
            try:
                self._transport_send(channel, prefs, message)
                return None
            except DeliveryFailed as exc:
                return exc
            except Exception as exc:  # noqa: BLE001 — one channel's bug must not stop the others
                log.exception("delivery on %s failed unexpectedly", channel)
                return DeliveryFailed(channel, f"{exc.__class__.__name__}: {exc}", retryable=True)

        if not jobs:
            return []
        if len(jobs) == 1:
            return [one(jobs[0])]
        with ThreadPoolExecutor(max_workers=min(4, len(jobs)), thread_name_prefix="notify") as pool:
            return list(pool.map(one, jobs))

    # -- sending -------------------------------------------------------------------------------
    def _deliver(self, *, recipients: Sequence[str], severity: str, message: OutgoingMessage, kind: str,
                 alert_id: int | None, force_channels: Iterable[str] | None = None) -> DeliveryReport:
        now = self.ctx.now()
        with self.ctx.db.unit_of_work(write=False) as uow:
            prefs = {u: load_prefs(uow, u) for u in dict.fromkeys(recipients)}
        plan: list[tuple[str, PreferencesView]] = []
        for user, p in prefs.items():
            if force_channels is not None:  # the daily summary: its own opt-in flag decides
                chans = frozenset(c for c in force_channels if c != "email" or p.email)
            else:
                chans = alerting.choose_channels(p.as_domain(), severity, now)
            plan += [(c, p) for c in alerting.CHANNELS if c in chans]
        external = [(c, p, message) for c, p in plan if c != "in_app"]
        results = dict(zip([(c, p.username) for c, p, _ in external], self._attempt_all(external)))
        deliveries: list[Delivery] = []
        with self.ctx.db.unit_of_work(write=True) as uow:
            for channel, p in plan:
                failure = results.get((channel, p.username)) if channel != "in_app" else None
                status = ("sent" if failure is None else "skipped" if isinstance(failure, ChannelUnavailable)
                          else "retrying" if failure.retryable else "failed")
                row = Notification(alert_id=alert_id, kind=kind, username=p.username, channel=channel,
                                   severity=severity, title=message.subject[:255], body=message.body,
                                   panel=message.panel, ref=message.ref[:128], status=status, attempts=1,
                                   last_error=str(failure or "")[:2000], created_at=now,
                                   delivered_at=now if failure is None else None,
                                   next_attempt_at=(now + timedelta(seconds=RETRY_POLICY.delay(1, self._rng)))
                                   if status == "retrying" else None)
                uow.add(row)
                uow.flush()
                deliveries.append(Delivery(p.username, channel, status, str(failure or ""), row.id))
            audit_log(uow, actor=self.ctx.actor, action=f"notification.{kind}", entity="alert" if alert_id else
                      "notification", entity_id=alert_id or (deliveries[0].notification_id if deliveries else ""),
                      after={"title": message.subject[:200],
                             "deliveries": [f"{d.username}/{d.channel}:{d.status}" for d in deliveries]}, at=now)
        self._after_attempts(deliveries)
        report = DeliveryReport(tuple(deliveries))
        self.ctx.bus.publish("notifications.changed", usernames=sorted(prefs), alert=alert_id,
                             summary=report.summary())
        return report

    def _after_attempts(self, deliveries: Sequence[Delivery]) -> None:
        """A definite failure raises the channel-failure alert; a success resolves it."""
        from cio_desktop.services.alerts import AlertsService

        alerts = AlertsService(self.ctx)
        seen: set[tuple[str, bool]] = set()
        for d in deliveries:
            if d.channel == "in_app" or d.status in ("retrying", "skipped"):
                continue
            failed = d.status == "failed"
            if (d.channel, failed) in seen:
                continue
            seen.add((d.channel, failed))
            try:
                alerts.record_event("notify", "channel_failure", f"channel:{d.channel}", failed=failed,
                                    message=d.error, label=f"{d.channel} notifications",
                                    panel="alerts", ref=f"channel:{d.channel}")
            except Exception:  # noqa: BLE001 — reporting the failure must not fail the delivery
                log.exception("could not record the state of the %s channel", d.channel)

    def _alert_message(self, a: Alert, *, escalated_from: str = "") -> OutgoingMessage:
        body = a.message
        if a.source == "risk" and a.rule and a.resolved_at is None:
            portfolio = a.title.split(": ", 1)[-1].split(":")[0] or a.subject.split("/")[0]
            act = alerting.limit_breach_decision(portfolio, a.message, a.created_at)
            body = act.body()
        if escalated_from:
            body = f"Escalated: not acknowledged by {escalated_from}.\n{body}"
        prefix = {"critical": "CRITICAL", "warning": "Warning", "info": "Info"}.get(a.severity, a.severity)
        return OutgoingMessage(f"[{prefix}] {a.title}", body, a.severity, a.panel or "alerts", a.ref or f"alert:{a.id}")

    @action(Permission.ALERTS_READ, description="send an alert")
    def send_alert(self, alert_id: int, recipients: Sequence[str] | None = None) -> DeliveryReport:
        """Deliver an alert to its recipients (default: the current step of its rule's escalation
        path, else the acting user) on every channel their preferences choose for its severity."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            a = uow.get(Alert, alert_id)
            if a is None:
                raise NotFound(f"no alert {alert_id}")
            rule = uow.get(AlertRule, a.rule_id) if a.rule_id else None
            if recipients is None:
                path = _path(rule)
                step = path[min(a.escalation_level, len(path) - 1)] if path else self.ctx.actor
                recipients = resolve_recipients(uow, step) or [self.ctx.actor]
            message = self._alert_message(a)
            severity = a.severity
        return self._deliver(recipients=list(recipients), severity=severity, message=message, kind="alert",
                             alert_id=alert_id)

    @action(Permission.ALERTS_READ, description="send an action-required notice")
    def notify_action(self, act: alerting.ActionRequired, recipients: Sequence[str],
                      alert_id: int | None = None) -> DeliveryReport:
        """What, why, by when and where to go (property 40), on the recipients' channels."""
        message = OutgoingMessage(act.title(), act.body(), act.severity, act.panel, act.ref)
        return self._deliver(recipients=list(recipients), severity=act.severity, message=message,
                             kind="action", alert_id=alert_id)

    @action(Permission.ALERTS_READ, description="retry failed notifications")
    def retry_due(self) -> DeliveryReport:
        """Try again every delivery whose retry time has come (the ``deliveries`` job)."""
        now = self.ctx.now()
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = list(uow.execute(select(Notification).where(Notification.status == "retrying",
                                                               Notification.next_attempt_at <= now)
                                    .order_by(Notification.id).limit(200)).scalars())
            prefs = {r.username: load_prefs(uow, r.username) for r in rows}
        jobs = [(r.channel, prefs[r.username], OutgoingMessage(r.title, r.body, r.severity, r.panel, r.ref))
                for r in rows]
        results = self._attempt_all(jobs)
        deliveries: list[Delivery] = []
        with self.ctx.db.unit_of_work(write=True) as uow:
            for r, failure in zip(rows, results):
                row = uow.get(Notification, r.id)
                if row is None or row.status != "retrying":
                    continue
                row.attempts += 1
                if failure is None:
                    row.status, row.delivered_at, row.next_attempt_at, row.last_error = "sent", now, None, ""
                elif failure.retryable and row.attempts < MAX_ATTEMPTS:
                    row.last_error = str(failure)[:2000]
                    row.next_attempt_at = now + timedelta(seconds=RETRY_POLICY.delay(row.attempts, self._rng))
                else:
                    row.status, row.next_attempt_at, row.last_error = "failed", None, str(failure)[:2000]
                deliveries.append(Delivery(row.username, row.channel, row.status, row.last_error, row.id))
            if deliveries:
                audit_log(uow, actor=self.ctx.actor, action="notification.retried", entity="notification",
                          entity_id=deliveries[0].notification_id,
                          after={"deliveries": [f"{d.notification_id}:{d.status}" for d in deliveries]}, at=now)
        self._after_attempts(deliveries)
        if deliveries:
            self.ctx.bus.publish("notifications.changed", usernames=sorted({d.username for d in deliveries}))
        return DeliveryReport(tuple(deliveries))

    # -- escalation ----------------------------------------------------------------------------
    @action(Permission.ALERTS_READ, description="escalate an alert")
    def escalate_notification(self, alert_id: int) -> list[EscalationStep]:
        """Move an unacknowledged critical alert up its path to the level due now (one step per
        ``escalation_minutes``); each step is recorded, audited and notified."""
        now = self.ctx.now()
        steps: list[EscalationStep] = []
        with self.ctx.db.unit_of_work(write=True) as uow:
            a = uow.get(Alert, alert_id)
            if a is None:
                raise NotFound(f"no alert {alert_id}")
            rule = uow.get(AlertRule, a.rule_id) if a.rule_id else None
            if (a.severity != "critical" or a.acknowledged_at is not None or a.resolved_at is not None
                    or rule is None or not rule.escalation_minutes):
                return []
            path = _path(rule)
            target = alerting.escalation_level(a.created_at, now, rule.escalation_minutes, len(path))
            previous = ", ".join(resolve_recipients(uow, path[a.escalation_level])) if path else ""
            for level in range(a.escalation_level + 1, target + 1):
                recipients = tuple(resolve_recipients(uow, path[level]))
                due = alerting.escalation_due_at(a.created_at, level, rule.escalation_minutes)
                for r in recipients or ("(nobody)",):
                    uow.add(AlertEscalation(alert_id=a.id, level=level, recipient=r, due_at=due, escalated_at=now))
                audit_log(uow, actor=self.ctx.actor, action="alert.escalated", entity="alert", entity_id=a.id,
                          after={"level": level, "step": path[level], "recipients": list(recipients),
                                 "due_at": due.isoformat()}, at=now)
                steps.append(EscalationStep(a.id, level, recipients, due))
            if steps:
                a.escalation_level = target
            message = self._alert_message(a, escalated_from=previous)
        for step in steps[-1:]:  # notify the level reached (intermediate levels are recorded)
            if step.recipients:
                self._deliver(recipients=step.recipients, severity="critical", message=message,
                              kind="escalation", alert_id=alert_id)
        if steps:
            self.ctx.bus.publish("alerts.changed", escalated=[alert_id])
        return steps

    @action(Permission.ALERTS_READ, description="escalate unacknowledged alerts")
    def escalate_due(self) -> list[EscalationStep]:
        now = self.ctx.now()
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = uow.execute(select(Alert.id, Alert.created_at, Alert.escalation_level, AlertRule)
                               .join(AlertRule, AlertRule.id == Alert.rule_id)
                               .where(Alert.severity == "critical", Alert.resolved_at.is_(None),
                                      Alert.acknowledged_at.is_(None), AlertRule.escalation_minutes.is_not(None))).all()
            # only alerts with a step due now take a write transaction
            ids = [r[0] for r in rows if alerting.escalation_level(r[1], now, r[3].escalation_minutes,
                                                                   len(_path(r[3]))) > r[2]]
        out: list[EscalationStep] = []
        for alert_id in ids:
            out += self.escalate_notification(alert_id)
        return out

    # -- notification centre -------------------------------------------------------------------
    @action(Permission.ALERTS_READ, description="view your notifications")
    def inbox(self, unread_only: bool = False, limit: int = 200) -> list[NotificationView]:
        q = select(Notification).where(Notification.username == self.ctx.actor, Notification.channel == "in_app")
        if unread_only:
            q = q.where(Notification.read_at.is_(None))
        with self.ctx.db.unit_of_work(write=False) as uow:
            return [_view(n) for n in uow.execute(q.order_by(Notification.id.desc()).limit(limit)).scalars()]

    @action(Permission.ALERTS_READ, description="count unread notifications")
    def unread_count(self) -> int:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return int(uow.execute(select(func.count()).select_from(Notification).where(
                Notification.username == self.ctx.actor, Notification.channel == "in_app",
                Notification.read_at.is_(None))).scalar_one())

    @action(Permission.ALERTS_READ, description="mark notifications read")
    def mark_read(self, ids: Sequence[int] | None = None) -> int:
        """Mark your in-app notifications read (``None``: all of them). Returns how many changed."""
        now = self.ctx.now()
        with self.ctx.db.unit_of_work(write=True) as uow:
            q = update(Notification).where(Notification.username == self.ctx.actor, Notification.channel == "in_app",
                                           Notification.read_at.is_(None))
            if ids is not None:
                q = q.where(Notification.id.in_(list(ids)))
            n = uow.execute(q.values(read_at=now)).rowcount or 0
            if n:
                audit_log(uow, actor=self.ctx.actor, action="notification.read", entity="notification",
                          entity_id=",".join(map(str, ids)) if ids else "all", after={"count": n}, at=now)
        if n:
            self.ctx.bus.publish("notifications.changed", usernames=[self.ctx.actor])
        return n

    @action(Permission.ALERTS_READ, description="view deliveries")
    def deliveries(self, alert_id: int | None = None, limit: int = 500) -> list[NotificationView]:
        q = select(Notification)
        if alert_id is not None:
            q = q.where(Notification.alert_id == alert_id)
        with self.ctx.db.unit_of_work(write=False) as uow:
            return [_view(n) for n in uow.execute(q.order_by(Notification.id.desc()).limit(limit)).scalars()]

    # -- action-required hooks (wired by the scheduler) ----------------------------------------
    @action(Permission.ALERTS_READ, description="send approval notices")
    def on_payment_submitted(self, payment_ids: Sequence[int]) -> None:
        """Approvers (not the requester) hear that a payment waits for them, by when, where."""
        from cio_desktop.services.approvals import ApprovalsService
        from cio_desktop.services.payments import PaymentsService

        for pid in payment_ids:
            p = PaymentsService(self.ctx).get_payment(pid)
            if p.status != "pending_approval":
                continue
            expires = None
            if p.approval_request_id:
                expires = ApprovalsService(self.ctx).request(p.approval_request_id).expires_at
            act = alerting.approval_waiting(p.id, f"{p.id} to {p.beneficiary_name}", p.amount.format(), p.requested_by,
                                            expires or (self.ctx.now() + timedelta(days=1)))
            with self.ctx.db.unit_of_work(write=False) as uow:
                approvers = [u for u in resolve_recipients(uow, "role:approver") if u != p.requested_by]
            if approvers:
                self.notify_action(act, approvers)

    @action(Permission.ALERTS_READ, description="send a credentials notice")
    def on_sync_failed(self, connection: str, error: str) -> None:
        """Rejected credentials need a person: an action-required notice to the treasurers."""
        text = (error or "").lower()
        if not any(w in text for w in ("401", "403", "credential", "unauthori", "token", "api key", "forbidden")):
            return
        act = alerting.credentials_expired(connection, error[:200], self.ctx.now())
        with self.ctx.db.unit_of_work(write=False) as uow:
            people = resolve_recipients(uow, "role:treasurer") or [self.ctx.actor]
        self.notify_action(act, people)

    # -- daily summary -------------------------------------------------------------------------
    @action(Permission.ALERTS_READ, description="build the daily summary")
    def daily_summary(self) -> DailySummary:
        """Balances by currency, payments due today and awaiting approval, open alerts, limit
        headroom and the 13-week cash outlook; a section the user cannot read says why."""
        sections = [self._section("Balances by currency", self._balances),
                    self._section("Payments due today", self._payments_due),
                    self._section("Payments awaiting approval", self._payments_waiting),
                    self._section("Open alerts", self._open_alerts),
                    self._section("Limit headroom", self._limit_headroom),
                    self._section("13-week cash outlook", self._outlook)]
        return DailySummary(self.ctx.now(), self.ctx.actor, tuple(sections))

    @staticmethod
    def _section(title: str, fn: Callable[[], list[tuple[str, str]]]) -> SummarySection:
        from cio_desktop.errors import CioError

        try:
            return SummarySection(title, tuple(fn()))
        except (CioError, AttributeError, NotImplementedError, ImportError) as exc:
            return SummarySection(title, unavailable=str(exc) or exc.__class__.__name__)

    def _balances(self) -> list[tuple[str, str]]:
        from cio_desktop.services.accounts import AccountsService

        totals, grand = AccountsService(self.ctx).consolidated()
        rows = [(t.currency, t.balance.format()) for t in totals]
        if grand is not None:
            rows.append((f"Total in {grand.currency}", grand.format()))
        return rows

    def _payments_due(self) -> list[tuple[str, str]]:
        from cio_desktop.services.payments import PaymentsService

        return [(f"Payment {p.id}", f"{p.amount.format()} to {p.beneficiary_name} ({p.label})")
                for p in PaymentsService(self.ctx).due_payments()]

    def _payments_waiting(self) -> list[tuple[str, str]]:
        from cio_desktop.services.payments import PaymentsService

        return [(f"Payment {p.id} to {p.beneficiary_name}", f"{p.amount.format()} requested by {p.requested_by}, "
                          f"{len(p.approvals)}/{p.required_approvals} approvals")
                for p in PaymentsService(self.ctx).list_payments(status="pending_approval")]

    def _open_alerts(self) -> list[tuple[str, str]]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = uow.execute(select(Alert.severity, func.count()).where(Alert.resolved_at.is_(None))
                               .group_by(Alert.severity)).all()
        counts = {s: n for s, n in rows}
        return [(s, str(counts.get(s, 0))) for s in reversed(alerting.SEVERITIES)]

    def _limit_headroom(self) -> list[tuple[str, str]]:
        from cio_desktop.services.portfolio import PortfolioService
        from cio_desktop.services.risk import RiskService

        rows = []
        for p in PortfolioService(self.ctx).list_portfolios():
            ev = RiskService(self.ctx).evaluate_portfolio_risk(p.id).evaluation
            tight = sorted((c for c in ev.checks if c.determined), key=lambda c: c.headroom)[:3]
            score = f"{ev.score:.0f}" if math.isfinite(ev.score) else "over 100 (a zero limit is exceeded)"
            rows.append((p.name, f"risk score {score}, {len(ev.breaches)} breaches"))
            rows += [(f"  {c.dimension}{' ' + c.key if c.key else ''}",
                      f"actual {c.actual:.2%} vs limit {c.limit:.2%} (headroom {c.headroom:.2%})") for c in tight]
        return rows

    def _outlook(self) -> list[tuple[str, str]]:
        from cio_desktop.services.forecasting import ForecastService

        result = ForecastService(self.ctx).forecast_cashflow(13, "week")
        return [(f"{r.period} (from {r.first:%d %b})",
                 f"closing {r.closing_p50:,.0f} {r.currency} (P10 {r.closing_p10:,.0f}, P90 {r.closing_p90:,.0f})")
                for r in result.rows]

    @action(Permission.ALERTS_READ, description="send the daily summary")
    def send_daily_summary(self, recipients: Sequence[str] | None = None) -> DeliveryReport:
        """The summary in the app and by e-mail with the PDF attached, to every user who wants
        it (default: the acting user). When the PDF cannot be rendered the text summary still
        goes out (the failure is logged)."""
        summary = self.daily_summary()
        users = list(recipients or [self.ctx.actor])
        with self.ctx.db.unit_of_work(write=False) as uow:
            users = [u for u in users if load_prefs(uow, u).daily_summary]
        if not users:
            return DeliveryReport(())
        attachments: tuple[tuple[str, str, bytes], ...] = ()
        try:
            attachments = ((f"summary-{summary.generated_at:%Y-%m-%d}.pdf", "application/pdf",
                            summary_pdf(summary)),)
        except Exception:  # noqa: BLE001 — the text summary still goes out
            log.exception("the daily summary PDF could not be rendered; sending the text summary only")
        message = OutgoingMessage(f"Daily treasury summary {summary.generated_at:%Y-%m-%d}", summary.text(),
                                  "info", "alerts", "summary", attachments)
        report = self._deliver(recipients=users, severity="info", message=message, kind="summary", alert_id=None,
                               force_channels={"in_app", "email"})
        # the summary is an explicit request: in-app always, e-mail when the user gave an address
        return report
