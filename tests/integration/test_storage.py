"""The encrypted store on a real SQLCipher file."""

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from cio_desktop.errors import DatabaseOpenError
from cio_desktop.security.dbkey import DbKey
from cio_desktop.services.workspace import open_workspace
from cio_desktop.storage import migrate
from tests.conftest import TEST_KEY, login, make_settings

IBAN = "DE89370400440532013000"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _add_account(ws):
    login(ws, "treasurer")
    return ws.accounts.create_account(name="Operating", institution="Demo Bank", number=IBAN,
                                      currency="EUR", opening_balance="1500.25")


def test_file_bytes_hold_no_plaintext_and_stdlib_sqlite_cannot_read(ws):
    _add_account(ws)
    path = Path(ws.db.target)
    ws.close()
    blob = b"".join(Path(str(path) + s).read_bytes() for s in ("", "-wal") if Path(str(path) + s).exists())
    for needle in (IBAN, "3704004405", "Operating", "treasurer", "Demo Bank"):
        assert needle.encode() not in blob
        assert needle.encode("utf-16-le") not in blob
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(path).execute("SELECT * FROM sqlite_master").fetchall()


def test_account_number_is_field_encrypted_inside_the_database(ws):
    view = _add_account(ws)
    with ws.db.unit_of_work(write=False) as uow:
        row = uow.execute(text("SELECT number_enc, number_masked FROM accounts")).one()
    assert IBAN not in row[0] and row[0].startswith("v1:")
    assert row[1] == "DE89 **** **** **** 3000" == view.number_masked


@pytest.mark.sqlcipher_only  # the SQLCipher file/FTS itself; PostgreSQL has its own tests
def test_wrong_key_is_refused_and_file_untouched(ws):
    path = Path(ws.db.target)
    ws.close()
    before = _digest(path)
    with pytest.raises(DatabaseOpenError) as err:
        open_workspace(make_settings(path.parent, path.name), key=DbKey(raw=os.urandom(32)))
    assert str(err.value) == f"cannot open {path}: wrong key or not a CIO Desktop database"
    with pytest.raises(DatabaseOpenError, match="wrong key"):
        open_workspace(make_settings(path.parent, path.name), key=DbKey(passphrase="guess"))
    assert _digest(path) == before


def test_plain_sqlite_file_is_not_ours(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    conn.close()
    with pytest.raises(DatabaseOpenError, match="wrong key or not a CIO Desktop database"):
        open_workspace(make_settings(tmp_path, "other.db"), key=TEST_KEY)


def test_empty_sqlcipher_db_with_foreign_tables_is_not_ours(tmp_path):
    from cio_desktop.storage.database import connect

    db = connect(str(tmp_path / "x.db"), TEST_KEY, create=True)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE someone_elses (x)")
    db.dispose()
    with pytest.raises(DatabaseOpenError, match="not a CIO Desktop database"):
        open_workspace(make_settings(tmp_path, "x.db"), key=TEST_KEY)


@pytest.mark.sqlcipher_only  # the SQLCipher file/FTS itself; PostgreSQL has its own tests
def test_newer_schema_is_refused_without_changes(ws):
    path = Path(ws.db.target)
    with ws.db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    ws.close()
    before = _digest(path)
    with pytest.raises(DatabaseOpenError, match="newer than this CIO Desktop"):
        open_workspace(make_settings(path.parent, path.name), key=TEST_KEY)
    assert _digest(path) == before


def test_missing_file_and_unwritable_folder(tmp_path):
    with pytest.raises(DatabaseOpenError, match="no database at"):
        open_workspace(make_settings(tmp_path, "absent.db"), key=TEST_KEY)
    not_a_folder = tmp_path / "plain-file"
    not_a_folder.write_text("x")
    with pytest.raises(DatabaseOpenError, match="cannot create"):
        open_workspace(make_settings(not_a_folder, "new.db"), create=True, key=TEST_KEY)
    if os.geteuid() != 0:  # root ignores permission bits
        locked = tmp_path / "ro"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(DatabaseOpenError, match="not writable"):
                open_workspace(make_settings(locked, "new.db"), create=True, key=TEST_KEY)
        finally:
            locked.chmod(0o700)


def test_folder_instead_of_file(tmp_path):
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(DatabaseOpenError, match="folder"):
        open_workspace(make_settings(tmp_path, "dir.db"), key=TEST_KEY)


@pytest.mark.sqlcipher_only  # the SQLCipher file/FTS itself; PostgreSQL has its own tests
def test_wal_mode_and_schema_at_head(ws):
    with ws.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert migrate.current_revision(ws.db) == migrate.head_revision()


@pytest.mark.sqlcipher_only  # the SQLCipher file/FTS itself; PostgreSQL has its own tests
def test_failed_migration_leaves_the_file_as_it_was(ws, monkeypatch):
    """DDL runs in one transaction: a migration that fails half-way changes nothing."""
    path = Path(ws.db.target)
    with ws.db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM alembic_version")
        conn.exec_driver_sql("DROP TABLE fx_rates")
    # With no version but tables present the database is refused untouched...
    ws.close()
    before = _digest(path)
    with pytest.raises(DatabaseOpenError):
        open_workspace(make_settings(path.parent, path.name), key=TEST_KEY)
    assert _digest(path) == before


def test_migration_is_transactional_on_sqlcipher(tmp_path):
    """Run a real upgrade whose last step fails: no table from the earlier steps may remain."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from cio_desktop.storage.database import connect

    db = connect(str(tmp_path / "t.db"), TEST_KEY, create=True)
    with pytest.raises(Exception):
        with db.engine.connect() as conn, conn.begin():
            ops = Operations(MigrationContext.configure(conn))
            ops.execute("CREATE TABLE half_done (x INTEGER)")
            ops.execute("CREATE TABLE half_done (x INTEGER)")  # fails: already exists
    with db.engine.connect() as conn:
        names = [r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master")]
    assert "half_done" not in names
    db.dispose()


def test_passphrase_keyed_database_round_trip(tmp_path):
    key = DbKey(passphrase="a long passphrase for the file")
    ws = open_workspace(make_settings(tmp_path), create=True, key=key)
    ws.close()
    ws2 = open_workspace(make_settings(tmp_path), key=DbKey(passphrase="a long passphrase for the file"))
    assert migrate.current_revision(ws2.db) == migrate.head_revision()
    ws2.close()
