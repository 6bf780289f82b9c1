"""Writing an export safely: to a temporary file beside the target, renamed over it at the end.

A failed export (bad data, full disk, a crash half-way) never leaves a half-written file under the
final name; the old file, if any, stays as it was. Errors come back as :class:`ExportFailed` in
plain words (unwritable folder, file open in another program).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Iterator

from cio_desktop.errors import CioError


class ExportFailed(CioError):
    """The export could not be written (the message says where and why)."""


def check_target(path: str | os.PathLike[str]) -> Path:
    target = Path(path).expanduser()
    if target.exists() and target.is_dir():
        raise ExportFailed(f"{target} is a folder: choose a file name")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ExportFailed(f"cannot write {target}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportFailed(f"cannot write {target}: no permission to write in {folder}")
    if target.exists() and not os.access(target, os.W_OK):
        raise ExportFailed(f"cannot replace {target}: the file is read-only or open in another program")
    return target


def _plain(exc: OSError, target: Path) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EBUSY, errno.ETXTBSY):
        return f"cannot write {target}: permission denied or the file is open in another program"
    if exc.errno == errno.ENOSPC:
        return f"cannot write {target}: the disk is full"
    return f"cannot write {target}: {exc.strerror or exc}"


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one rename."""
    target = check_target(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise ExportFailed(_plain(exc, target)) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        try:
            os.replace(tmp_path, target)
        except OSError as exc:
            raise ExportFailed(_plain(exc, target)) from None
    except OSError as exc:
        raise ExportFailed(_plain(exc, target)) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
