"""WorkerPool additions of issue 13: ``soon`` (work split over event-loop turns) and pool
threads that run nicer than the GUI thread (Linux), never nicer and nicer task after task."""

from __future__ import annotations

import os
import sys
import threading

import pytest
import shiboken6
from PySide6.QtCore import QObject

from cio_desktop.ui.workers import WORKER_NICENESS, WorkerPool


def test_soon_runs_later_on_the_gui_thread_and_never_for_a_deleted_context(qtbot):
    pool = WorkerPool(lambda exc: None)
    ran: list[tuple[str, bool]] = []
    keep, gone = QObject(), QObject()
    pool.soon(lambda: ran.append(("kept", threading.current_thread() is threading.main_thread())), keep)
    pool.soon(lambda: ran.append(("gone", True)), gone)
    shiboken6.delete(gone)
    assert ran == []  # not inside the caller's turn
    qtbot.waitUntil(lambda: bool(ran), timeout=2000)
    qtbot.wait(20)
    assert ran == [("kept", True)]


def test_soon_runs_at_once_when_immediate():
    ran: list[int] = []
    WorkerPool(lambda exc: None, immediate=True).soon(lambda: ran.append(1))
    assert ran == [1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux-only")
def test_pool_threads_run_nicer_than_the_gui_thread_once(qtbot):
    pool = WorkerPool(lambda exc: None, max_threads=2)
    seen: list[tuple[int, int]] = []

    def task() -> tuple[int, int]:
        tid = threading.get_native_id()
        return tid, os.getpriority(os.PRIO_PROCESS, tid)

    for _ in range(8):
        pool.run(task, seen.append)
    assert pool.wait()
    qtbot.waitUntil(lambda: len(seen) == 8, timeout=5000)
    gui = os.getpriority(os.PRIO_PROCESS, 0)
    assert {nice for _tid, nice in seen} == {min(gui + WORKER_NICENESS, 19)}
    assert len({tid for tid, _nice in seen}) <= 2  # threads were reused, and not niced again
