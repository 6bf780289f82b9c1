"""Kill a real writer with SIGKILL at random moments and check what it leaves behind, on either
back end (an SQLCipher file or a PostgreSQL database).

The writer runs in a forked child (the test process has already imported everything, so a
kill costs a fork, not an interpreter start). The child opens its own workspace on its own copy
of a golden database, says "ready" through a pipe, does its work (sending one byte when a
transaction first writes and one when it commits, so the parent knows how far it got), says
"done" and then waits to be killed — so every run ends the same way, by SIGKILL, whether the
kill landed before, during or after a commit. The parent first records three uninterrupted
runs' timelines (when each of those bytes arrived) and takes the median one; it picks one kill
moment at random in each twentieth of 1.1 × that run's duration (so the kills spread over the
whole run, and the last ones land after it: "killed just after the commit" is covered too) and
places each as "that long after the n-th byte", so on a busy machine a kill still lands in the
same stretch of work. Each kill is reported as landing before the first write, mid-batch
(inside a write transaction), between two transactions, or after the work returned.

After each kill the back end checks its storage — SQLCipher: ``PRAGMA integrity_check``,
``PRAGMA cipher_integrity_check`` (every page's HMAC) and ``foreign_key_check``; PostgreSQL:
``amcheck`` on every table (``verify_heapam``) and B-tree index (``bt_index_parent_check`` with
``heapallindexed``) and every foreign key re-checked by query — then the workspace opens, the
audit chain verifies, and the scenario (crash_scenarios) checks its own all-or-nothing rule.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import select
import shutil
import signal
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

from cio_desktop.security.dbkey import DbKey
from cio_desktop.services.audit import verify_chain
from cio_desktop.storage.database import _open_raw_sqlcipher
from tests.conftest import TEST_KEY, FakeClock, make_settings

KILLS = 20
CALIBRATIONS = 3   # uninterrupted runs; the median one's timeline places the kills
SEED = int(os.environ.get("CIO_CRASH_SEED", "13"))   # another seed explores other kill moments
NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone.utc)
READY, DONE, FAILED, COMMITTED, WRITING = b"R", b"D", b"F", b"C", b"W"
CHILD_TIMEOUT = 60.0
ORPHAN_TIMEOUT = 10.0   # PostgreSQL: how long a killed client's session may outlive it


@dataclass
class Kill:
    delay: float        # seconds after "ready" when SIGKILL was sent
    finished: bool      # the child had reported "done" before the kill
    error: str = ""     # the child's own error text, if its work raised
    commits: int = 0    # transactions the work had committed before the kill
    writing: bool = False   # a transaction had written (INSERT/UPDATE/DELETE) and not yet committed

    @property
    def phase(self) -> str:
        """Where the kill landed: "before" the first write, "mid-batch" (inside a write
        transaction), "between" two transactions, or "after" the work returned."""
        if self.finished:
            return "after"
        if self.writing:
            return "mid-batch"
        return "between" if self.commits else "before"


def _report_progress(write_fd: int) -> None:
    """In the child: one byte when a transaction first writes, one when it commits. (The
    child's own process: class-wide listeners here never reach the parent.)"""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    writing: set[int] = set()

    def first_write(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        if id(conn) not in writing and statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            writing.add(id(conn))
            os.write(write_fd, WRITING)

    event.listen(Engine, "before_cursor_execute", first_write)
    for end in ("commit", "rollback"):
        event.listen(Engine, end, lambda conn: writing.discard(id(conn)))
    event.listen(Session, "after_commit", lambda session: os.write(write_fd, COMMITTED))


def _child(prepare: Callable[[], Callable[[], object]], write_fd: int) -> None:
    """Runs in the forked child; never returns."""
    code = 0
    try:
        work = prepare()
        _report_progress(write_fd)
        os.write(write_fd, READY)
        work()
        os.write(write_fd, DONE)
        time.sleep(CHILD_TIMEOUT)
    except BaseException:  # noqa: BLE001 — report to the parent, which fails the test
        try:
            os.write(write_fd, FAILED + traceback.format_exc().encode("utf-8", "replace")[-4000:])
        except OSError:
            pass
        code = 1
    finally:
        os._exit(code)


def _read(fd: int, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return b""
    ready, _, _ = select.select([fd], [], [], remaining)
    return os.read(fd, 65536) if ready else b""


def _tokens(buffer: bytes) -> bytes:
    """The one-byte messages (everything before a failure's text)."""
    return buffer.partition(FAILED)[0]


@dataclass(frozen=True)
class Moment:
    """When to kill, anchored to the child's progress: once it has sent ``marks`` messages
    (first write, commit, or "done"), wait ``then`` seconds. A moment of the calibration run's
    timeline becomes one of these, so a kill lands in the same stretch of the work (between
    the same two messages) however fast or slow the loaded machine runs this time."""

    marks: int
    then: float


def run_child(prepare: Callable[[], Callable[[], object]], kill_at: Moment | None) -> tuple[Kill, list[float]]:
    """Fork, wait for "ready", then SIGKILL at ``kill_at`` (``None``: wait for "done" first —
    a calibration run). Returns the outcome and when each message arrived (seconds after
    "ready"; the last one is "done" when the work finished)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover — the child
        os.close(read_fd)
        _child(prepare, write_fd)
    os.close(write_fd)
    buffer, timeline = b"", []
    try:
        deadline = time.monotonic() + CHILD_TIMEOUT
        while not buffer:
            chunk = _read(read_fd, deadline)
            if not chunk:
                raise AssertionError("the child never got ready")
            buffer += chunk
        if buffer.startswith(FAILED):
            raise AssertionError("the child failed to prepare:\n" + _drain(read_fd, buffer).decode())
        started = time.monotonic()
        buffer = buffer[1:]
        timeline = [0.0] * len(_tokens(buffer))
        wanted = kill_at.marks if kill_at is not None else math.inf
        while len(timeline) < wanted and DONE not in _tokens(buffer) and FAILED not in buffer:
            chunk = _read(read_fd, started + CHILD_TIMEOUT)
            if not chunk:
                raise AssertionError("the child's work did not finish")
            buffer += chunk
            timeline += [time.monotonic() - started] * (len(_tokens(buffer)) - len(timeline))
        if kill_at is not None:
            time.sleep(kill_at.then)
        delay = time.monotonic() - started
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pid = 0
        buffer = _drain(read_fd, buffer)
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(read_fd)
    tokens = _tokens(buffer)
    error = buffer[len(tokens) + 1:].decode("utf-8", "replace") if FAILED in buffer else ""
    return Kill(delay, DONE in tokens, error, tokens.count(COMMITTED), tokens.rstrip(DONE).endswith(WRITING)), \
        timeline


def _drain(fd: int, buffer: bytes) -> bytes:
    while True:
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            return buffer
        chunk = os.read(fd, 65536)
        if not chunk:
            return buffer
        buffer += chunk


def kill_points(duration: float, seed: int, n: int = KILLS) -> list[float]:
    """``n`` moments over [0, 1.1 × duration], one uniformly at random in each n-th of it (so
    they cover the whole run however the seed falls), sorted."""
    rng = random.Random(seed)
    width = duration * 1.1 / n
    return [width * (i + rng.random()) for i in range(n)]


def anchor(timeline: list[float], moment: float) -> Moment:
    """``moment`` (seconds into the calibration run) as the last message sent before it and
    the time since that message."""
    marks = sum(1 for t in timeline if t <= moment)
    return Moment(marks, moment - (timeline[marks - 1] if marks else 0.0))


# -- the back ends ------------------------------------------------------------------------------

@dataclass
class Target:
    """One copy of a golden database: where the workspace keeps its files, and its database."""

    root: Path
    db: str             # the SQLCipher file's path or the PostgreSQL URL
    name: str = ""      # the PostgreSQL database's name


def open_target(target: Target):  # noqa: ANN201
    from cio_desktop.services.workspace import open_workspace

    return open_workspace(make_settings(target.root, db=target.db), key=TEST_KEY, clock=FakeClock(NOW))


class Backend(Protocol):
    label: str

    def clone(self, template: object, root: Path) -> Target: ...
    def check_storage(self, target: Target) -> None: ...
    def discard(self, target: Target) -> None: ...
    def as_template(self, target: Target) -> object: ...


class Scenario(Protocol):
    name: str

    def start(self, ws) -> Callable[[], object]: ...   # noqa: ANN001 — in the child: log in, return the work
    def check(self, ws, kill: Kill) -> str: ...         # noqa: ANN001 — after a kill: the outcome's label


@contextmanager
def scenario_template(backend: Backend, golden: object, scenario: Scenario, root: Path) -> Iterator[object]:
    """The scenario's template: ``golden`` itself, or a copy with ``scenario.fill(ws)`` applied
    (discarded afterwards)."""
    fill = getattr(scenario, "fill", None)
    if fill is None:
        yield golden
        return
    target = backend.clone(golden, root)
    try:
        ws = open_target(target)
        try:
            fill(ws)
        finally:
            ws.close()
        yield backend.as_template(target)
    finally:
        backend.discard(target)


class SqlcipherBackend:
    label = "SQLCipher"

    def clone(self, template: Path, root: Path) -> Target:
        root.mkdir(parents=True)
        for suffix in ("", "-wal", "-shm"):
            if Path(str(template) + suffix).exists():
                shutil.copyfile(str(template) + suffix, str(root / "cio.db") + suffix)
        return Target(root, str(root / "cio.db"))

    def check_storage(self, target: Target) -> None:
        check_database(Path(target.db), TEST_KEY)

    def discard(self, target: Target) -> None:
        shutil.rmtree(target.root, ignore_errors=True)

    def as_template(self, target: Target) -> Path:
        return Path(target.db)


class PostgresBackend:
    label = "PostgreSQL"

    def __init__(self, cluster) -> None:  # noqa: ANN001 — tests.pg_cluster.PgCluster
        self.cluster = cluster

    def clone(self, template, root: Path) -> Target:  # noqa: ANN001 — a PgTemplate
        from tests.pg_cluster import unique_db_name

        name = unique_db_name("t")
        return Target(root, self.cluster.create_database(name, template.name), name)

    def check_storage(self, target: Target) -> None:
        check_postgres(target.db)

    def discard(self, target: Target) -> None:
        self.cluster.drop_database(target.name)
        shutil.rmtree(target.root, ignore_errors=True)

    def as_template(self, target: Target):  # noqa: ANN201
        from tests.postgres_fixtures import PgTemplate

        return PgTemplate(target.name, self.cluster)


def check_database(path: Path, key: DbKey) -> None:
    """The file opens with its key, both integrity checks pass and foreign keys hold."""
    conn = _open_raw_sqlcipher(path, key)
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        assert result == ["ok"], f"integrity_check: {result[:5]}"
        hmac_errors = conn.execute("PRAGMA cipher_integrity_check").fetchall()
        assert hmac_errors == [], f"cipher_integrity_check: {hmac_errors[:5]}"
        fk = conn.execute("PRAGMA foreign_key_check").fetchall()
        assert fk == [], f"foreign_key_check: {fk[:5]}"
    finally:
        conn.close()


_FOREIGN_KEYS = """
SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text,
       array(SELECT quote_ident(a.attname) FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o),
       array(SELECT quote_ident(a.attname) FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o)
FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace
WHERE c.contype = 'f' AND s.nspname = 'public'"""


def check_postgres(url: str) -> None:
    """PostgreSQL's equivalent of the SQLite checks: ``amcheck`` finds every heap page and every
    B-tree index consistent (each index entry's tuple exists, each tuple is indexed), and no row
    points at a missing parent through a foreign key."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        # the server ends the killed client's session by itself (rolling back its transaction
        # and releasing its row locks), or the next writer would wait for it
        deadline = time.monotonic() + ORPHAN_TIMEOUT
        while orphans := conn.execute("SELECT pid, state, left(query, 200) FROM pg_stat_activity "
                                      "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall():
            assert time.monotonic() < deadline, f"the killed client's sessions live on: {orphans}"
            time.sleep(0.02)
        conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        tables = [r[0] for r in conn.execute(
            "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname = 'public'")]
        assert tables, "no tables found to check"
        if conn.execute("SELECT to_regproc('verify_heapam') IS NOT NULL").fetchone()[0]:  # PostgreSQL 14+
            for table in tables:
                bad = conn.execute("SELECT * FROM verify_heapam(%s::regclass)", (table,)).fetchall()
                assert bad == [], f"verify_heapam({table}): {bad[:5]}"
        indexes = [r[0] for r in conn.execute(
            "SELECT c.oid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE a.amname = 'btree' AND n.nspname = 'public'")]
        assert indexes, "no indexes found to check"
        for index in indexes:
            conn.execute("SELECT bt_index_parent_check(%s::regclass, true)", (index,))
        for name, child, parent, columns, referenced in conn.execute(_FOREIGN_KEYS).fetchall():
            present = " AND ".join(f"t.{c} IS NOT NULL" for c in columns)
            match = " AND ".join(f"p.{r} = t.{c}" for c, r in zip(columns, referenced))
            orphans = conn.execute(f"SELECT count(*) FROM {child} t WHERE {present} "  # noqa: S608 — catalog names
                                   f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match})").fetchone()[0]
            assert orphans == 0, f"foreign key {name}: {orphans} rows of {child} point at no {parent}"


def verify_audit(ws) -> None:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        result = verify_chain(uow)
    assert result.ok, result.message()


# -- a campaign: one calibration run, then 20 kills -------------------------------------------

@dataclass
class Campaign:
    duration: float
    kills: list[Kill]
    outcomes: list[str]

    def spread(self) -> dict[str, int]:
        phases: dict[str, int] = {}
        for kill in self.kills:
            phases[kill.phase] = phases.get(kill.phase, 0) + 1
        return phases

    def counts(self) -> dict[str, int]:
        return {o: self.outcomes.count(o) for o in sorted(set(self.outcomes))}


def _attempt(backend: Backend, template: object, scenario: Scenario, root: Path,
             kill_at: Moment | None) -> tuple[Kill, list[float], str]:
    """One run on a fresh copy of ``template``, killed at ``kill_at`` (``None``: once done),
    then every check; the copy is discarded either way."""
    target = backend.clone(template, root)
    try:
        kill, timeline = run_child(lambda: scenario.start(open_target(target)), kill_at)
        assert not kill.error, f"the work itself failed:\n{kill.error}"
        backend.check_storage(target)
        ws = open_target(target)
        try:
            verify_audit(ws)
            outcome = scenario.check(ws, kill)   # also finishes the work, as the user would
            verify_audit(ws)
        finally:
            ws.close()
        return kill, timeline, outcome
    finally:
        backend.discard(target)


def campaign(backend: Backend, golden: object, scenario: Scenario, root: Path, seed: int = SEED) -> Campaign:
    """Calibrate on ``CALIBRATIONS`` full runs (the median one's timeline: one run slowed or
    sped up by whatever else the machine is doing would skew every kill), then ``KILLS``
    kills, every check after each."""
    outcomes: list[str] = []
    kills: list[Kill] = []
    with scenario_template(backend, golden, scenario, root / "template") as template:
        timelines = []
        for i in range(CALIBRATIONS):
            kill, timeline, _ = _attempt(backend, template, scenario, root / f"calibration{i}", None)
            assert kill.finished, "the calibration run did not finish"
            timelines.append(timeline)
            commits = kill.commits
        timeline = sorted(timelines, key=lambda t: t[-1])[len(timelines) // 2]
        duration = timeline[-1]
        for i, moment in enumerate(kill_points(duration, seed)):
            try:
                kill, _, outcome = _attempt(backend, template, scenario, root / f"kill{i:02d}",
                                            anchor(timeline, moment))
            except AssertionError as exc:
                raise AssertionError(f"{scenario.name} on {backend.label}, kill {i} at {moment:.3f}s of "
                                     f"{duration:.3f}s (seed {seed}): {exc}") from exc
            kills.append(kill)
            outcomes.append(outcome)
    result = Campaign(duration, kills, outcomes)
    print(f"\n{scenario.name} on {backend.label}: {len(kills)} kills over {duration:.3f}s "
          f"({commits} commits); kill landed {result.spread()}; left {result.counts()}")
    assert len(kills) == KILLS
    assert any(not k.finished for k in kills), "no kill landed during the work"
    return result
