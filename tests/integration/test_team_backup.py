"""Backup and restore on both back ends: a consistent encrypted copy taken while another
workstation writes, a restore verified by the audit chain, and refusal of a wrong key, a
truncated or an altered file — with the live database untouched."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from cio_desktop.errors import CioError, PermissionDenied, ValidationError
from cio_desktop.security.dbkey import DbKey
from cio_desktop.services.audit import audit_log
from cio_desktop.storage.models import AuditEntry
from tests.conftest import TEST_KEY
from tests.integration.test_cli import PASSWORD, cli, initialised, otp  # noqa: F401 — initialised is a fixture
from tests.postgres_fixtures import reopen
from tests.property.helpers import make_session


@pytest.fixture(params=["sqlcipher", "postgres"])
def any_ws(request):  # noqa: ANN001, ANN201
    return request.getfixturevalue("ws" if request.param == "sqlcipher" else "pg_ws")


def _entries(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def _write(ws, n: int, actor: str = "test") -> None:  # noqa: ANN001
    for i in range(n):
        with ws.db.unit_of_work() as uow:
            audit_log(uow, actor=actor, action="test.write", entity="test", entity_id=i)


def test_backup_restore_round_trip_verified_by_the_audit_chain(any_ws, tmp_path):
    ws = any_ws
    _write(ws, 5)
    make_session(ws, "admin", mfa_age_seconds=0)
    result = ws.backup.backup(tmp_path / "b.cio")
    at_backup = _entries(ws)
    assert result.path.exists() and result.audit_entries == at_backup
    raw = result.path.read_bytes()
    assert b"test.write" not in raw and b"SQLite format 3" not in raw[:16]   # encrypted
    _write(ws, 7, actor="after-backup")                    # later changes the restore must undo
    restored = ws.backup.restore(result.path)
    assert _entries(ws) == at_backup + 1                   # + the "backup.restored" entry
    assert restored.audit_entries == at_backup + 1
    make_session(ws, "auditor")
    assert ws.audit.verify().ok
    with ws.db.unit_of_work(write=False) as uow:
        assert not uow.execute(select(AuditEntry).where(AuditEntry.actor == "after-backup")).first()


def test_backup_is_consistent_while_another_workstation_writes(any_ws, tmp_path, clock):
    ws = any_ws
    other = reopen(ws, clock)
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            _write(other, 1, actor="busy")

    t = threading.Thread(target=writer)
    t.start()
    try:
        make_session(ws, "admin", mfa_age_seconds=0)
        for n in range(2):
            ws.backup.backup(tmp_path / f"busy{n}.cio")
    finally:
        stop.set()
        t.join(30)
        other.close()
    ws.backup.restore(tmp_path / "busy1.cio")             # restore checks the chain before replacing
    make_session(ws, "auditor")
    assert ws.audit.verify().ok


@pytest.mark.parametrize("damage", ["truncate", "flip", "wrong_key", "empty"])
def test_bad_backup_is_refused_and_nothing_changes(any_ws, tmp_path, damage):
    ws = any_ws
    make_session(ws, "admin", mfa_age_seconds=0)
    backup = ws.backup.backup(tmp_path / "b.cio").path
    _write(ws, 3, actor="kept")
    before = _entries(ws)
    data = backup.read_bytes()
    if damage == "truncate":
        backup.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "flip":
        pos = len(data) // 2
        backup.write_bytes(data[:pos] + bytes([data[pos] ^ 0x40]) + data[pos + 1:])
    elif damage == "empty":
        backup.write_bytes(b"")
    if damage == "wrong_key":
        ws.db.key = DbKey(passphrase="some other key", origin="test")
    try:
        with pytest.raises((CioError, ValidationError)) as info:
            ws.backup.restore(backup)
    finally:
        ws.db.key = TEST_KEY
    msg = str(info.value)
    assert any(w in msg for w in ("wrong key", "damaged", "truncated", "missing or empty", "audit check"))
    assert _entries(ws) == before                           # the live database is untouched
    make_session(ws, "auditor")
    assert ws.audit.verify().ok


def test_backup_and_restore_need_the_admin_permission(ws, tmp_path):
    make_session(ws, "treasurer", mfa_age_seconds=0)
    with pytest.raises(PermissionDenied):
        ws.backup.backup(tmp_path / "x.cio")
    with pytest.raises(PermissionDenied):
        ws.backup.restore(tmp_path / "x.cio")
    assert not (tmp_path / "x.cio").exists()


def test_backup_refuses_to_overwrite(ws, tmp_path):
    (tmp_path / "exists.cio").write_bytes(b"keep me")
    make_session(ws, "admin")
    with pytest.raises(ValidationError):
        ws.backup.backup(tmp_path / "exists.cio")
    assert (tmp_path / "exists.cio").read_bytes() == b"keep me"


def test_cli_backup_restore_then_audit_verify(tmp_path, initialised):  # noqa: F811
    db = str(initialised)
    out = tmp_path / "co.backup"
    r = cli(tmp_path, "backup", "--out", str(out), "--db", db, "--user", "root", "--password-stdin",
            stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert "backup written to" in r.stdout and out.exists()
    r = cli(tmp_path, "restore", str(out), "--db", db, "--user", "root", "--password-stdin", "--otp", otp(),
            stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert "chain intact" in r.stdout
    r = cli(tmp_path, "audit", "verify", "--db", db, "--user", "root", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 0 and "chain intact" in r.stdout
    out.write_bytes(out.read_bytes()[:4096])
    r = cli(tmp_path, "restore", str(out), "--db", db, "--user", "root", "--password-stdin", "--otp", otp(1),
            stdin=PASSWORD + "\n")
    assert r.returncode != 0 and ("damaged" in r.stderr or "truncated" in r.stderr), r.stderr
