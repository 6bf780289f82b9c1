"""Known values of the pure alert rules: comparisons, quiet hours over midnight and across time
zones, escalation steps, crontab weekdays, address checks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cio_desktop.domain import alerting
from cio_desktop.jobs.scheduler import _cron_weekdays, parse_cron
from cio_desktop.errors import ValidationError

T = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def test_threshold_comparisons():
    assert alerting.is_breached("0.0501", "0.05", "above") and not alerting.is_breached("0.05", "0.05", "above")
    assert alerting.is_breached(-1, 0, "below") and not alerting.is_breached(0, 0, "below")
    assert not alerting.is_breached(None, 0, "below") and not alerting.is_breached(float("inf"), 0, "above")
    with pytest.raises(ValueError):
        alerting.is_breached(1, 0, "sideways")


def test_quiet_hours_over_midnight_in_the_users_zone():
    p = alerting.Preferences({"warning": frozenset({"in_app", "email"})}, alerting.parse_hhmm("22:00"),
                             alerting.parse_hhmm("07:00"), "Europe/Berlin")
    assert p.in_quiet_hours(T.replace(hour=21, minute=30))      # 22:30 in Berlin (CET)
    assert not p.in_quiet_hours(T.replace(hour=6, minute=0))    # 07:00 in Berlin: over
    assert alerting.choose_channels(p, "warning", T.replace(hour=23)) == {"in_app"}
    p2 = alerting.Preferences({"critical": frozenset({"sms"})}, alerting.parse_hhmm("00:00"), alerting.parse_hhmm("23:59"))
    assert alerting.choose_channels(p2, "critical", T) == {"sms"}


def test_escalation_steps_and_due_times():
    assert [alerting.escalation_level(T, T + timedelta(minutes=m), 30, 3) for m in (0, 29, 30, 59, 60, 600)] == \
        [0, 0, 1, 1, 2, 2]
    assert alerting.escalation_level(T, T + timedelta(hours=9), None, 3) == 0
    assert alerting.escalation_due_at(T, 2, 30) == T + timedelta(minutes=60)


def test_crontab_weekdays_follow_cron_not_apscheduler_numbering():
    assert _cron_weekdays("1-5") == "mon,tue,wed,thu,fri"
    assert _cron_weekdays("0") == _cron_weekdays("7") == "sun"
    assert _cron_weekdays("mon-fri") == "mon-fri"
    nxt = parse_cron("0 7 * * 1-5").get_next_fire_time(None, datetime(2026, 11, 28, 12, tzinfo=timezone.utc))
    assert nxt.weekday() == 0 and nxt.hour == 7                 # Saturday noon -> Monday 07:00
    for bad in ("61 * * * *", "* * *", "0 7 * * 9"):
        with pytest.raises(ValidationError):
            parse_cron(bad)


def test_addresses():
    assert alerting.check_email(" cfo@example.com ") == "cfo@example.com"
    assert alerting.check_phone("+49 170 1234-5678") == "+4917012345678"
    for bad in ("cfo@", "a b@example.com", "cfo@example"):
        with pytest.raises(ValueError):
            alerting.check_email(bad)
    with pytest.raises(ValueError):
        alerting.check_phone("0170 1234")
