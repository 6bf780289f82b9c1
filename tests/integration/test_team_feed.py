"""The change feed on SQLCipher (polling): a change made by another process/workstation on the
same file reaches this workspace's bus with the right topic and ids; nothing is published twice."""

from __future__ import annotations

from cio_desktop.events import Event
from cio_desktop.services.team import ChangeFeed
from tests.integration.test_payments import known_beneficiary, open_account, schedule
from tests.postgres_fixtures import reopen


def test_poll_publishes_other_workstations_changes_once(ws, clock):
    seen: list[Event] = []
    ws.ctx.bus.subscribe("*", seen.append)
    feed = ChangeFeed(ws.db, ws.ctx.bus, poll_seconds=60)
    assert feed.poll_once() == 0
    other = reopen(ws, clock)
    try:
        account = open_account(other, opening="1000", minimum="0")
        known_beneficiary(other)
        pid = schedule(other, account.id, "10.00").payment.id
    finally:
        other.close()
    assert feed.poll_once() > 0
    topics = {e.topic: e.data for e in seen}
    assert pid in topics["payments.changed"]["ids"] and topics["payments.changed"]["remote"]
    assert account.id in topics["accounts.changed"]["ids"]
    assert "treasurer" in topics["team.changed"]["actors"]
    seen.clear()
    assert feed.poll_once() == 0 and seen == []


def test_background_thread_starts_and_stops(ws, clock):
    got: list[Event] = []
    ws.ctx.bus.subscribe("team.changed", got.append)
    feed = ChangeFeed(ws.db, ws.ctx.bus, poll_seconds=0.05)
    feed.start()
    try:
        other = reopen(ws, clock)
        try:
            open_account(other, opening="5", minimum="0")
        finally:
            other.close()
        import time
        for _ in range(200):
            if got:
                break
            time.sleep(0.05)
    finally:
        feed.stop()
    assert got and got[0].data["count"] >= 1
