"""Service calls off the GUI thread.

``WorkerPool.run(fn, on_success, on_error)`` runs ``fn`` on a QThreadPool and delivers the
result (or the exception) back on the GUI thread by signal. Under test, ``immediate=True``
runs each task at once on the calling thread (like Picard's FakeThreadPool), so UI tests are
deterministic.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)

Callback = Callable[[Any], None]
ErrorCallback = Callable[[BaseException], None]


class _Carrier(QObject):
    succeeded = Signal(object)
    failed = Signal(object)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], carrier: _Carrier) -> None:
        super().__init__()
        self.fn, self.carrier = fn, carrier
        self.setAutoDelete(True)

    def run(self) -> None:
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
        self._pool.start(_Task(fn, carrier))

    def wait(self, msecs: int = 30000) -> bool:
        return self._pool.waitForDone(msecs)

    @property
    def busy(self) -> bool:
        return bool(self._live)
