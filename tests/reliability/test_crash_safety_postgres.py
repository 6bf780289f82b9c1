"""Crash safety on PostgreSQL (team mode): the large statement import killed with SIGKILL at 20
random moments, each on its own clone of a golden database on the throwaway test server. After
every kill: the workspace opens, ``amcheck`` finds every B-tree index consistent with its table
(``bt_index_parent_check`` with ``heapallindexed``), foreign keys hold, the audit chain verifies,
and the import is wholly present or wholly absent.

A killed client cannot damage PostgreSQL's files (the server survives and rolls the transaction
back), so what this proves is the application's side: one import = one transaction, and no
connection state that outlives the client keeps a half-written batch visible."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import TEST_KEY, FakeClock, make_settings
from tests.property.helpers import make_session
from tests.reliability.crash_harness import KILLS, kill_points, run_child, verify_audit
from tests.reliability.test_crash_safety import SEED, _mt940

pg_fixtures = pytest.importorskip("tests.postgres_fixtures")
NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone.utc)
IMPORT_STATEMENTS, IMPORT_LINES = 4, 600   # smaller than the SQLCipher case: a clone per kill costs more here


@pytest.fixture(scope="module")
def pg_template(tmp_path_factory):  # noqa: ANN001, ANN201
    from cio_desktop.security.permissions import Role
    from cio_desktop.services.users import provision_user
    from tests.conftest import TEST_PASSWORD

    cluster = pg_fixtures.session_cluster()

    def users(ws) -> None:  # noqa: ANN001
        with ws.db.unit_of_work() as uow:
            for role in (Role.TREASURER, Role.AUDITOR):
                provision_user(uow, ws.ctx, username=role.value, role=role.value, password=TEST_PASSWORD,
                               actor="bootstrap")
    return pg_fixtures.build_golden(cluster, "crash", users, tmp_path_factory.mktemp("pg_crash"), TEST_KEY)


def _open(url: str, root: Path):  # noqa: ANN202
    from cio_desktop.services.workspace import open_workspace

    return open_workspace(make_settings(root, db=url), key=TEST_KEY, clock=FakeClock(NOW))


def _amcheck(cluster, name: str) -> None:  # noqa: ANN001
    import psycopg

    with psycopg.connect(cluster.url(name), autocommit=True) as conn:
        # the killed client's backend may still be finishing its rollback
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        indexes = [r[0] for r in conn.execute(
            "SELECT c.oid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE a.amname = 'btree' AND n.nspname = 'public'")]
        assert indexes, "no indexes found to check"
        for index in indexes:
            conn.execute("SELECT bt_index_parent_check(%s::regclass, true)", (index,))


def test_import_killed_at_20_points_on_postgres(tmp_path, pg_template):
    from cio_desktop.storage.models import Account, AuditEntry, ImportBatch, Transaction

    cluster = pg_template.cluster
    statement = tmp_path / "large.sta"
    statement.write_bytes(_mt940(IMPORT_STATEMENTS, IMPORT_LINES))
    total = IMPORT_STATEMENTS * IMPORT_LINES

    def clone() -> tuple[str, str]:
        name = pg_fixtures.unique_db_name("t")
        return name, cluster.create_database(name, pg_template.name)

    def prepare_for(url: str, root: Path):  # noqa: ANN202
        def prepare():  # noqa: ANN202
            ws = _open(url, root)
            make_session(ws, "treasurer")
            return lambda: ws.imports.import_file(statement)
        return prepare

    def check(name: str, url: str, root: Path, finished: bool) -> str:
        _amcheck(cluster, name)
        ws = _open(url, root)
        try:
            verify_audit(ws)
            with ws.db.unit_of_work(write=False) as uow:
                batches = list(uow.execute(select(ImportBatch)).scalars())
                lines = uow.execute(select(func.count()).select_from(Transaction)).scalar_one()
                accounts = uow.execute(select(func.count()).select_from(Account)).scalar_one()
                imported = uow.execute(select(func.count()).select_from(AuditEntry)
                                       .where(AuditEntry.action == "ledger.imported")).scalar_one()
        finally:
            ws.close()
        if not batches:
            assert not finished and (lines, accounts, imported) == (0, 0, 0), "a partial import is visible"
            return "absent"
        assert len(batches) == 1 and lines == total == batches[0].lines_new and (accounts, imported) == (1, 1)
        return "present"

    name, url = clone()
    root = tmp_path / "calibration"
    kill, duration = run_child(prepare_for(url, root), None)
    assert kill.finished and not kill.error, kill.error
    assert check(name, url, root, True) == "present"
    cluster.drop_database(name)
    outcomes = []
    for i, delay in enumerate(kill_points(duration, SEED)):
        name, url = clone()
        root = tmp_path / f"kill{i:02d}"
        try:
            kill, _ = run_child(prepare_for(url, root), delay)
            assert not kill.error, kill.error
            outcomes.append(check(name, url, root, kill.finished))
        except AssertionError as exc:
            raise AssertionError(f"kill {i} at {delay:.3f}s of {duration:.3f}s (seed {SEED}): {exc}") from exc
        finally:
            cluster.drop_database(name)
            shutil.rmtree(root, ignore_errors=True)
    assert len(outcomes) == KILLS and "absent" in outcomes
    print(f"\n{KILLS} kills over {duration:.3f}s on PostgreSQL: {outcomes.count('absent')} absent, "
          f"{outcomes.count('present')} present")
