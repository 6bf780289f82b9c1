"""Service calls off the GUI thread.

``WorkerPool.run(fn, on_success, on_error)`` runs ``fn`` on a QThreadPool and delivers the
result (or the exception) back on the GUI thread by signal. Under test, ``immediate=True``
runs each task at once on the calling thread (like Picard's FakeThreadPool), so UI tests are
deterministic.

``WorkerPool.soon(fn, context)`` runs ``fn`` on the GUI thread on a later turn of the event
loop (at once under ``immediate``): a panel applying a large result splits the work into steps
(table, then cards, then chart) so the event loop — and painting — runs between them and no
single step stalls the GUI thread.

On Linux the pool threads run ``WORKER_NICENESS`` nicer than the GUI thread, so a busy machine
gives the GUI thread the CPU first and the queries what is left.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

log = logging.getLogger(__name__)

Callback = Callable[[Any], None]
ErrorCallback = Callable[[BaseException], None]


class _Carrier(QObject):
    succeeded = Signal(object)
    failed = Signal(object)


#: How much nicer (Linux ``nice``) a pool thread runs than the GUI thread.
WORKER_NICENESS = 5


def _worker_nice() -> int | None:
    """The niceness for pool threads: the calling (GUI) thread's plus ``WORKER_NICENESS``;
    None off Linux, where ``setpriority`` on a thread id is not available."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return min(os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS, 19)
    except OSError:
        return None


def _yield_to_gui_thread(nice: int | None) -> None:
    """Run this pool thread at ``nice`` so that on a busy machine the scheduler favours the GUI
    thread (painting, input) over background queries: with two CPUs and two queries running, an
    equal share left the GUI thread waiting 3-4 times its own CPU time for a turn. A target
    value, not an increment: a thread serving many tasks is niced once, never further."""
    if nice is None:
        return
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError as exc:  # not permitted in some sandboxes: run at normal priority
        log.debug("could not lower the worker thread's priority: %s", exc)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], carrier: _Carrier, nice: int | None = None) -> None:
        super().__init__()
        self.fn, self.carrier, self.nice = fn, carrier, nice
        self.setAutoDelete(True)

    def run(self) -> None:
        _yield_to_gui_thread(self.nice)
        try:
            result = self.fn()
        except BaseException as exc:  # delivered to on_error on the GUI thread
            self.carrier.failed.emit(exc)
        else:
            self.carrier.succeeded.emit(result)


class WorkerPool:
    def __init__(self, default_error: ErrorCallback, *, immediate: bool = False,
                 max_threads: int = 4) -> None:
        self._default_error = default_error
        self.immediate = immediate
        self._pool = QThreadPool()
        self._pool.setMaxThreadCount(max_threads)
        self._live: set[_Carrier] = set()
        self._nice = _worker_nice()  # made on the GUI thread: pool threads run nicer than it

    def run(self, fn: Callable[[], Any], on_success: Callback | None = None,
            on_error: ErrorCallback | None = None) -> None:
        error_cb = on_error or self._default_error
        if self.immediate:
            try:
                result = fn()
            except BaseException as exc:
                error_cb(exc)
                return
            if on_success:
                on_success(result)
            return
        carrier = _Carrier()
        self._live.add(carrier)

        def done(result: Any) -> None:
            self._live.discard(carrier)
            if on_success:
                on_success(result)

        def failed(exc: BaseException) -> None:
            self._live.discard(carrier)
            error_cb(exc)

        carrier.succeeded.connect(done)
        carrier.failed.connect(failed)
        self._pool.start(_Task(fn, carrier, self._nice))

    def soon(self, fn: Callable[[], Any], context: QObject | None = None) -> None:
        """Call ``fn`` on the GUI thread on a later event-loop turn (never when ``context`` was
        deleted meanwhile); at once when ``immediate``. A 1 ms timer, not 0: Qt posts a 0 ms
        single shot as an event that may run in the same turn as the caller's other events."""
        if self.immediate:
            fn()
        elif context is not None:
            QTimer.singleShot(1, context, fn)
        else:
            QTimer.singleShot(1, fn)

    def wait(self, msecs: int = 30000) -> bool:
        return self._pool.waitForDone(msecs)

    @property
    def busy(self) -> bool:
        return bool(self._live)
