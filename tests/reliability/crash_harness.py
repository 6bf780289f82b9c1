"""Kill a real writer with SIGKILL at random moments and check what it leaves behind.

The writer runs in a forked child (the test process has already imported everything, so a
kill costs a fork, not an interpreter start). The child opens its own workspace on its own copy
of a golden database, says "ready" through a pipe, does its work, says "done" and then waits to
be killed — so every run ends the same way, by SIGKILL, whether the kill landed before, during
or after the commit. The parent times one uninterrupted run first and then picks the kill
moments uniformly over that duration (a little past it, so "killed just after the commit" is
covered too).

After each kill ``check_database`` opens the file the way the application does, runs SQLite's
``PRAGMA integrity_check`` and SQLCipher's ``PRAGMA cipher_integrity_check`` (every page's HMAC),
and verifies the audit chain; each scenario then checks its own all-or-nothing rule.
"""

from __future__ import annotations

import os
import random
import select
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cio_desktop.security.dbkey import DbKey
from cio_desktop.services.audit import verify_chain
from cio_desktop.storage.database import _open_raw_sqlcipher

KILLS = 20
READY, DONE, FAILED = b"R", b"D", b"F"
CHILD_TIMEOUT = 60.0


@dataclass
class Kill:
    delay: float        # seconds after "ready" when SIGKILL was sent
    finished: bool      # the child had reported "done" before the kill
    error: str = ""     # the child's own error text, if its work raised


def _child(prepare: Callable[[], Callable[[], None]], write_fd: int) -> None:
    """Runs in the forked child; never returns."""
    code = 0
    try:
        work = prepare()
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


def run_child(prepare: Callable[[], Callable[[], None]], kill_after: float | None) -> tuple[Kill, float]:
    """Fork, wait for "ready", then SIGKILL after ``kill_after`` seconds (``None``: wait for
    "done" first — the calibration run). Returns the outcome and the work's duration (only
    meaningful when it finished)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover — the child
        os.close(read_fd)
        _child(prepare, write_fd)
    os.close(write_fd)
    buffer = b""
    try:
        deadline = time.monotonic() + CHILD_TIMEOUT
        while READY not in buffer[:1] and FAILED not in buffer[:1]:
            chunk = _read(read_fd, deadline)
            if not chunk:
                raise AssertionError("the child never got ready")
            buffer += chunk
        if buffer.startswith(FAILED):
            raise AssertionError("the child failed to prepare:\n" + _drain(read_fd, buffer).decode())
        started = time.monotonic()
        buffer = buffer[1:]
        duration = 0.0
        if kill_after is None:
            while DONE not in buffer and FAILED not in buffer:
                chunk = _read(read_fd, started + CHILD_TIMEOUT)
                if not chunk:
                    raise AssertionError("the child's work did not finish")
                buffer += chunk
            duration = time.monotonic() - started
        else:
            time.sleep(max(0.0, kill_after - (time.monotonic() - started)))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pid = 0
        buffer = _drain(read_fd, buffer)
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(read_fd)
    error = buffer[buffer.index(FAILED) + 1:].decode("utf-8", "replace") if FAILED in buffer else ""
    return Kill(kill_after if kill_after is not None else duration, DONE in buffer, error), duration


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
    """``n`` moments spread over the run: uniform over [0, 1.1 × duration], sorted."""
    rng = random.Random(seed)
    return sorted(rng.uniform(0.0, duration * 1.1) for _ in range(n))


def check_database(path: Path, key: DbKey) -> None:
    """The file opens with its key, both integrity checks pass and the audit chain verifies."""
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


def verify_audit(ws) -> None:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        result = verify_chain(uow)
    assert result.ok, result.message()
