"""Every reader × every hostile case (tests/corpus/hostile.py): a clear error that names the
file (and line and field for bad values), nothing stored; or, where the case may be
legitimate (a byte-order mark), a correct read. Never a traceback, never a half-import.

One encrypted database per module (copied from the golden empty one); each case checks the
row count of every table before and after. The 100 MB line is streamed to disk once per reader.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from cio_desktop.errors import CioError
from tests.conftest import TEST_KEY, FakeClock, make_settings
from tests.corpus.corpus_readers import FORMATS, READ, READERS
from tests.corpus.hostile import CASES, NETWORK_PLACEHOLDER, Case, Reader
from tests.property.helpers import make_session, row_counts



@pytest.fixture(scope="module")
def corpus_ws(tmp_path_factory, golden_empty):  # noqa: ANN001, ANN201
    from cio_desktop.services.workspace import open_workspace

    if not isinstance(golden_empty, Path):
        pytest.skip("the corpus runs on the SQLCipher file (readers do not depend on the back end)")
    root = tmp_path_factory.mktemp("corpus_db")
    for suffix in ("", "-wal", "-shm"):
        if Path(str(golden_empty) + suffix).exists():
            shutil.copyfile(str(golden_empty) + suffix, str(root / "cio.db") + suffix)
    ws = open_workspace(make_settings(root), key=TEST_KEY, clock=FakeClock())
    make_session(ws, "treasurer")
    account = ws.accounts.create_account(name="Corpus EUR", institution="Test Bank",
                                         number="DE44500105175407324931", currency="EUR")
    ws.corpus_account_id = account.id
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def corpus_backup_sample(corpus_ws, tmp_path_factory) -> bytes:  # noqa: ANN001
    """A valid backup of the corpus database (the restore reader's sample); the database then
    moves on, so a restore that wrongly went through would change its row counts."""
    from cio_desktop.services.audit import audit_log
    from cio_desktop.services.backup import _check_sqlcipher_file

    make_session(corpus_ws, "admin", mfa_age_seconds=0)
    path = corpus_ws.backup.backup(tmp_path_factory.mktemp("corpus_backup") / "corpus.cio").path
    with tempfile.TemporaryDirectory() as tmp:   # the sample is one the restore would accept
        _check_sqlcipher_file(path, corpus_ws.db.key, Path(tmp))
    for i in range(3):
        with corpus_ws.db.unit_of_work() as uow:
            audit_log(uow, actor="corpus", action="corpus.after_backup", entity="test", entity_id=i)
    return path.read_bytes()


def _matrix() -> list:
    out = []
    for reader in READERS:
        for case in CASES:
            if case.writer is None and case.build(reader) is None:
                continue
            bug = (reader.known_bugs or {}).get(case.name)
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            out.append(pytest.param(reader, case, id=f"{reader.name}-{case.name}", marks=marks))
    return out


def _write(case: Case, reader: Reader, directory: Path) -> Path:
    suffix = reader.suffix or {"settings_toml": ".toml", "csv": ".csv", "camt053": ".xml", "bai2": ".bai"}.get(
        reader.name, ".ofx" if reader.name.startswith("ofx") else ".sta")
    path = directory / f"hostile_{case.name}{suffix}"
    if case.writer is not None:
        case.writer(reader, path)
    else:
        data = case.build(reader)
        assert data is not None
        path.write_bytes(data)
    return path


def _read(ws, reader: Reader, path: Path, *, auto: bool = False):  # noqa: ANN001, ANN202
    make_session(ws, "treasurer")
    return READ[reader.name](ws, path, auto=auto, account_id=getattr(ws, "corpus_account_id", None))


def _check_refusal(exc: CioError, path: Path, case: Case, reader: Reader) -> None:
    text = str(exc)
    print(f"{reader.name}/{case.name}: {text[:300]!r}")   # shown with -s: the corpus's messages
    assert path.name in text, f"the error does not name the file: {text!r}"
    assert "Traceback" not in text and len(text) < 2000, text
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), \
        f"raw control characters from the file reach the terminal/dialog: {text!r}"
    if case.located and reader.field_in_text:
        assert reader.field_in_text in text, f"the error does not name the field: {text!r}"
    elif case.located:
        line = getattr(exc, "line", None)
        field = getattr(exc, "field", None)
        assert line is not None and field, f"the error does not name line and field: {text!r}"


class _Listener:
    """A TCP listener on 127.0.0.1 that counts connections (an XML reader must never call it)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def connections(self) -> int:
        n = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return n
            conn.close()
            n += 1


@pytest.fixture(scope="module")
def listener():  # noqa: ANN201
    lst = _Listener()
    yield lst
    lst.sock.close()


@pytest.mark.parametrize("reader,case", _matrix())
def test_hostile_input_is_refused_clearly_and_nothing_is_stored(request, corpus_ws, tmp_path, listener, reader,
                                                                 case):
    if reader.sample_fixture:
        reader = dataclasses.replace(reader, sample=request.getfixturevalue(reader.sample_fixture))
    path = _write(case, reader, tmp_path)
    if case.writer is None and NETWORK_PLACEHOLDER.encode() in path.read_bytes():
        path.write_bytes(path.read_bytes().replace(NETWORK_PLACEHOLDER.encode(), listener.url.encode()))
    try:
        for auto in ((False, True) if reader.name in FORMATS else (False,)):
            before = row_counts(corpus_ws)
            try:
                result = _read(corpus_ws, reader, path, auto=auto)
            except CioError as exc:
                _check_refusal(exc, path, case, reader)
                assert row_counts(corpus_ws) == before, "a refused file changed the database"
                continue
            assert (case.expect == "refuse_or_accept" and not reader.refuses_all) or case.name in reader.accepts, \
                f"accepted a {case.name} file: {result!r}"
            if reader.accepted_ok is not None:
                assert reader.accepted_ok(result), f"accepted a {case.name} file but read it wrong: {result!r}"
            if reader.name in FORMATS:
                # accepted: the sample's content, read correctly and stored whole
                assert result.new + result.duplicates > 0 and result.statements >= 1
        assert listener.connections() == 0, "the reader opened a network connection"
    finally:
        path.unlink(missing_ok=True)
