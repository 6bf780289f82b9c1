"""Two workstations on one database, for the team-mode edit tests (alert rules, connections).

``desks`` is the pair of desks every such test starts from; ``held_write`` stages the race that
only PostgreSQL can show — another desk's transaction has written the row and holds it,
uncommitted, while this desk saves — so each test states only what the other desk writes.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pytest

from tests.postgres_fixtures import reopen
from tests.property.helpers import make_session

#: how long the other desk keeps its write uncommitted: long enough that this desk's save
#: certainly arrives while the row is held, short enough not to slow the suite
HOLD_SECONDS = 0.5


@pytest.fixture
def desks(ws, clock):  # noqa: ANN001, ANN201
    """Desk A (treasurer, the ``ws`` workspace) and desk B (admin, another workstation)."""
    other = reopen(ws, clock)
    make_session(ws, "treasurer")
    make_session(other, "admin")
    yield ws, other
    other.close()


@contextmanager
def held_write(other: Any, write: Callable[[Any], None], hold: float = HOLD_SECONDS) -> Iterator[None]:
    """Run ``write(uow)`` in a transaction of workspace ``other`` on a thread of its own, flush
    it (the row is written and locked, not committed) and keep it open for ``hold`` seconds.
    The body runs once the row is written; on leaving, the thread is joined and anything it
    raised fails the test (a failing body is reported as it is, the thread still joined)."""
    writing, failures = threading.Event(), []

    def run() -> None:
        try:
            with other.db.unit_of_work() as uow:
                write(uow)
                uow.flush()
                writing.set()
                time.sleep(hold)
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread below
            failures.append(exc)
            writing.set()

    t = threading.Thread(target=run)
    t.start()
    try:
        assert writing.wait(10)
        yield
    finally:
        t.join(10)
    assert not failures, failures
