"""Properties 12 (threshold alerts), 37 (multi-channel delivery), 38 (escalation), 39
(preference respect) and 40 (action-required completeness), through the real services on a
real SQLCipher file, with a fake clock, a real SMTP server (STARTTLS) and a real HTTPS SMS
gateway on 127.0.0.1. One workspace per test; each example uses its own subject or rule so
examples stay independent."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta, timezone

from hypothesis import given, strategies as st
from sqlalchemy import func, select

from cio_desktop.domain import alerting
from cio_desktop.integrations.notify.desktop import RecordingDesktop
from cio_desktop.services.notifications import install_desktop_notifier
from cio_desktop.storage.models_alerts import Alert, AlertEscalation, Notification
from tests.alerts_fixtures import configure_channels, notify_pki, sms_gateway, smtp_server  # noqa: F401
from tests.property.helpers import make_session

_ids = itertools.count(1)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
CHANNEL_SETS = st.frozensets(st.sampled_from(alerting.CHANNELS))
SEVERITY = st.sampled_from(alerting.SEVERITIES)


# -- property 12 ---------------------------------------------------------------------------------
@given(values=st.lists(st.decimals(min_value=0, max_value="0.1", places=3), min_size=1, max_size=12))
def test_property_12_threshold_alert_generation(ws, values):
    """Each breach raises exactly one alert while it persists, and resolves when it clears."""
    make_session(ws, "treasurer")
    subject = f"portfolio:p12-{next(_ids)}"
    threshold = alerting.to_decimal("0.05")
    previous = False
    for v in values:
        status = ws.alerts.generate_alert("Portfolio drawdown", subject, v, unit="%").status
        breached = v > threshold
        expected = {(False, True): "raised", (True, True): "open", (True, False): "resolved",
                    (False, False): "clear"}[(previous, breached)]
        assert status == expected
        previous = breached
    runs = sum(1 for i, v in enumerate(values) if v > threshold and (i == 0 or values[i - 1] <= threshold))
    with ws.db.unit_of_work(write=False) as uow:
        rows = list(uow.execute(select(Alert).where(Alert.subject == subject)).scalars())
    assert len(rows) == runs
    assert sum(1 for a in rows if a.resolved_at is None) == (1 if values[-1] > threshold else 0)


@given(open_=st.frozensets(st.sampled_from("abcdefgh")),
       breached=st.dictionaries(st.sampled_from("abcdefgh"), st.booleans()), complete=st.booleans())
def test_property_12_reconcile_raises_once_and_resolves(open_, breached, complete):
    plan = alerting.reconcile(open_, breached, complete=complete)
    assert set(plan.raise_) == {s for s, b in breached.items() if b} - open_
    assert set(plan.raise_).isdisjoint(open_) and set(plan.keep) <= open_
    assert not set(plan.resolve) & {s for s, b in breached.items() if b}
    after = (open_ - set(plan.resolve)) | set(plan.raise_)
    assert {s for s, b in breached.items() if b} <= after
    assert all(not breached.get(s, not complete) or s in after for s in open_)


# -- property 37 ---------------------------------------------------------------------------------
@given(severity=SEVERITY, mine=CHANNEL_SETS, theirs=CHANNEL_SETS)
def test_property_37_multi_channel_delivery(ws, smtp_server, sms_gateway, notify_pki, severity, mine, theirs):  # noqa: F811
    """An alert reaches every channel each recipient's preferences choose for its severity."""
    state = _channels_ready(ws, notify_pki, smtp_server, sms_gateway)
    smtp_server.reset(), sms_gateway.reset()
    shown = len(state["desk"].shown)
    for user, chans in (("treasurer", mine), ("approver", theirs)):
        make_session(ws, user)
        ws.notifications.set_preferences(channels={severity: ",".join(chans)}, quiet_start="", quiet_end="")
    make_session(ws, "treasurer")
    alert_id = ws.alerts.generate_alert("Portfolio drawdown", f"portfolio:p37-{next(_ids)}", "0.5").alert_id
    _set_severity(ws, alert_id, severity)
    report = ws.notifications.send_alert(alert_id, recipients=["treasurer", "approver"])
    assert report.channels_for("treasurer") == set(mine)
    assert report.channels_for("approver") == set(theirs)
    assert {d.status for d in report.deliveries} <= {"sent"}
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(
        u + "@cio.test" for u, c in (("treasurer", mine), ("approver", theirs)) if "email" in c)
    assert len(sms_gateway.received) == ("sms" in mine) + ("sms" in theirs)
    assert len(state["desk"].shown) - shown == ("desktop" in mine) + ("desktop" in theirs)
    with ws.db.unit_of_work(write=False) as uow:
        in_app = set(uow.execute(select(Notification.username).where(
            Notification.alert_id == alert_id, Notification.channel == "in_app")).scalars())
    assert in_app == {u for u, c in (("treasurer", mine), ("approver", theirs)) if "in_app" in c}


def _channels_ready(ws, pki, smtp, sms) -> dict:  # noqa: ANN001
    state = ws.ctx.__dict__.setdefault("_p37", {})
    if not state:
        configure_channels(ws, pki, smtp, sms)
        state["desk"] = RecordingDesktop()
        install_desktop_notifier(ws.ctx.bus, state["desk"])
        for i, user in enumerate(("treasurer", "approver")):
            make_session(ws, user)
            ws.notifications.set_preferences(email=f"{user}@cio.test", phone=f"+49170123456{i}")
    return state


# -- property 38 ---------------------------------------------------------------------------------
@given(minutes=st.integers(1, 120), path=st.lists(st.sampled_from(["treasurer", "approver", "admin", "analyst"]),
                                                  min_size=1, max_size=4, unique=True),
       checks=st.lists(st.integers(0, 600), min_size=1, max_size=8), ack_at=st.none() | st.integers(0, 600))
def test_property_38_critical_event_escalation(ws, clock, minutes, path, checks, ack_at):
    """An unacknowledged critical alert escalates along its path on time, one step per
    ``minutes``, each step recorded once; acknowledgement stops it."""
    _in_app_only(ws)
    clock.now = T0
    make_session(ws, "treasurer")
    name = f"P38 rule {next(_ids)}"
    ws.alerts.save_rule(name=name, source="liquidity", metric="balance_below_min", comparison="below",
                        threshold="0", severity="critical", escalation_minutes=minutes, escalation_path=path)
    alert_id = ws.alerts.generate_alert(name, "account:1", "-1").alert_id
    acked_level = None
    for offset in sorted(checks):
        if ack_at is not None and acked_level is None and ack_at <= offset:
            clock.now = T0 + timedelta(minutes=ack_at)
            ws.notifications.escalate_notification(alert_id)
            acked_level = ws.alerts.get(alert_id).escalation_level
            ws.alerts.acknowledge(alert_id)
        clock.now = T0 + timedelta(minutes=offset)
        ws.notifications.escalate_notification(alert_id)
        level = ws.alerts.get(alert_id).escalation_level
        expected = alerting.escalation_level(T0, clock.now, minutes, len(path))
        assert level == (expected if acked_level is None else acked_level)
    final = ws.alerts.get(alert_id).escalation_level
    with ws.db.unit_of_work(write=False) as uow:
        rows = uow.execute(select(AlertEscalation.level, AlertEscalation.recipient, AlertEscalation.due_at)
                           .where(AlertEscalation.alert_id == alert_id)).all()
    assert sorted(r.level for r in rows) == list(range(1, final + 1))
    assert all(r.recipient == path[r.level] for r in rows)
    assert all(r.due_at == T0 + timedelta(minutes=minutes * r.level) for r in rows)


def _in_app_only(ws) -> None:  # noqa: ANN001
    if ws.ctx.__dict__.setdefault("_p38", False):
        return
    for user in ("treasurer", "approver", "admin", "analyst"):
        make_session(ws, user)
        ws.notifications.set_preferences(channels={"critical": "in_app"})
    ws.ctx.__dict__["_p38"] = True


# -- property 39 ---------------------------------------------------------------------------------
@given(severity=SEVERITY, chosen=st.frozensets(st.sampled_from(("in_app", "desktop", "email"))),
       start=st.times(), end=st.times(), minute_of_day=st.integers(0, 24 * 60 - 1),
       tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]))
def test_property_39_notification_preference_respect(ws, smtp_server, notify_pki, clock, severity, chosen,  # noqa: F811
                                                     start, end, minute_of_day, tz):
    """No channel the user turned off is used; quiet hours hold except for critical alerts."""
    state = ws.ctx.__dict__.setdefault("_p39", {})
    if not state:
        configure_channels(ws, notify_pki, smtp_server, None)
        state["desk"] = RecordingDesktop()
        install_desktop_notifier(ws.ctx.bus, state["desk"])
    clock.now = T0.replace(hour=0) + timedelta(minutes=minute_of_day)
    make_session(ws, "treasurer")
    hhmm = lambda t: f"{t.hour:02d}:{t.minute:02d}"  # noqa: E731
    prefs = ws.notifications.set_preferences(channels={severity: ",".join(chosen)}, quiet_start=hhmm(start),
                                             quiet_end=hhmm(end), timezone=tz, email="treasurer@cio.test")
    alert_id = ws.alerts.generate_alert("Portfolio drawdown", f"portfolio:p39-{next(_ids)}", "0.5").alert_id
    _set_severity(ws, alert_id, severity)
    used = ws.notifications.send_alert(alert_id, recipients=["treasurer"]).channels_for("treasurer", "sent")
    assert used <= chosen
    local = clock.now.astimezone(__import__("zoneinfo").ZoneInfo(tz)).time().replace(second=0, microsecond=0)
    s, e = time(start.hour, start.minute), time(end.hour, end.minute)
    quiet = s != e and ((s <= local < e) if s < e else (local >= s or local < e))
    assert prefs.as_domain().in_quiet_hours(clock.now) == quiet
    if severity == "critical" or not quiet:
        assert used == chosen
    else:
        assert used == chosen - alerting.INTRUSIVE


def _set_severity(ws, alert_id: int, severity: str) -> None:  # noqa: ANN001
    """The drawdown rule is a warning; the property needs every severity, so set it on the row."""
    with ws.db.unit_of_work(write=True) as uow:
        uow.get(Alert, alert_id).severity = severity


# -- property 40 ---------------------------------------------------------------------------------
_words = st.text(st.characters(min_codepoint=32, max_codepoint=0x24F, blacklist_categories=("Cs",)),
                 min_size=1, max_size=40).filter(lambda s: s.strip())


@given(kind=st.sampled_from(["approval", "credentials", "limit"]), name=_words, reason=_words,
       hours=st.integers(1, 24 * 14), pid=st.integers(1, 10**6))
def test_property_40_action_required_completeness(ws, clock, kind, name, reason, hours, pid):
    """Every action-required notice says what, why, by when, and opens the right place."""
    make_session(ws, "treasurer")
    now = clock.now
    act = {"approval": lambda: alerting.approval_waiting(pid, name, "1,000.00 EUR", reason, now + timedelta(hours=hours)),
           "credentials": lambda: alerting.credentials_expired(name, reason, now, hours=hours),
           "limit": lambda: alerting.limit_breach_decision(name, reason, now, hours=hours)}[kind]()
    before = _count(ws)
    report = ws.notifications.notify_action(act, ["treasurer"])
    assert report.channels_for("treasurer") >= {"in_app"}
    in_app = [d.notification_id for d in report.deliveries if d.channel == "in_app"]
    note = [n for n in ws.notifications.inbox() if n.id == in_app[0]][0]
    assert _count(ws) > before
    assert act.what in note.title and act.what.strip()
    assert f"Why: {act.why}" in note.body and act.why.strip()
    assert act.due_by > now and act.due_by.strftime("%Y-%m-%d %H:%M UTC") in note.body
    expected_panel = {"approval": "payments", "credentials": "connections", "limit": "risk"}[kind]
    assert note.panel == act.panel == expected_panel and note.panel in alerting.ACTION_PANELS
    assert note.ref == act.ref and note.ref


@given(what=st.sampled_from(["", "  "]), panel=st.text(max_size=8))
def test_property_40_incomplete_notices_are_refused(what, panel):
    import pytest

    with pytest.raises(ValueError):
        alerting.ActionRequired(what, "because", T0, "payments")
    if panel not in alerting.ACTION_PANELS:
        with pytest.raises(ValueError):
            alerting.ActionRequired("do it", "because", T0, panel)
    with pytest.raises(ValueError):
        alerting.ActionRequired("do it", "because", T0.replace(tzinfo=None), "payments")


def _count(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(Notification)).scalar_one()
