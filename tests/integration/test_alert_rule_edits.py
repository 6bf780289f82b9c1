"""Team mode for alert rules (issue 12): two treasurers at different workstations (two
Workspaces, own engines, one database) edit the same rule. A save made from a screen that showed
an older version (or no rule) is refused with who changed it and when, writes nothing and leaves
no audit entry; the CLI (no ``seen``) keeps last-write-wins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from cio_desktop.errors import ConcurrentUpdate
from cio_desktop.storage.models import AuditEntry
from cio_desktop.storage.models_alerts import AlertRule
from tests.integration.desks import desks, held_write  # noqa: F401 — fixture
from tests.postgres_fixtures import reopen
from tests.property.helpers import make_session

RULE = "Portfolio drawdown"   # seeded by migration 0011


def rule(ws, name: str = RULE):  # noqa: ANN001, ANN201
    return next((r for r in ws.alerts.rules() if r.name == name), None)


def saves(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(AuditEntry)
                           .where(AuditEntry.action == "alert_rule.saved")).scalar_one()


def edit(ws, view, **changes):  # noqa: ANN001, ANN201
    """Save ``view`` with ``changes`` the way the rule editor does (every field, plus ``seen``)."""
    fields = dict(name=view.name, source=view.source, metric=view.metric, subject=view.subject,
                  comparison=view.comparison, threshold=view.threshold, severity=view.severity,
                  params=view.params, escalation_minutes=view.escalation_minutes,
                  escalation_path=list(view.escalation_path), enabled=view.enabled, seen=view.updated_at)
    fields.update(changes)
    return ws.alerts.save_rule(**fields)


def test_stale_save_is_refused_with_who_and_when_and_writes_nothing(desks, clock):
    a, b = desks
    shown_a = rule(a)                        # both screens show the seeded rule
    shown_b = rule(b)
    assert shown_a.updated_at is not None and shown_a.updated_at == shown_b.updated_at
    clock.advance(minutes=4)
    saved = edit(b, shown_b, threshold="0.07")               # B saves first: fresh, accepted
    assert saved.threshold == "0.07" and saved.updated_by == "admin" and saved.updated_at == clock.now
    clock.advance(minutes=1)
    before = saves(a)
    with pytest.raises(ConcurrentUpdate) as info:
        edit(a, shown_a, threshold="0.03", severity="critical")
    message = str(info.value)
    assert f"'{RULE}' was changed by admin at {saved.updated_at:%Y-%m-%d %H:%M:%S} UTC" in message
    assert "reload" in message and "not saved" in message
    now = rule(a)
    assert (now.threshold, now.severity, now.updated_by) == ("0.07", saved.severity, "admin")
    assert saves(a) == before                # no audit entry for the refused save
    # after a reload A's save goes through, and B is now the one holding a stale screen
    clock.advance(minutes=1)
    mine = edit(a, now, threshold="0.03")
    assert mine.threshold == "0.03" and mine.updated_by == "treasurer" and saves(a) == before + 1
    with pytest.raises(ConcurrentUpdate, match="changed by treasurer"):
        edit(b, saved, enabled=False)
    assert rule(b).enabled


def test_create_versus_create(desks, clock):
    a, b = desks
    assert rule(a, "EUR balance floor") is None and rule(b, "EUR balance floor") is None
    clock.advance(minutes=2)
    created = b.alerts.save_rule(name="EUR balance floor", source="liquidity", metric="balance_below_min",
                                 comparison="below", threshold="0", seen=None)
    assert created.updated_by == "admin"
    before = saves(a)
    with pytest.raises(ConcurrentUpdate) as info:
        a.alerts.save_rule(name="EUR balance floor", source="liquidity", metric="balance_below_min",
                           comparison="below", threshold="5000", severity="critical", seen=None)
    assert f"created by admin at {created.updated_at:%Y-%m-%d %H:%M:%S} UTC" in str(info.value)
    assert rule(a, "EUR balance floor").threshold == "0" and saves(a) == before


def test_without_seen_the_last_write_wins(desks, clock):
    """The CLI (``cio-desktop alerts rule``) passes no ``seen``: unchanged behaviour."""
    a, b = desks
    shown = rule(a)
    clock.advance(minutes=1)
    edit(b, rule(b), threshold="0.07")
    clock.advance(minutes=1)
    view = a.alerts.save_rule(name=shown.name, source=shown.source, metric=shown.metric, threshold="0.02")
    assert view.threshold == "0.02" and view.updated_by == "treasurer"


def test_a_rule_deleted_under_the_screen_is_not_recreated(desks, clock):
    """No delete exists in the app (disable instead), but a rule removed by hand must not come
    back from a stale screen."""
    a, _b = desks
    shown = rule(a)
    with a.db.unit_of_work() as uow:
        uow.execute(AlertRule.__table__.delete().where(AlertRule.name == RULE))
    with pytest.raises(ConcurrentUpdate, match="no longer exists"):
        edit(a, shown, threshold="0.02")
    assert rule(a) is None


def test_create_race_on_postgresql_is_a_conflict_not_a_crash(pg_ws, clock):
    """PostgreSQL runs the two transactions at once: B commits the rule after A's check found
    none (nothing to lock yet) and just before A's insert. A's insert then hits the unique name:
    refused with who and when; without ``seen`` (the CLI) it becomes an update instead."""
    a = pg_ws
    b = reopen(a, clock)
    try:
        make_session(a, "treasurer")
        make_session(b, "admin")
        pending: list[str] = []

        def b_first(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
            if pending and statement.lstrip().upper().startswith("INSERT INTO ALERT_RULES"):
                b.alerts.save_rule(name=pending.pop(), source="liquidity", metric="balance_below_min",
                                   comparison="below", threshold="0", seen=None)

        event.listen(a.db.engine, "before_cursor_execute", b_first)
        try:
            before = saves(a)
            pending.append("Race")
            with pytest.raises(ConcurrentUpdate, match="'Race' was created by admin at"):
                a.alerts.save_rule(name="Race", source="liquidity", metric="balance_below_min",
                                   comparison="below", threshold="9", seen=None)
            assert not pending, "the race was not staged"
            assert rule(a, "Race").threshold == "0" and saves(a) == before + 1   # B's save only
            pending.append("Race 2")
            view = a.alerts.save_rule(name="Race 2", source="liquidity", metric="balance_below_min",
                                      comparison="below", threshold="9")
            assert not pending and view.threshold == "9" and view.updated_by == "treasurer"
        finally:
            event.remove(a.db.engine, "before_cursor_execute", b_first)
    finally:
        b.close()


def test_concurrent_saves_on_postgresql_never_lose_an_update(pg_ws, clock):
    """PostgreSQL: B's save of the rule is in flight (row written, not yet committed) when A saves
    from the same screen. A's save waits for B's (the row is read FOR UPDATE), then sees B's
    change and is refused — it never overwrites it."""
    a = pg_ws
    make_session(a, "treasurer")
    shown = rule(a)
    b = reopen(a, clock)

    def b_saves(uow) -> None:  # noqa: ANN001
        row = uow.execute(select(AlertRule).where(AlertRule.name == RULE)).scalar_one()
        row.threshold, row.updated_by = "0.09", "admin"
        row.updated_at = shown.updated_at + timedelta(minutes=1)

    try:
        with held_write(b, b_saves), pytest.raises(ConcurrentUpdate, match="changed by admin"):
            edit(a, shown, threshold="0.02")
        assert rule(a).threshold == "0.09"
    finally:
        b.close()
