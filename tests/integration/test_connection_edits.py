"""Team mode for connections (issue 12): two users at different workstations (two Workspaces,
own engines, one database) edit the same connection. The edit dialog passes back the
``settings_updated_at`` it showed: another user's save in between is refused with who and when
(nothing written, no audit entry); a sync in between — which rewrites the row's cursor, last
error and version — is not a conflict. Migration 0014 backfills existing connections."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from cio_desktop.errors import ConcurrentUpdate, ValidationError
from cio_desktop.integrations.http import Credentials
from cio_desktop.storage.models import AuditEntry, Connection
from tests.integration.desks import desks, held_write  # noqa: F401 — fixture
from tests.integration.http_server import (  # noqa: F401 — fixtures
    CLIENT_ID, CLIENT_SECRET, api_server, pki, start_server)
from tests.postgres_fixtures import reopen
from tests.property.helpers import make_session


def add(ws, server, pki, name: str = "Bank A"):  # noqa: ANN001, ANN201
    return ws.sync.create_connection(
        name=name, kind="banking", base_url=server.url, auth_kind="oauth2",
        settings={"token_url": server.token_url, "client_id": CLIENT_ID, "ca_bundle_path": str(pki.ca_cert),
                  "timeout": 2.0, "page_size": 5},
        credentials=Credentials(client_secret=CLIENT_SECRET), interval_minutes=15)


def shown(ws, connection_id: int):  # noqa: ANN001, ANN201
    return next(v for v in ws.sync.list_connections() if v.id == connection_id)


def changes(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(AuditEntry)
                           .where(AuditEntry.action == "connection.changed")).scalar_one()


def version(ws, connection_id: int) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.get(Connection, connection_id).version


def tick(clock, desks, minutes: float) -> None:  # noqa: ANN001
    """Time passes; both users still have a fresh two-factor code (saving a connection needs one)."""
    clock.advance(minutes=minutes)
    for ws, role in zip(desks, ("treasurer", "admin")):
        make_session(ws, role)


def test_created_connection_carries_who_and_when(desks, clock, api_server, pki):
    a, b = desks
    view = add(a, api_server, pki)
    assert view.settings_updated_by == "treasurer" and view.settings_updated_at == clock.now
    assert shown(b, view.id).settings_updated_at == clock.now


def test_stale_save_is_refused_with_who_and_when_and_writes_nothing(desks, clock, api_server, pki):
    a, b = desks
    view = add(a, api_server, pki)
    dialog_a, dialog_b = shown(a, view.id), shown(b, view.id)      # both open the edit dialog
    tick(clock, (a, b), 3)
    saved = b.sync.update_connection(view.id, base_url=dialog_b.base_url, settings=dialog_b.settings,
                                     interval_minutes=60, seen=dialog_b.settings_updated_at)
    assert saved.interval_minutes == 60 and saved.settings_updated_by == "admin"
    assert saved.settings_updated_at == clock.now
    tick(clock, (a, b), 2)
    before = changes(a)
    with pytest.raises(ConcurrentUpdate) as info:
        a.sync.update_connection(view.id, base_url=dialog_a.base_url, settings={**dialog_a.settings, "page_size": 50},
                                 interval_minutes=5, credentials=Credentials(client_secret="new secret"),
                                 seen=dialog_a.settings_updated_at)
    message = str(info.value)
    assert f"'Bank A' was changed by admin at {saved.settings_updated_at:%Y-%m-%d %H:%M:%S} UTC" in message
    assert "reload" in message and "not saved" in message
    now = shown(a, view.id)
    assert now.interval_minutes == 60 and now.settings["page_size"] == 5 and now.settings_updated_by == "admin"
    assert changes(a) == before                                  # no audit entry for the refused save
    assert a.sync.test_connection(view.id).startswith("OK")      # the stored secret was not replaced
    # reloaded: A's save goes through
    tick(clock, (a, b), 1)
    mine = a.sync.update_connection(view.id, interval_minutes=5, seen=now.settings_updated_at)
    assert mine.interval_minutes == 5 and mine.settings_updated_by == "treasurer" and changes(a) == before + 1


def test_a_sync_in_between_is_not_a_conflict(desks, clock, api_server, pki):
    a, b = desks
    view = add(a, api_server, pki)
    dialog = shown(a, view.id)
    v0 = version(a, view.id)
    tick(clock, (a, b), 1)
    result = b.sync.sync_connection(view.id)                     # another workstation syncs meanwhile
    assert result.ok and result.new > 0, result.error
    assert version(a, view.id) > v0                              # the row did change under the dialog
    synced = shown(a, view.id)
    assert synced.last_success_at == clock.now and synced.settings_updated_at == dialog.settings_updated_at
    tick(clock, (a, b), 1)
    saved = a.sync.update_connection(view.id, base_url=dialog.base_url, settings=dialog.settings,
                                     interval_minutes=30, seen=dialog.settings_updated_at)
    assert saved.interval_minutes == 30 and saved.last_success_at == synced.last_success_at


def test_pause_neither_conflicts_nor_counts_as_a_settings_change(desks, clock, api_server, pki):
    """The pause switch sets an explicit state and the dialog never writes ``paused``: a pause
    between opening and saving the dialog is kept and is not a conflict."""
    a, b = desks
    view = add(a, api_server, pki)
    dialog = shown(a, view.id)
    tick(clock, (a, b), 1)
    paused = b.sync.update_connection(view.id, paused=True)
    assert paused.paused and paused.settings_updated_at == dialog.settings_updated_at
    saved = a.sync.update_connection(view.id, base_url=dialog.base_url, settings=dialog.settings,
                                     interval_minutes=20, seen=dialog.settings_updated_at)
    assert saved.paused and saved.interval_minutes == 20


def test_without_seen_the_last_write_wins(desks, clock, api_server, pki):
    a, b = desks
    view = add(a, api_server, pki)
    tick(clock, (a, b), 1)
    b.sync.update_connection(view.id, interval_minutes=60, seen=shown(b, view.id).settings_updated_at)
    assert a.sync.update_connection(view.id, interval_minutes=10).interval_minutes == 10


def test_create_versus_create_names_who_added_it(desks, clock, api_server, pki):
    a, b = desks
    tick(clock, (a, b), 1)
    add(b, api_server, pki, "Shared Bank")
    with pytest.raises(ValidationError) as info:
        add(a, api_server, pki, "Shared Bank")
    assert f"'Shared Bank' already exists (added by admin at {clock.now:%Y-%m-%d %H:%M:%S} UTC)" in str(info.value)
    assert len(a.sync.list_connections()) == 1


def test_create_race_on_postgresql_names_who_added_it(pg_ws, clock, api_server, pki):
    """Both checks find no such name; B commits just before A's insert, which hits the unique name."""
    a = pg_ws
    b = reopen(a, clock)
    try:
        make_session(a, "treasurer")
        make_session(b, "admin")
        pending = ["Race Bank"]

        def b_first(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
            if pending and statement.lstrip().upper().startswith("INSERT INTO CONNECTIONS"):
                add(b, api_server, pki, pending.pop())

        event.listen(a.db.engine, "before_cursor_execute", b_first)
        try:
            with pytest.raises(ValidationError, match="'Race Bank' already exists \\(added by admin"):
                add(a, api_server, pki, "Race Bank")
        finally:
            event.remove(a.db.engine, "before_cursor_execute", b_first)
        assert not pending and [v.name for v in a.sync.list_connections()] == ["Race Bank"]
    finally:
        b.close()


def test_a_sync_writing_while_the_save_runs_is_not_a_conflict_on_postgresql(pg_ws, clock, api_server, pki):
    """PostgreSQL: a sync's page is being written (row updated, not yet committed) when the save
    starts. The save waits for it (the row is read FOR UPDATE) and then succeeds, instead of
    tripping over the version column the sync moved."""
    a = pg_ws
    make_session(a, "treasurer")
    view = add(a, api_server, pki)
    dialog = shown(a, view.id)
    b = reopen(a, clock)

    def sync_page(uow) -> None:  # noqa: ANN001 - what a sync page does to the row
        row = uow.get(Connection, view.id)
        row.cursor_json = '{"acc-eur-1": "page-2"}'

    try:
        with held_write(b, sync_page):
            saved = a.sync.update_connection(view.id, base_url=dialog.base_url, settings=dialog.settings,
                                             interval_minutes=45, seen=dialog.settings_updated_at)
        assert saved.interval_minutes == 45
        with a.db.unit_of_work(write=False) as uow:
            assert uow.get(Connection, view.id).cursor_json == '{"acc-eur-1": "page-2"}'
    finally:
        b.close()


def test_migration_0014_backfills_existing_connections(workspaces, tmp_path):
    """A database at 0013 with a connection: after the upgrade the connection says who created
    it and when (from the audit trail), so the first conflict message is right too."""
    from alembic import command

    from cio_desktop.storage import migrate
    from cio_desktop.storage.database import connect
    from tests.conftest import TEST_KEY

    if workspaces.backend == "postgres":
        from tests.postgres_fixtures import clone_url
        target = clone_url(None)
    else:
        target = str(tmp_path / "old.db")
    db = connect(target, TEST_KEY, create=True)
    try:
        config = migrate.alembic_config()
        with db.engine.connect() as conn, conn.begin():
            config.attributes["connection"] = conn
            command.upgrade(config, "0013")
            conn.exec_driver_sql(
                "INSERT INTO connections (id, name, kind, base_url, auth_kind, settings_json, interval_minutes, "
                "paused, cursor_json, last_error, created_at, version) VALUES (7, 'Old Bank', 'banking', "
                "'https://bank.example', 'none', '{}', 15, false, '{}', '', '2026-03-04 05:06:07', 3)")
            conn.exec_driver_sql(
                "INSERT INTO audit_entries (ts, actor, action, entity, entity_id, summary, prev_hash, hash) "
                "VALUES ('2026-03-04 05:06:07', 'carol', 'connection.created', 'connection', '7', '{}', '', '')")
        assert migrate.upgrade(db) == ("0013", migrate.head_revision())
        with db.unit_of_work(write=False) as uow:
            row = uow.get(Connection, 7)
            assert row.settings_updated_by == "carol"
            assert row.settings_updated_at == row.created_at and row.settings_updated_at.tzinfo is not None
    finally:
        db.dispose()
        if workspaces.backend == "postgres":
            from tests.postgres_fixtures import discard
            discard(db)
