"""PostgreSQL side of the test fixtures: one throwaway server per test session, golden databases
built once and cloned per test (``CREATE DATABASE ... TEMPLATE``).

``--backend postgres`` (or ``CIO_TEST_BACKEND=postgres``) makes the ordinary ``ws``/``demo_ws``
fixtures of tests/conftest.py use these, so the integration suite runs unchanged on both back
ends. Tests that are about PostgreSQL itself use the ``pg_cluster`` fixture directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from tests.pg_cluster import PgCluster, find_bin_dir, unique_db_name

_CLUSTER: PgCluster | None = None


@dataclass(frozen=True)
class PgTemplate:
    """A golden database on the test server (what a golden file is for SQLCipher)."""

    name: str
    cluster: PgCluster

    def __str__(self) -> str:
        return self.cluster.url(self.name)


def pg_available() -> bool:
    return find_bin_dir() is not None


def session_cluster() -> PgCluster:
    """The session's server, started on first use and stopped at interpreter exit."""
    global _CLUSTER
    if _CLUSTER is None:
        if not pg_available():
            pytest.skip("PostgreSQL server binaries not installed (scripts/setup installs them)")
        import atexit

        _CLUSTER = PgCluster().start()
        atexit.register(_CLUSTER.stop)
    return _CLUSTER


def build_golden(cluster: PgCluster, label: str, fill: Callable[[object], None], root: Path,
                 key: object) -> PgTemplate:
    """Create a database, migrate it, let ``fill(ws)`` add data, close every connection."""
    from cio_desktop.services.workspace import open_workspace
    from tests.conftest import make_settings

    name = unique_db_name(f"golden_{label}")
    url = cluster.create_database(name)
    ws = open_workspace(make_settings(root, db=url), create=True, key=key)  # type: ignore[arg-type]
    try:
        fill(ws)
    finally:
        ws.close()
    return PgTemplate(name, cluster)


def clone_url(template: PgTemplate | None) -> str:
    cluster = template.cluster if template is not None else session_cluster()
    return cluster.create_database(unique_db_name("t"), template.name if template else None)


def backend_option(config: pytest.Config) -> str:
    try:
        value = config.getoption("--backend")
    except ValueError:
        value = None
    return value or os.environ.get("CIO_TEST_BACKEND", "sqlcipher")


def discard(db: object) -> None:
    """Drop a per-test clone (keeps the throwaway server small over a long run)."""
    name = db.engine.url.database  # type: ignore[attr-defined]
    if _CLUSTER is not None and name and name.startswith("t_"):
        _CLUSTER.drop_database(name)


# -- fixtures for tests that are about PostgreSQL itself (run whatever --backend says) --------

@pytest.fixture(scope="session")
def pg_cluster() -> PgCluster:
    return session_cluster()


@pytest.fixture(scope="session")
def pg_golden_empty(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> PgTemplate:
    from cio_desktop.security.permissions import Role
    from cio_desktop.services.users import provision_user
    from tests.conftest import TEST_KEY, TEST_PASSWORD, TEST_TOTP_SECRET

    def _users(ws) -> None:  # noqa: ANN001
        with ws.db.unit_of_work() as uow:
            for role in Role:
                provision_user(uow, ws.ctx, username=role.value, role=role.value, password=TEST_PASSWORD,
                               actor="bootstrap", totp_secret=TEST_TOTP_SECRET)
    return build_golden(pg_cluster, "pgempty", _users, tmp_path_factory.mktemp("pg_golden"), TEST_KEY)


@pytest.fixture
def pg_ws(pg_golden_empty: PgTemplate, tmp_path: Path, clock):  # noqa: ANN001, ANN201
    """A clone of the golden empty database on the test server; nobody logged in."""
    from cio_desktop.services.workspace import open_workspace
    from tests.conftest import TEST_KEY, make_settings

    ws = open_workspace(make_settings(tmp_path, db=clone_url(pg_golden_empty)), key=TEST_KEY, clock=clock)
    yield ws
    ws.close()
    discard(ws.db)


def reopen(ws, clock=None):  # noqa: ANN001, ANN201
    """Another workstation on the same database: own engine, own sessions, same settings."""
    from cio_desktop.services.workspace import open_workspace
    from tests.conftest import TEST_KEY

    return open_workspace(ws.ctx.settings, key=TEST_KEY, clock=clock or ws.ctx.clock)
