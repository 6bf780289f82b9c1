"""Parsing a large statement file in a second process while this one writes the rows.

Why: on SQLCipher an import is about half Python per-line work (parse, validate, build the
row) and half the encrypted inserts. In one process they take turns; with the per-line work in
a worker process they overlap, which on a 1,000,000-line CSV file cuts the import by about a
third (``bench/import.py``). Threads would not help: the writer releases the GIL for every
inserted row and would then wait for the parser to hand it back.

The worker only reads the file: it holds no database connection, key or session, and sends
plain tuples over a pipe. It runs :mod:`statement_rows` exactly as the in-process path does,
so both paths give the same rows and the same errors. The pipe's small buffer is the back
pressure: the worker is at most about one chunk ahead, so memory stays flat. Messages are
pickles on the worker's stdout, which only ever carries what this module wrote.

Protocol (worker → importer), in order: ``("statement", header)``, then ``("chunk", rows,
currencies, error)`` until the statement ends, then ``("end", header, total_minor)``; after the
last statement ``("done",)``. A failure outside a statement's lines is ``("error", error)``.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

from cio_desktop.domain.statements import Statement
from cio_desktop.errors import ImportFailed, ValidationError
from cio_desktop.services.statement_rows import RowBuilder, RowChunk, StatementFeed

_HEADER_FIELDS = tuple(f.name for f in dataclasses.fields(Statement) if f.name != "lines")


def _header(statement: Statement) -> dict[str, Any]:
    return {name: getattr(statement, name) for name in _HEADER_FIELDS}


def _encode(exc: BaseException | None) -> tuple | None:
    """Exceptions as plain data (ValidationError's keyword-only fields do not pickle)."""
    if exc is None:
        return None
    if isinstance(exc, ValidationError):
        return ("validation", exc.reason, exc.source, exc.line, exc.field)
    if isinstance(exc, UnicodeDecodeError):
        return ("unicode", exc.encoding, exc.object[exc.start:exc.end], 0, exc.end - exc.start, exc.reason)
    if isinstance(exc, OSError):
        return ("os", exc.errno, exc.strerror)
    return ("bug", "".join(traceback.format_exception(exc)))


def _decode(data: tuple | None) -> BaseException | None:
    if data is None:
        return None
    kind, *args = data
    if kind == "validation":
        reason, source, line, field_name = args
        return ValidationError(reason, source=source, line=line, field=field_name)
    if kind == "unicode":
        return UnicodeDecodeError(*args)
    if kind == "os":
        return OSError(*args)
    return ImportFailed(f"the statement reader failed unexpectedly; nothing was imported.\n{args[0]}")


WORKER_FLAG = "--statement-parse-worker"  # argv of a frozen build's executable run as the worker


def worker_command() -> list[str]:
    """How to start the worker: this interpreter on this module, or — in a PyInstaller build,
    where there is no interpreter to call — the application itself with :data:`WORKER_FLAG`
    (installer/launcher.py hands that straight to :func:`serve`)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, WORKER_FLAG]
    return [sys.executable, "-m", __name__]


def serve() -> None:
    """The worker process: read the job from stdin, send messages on stdout. Anything else
    written to stdout (a library's stray print) is sent to stderr instead, so it cannot
    corrupt the message stream."""
    # file descriptors, not sys.stdin/sys.stdout: a windowed (Windows) build has no sys streams,
    # though the importer's pipes are there as descriptors 0 and 1
    out = os.fdopen(os.dup(1), "wb")
    try:
        os.fstat(2)
        os.dup2(2, 1)
    except OSError:   # no stderr either: stray output goes nowhere
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.close(quiet)
    try:
        job = pickle.load(os.fdopen(0, "rb"))
    except (EOFError, pickle.UnpicklingError):
        return  # the importer went away before it sent the job

    def send(message: tuple) -> None:
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        run(send, **job)
    except (BrokenPipeError, OSError):
        pass  # the importer stopped listening (it failed or was cancelled)
    finally:
        try:
            out.close()
        except OSError:
            pass


def run(send: Callable[[tuple], None], fmt: str, path: str, source: str, options: dict[str, Any]) -> None:
    """Parse ``path`` and ``send`` its statements' rows (SQLite shapes)."""
    from cio_desktop.integrations.statements import parser_module

    try:
        module = parser_module(fmt)
        with open(path, "rb") as stream:
            for statement in module.parse(stream, source, **options):
                send(("statement", _header(statement)))
                builder = RowBuilder(statement.source or source, iso_dates=True)
                for chunk in builder.chunks(statement.lines):
                    send(("chunk", chunk.rows, chunk.currencies, _encode(chunk.error)))
                    if chunk.error is not None:
                        return
                send(("end", _header(statement), builder.total_minor))
        send(("done",))
    except BrokenPipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the importer
        send(("error", _encode(exc)))


class WorkerFeeds:
    """The importer's side: start the worker, then iterate :class:`StatementFeed`s whose chunks
    come from it. Use as a context manager so the worker never outlives the import."""

    def __init__(self, fmt: str, path: Path, source: str, options: dict[str, Any]) -> None:
        # a fresh interpreter, not multiprocessing: no fork of a process with Qt and database
        # threads, and no re-import of the caller's __main__ (which spawn would do)
        env = dict(os.environ)
        if not getattr(sys, "frozen", False):  # find this package as the importer found it
            package_root = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = os.pathsep.join(filter(None, (package_root, env.get("PYTHONPATH"))))
        self._process = subprocess.Popen(worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         close_fds=True, env=env,
                                         # Windows: no console window flashing up from the GUI
                                         creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        job = {"fmt": fmt, "path": str(path), "source": source, "options": options}
        assert self._process.stdin is not None and self._process.stdout is not None
        try:
            pickle.dump(job, self._process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._process.stdin.close()
        except BrokenPipeError:
            pass  # reported by the first read
        self._stream = self._process.stdout

    def __enter__(self) -> WorkerFeeds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._stream.close()
        self._process.wait()

    def _recv(self) -> tuple:
        try:
            return pickle.load(self._stream)
        except (EOFError, pickle.UnpicklingError):
            code = self._process.wait()
            raise ImportFailed(f"the statement reader stopped unexpectedly (exit code {code}); "
                               "nothing was imported") from None

    def __iter__(self) -> Iterator[StatementFeed]:
        while True:
            message = self._recv()
            if message[0] == "done":
                return
            if message[0] == "error":
                raise _decode(message[1])  # type: ignore[misc]
            feed = StatementFeed(Statement(**message[1], lines=()))
            feed.chunks = self._chunks(feed)
            yield feed

    def _chunks(self, feed: StatementFeed) -> Iterator[RowChunk]:
        while True:
            message = self._recv()
            kind = message[0]
            if kind == "chunk":
                yield RowChunk(message[1], message[2], _decode(message[3]))  # type: ignore[arg-type]
            elif kind == "end":
                for name, value in message[1].items():
                    setattr(feed.statement, name, value)
                feed.total_minor = message[2]
                return
            else:
                raise _decode(message[1])  # type: ignore[misc]


if __name__ == "__main__":
    serve()
