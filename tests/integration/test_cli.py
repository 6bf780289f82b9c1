"""The headless CLI as a user runs it: real subprocesses, real encrypted files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest

from tests.conftest import TEST_TOTP_SECRET

PASSWORD = "Admin-Passw0rd-Long"


def cli(tmp_path: Path, *args: str, stdin: str = "", env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")}
    env.update({"CIO_DATA_DIR": str(tmp_path / "data"), "CIO_LOG_DIR": str(tmp_path / "logs"),
                "CIO_CACHE_DIR": str(tmp_path / "cache"), "CIO_CONFIG_DIR": str(tmp_path / "config"),
                "CIO_DB_PASSPHRASE": "cli test passphrase", "CIO_KEYRING": "none"})
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "cio_desktop", *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=300)


def otp(steps_ahead: int = 0) -> str:
    """A code for now (or the next step: still inside the ±1-step window, and not a replay of
    the code an earlier command in the same 30 s already used)."""
    return pyotp.TOTP(TEST_TOTP_SECRET).at(time.time() + 30 * steps_ahead)


@pytest.fixture
def initialised(tmp_path):
    db = tmp_path / "co.db"
    r = cli(tmp_path, "init", "--db", str(db), "--admin", "root", "--password-stdin",
            "--totp-secret", TEST_TOTP_SECRET, stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert "created" in r.stdout and db.exists()
    return db


def test_init_users_and_audit_verify(tmp_path, initialised):
    db = str(initialised)
    code = otp()
    r = cli(tmp_path, "users", "add", "alice", "--role", "treasurer", "--db", db, "--user", "root",
            "--password-stdin", "--otp", code, stdin=f"{PASSWORD}\nTr3asury-Secret-Long\n")
    assert r.returncode == 0, r.stderr
    r = cli(tmp_path, "--json", "users", "list", "--db", db, "--user", "root", "--password-stdin",
            stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    users = {u["username"]: u for u in json.loads(r.stdout)}
    assert users["alice"]["role"] == "treasurer" and users["root"]["mfa_enabled"] is True
    # a treasurer has no audit.read: refused with the permission named, exit 4
    r = cli(tmp_path, "audit", "verify", "--db", db, "--user", "alice", "--password-stdin",
            stdin="Tr3asury-Secret-Long\n")
    assert r.returncode == 4 and "'audit.read' permission is missing" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli(tmp_path, "users", "add", "audrey", "--role", "auditor", "--db", db, "--user", "root",
            "--password-stdin", "--otp", code, stdin=f"{PASSWORD}\nChecks-And-Balances-7\n")
    assert r.returncode == 3 and "already used" in r.stderr  # the same code again: a replay
    r = cli(tmp_path, "users", "add", "audrey", "--role", "auditor", "--db", db, "--user", "root",
            "--password-stdin", "--otp", otp(1), stdin=f"{PASSWORD}\nChecks-And-Balances-7\n")
    assert r.returncode == 0, r.stderr
    r = cli(tmp_path, "audit", "verify", "--db", db, "--user", "audrey", "--password-stdin",
            stdin="Checks-And-Balances-7\n")
    assert r.returncode == 0, r.stderr
    assert "audit trail OK" in r.stdout


def test_sensitive_command_without_otp_needs_mfa(tmp_path, initialised):
    r = cli(tmp_path, "users", "add", "bob", "--role", "viewer", "--db", str(initialised), "--user", "root",
            "--password-stdin", stdin=f"{PASSWORD}\nViewing-Secret-Long-1\n")
    assert r.returncode == 5 and "needs a fresh two-factor code" in r.stderr


def test_wrong_passphrase_exit_2_file_untouched(tmp_path, initialised):
    before = initialised.read_bytes()
    r = cli(tmp_path, "users", "list", "--db", str(initialised), "--user", "root", "--password-stdin",
            stdin=PASSWORD + "\n", env_extra={"CIO_DB_PASSPHRASE": "not the passphrase"})
    assert r.returncode == 2
    assert r.stderr.strip() == f"cio-desktop: cannot open {initialised}: wrong key or not a CIO Desktop database"
    assert initialised.read_bytes() == before


def test_wrong_password_and_bad_usage_are_one_line(tmp_path, initialised):
    r = cli(tmp_path, "users", "list", "--db", str(initialised), "--user", "root", "--password-stdin",
            stdin="nope\n")
    assert r.returncode == 3 and r.stderr.strip() == "cio-desktop: wrong user name or password"
    r = cli(tmp_path, "users", "list", "--db", str(tmp_path / "missing.db"), "--user", "root",
            "--password-stdin", stdin="x\n")
    assert r.returncode == 2 and "no database at" in r.stderr and "Traceback" not in r.stderr
    r = cli(tmp_path, "init", "--db", str(initialised), "--admin", "x", "--password-stdin", stdin="y\n")
    assert r.returncode != 0 and "already exists" in r.stderr


def test_weak_admin_password_refused(tmp_path):
    r = cli(tmp_path, "init", "--db", str(tmp_path / "w.db"), "--admin", "root", "--password-stdin",
            stdin="short\n")
    assert r.returncode == 1 and "at least 12 characters" in r.stderr
    assert not (tmp_path / "w.db").exists()


def test_db_upgrade_reports_head(tmp_path, initialised):
    r = cli(tmp_path, "--json", "db", "upgrade", "--db", str(initialised))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["revision"] == out["head"]


def test_cryptfile_keyring_holds_a_random_key(tmp_path):
    """The explicit headless keyring: a random key is created on init and found again."""
    env = {"CIO_KEYRING": "cryptfile", "CIO_KEYRING_PASSPHRASE": "keyring unlock phrase",
           "CIO_DB_PASSPHRASE": ""}
    db = tmp_path / "k.db"
    r = cli(tmp_path, "init", "--db", str(db), "--admin", "root", "--password-stdin", stdin=PASSWORD + "\n",
            env_extra=env)
    assert r.returncode == 0, r.stderr
    keyfile = tmp_path / "data" / "keyring.cryptfile"
    assert keyfile.exists() and str(db) not in keyfile.read_text(errors="ignore").split("[")[0]
    r = cli(tmp_path, "users", "list", "--db", str(db), "--user", "root", "--password-stdin",
            stdin=PASSWORD + "\n", env_extra=env)
    assert r.returncode == 0, r.stderr
    r = cli(tmp_path, "users", "list", "--db", str(db), "--user", "root", "--password-stdin",
            stdin=PASSWORD + "\n", env_extra={**env, "CIO_KEYRING_PASSPHRASE": "wrong"})
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_rekey_with_new_passphrase(tmp_path, initialised):
    r = cli(tmp_path, "db", "rekey", "--passphrase", "--db", str(initialised), "--user", "root",
            "--password-stdin", stdin=f"{PASSWORD}\n")
    assert r.returncode == 5  # changing the key is sensitive: MFA first
    r = cli(tmp_path, "db", "rekey", "--passphrase", "--db", str(initialised), "--user", "root",
            "--password-stdin", "--otp", otp(),
            stdin=f"{PASSWORD}\nbrand new passphrase\nbrand new passphrase\n")
    assert r.returncode == 0, r.stderr
    r = cli(tmp_path, "users", "list", "--db", str(initialised), "--user", "root", "--password-stdin",
            stdin=PASSWORD + "\n")
    assert r.returncode == 2 and "wrong key" in r.stderr
    r = cli(tmp_path, "--json", "users", "list", "--db", str(initialised), "--user", "root",
            "--password-stdin", stdin=PASSWORD + "\n", env_extra={"CIO_DB_PASSPHRASE": "brand new passphrase"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["mfa_enabled"] is True  # field-encrypted secrets still readable


def test_rekey_with_keyring(tmp_path):
    env = {"CIO_KEYRING": "cryptfile", "CIO_KEYRING_PASSPHRASE": "keyring unlock phrase",
           "CIO_DB_PASSPHRASE": ""}
    db = tmp_path / "k.db"
    r = cli(tmp_path, "init", "--db", str(db), "--admin", "root", "--password-stdin",
            "--totp-secret", TEST_TOTP_SECRET, stdin=PASSWORD + "\n", env_extra=env)
    assert r.returncode == 0, r.stderr
    r = cli(tmp_path, "db", "rekey", "--db", str(db), "--user", "root", "--password-stdin", "--otp", otp(),
            stdin=PASSWORD + "\n", env_extra=env)
    assert r.returncode == 0, r.stderr
    r = cli(tmp_path, "users", "list", "--db", str(db), "--user", "root", "--password-stdin",
            stdin=PASSWORD + "\n", env_extra=env)
    assert r.returncode == 0, r.stderr


def test_damaged_database_is_a_clear_message(tmp_path, initialised):
    """A page in the middle of the encrypted file is overwritten: one clear line, exit 2."""
    for _ in range(3):  # grow the file so that damage lands on a page in use
        r = cli(tmp_path, "users", "list", "--db", str(initialised), "--user", "root", "--password-stdin",
                stdin=PASSWORD + "\n")
    r = cli(tmp_path, "db", "upgrade", "--db", str(initialised))
    assert r.returncode == 0
    data = bytearray(initialised.read_bytes())
    page = 4096
    assert len(data) >= 8 * page
    for offset in range(2 * page, len(data) - page, page):
        data[offset + 100: offset + 600] = bytes(500)
    initialised.write_bytes(bytes(data))
    r = cli(tmp_path, "users", "list", "--db", str(initialised), "--user", "root", "--password-stdin",
            stdin=PASSWORD + "\n")
    assert r.returncode == 2, r.stderr
    assert "damaged" in r.stderr and "Traceback" not in r.stderr
