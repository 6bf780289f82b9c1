"""Connection synchronisation schedule: unit tests and Property 3 (synchronisation timing)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from cio_desktop.domain.sync_schedule import ScheduleEntry, due, is_due, next_due, seconds_until_next

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
MIN15 = timedelta(minutes=15)


def test_never_run_is_due_now():
    assert next_due(None, MIN15, T0) == T0
    assert due([ScheduleEntry("a", MIN15, None)], T0) == ["a"]


def test_due_exactly_at_last_started_plus_interval():
    last = T0 - MIN15
    assert next_due(last, MIN15, T0) == T0
    assert is_due(ScheduleEntry("a", MIN15, last), T0)
    assert not is_due(ScheduleEntry("a", MIN15, last + timedelta(microseconds=1)), T0)


def test_overdue_returns_a_past_time():
    assert next_due(T0 - timedelta(hours=3), MIN15, T0) == T0 - timedelta(hours=2, minutes=45)


def test_paused_connections_are_never_due_and_order_is_kept():
    entries = [ScheduleEntry("c", MIN15, None), ScheduleEntry("a", MIN15, None, paused=True),
               ScheduleEntry("b", MIN15, T0 - timedelta(hours=1)), ScheduleEntry("d", MIN15, T0)]
    assert due(entries, T0) == ["c", "b"]


def test_small_clock_skew_postpones_but_a_clock_jump_back_does_not_block():
    ahead = T0 + timedelta(minutes=2)       # another machine's clock a little ahead
    assert next_due(ahead, MIN15, T0) == ahead + MIN15
    far = T0 + timedelta(days=2)            # our clock went back by days
    assert next_due(far, MIN15, T0) == T0


def test_naive_datetimes_and_bad_intervals_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_due(None, MIN15, datetime(2026, 11, 2, 9, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        next_due(datetime(2026, 11, 2, 9, 0), MIN15, T0)
    with pytest.raises(ValueError, match="positive"):
        next_due(None, timedelta(0), T0)


def test_seconds_until_next():
    entries = [ScheduleEntry("a", MIN15, T0 - timedelta(minutes=10)),
               ScheduleEntry("b", timedelta(hours=1), T0 - timedelta(minutes=58)),
               ScheduleEntry("c", MIN15, None, paused=True)]
    assert seconds_until_next(entries, T0) == 120.0
    assert seconds_until_next([ScheduleEntry("x", MIN15, None)], T0) == 0.0
    assert seconds_until_next([], T0) is None


def test_two_ticks_in_one_interval_run_once_when_the_caller_records_the_start():
    entry = ScheduleEntry("a", MIN15, None)
    assert due([entry], T0) == ["a"]
    entry = ScheduleEntry("a", MIN15, T0)                 # recorded at the start of the run
    assert due([entry], T0 + timedelta(seconds=30)) == []   # the run may still be going: no second copy
    assert due([entry], T0 + MIN15) == ["a"]


@settings(max_examples=150, deadline=None)
@given(conns=st.lists(st.tuples(st.integers(1, 180), st.booleans()), min_size=1, max_size=6),
       steps=st.lists(st.integers(1, 40 * 60), min_size=50, max_size=400),
       start_offset=st.integers(0, 86_400))
def test_property_3_synchronisation_timing(conns: list, steps: list[int], start_offset: int) -> None:
    """A fake clock ticks at random steps (1 s … 40 min) over a long period (up to ~11 days);
    at each tick the caller starts every due connection and records ``last_started = now``.
    Each connection then runs at most once in any window of length ``interval`` and at least
    once per ``interval + one tick``; paused connections never run."""
    intervals = {f"c{i}": timedelta(minutes=m) for i, (m, _) in enumerate(conns)}
    paused = {f"c{i}" for i, (_, p) in enumerate(conns) if p}
    last_started: dict[str, datetime | None] = {cid: None for cid in intervals}
    runs: dict[str, list[datetime]] = {cid: [] for cid in intervals}

    now = T0 + timedelta(seconds=start_offset)
    ticks: list[datetime] = []
    max_step = timedelta(seconds=max(steps))
    for step in [0, *steps]:
        now = now + timedelta(seconds=step)
        ticks.append(now)
        entries = [ScheduleEntry(cid, intervals[cid], last_started[cid], cid in paused) for cid in intervals]
        for cid in due(entries, now):
            last_started[cid] = now          # the caller records the start before running
            runs[cid].append(now)
    end = now

    for cid, interval in intervals.items():
        times = runs[cid]
        if cid in paused:
            assert times == []
            continue
        assert times and times[0] == ticks[0]                       # never ran → due on the first tick
        for a, b in zip(times, times[1:]):
            assert b - a >= interval                                # at most once per window of `interval`
            assert b - a <= interval + max_step                     # at least once per interval + one tick
            previous_tick = ticks[ticks.index(b) - 1]
            assert previous_tick < a + interval                     # b is the first tick at which it was due
        assert end - times[-1] < interval + max_step                # and none was forgotten at the end
        # the same stated directly on windows: every half-open window [t, t+interval) holds ≤ 1 run
        for i, t in enumerate(times):
            assert sum(1 for u in times[i:] if u < t + interval) == 1
