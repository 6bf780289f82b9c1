"""Shared fixtures: real SQLCipher files in temp dirs, copied from golden templates.

A golden empty (migrated) database and a golden demo database are built once per test session;
each test gets its own copy (as Anki and calibre do), so tests are independent and fast.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CIO_KEYRING"] = "memory"  # tests never touch the developer's real keyring
os.environ.pop("CIO_DB_PASSPHRASE", None)

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings as hsettings

from cio_desktop.config import Settings, load_settings
from cio_desktop.security import totp
from cio_desktop.security.dbkey import DbKey
from cio_desktop.security.permissions import Role

#: pg_cluster, pg_golden_empty, pg_ws: the throwaway PostgreSQL server for team-mode tests
pytest_plugins = ["tests.postgres_fixtures"]

hsettings.register_profile("ci", max_examples=100, deadline=None,
                           suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.function_scoped_fixture])
hsettings.load_profile("ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backend", choices=("sqlcipher", "postgres"), default=None,
                     help="database for the ws/demo_ws fixtures: an SQLCipher file (default) or a "
                          "throwaway PostgreSQL server (also CIO_TEST_BACKEND=postgres)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlcipher_only: about the SQLCipher file itself (skipped on "
                                       "--backend postgres)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from tests.postgres_fixtures import backend_option

    if backend_option(config) == "postgres":
        skip = pytest.mark.skip(reason="SQLCipher-specific (file, key or SQLite feature)")
        for item in items:
            if item.get_closest_marker("sqlcipher_only"):
                item.add_marker(skip)


def _on_postgres(request: pytest.FixtureRequest) -> bool:
    from tests.postgres_fixtures import backend_option

    return backend_option(request.config) == "postgres"

TEST_KEY = DbKey(raw=bytes(range(32)), origin="tests")
TEST_PASSWORD = "Correct-Horse-Battery-9"
TEST_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


class FakeClock:
    """A controllable UTC clock for services (``ctx.clock``)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


def make_settings(root: Path, db_name: str = "cio.db", **overrides: object) -> Settings:
    base = {"db": str(root / db_name), "data_dir": root / "data", "log_dir": root / "logs",
            "cache_dir": root / "cache", "config_dir": root / "config"}
    base.update(overrides)
    return load_settings(base, environ={})


def _copy_db(src: Path, dst: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if Path(str(src) + suffix).exists():
            shutil.copyfile(str(src) + suffix, str(dst) + suffix)


@pytest.fixture(scope="session")
def golden_empty(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A migrated database with one user per role (password TEST_PASSWORD, TOTP enrolled).
    On ``--backend postgres`` a template database on the test server instead of a file."""
    from cio_desktop.services.users import provision_user
    from cio_desktop.services.workspace import open_workspace

    root = tmp_path_factory.mktemp("golden_empty")
    if _on_postgres(request):
        from tests.postgres_fixtures import build_golden, session_cluster

        def _users(pws) -> None:  # noqa: ANN001
            with pws.db.unit_of_work() as uow:
                for role in Role:
                    provision_user(uow, pws.ctx, username=role.value, role=role.value,
                                   password=TEST_PASSWORD, actor="bootstrap", totp_secret=TEST_TOTP_SECRET)
        return build_golden(session_cluster(), "empty", _users, root, TEST_KEY)  # type: ignore[return-value]
    ws = open_workspace(make_settings(root), create=True, key=TEST_KEY)
    with ws.db.unit_of_work() as uow:
        for role in Role:
            provision_user(uow, ws.ctx, username=role.value, role=role.value, password=TEST_PASSWORD,
                           actor="bootstrap", totp_secret=TEST_TOTP_SECRET)
    ws.close()
    return root / "cio.db"


@pytest.fixture(scope="session")
def golden_demo(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """The demo company (seed 7), every user's password TEST_PASSWORD and TOTP TEST_TOTP_SECRET."""
    from cio_desktop.services.demo import build_demo
    from cio_desktop.services.workspace import open_workspace

    root = tmp_path_factory.mktemp("golden_demo")
    if _on_postgres(request):
        from tests.postgres_fixtures import build_golden, session_cluster

        return build_golden(session_cluster(), "demo",  # type: ignore[return-value]
                            lambda pws: build_demo(pws.ctx, seed=7, scale=1, password=TEST_PASSWORD,
                                                   totp_secret=TEST_TOTP_SECRET), root, TEST_KEY)
    ws = open_workspace(make_settings(root), create=True, key=TEST_KEY)
    build_demo(ws.ctx, seed=7, scale=1, password=TEST_PASSWORD, totp_secret=TEST_TOTP_SECRET)
    ws.close()
    return root / "cio.db"


@dataclass
class WorkspaceFactory:
    root: Path
    clock: FakeClock
    backend: str = "sqlcipher"

    def open(self, template: Path | None, name: str = "cio.db"):  # noqa: ANN201
        from cio_desktop.services.workspace import open_workspace

        if self.backend == "postgres" or not isinstance(template, (Path, type(None))):
            from tests.postgres_fixtures import clone_url

            return open_workspace(make_settings(self.root, name, db=clone_url(template)),  # type: ignore[arg-type]
                                  create=True, key=TEST_KEY, clock=self.clock)
        target = self.root / name
        if template is not None:
            _copy_db(template, target)
        return open_workspace(make_settings(self.root, name), create=template is None, key=TEST_KEY,
                              clock=self.clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def workspaces(tmp_path: Path, clock: FakeClock, request: pytest.FixtureRequest):  # noqa: ANN201
    opened = []
    factory = WorkspaceFactory(tmp_path, clock, "postgres" if _on_postgres(request) else "sqlcipher")
    original = factory.open

    def tracking_open(template: Path | None, name: str = "cio.db"):  # noqa: ANN202
        ws = original(template, name)
        opened.append(ws)
        return ws

    factory.open = tracking_open  # type: ignore[method-assign]
    yield factory
    for ws in opened:
        ws.close()
        if ws.db.kind == "postgresql":
            from tests.postgres_fixtures import discard

            discard(ws.db)


@pytest.fixture
def ws(workspaces: WorkspaceFactory, golden_empty: Path):  # noqa: ANN201
    """An empty database with one user per role; nobody logged in."""
    return workspaces.open(golden_empty)


@pytest.fixture
def demo_ws(workspaces: WorkspaceFactory, golden_demo: Path):  # noqa: ANN201
    """The demo company; nobody logged in."""
    return workspaces.open(golden_demo)


def login(ws, role: str | Role, *, mfa: bool = False):  # noqa: ANN001, ANN201
    """Log in as the user named after ``role``; with ``mfa`` also present a valid TOTP code."""
    name = role.value if isinstance(role, Role) else role
    otp = totp.code_at(TEST_TOTP_SECRET, ws.ctx.now()) if mfa else None
    return ws.auth.login(name, TEST_PASSWORD, otp=otp)
