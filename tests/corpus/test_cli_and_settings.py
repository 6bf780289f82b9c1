"""The CLI import path with hostile files (one refusal line per file, exit 7, no traceback,
nothing stored) and a Hypothesis mutation test for the settings file reader (the statement
parsers' mutation tests live in tests/unit/statements/ and share mutation.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given

from cio_desktop.errors import ConfigError
from cio_desktop.security.dbkey import DbKey
from tests.conftest import TEST_PASSWORD, make_settings
from tests.corpus.corpus_readers import READERS, TOML_SAMPLE
from tests.corpus.hostile import CASES
from tests.unit.statements.mutation import mutated

PASSPHRASE = "corpus cli passphrase"


def _cli(root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")}
    env.update({"CIO_DATA_DIR": str(root / "data"), "CIO_LOG_DIR": str(root / "logs"),
                "CIO_CACHE_DIR": str(root / "cache"), "CIO_CONFIG_DIR": str(root / "config"),
                "CIO_DB_PASSPHRASE": PASSPHRASE, "CIO_KEYRING": "none"})
    return subprocess.run([sys.executable, "-m", "cio_desktop", *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=300)


def _counts(db: Path) -> tuple[int, int, int]:
    from cio_desktop.storage.database import _open_raw_sqlcipher

    conn = _open_raw_sqlcipher(db, DbKey(passphrase=PASSPHRASE))
    try:
        return tuple(conn.execute(q).fetchone()[0] for q in (  # type: ignore[return-value]
            "SELECT count(*) FROM transactions", "SELECT count(*) FROM import_batches",
            "SELECT count(*) FROM audit_entries WHERE action LIKE 'ledger.%' OR action LIKE 'account.%'"))
    finally:
        conn.close()


def test_cli_import_refuses_each_hostile_file_on_one_line(tmp_path):
    from cio_desktop.services.users import provision_user
    from cio_desktop.services.workspace import open_workspace

    ws = open_workspace(make_settings(tmp_path), create=True, key=DbKey(passphrase=PASSPHRASE))
    with ws.db.unit_of_work() as uow:
        provision_user(uow, ws.ctx, username="treasurer", role="treasurer", password=TEST_PASSWORD,
                       actor="bootstrap")
    ws.close()
    db = tmp_path / "cio.db"
    readers = {r.name: r for r in READERS}
    cases = {c.name: c for c in CASES}
    files = []
    for reader, case, suffix in (("mt940", "empty", ".sta"), ("camt053", "xml_billion_laughs", ".xml"),
                                 ("camt053", "xml_xxe_local_file", ".xml"), ("mt940", "impossible_date", ".sta"),
                                 ("bai2", "huge_amount", ".bai"), ("ofx", "binary_noise", ".ofx")):
        path = tmp_path / f"{reader}_{case}{suffix}"
        path.write_bytes(cases[case].build(readers[reader]))
        files.append(path)
    before = _counts(db)
    r = _cli(tmp_path, "import", *map(str, files), "--db", str(db), "--user", "treasurer", "--password-stdin",
             stdin=TEST_PASSWORD + "\n")
    assert r.returncode == 7, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in r.stderr and len(lines) == len(files), r.stderr
    for path, line in zip(files, lines):
        assert line.startswith("cio-desktop: refused") and path.name in line, line
    assert "line" in lines[3] and "date" in lines[3].lower(), lines[3]
    assert _counts(db) == before


@given(data=mutated([TOML_SAMPLE, b'theme = "light"\n[section]\nkey = 1\n',
                     b'log_level = "DEBUG"\nsession_hours = 12\n'],
                    [b'"', b"=", b"[", b"]", b"\n", b"\xff", b"\x00", b"-", b"99999999999999999999", b"'''"]))
def test_settings_file_mutation_gives_settings_or_config_error(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "mutated_config.toml"
    path.write_bytes(data)
    try:
        from cio_desktop.config import load_settings

        settings = load_settings(environ={"CIO_CONFIG": str(path)})
    except ConfigError as exc:
        assert str(path) in str(exc) or "setting" in str(exc), str(exc)
        return
    assert 0 <= settings.idle_lock_minutes <= 1_000_000 and settings.theme in ("light", "dark")
