"""When is a connection due for synchronisation? Pure functions over timestamps.

Rule: a connection is due iff it is not paused and it never ran, or ``now >= last_started + interval``.

The caller (``services.sync`` driven by the scheduler's tick) must **record ``last_started = now``
when it starts a run — before doing any network work, in its own committed transaction** — not
when the run finishes. Then two ticks within one interval can never both start it (the second
tick sees the new ``last_started``), a slow or failed run does not make the next tick start a
second copy, and a run that fails still waits a full interval before the next attempt (the HTTP
client retries transient errors within a run). Recording ``now`` (the tick's time, not the
nominal due time) means runs drift by at most one tick per interval and are never closer together
than ``interval``: each connection runs at most once in any window of length ``interval`` and at
least once every ``interval + one tick``.

Clock trouble: a ``last_started`` in the future by no more than ``interval`` (another machine's
clock slightly ahead, in team mode) simply postpones the run; one further in the future than
``interval`` can only come from a clock that jumped back, and is treated as stale (due now)
rather than blocking the connection for days.

All datetimes must be timezone-aware (UTC in storage); naive ones are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Hashable, Iterable


@dataclass(frozen=True)
class ScheduleEntry:
    id: Hashable
    interval: timedelta
    last_started: datetime | None = None
    paused: bool = False


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), not naive")
    return value


def next_due(last_started: datetime | None, interval: timedelta, now: datetime) -> datetime:
    """The moment the connection becomes due: ``now`` if it never ran (or its ``last_started``
    lies more than one interval in the future), else ``last_started + interval`` (possibly in
    the past, i.e. overdue)."""
    _aware(now, "now")
    if interval <= timedelta(0):
        raise ValueError("the synchronisation interval must be positive")
    if last_started is None:
        return now
    _aware(last_started, "last_started")
    if last_started - now > interval:
        return now
    return last_started + interval


def is_due(entry: ScheduleEntry, now: datetime) -> bool:
    if entry.paused:
        return False
    return now >= next_due(entry.last_started, entry.interval, now)


def due(connections: Iterable[ScheduleEntry], now: datetime) -> list[Hashable]:
    """Ids of the connections to start now, in the order given."""
    return [entry.id for entry in connections if is_due(entry, now)]


def seconds_until_next(connections: Iterable[ScheduleEntry], now: datetime) -> float | None:
    """Seconds until the earliest unpaused connection is due (0 if one is due now; None if none)."""
    waits = [(next_due(e.last_started, e.interval, now) - now).total_seconds()
             for e in connections if not e.paused]
    return max(0.0, min(waits)) if waits else None
