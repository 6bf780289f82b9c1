"""Pure rules of the alert engine: threshold comparison, raise/resolve reconciliation, channel
choice under preferences and quiet hours, escalation timing, and action-required content.

Everything here is a function of its arguments (no clock, no database), so the named
properties 12, 38, 39 and 40 are checked directly against these rules and again through the
services that apply them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
CHANNELS: tuple[str, ...] = ("in_app", "desktop", "email", "sms")
#: channels that interrupt the user; quiet hours hold them back (except for critical alerts)
INTRUSIVE: frozenset[str] = frozenset({"desktop", "email", "sms"})
COMPARISONS: tuple[str, ...] = ("above", "below")

#: the panels an action-required notification may open (``ui.panels`` NAMEs)
ACTION_PANELS: frozenset[str] = frozenset({
    "accounts", "ledger", "payments", "connections", "portfolio", "risk", "alerts", "jobs",
    "budget", "forecast", "compliance", "users", "security"})


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def check_severity(severity: str) -> str:
    s = (severity or "").strip().lower()
    if s not in SEVERITIES:
        raise ValueError(f"unknown severity '{severity}'; use one of {', '.join(SEVERITIES)}")
    return s


def to_decimal(value: object) -> Decimal | None:
    """A measured value as a Decimal (floats via their shortest repr); None for NaN/missing."""
    if value is None:
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return Decimal(repr(value))
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def is_breached(measured: object, threshold: object, comparison: str) -> bool:
    """``above``: measured > threshold; ``below``: measured < threshold. Equal is not a breach;
    an unknown measurement is never a breach (it is "not available", not "fine" or "bad")."""
    m, t = to_decimal(measured), to_decimal(threshold)
    if m is None or t is None:
        return False
    if comparison == "above":
        return m > t
    if comparison == "below":
        return m < t
    raise ValueError(f"unknown comparison '{comparison}'; use above or below")


@dataclass(frozen=True)
class Reconciliation:
    """What the engine does with one round of measurements for one rule."""

    raise_: tuple[str, ...]    # subjects newly in breach: one new alert each
    keep: tuple[str, ...]      # still in breach: the open alert is updated, no new alert
    resolve: tuple[str, ...]   # breach cleared (or subject gone): the open alert is resolved


def reconcile(open_subjects: Iterable[str], breached: Mapping[str, bool], *,
              complete: bool = True) -> Reconciliation:
    """Raise once per breach, never again while it persists, resolve when it clears.

    ``complete``: the measurements cover every subject of the rule, so an open alert whose
    subject was not measured any more (an account closed, a holding sold) is resolved; with
    ``complete=False`` (a partial measurement) unmeasured open alerts are left alone."""
    open_set = set(open_subjects)
    raise_ = tuple(sorted(s for s, b in breached.items() if b and s not in open_set))
    keep = tuple(sorted(s for s, b in breached.items() if b and s in open_set))
    resolve = tuple(sorted(s for s in open_set
                           if (s in breached and not breached[s]) or (complete and s not in breached)))
    return Reconciliation(raise_, keep, resolve)


# -- preferences ----------------------------------------------------------------------------------
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(value: str, field_name: str = "time") -> time:
    m = _HHMM.match((value or "").strip())
    if not m:
        raise ValueError(f"{field_name} '{value}' is not a time of day like 22:00")
    return time(int(m.group(1)), int(m.group(2)))


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{name}' (use an IANA name such as Europe/Berlin)") from None
    return name or "UTC"


@dataclass(frozen=True)
class Preferences:
    """One user's choices: channels per severity and quiet hours in the user's time zone."""

    channels: Mapping[str, frozenset[str]]   # severity -> channels
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: str = "UTC"

    def in_quiet_hours(self, at: datetime) -> bool:
        if self.quiet_start is None or self.quiet_end is None or self.quiet_start == self.quiet_end:
            return False
        local = at.astimezone(ZoneInfo(self.timezone or "UTC")).time().replace(tzinfo=None)
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= local < self.quiet_end
        return local >= self.quiet_start or local < self.quiet_end  # over midnight, e.g. 22:00-07:00


DEFAULT_CHANNELS: Mapping[str, frozenset[str]] = {
    "info": frozenset({"in_app"}),
    "warning": frozenset({"in_app", "desktop"}),
    "critical": frozenset({"in_app", "desktop", "email"}),
}


def default_preferences() -> Preferences:
    return Preferences(dict(DEFAULT_CHANNELS))


def choose_channels(prefs: Preferences, severity: str, at: datetime) -> frozenset[str]:
    """The channels to use now: the user's choice for this severity, minus the intrusive ones
    during quiet hours unless the alert is critical. Never a channel the user did not choose."""
    chosen = frozenset(c for c in prefs.channels.get(severity, frozenset()) if c in CHANNELS)
    if severity != "critical" and prefs.in_quiet_hours(at):
        return chosen - INTRUSIVE
    return chosen


# -- escalation -----------------------------------------------------------------------------------
def escalation_level(created_at: datetime, now: datetime, minutes: int | None, path_length: int) -> int:
    """The level an unacknowledged alert should have reached at ``now``: level 0 is the first
    recipient; every ``minutes`` without acknowledgement moves one step up the path, never past
    its end. No path or no delay: level 0 for ever."""
    if not minutes or minutes <= 0 or path_length <= 1 or now <= created_at:
        return 0
    steps = int((now - created_at) // timedelta(minutes=minutes))
    return min(steps, path_length - 1)


def escalation_due_at(created_at: datetime, level: int, minutes: int) -> datetime:
    """When level ``level`` falls due (level 0: at creation)."""
    return created_at + timedelta(minutes=minutes * level)


# -- action required -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ActionRequired:
    """A notification that needs the user to act: what, why, by when, and where in the app."""

    what: str
    why: str
    due_by: datetime
    panel: str
    ref: str = ""                 # e.g. "payment:12", selected when the panel opens
    severity: str = "warning"
    details: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = [name for name in ("what", "why") if not str(getattr(self, name) or "").strip()]
        if problems:
            raise ValueError(f"an action-required notification needs {' and '.join(problems)}")
        if self.due_by is None or self.due_by.tzinfo is None:
            raise ValueError("an action-required notification needs an aware 'by when' time")
        if self.panel not in ACTION_PANELS:
            raise ValueError(f"unknown panel '{self.panel}' for an action-required notification")
        check_severity(self.severity)

    def title(self) -> str:
        return f"Action required: {self.what}"

    def body(self) -> str:
        by = self.due_by.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return f"{self.what}\nWhy: {self.why}\nBy: {by}\nOpen: {self.panel}" + (
            f" ({self.ref})" if self.ref else "")


def approval_waiting(payment_id: int, label: str, amount: str, requester: str,
                     expires_at: datetime) -> ActionRequired:
    return ActionRequired(what=f"approve or reject payment {label}",
                          why=f"{requester} requested {amount}; it cannot execute without your decision",
                          due_by=expires_at, panel="payments", ref=f"payment:{payment_id}",
                          details={"amount": amount, "requester": requester})


def credentials_expired(connection: str, error: str, now: datetime, hours: int = 24) -> ActionRequired:
    return ActionRequired(what=f"renew the credentials of connection {connection}",
                          why=f"the bank refused them ({error}); no new statements arrive until they are renewed",
                          due_by=now + timedelta(hours=hours), panel="connections",
                          ref=f"connection:{connection}", severity="critical")


def limit_breach_decision(portfolio: str, breach: str, now: datetime, hours: int = 24) -> ActionRequired:
    return ActionRequired(what=f"decide on the limit breach in {portfolio}",
                          why=f"{breach}; the risk policy asks for a decision (rebalance or accept)",
                          due_by=now + timedelta(hours=hours), panel="risk", ref=f"portfolio:{portfolio}",
                          severity="critical")


# -- addresses ------------------------------------------------------------------------------------
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def check_email(address: str) -> str:
    a = (address or "").strip()
    if len(a) > 254 or not _EMAIL.match(a):
        raise ValueError(f"'{address}' is not a valid e-mail address")
    return a


def check_phone(number: str) -> str:
    n = re.sub(r"[\s()-]", "", number or "")
    if not _E164.match(n):
        raise ValueError(f"'{number}' is not a phone number in international form (e.g. +4917012345678)")
    return n


def split_channels(value: str | Sequence[str]) -> frozenset[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    out = set()
    for item in items:
        c = item.strip().lower().replace("-", "_")
        if not c:
            continue
        if c not in CHANNELS:
            raise ValueError(f"unknown channel '{item}'; channels are {', '.join(CHANNELS)}")
        out.add(c)
    return frozenset(out)
