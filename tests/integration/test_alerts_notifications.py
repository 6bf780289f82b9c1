"""Alerts, deliveries over a real SMTP server (STARTTLS) and a real HTTPS SMS gateway on
127.0.0.1, failures and retries, escalation, action-required notices and the daily summary."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cio_desktop.domain import alerting
from cio_desktop.errors import PermissionDenied, ValidationError
from cio_desktop.integrations.notify.desktop import RecordingDesktop
from cio_desktop.services.notifications import install_desktop_notifier
from cio_desktop.storage.models import AuditEntry
from cio_desktop.storage.models_alerts import Alert, AlertEscalation, Notification
from tests.alerts_fixtures import (SMS_KEY, configure_channels, notify_pki, sms_gateway,  # noqa: F401
                                   smtp_server, start_smtp)
from tests.property.helpers import make_session
from tests.reports_fixtures import pdf_pages


@pytest.fixture
def desk(ws):  # noqa: ANN001, ANN201
    recorder = RecordingDesktop()
    uninstall = install_desktop_notifier(ws.ctx.bus, recorder)
    yield recorder
    uninstall()


def _treasurer(ws, **prefs):  # noqa: ANN001, ANN003
    make_session(ws, "treasurer")
    defaults = {"email": "treasurer@cio.test", "phone": "+4917012345678"}
    defaults.update(prefs)
    return ws.notifications.set_preferences(**defaults)


def _count(ws, model, *where) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _critical(ws, subject="account:1", measured=-5):  # noqa: ANN001
    return ws.alerts.generate_alert("Balance below minimum", subject, measured, label="Main account", unit="EUR")


def test_alert_reaches_email_sms_desktop_and_in_app(ws, smtp_server, sms_gateway, notify_pki, desk):  # noqa: F811
    smtp_server.reset(), sms_gateway.reset()
    configure_channels(ws, notify_pki, smtp_server, sms_gateway)
    _treasurer(ws, channels={"critical": "in_app,desktop,email,sms"})
    out = _critical(ws)
    assert out.status == "raised"
    report = ws.notifications.send_alert(out.alert_id)
    assert report.channels_for("treasurer") == {"in_app", "desktop", "email", "sms"}
    assert len(smtp_server.messages) == 1 and smtp_server.tls_seen == [True]
    mail = smtp_server.messages[0]
    assert mail["To"] == "treasurer@cio.test" and "Balance below minimum" in mail["Subject"]
    assert "Main account" in mail.get_payload()
    assert sms_gateway.received[0]["to"] == "+4917012345678"
    assert "CRITICAL" in sms_gateway.received[0]["text"]
    assert desk.shown[0].severity == "critical" and desk.shown[0].ref == f"alert:{out.alert_id}"
    inbox = ws.notifications.inbox()
    assert inbox[0].alert_id == out.alert_id and ws.notifications.unread_count() == 1
    assert ws.notifications.mark_read() == 1 and ws.notifications.unread_count() == 0
    # the credentials are stored only encrypted
    with ws.db.engine.connect() as conn:
        raw = " ".join(str(v) for (v,) in conn.exec_driver_sql("SELECT value FROM app_meta").all())
    assert "smtp-pa55word" not in raw and SMS_KEY not in raw


def test_unreachable_smtp_is_retried_then_alerts_other_channels_unaffected(ws, sms_gateway, notify_pki,  # noqa: F811
                                                                          desk, clock):
    sms_gateway.reset()
    configure_channels(ws, notify_pki, None, sms_gateway)
    make_session(ws, "admin")
    ws.notifications.configure_email(host="127.0.0.1", port=1, sender="cio@cio.test", ca_file=str(notify_pki.ca_cert))
    _treasurer(ws, channels={"critical": "in_app,desktop,email,sms"})
    report = ws.notifications.send_alert(_critical(ws).alert_id)
    statuses = {d.channel: d.status for d in report.deliveries}
    assert statuses == {"in_app": "sent", "desktop": "sent", "email": "retrying", "sms": "sent"}
    assert "cannot reach the SMTP server 127.0.0.1:1" in [d.error for d in report.deliveries if d.channel == "email"][0]
    assert ws.notifications.retry_due().deliveries == ()  # not due yet
    for _ in range(10):
        clock.advance(hours=2)
        make_session(ws, "treasurer")
        ws.notifications.retry_due()
    with ws.db.unit_of_work(write=False) as uow:
        row = uow.execute(select(Notification).where(Notification.channel == "email")).scalar_one()
        channel_alert = uow.execute(select(Alert).where(Alert.subject == "channel:email")).scalar_one()
    assert row.status == "failed" and row.attempts == 5
    assert channel_alert.resolved_at is None and "cannot reach" in channel_alert.message


def test_smtp_refusals_are_clear_and_not_retried(ws, smtp_server, notify_pki, tmp_path):  # noqa: F811
    configure_channels(ws, notify_pki, smtp_server, None, password="wrong")
    _treasurer(ws, channels={"critical": "email"})
    report = ws.notifications.send_alert(_critical(ws).alert_id)
    assert report.deliveries[0].status == "failed"
    assert "rejected the user name or password" in report.deliveries[0].error
    with pytest.raises(ValidationError, match="valid e-mail"):
        ws.notifications.set_preferences(email="not-an-address")
    configure_channels(ws, notify_pki, smtp_server, None)
    _treasurer(ws, email="nobody@refused.test")
    report = ws.notifications.send_alert(_critical(ws, "account:2").alert_id)
    assert report.deliveries[0].status == "failed" and "refused the recipient" in report.deliveries[0].error
    # a server without STARTTLS: refused before anything is sent
    plain = start_smtp(notify_pki, starttls=False)
    try:
        make_session(ws, "admin")
        ws.notifications.configure_email(host="127.0.0.1", port=plain.port, sender="cio@cio.test")
        _treasurer(ws, email="treasurer@cio.test")
        report = ws.notifications.send_alert(_critical(ws, "account:3").alert_id)
        assert "does not offer STARTTLS" in report.deliveries[0].error and plain.messages == []
    finally:
        plain.stop()
    # an untrusted certificate (no CA file): verification fails, not retried
    make_session(ws, "admin")
    ws.notifications.configure_email(host="127.0.0.1", port=smtp_server.port, sender="cio@cio.test",
                                     username="x", password="y")
    _treasurer(ws)
    report = ws.notifications.send_alert(_critical(ws, "account:4").alert_id)
    assert report.deliveries[0].status == "failed" and "TLS" in report.deliveries[0].error


def test_sms_rejected_key_and_gateway_errors(ws, sms_gateway, notify_pki, clock):  # noqa: F811
    sms_gateway.reset()
    configure_channels(ws, notify_pki, None, sms_gateway, api_key="wrong-key")
    _treasurer(ws, channels={"critical": "sms"})
    report = ws.notifications.send_alert(_critical(ws).alert_id)
    assert report.deliveries[0].status == "failed" and "rejected the API key" in report.deliveries[0].error
    assert ws.alerts.list_alerts()[0].subject == "channel:sms"
    configure_channels(ws, notify_pki, None, sms_gateway)
    sms_gateway.fail_next(1, 503)
    report = ws.notifications.send_alert(_critical(ws, "account:2").alert_id)
    assert report.deliveries[0].status == "retrying"
    clock.advance(minutes=5)
    assert ws.notifications.retry_due().deliveries[0].status == "sent"
    assert len(sms_gateway.received) == 1
    # the channel works again: its failure alert resolved
    assert all(a.subject != "channel:sms" for a in ws.alerts.list_alerts())
    with pytest.raises(ValidationError, match="international form"):
        ws.notifications.set_preferences(phone="0170 123")
    make_session(ws, "admin")
    with pytest.raises(ValidationError, match="https"):
        ws.notifications.configure_sms(url="http://sms.example.com/send", api_key="k")


def test_alert_raised_once_while_breach_persists_and_resolves(ws):
    make_session(ws, "treasurer")
    outcomes = [ws.alerts.generate_alert("Portfolio drawdown", "portfolio:1", v, unit="%").status
                for v in ("0.01", "0.06", "0.07", "0.08", "0.02", "0.09")]
    assert outcomes == ["clear", "raised", "open", "open", "resolved", "raised"]
    assert _count(ws, Alert) == 2 and _count(ws, Alert, Alert.resolved_at.is_(None)) == 1
    assert _count(ws, AuditEntry, AuditEntry.action == "alert.raised") == 2
    assert _count(ws, AuditEntry, AuditEntry.action == "alert.resolved") == 1
    make_session(ws, "viewer")
    with pytest.raises(PermissionDenied):
        ws.alerts.save_rule(name="x", source="portfolio", metric="drawdown", threshold="0.1")


def test_rules_as_data_are_validated(ws):
    make_session(ws, "treasurer")
    with pytest.raises(ValidationError, match="unknown measure"):
        ws.alerts.save_rule(name="x", source="portfolio", metric="moon_phase", threshold="1")
    with pytest.raises(ValidationError, match="not a number"):
        ws.alerts.save_rule(name="x", source="portfolio", metric="drawdown", threshold="ten")
    rule = ws.alerts.save_rule(name="Tight drawdown", source="portfolio", metric="drawdown", threshold="0.01",
                               severity="critical", escalation_minutes=10, escalation_path=["treasurer", "admin"])
    assert rule.escalation_path == ("treasurer", "admin") and rule.threshold == "0.01"


def test_escalation_moves_up_the_path_until_acknowledged(ws, clock, desk):
    make_session(ws, "treasurer")
    ws.alerts.save_rule(name="Balance below minimum", source="liquidity", metric="balance_below_min",
                        comparison="below", threshold="0", severity="critical", escalation_minutes=30,
                        escalation_path=["treasurer", "approver", "admin"])
    alert_id = _critical(ws).alert_id
    clock.advance(minutes=29)
    assert ws.notifications.escalate_due() == []
    clock.advance(minutes=1)
    steps = ws.notifications.escalate_due()
    assert [(s.level, s.recipients) for s in steps] == [(1, ("approver",))]
    assert ws.notifications.escalate_due() == []       # once per level
    clock.advance(minutes=75)
    assert [s.level for s in ws.notifications.escalate_due()] == [2]
    assert _count(ws, AuditEntry, AuditEntry.action == "alert.escalated") == 2
    assert _count(ws, Notification, Notification.username == "admin", Notification.kind == "escalation") > 0
    ws.alerts.acknowledge(alert_id)
    clock.advance(hours=5)
    assert ws.notifications.escalate_due() == [] and _count(ws, AlertEscalation) == 2


def test_quiet_hours_hold_back_intrusive_channels_except_critical(ws, clock, desk):
    clock.now = clock.now.replace(hour=23)   # 00:00 in Berlin
    _treasurer(ws, channels={"warning": "in_app,desktop", "critical": "in_app,desktop"},
               quiet_start="22:00", quiet_end="07:00", timezone="Europe/Berlin")
    warn = ws.alerts.generate_alert("Portfolio drawdown", "portfolio:9", "0.2").alert_id
    assert ws.notifications.send_alert(warn).channels_for("treasurer") == {"in_app"}
    crit = _critical(ws).alert_id
    assert ws.notifications.send_alert(crit).channels_for("treasurer") == {"in_app", "desktop"}
    assert len(desk.shown) == 1
    with pytest.raises(ValidationError, match="time of day"):
        ws.notifications.set_preferences(quiet_start="25:00", quiet_end="07:00")


def test_action_required_approval_notice_reaches_approver(ws, clock):
    from cio_desktop.jobs.wiring import wire
    from tests.integration.test_payments import known_beneficiary, open_account, schedule

    make_session(ws, "treasurer", mfa_age_seconds=0)
    account = open_account(ws)
    known_beneficiary(ws)
    unwire = wire(ws)
    try:
        p = schedule(ws, account.id).payment
    finally:
        unwire()
    make_session(ws, "approver")
    notes = [n for n in ws.notifications.inbox() if n.kind == "action"]
    assert notes, "the approver got no action-required notice"
    n = notes[0]
    assert n.panel == "payments" and n.ref == f"payment:{p.id}"
    assert "approve or reject payment" in n.title and "Why:" in n.body and "By:" in n.body


def test_sync_failure_raises_alert_and_credentials_notice(ws):
    from cio_desktop.jobs.wiring import wire

    make_session(ws, "treasurer")
    unwire = wire(ws)
    try:
        ws.ctx.bus.publish("sync.failed", connection="Bank A", new=0, error="HTTP 401: invalid credentials")
        ws.ctx.bus.publish("sync.failed", connection="Bank A", new=0, error="HTTP 401: invalid credentials")
        alerts = [a for a in ws.alerts.list_alerts() if a.source == "sync"]
        assert len(alerts) == 1 and "401" in alerts[0].message
        assert any(n.kind == "action" and n.panel == "connections" for n in ws.notifications.inbox())
        ws.ctx.bus.publish("sync.completed", connection="Bank A", new=3, error="")
        assert [a for a in ws.alerts.list_alerts() if a.source == "sync"] == []
    finally:
        unwire()


def test_measures_on_the_demo_company(demo_ws):
    make_session(demo_ws, "treasurer")
    report = demo_ws.alerts.evaluate()
    assert "Budget variance" in report.unavailable or "Budget variance" in report.outcomes
    assert "Portfolio drawdown" in report.outcomes and "Balance below minimum" in report.outcomes
    again = demo_ws.alerts.evaluate()
    assert again.raised == []                 # nothing new while the same breaches persist
    summary = demo_ws.notifications.daily_summary()
    titles = [s.title for s in summary.sections]
    assert titles == ["Balances by currency", "Payments due today", "Payments awaiting approval", "Open alerts",
                      "Limit headroom", "13-week cash outlook"]
    balances, outlook = summary.sections[0], summary.sections[5]
    assert balances.rows and not balances.unavailable
    assert len(outlook.rows) == 13 or outlook.unavailable
    assert "Daily treasury summary" in summary.text()
    make_session(demo_ws, "viewer")
    partial = demo_ws.notifications.daily_summary()
    assert partial.sections[2].unavailable   # a viewer may not read payments: says so


def _pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page.split()) for page in pdf_pages(data))


def test_daily_summary_email_carries_the_pdf(ws, smtp_server, notify_pki, monkeypatch, caplog):  # noqa: F811
    from cio_desktop.services import notifications as n

    smtp_server.reset()
    configure_channels(ws, notify_pki, smtp_server, None)
    _treasurer(ws)
    report = ws.notifications.send_daily_summary()
    assert report.channels_for("treasurer") == {"in_app", "email"}
    mail = smtp_server.messages[-1]
    parts = [part for part in mail.walk() if part.get_filename()]
    assert len(parts) == 1 and parts[0].get_filename() == f"summary-{ws.ctx.now():%Y-%m-%d}.pdf"
    assert parts[0].get_content_type() == "application/pdf"
    pdf = parts[0].get_payload(decode=True)
    assert pdf.startswith(b"%PDF")
    text = _pdf_text(pdf)
    summary = ws.notifications.daily_summary()
    assert "Daily treasury summary" in text
    for section in summary.sections:
        assert section.title in text, section.title
    # a section that could not be read says so in the PDF too
    missing = n.DailySummary(ws.ctx.now(), "treasurer",
                             (n.SummarySection("Payments due today", unavailable="no access"),
                              n.SummarySection("Open alerts", (("critical", "2"),))))
    text = _pdf_text(n.summary_pdf(missing))
    assert "No data: no access" in text and "critical" in text
    # the PDF cannot be rendered: the text summary still goes out, and the failure is logged
    monkeypatch.setattr(n, "summary_pdf", lambda summary: (_ for _ in ()).throw(RuntimeError("no fonts")))
    smtp_server.reset()
    with caplog.at_level("ERROR", logger=n.__name__):
        report = ws.notifications.send_daily_summary()
    assert report.channels_for("treasurer") == {"in_app", "email"}
    mail = smtp_server.messages[-1]
    assert not [part for part in mail.walk() if part.get_filename()]
    assert "Balances by currency" in (mail.get_payload() if not mail.is_multipart() else
                                      mail.get_payload(0).get_payload(decode=True).decode())
    assert "PDF could not be rendered" in caplog.text


def test_domain_edge_cases():
    assert alerting.is_breached("0.05", "0.05", "above") is False
    assert alerting.is_breached(float("nan"), "0", "above") is False
    p = alerting.Preferences({"info": frozenset({"email"})}, alerting.parse_hhmm("22:00"),
                             alerting.parse_hhmm("07:00"))
    night = clock_at(23)
    assert alerting.choose_channels(p, "info", night) == frozenset()
    assert alerting.escalation_level(night, night + timedelta(minutes=59), 30, 3) == 1
    with pytest.raises(ValueError):
        alerting.ActionRequired("", "why", night, "payments")


def clock_at(hour: int):  # noqa: ANN201
    from datetime import datetime, timezone

    return datetime(2026, 11, 2, hour, 0, tzinfo=timezone.utc)
