"""Secrets review: plant known secrets — a password, a wrong password typed by mistake, a TOTP
seed, the database key, a connection's client secret and API key, a full IBAN — use them the way
a treasurer would (log in, enrol, import, synchronise, fail, export) with the log at DEBUG, then
look for every planted value in the log file, every exception message, the stored sync errors,
the CSV export, the crash dialog and the database file with its WAL.

Property 33 (tests/property/test_security_properties.py) covers any account number in the
database bytes and the log; this covers the other secrets and the other places."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from cio_desktop.errors import CioError
from cio_desktop.integrations.http import Credentials
from cio_desktop.logging_setup import configure_logging
from cio_desktop.services.ledger import LedgerQuery
from cio_desktop.services.users import provision_user
from cio_desktop.storage.models import Connection, SyncRun
from tests.conftest import TEST_KEY
from tests.integration.http_server import (CLIENT_ID, api_server, pki, start_server)  # noqa: F401 — fixtures
from tests.property.helpers import make_session

PASSWORD = "Planted-Passw0rd-Zebra-4711"
WRONG_PASSWORD = "Planted-Wr0ng-Passw0rd-0815"
TOTP_SEED = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
CLIENT_SECRET = "planted-client-secret-Qx7v9"
API_KEY = "ak_planted_93jf02kd8"
IBAN = "GB33BUKB20201555555555"


def planted() -> dict[str, bytes]:
    values = {"password": PASSWORD, "wrong password": WRONG_PASSWORD, "TOTP seed": TOTP_SEED,
              "client secret": CLIENT_SECRET, "API key": API_KEY, "IBAN": IBAN,
              "IBAN (grouped)": " ".join(IBAN[i:i + 4] for i in range(0, len(IBAN), 4)),
              "database key (hex)": TEST_KEY.raw.hex()}
    out = {k: v.encode() for k, v in values.items()}
    out["TOTP seed (raw)"] = base64.b32decode(TOTP_SEED)
    out["database key (raw)"] = TEST_KEY.raw
    return out


def leaks(blob: bytes | str, where: str) -> list[str]:
    data = blob.encode("utf-8", "replace") if isinstance(blob, str) else blob
    found = [f"{name} in {where}" for name, value in planted().items()
             if value in data or value.lower() in data.lower()]
    # a UTF-16 copy (Qt strings, Windows tools) counts too
    found += [f"{name} (UTF-16) in {where}" for name, value in planted().items()
              if len(value) > 8 and value.decode("latin-1").encode("utf-16-le") in data]
    return found


def _mt940(iban: str) -> bytes:
    return ("\r\n".join([":20:PLANTED", f":25:{iban}", ":28C:1/1", ":60F:C260301GBP1000,00",
                         ":61:2603020302D250,00NTRFREF-1//B1", ":86:Rent March",
                         ":62F:C260302GBP750,00", "-"]) + "\r\n").encode()


@pytest.fixture
def debug_log(tmp_path):  # noqa: ANN001, ANN201
    path = configure_logging(tmp_path / "logs", "DEBUG")
    yield path
    logging.getLogger().setLevel(logging.WARNING)


def test_planted_secrets_appear_nowhere(ws, tmp_path, debug_log, api_server, pki):  # noqa: F811
    if ws.db.kind != "sqlite":
        pytest.skip("greps the SQLCipher file's bytes")
    errors: list[str] = []

    def expect_error(fn, *args, **kwargs) -> None:  # noqa: ANN001
        try:
            fn(*args, **kwargs)
        except CioError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            logging.getLogger("cio_desktop.secrets_test").info("refused: %s", exc, exc_info=True)
        else:
            raise AssertionError(f"{fn.__name__} should have failed")

    # a user with a known password and TOTP seed; wrong password, wrong code, right ones
    with ws.db.unit_of_work() as uow:
        provision_user(uow, ws.ctx, username="zed", role="treasurer", password=PASSWORD, actor="bootstrap",
                       totp_secret=TOTP_SEED)
    expect_error(ws.auth.login, "zed", WRONG_PASSWORD)
    expect_error(ws.auth.login, "zed", PASSWORD, otp="000000")
    from cio_desktop.security import totp

    ws.auth.login("zed", PASSWORD, otp=totp.code_at(TOTP_SEED, ws.ctx.now()))

    # an account with a full IBAN, a statement for it, one refused for the wrong currency
    account = ws.accounts.create_account(name="Planted GBP", institution="Bank", number=IBAN, currency="GBP")
    statement = tmp_path / "planted.sta"
    statement.write_bytes(_mt940(IBAN))
    assert ws.imports.import_file(statement).new == 1
    wrong = tmp_path / "planted_eur.sta"
    wrong.write_bytes(_mt940(IBAN).replace(b"GBP", b"EUR"))
    expect_error(ws.imports.import_file, wrong)
    expect_error(ws.accounts.create_account, name="Again", institution="Bank", number=IBAN, currency="GBP")

    # a connection whose secret the server accepts, then revokes; one with a refused API key
    api_server.state.clients[CLIENT_ID] = CLIENT_SECRET
    settings = {"token_url": api_server.token_url, "client_id": CLIENT_ID, "ca_bundle_path": str(pki.ca_cert),
                "timeout": 2}
    make_session(ws, "treasurer")
    conn = ws.sync.create_connection(name="Planted Bank", kind="banking", base_url=api_server.url,
                                     auth_kind="oauth2", settings=settings,
                                     credentials=Credentials(client_secret=CLIENT_SECRET))
    assert ws.sync.sync_connection(conn.id).ok
    api_server.state.clients[CLIENT_ID] = "rotated-by-the-bank"
    api_server.revoke_tokens()
    failed = ws.sync.sync_connection(conn.id)
    assert not failed.ok
    errors.append(failed.error)
    keyed = ws.sync.create_connection(name="Planted Key", kind="banking", base_url=api_server.url,
                                      auth_kind="api_key", settings={"ca_bundle_path": str(pki.ca_cert)},
                                      credentials=Credentials(api_key=API_KEY))
    expect_error(ws.sync.test_connection, keyed.id)
    with ws.db.unit_of_work(write=False) as uow:
        stored = [r.error for r in uow.execute(select(SyncRun)).scalars()]
        stored += [c.last_error for c in uow.execute(select(Connection)).scalars()]

    # exports: the ledger CSV shows account names, never numbers
    export = tmp_path / "ledger.csv"
    ws.ledger.export_csv(LedgerQuery(), export)

    for handler in logging.getLogger().handlers:
        handler.flush()
    db = Path(ws.db.target)
    with ws.db.engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
    found = []
    found += leaks(debug_log.read_text(encoding="utf-8"), "the DEBUG log")
    found += [leak for e in errors for leak in leaks(e, f"an error message ({e[:60]}…)")]
    found += [leak for e in stored for leak in leaks(e, "a stored sync error")]
    found += leaks(export.read_bytes(), "the ledger CSV export")
    for suffix in ("", "-wal"):
        if Path(str(db) + suffix).exists():
            found += leaks(Path(str(db) + suffix).read_bytes(), f"the database file{suffix}")
    assert not found, found
    assert len(errors) >= 6 and "refused" in debug_log.read_text(encoding="utf-8")
    assert ws.accounts.reveal_number(account.id) == IBAN   # stored, just never in the clear


def test_logged_tracebacks_and_crash_dialog_are_redacted(tmp_path, debug_log, qtbot):
    """An unexpected exception that quotes an account number or a secret= value: the log's
    traceback and the crash dialog (summary, details) show them masked."""
    from cio_desktop.ui.dialogs.errors import ExceptionHook

    hook = ExceptionHook(debug_log, show=True)
    try:
        raise RuntimeError(f"cannot book to {IBAN}: client_secret={CLIENT_SECRET} api_key: {API_KEY}")
    except RuntimeError as exc:
        logging.getLogger("cio_desktop.secrets_test").exception("sync crashed")
        hook.report(exc)
    qtbot.waitUntil(lambda: hook.dialog is not None)
    shown = hook.dialog.summary.text() + "\n" + hook.dialog.details.toPlainText()
    for handler in logging.getLogger().handlers:
        handler.flush()
    log_text = debug_log.read_text(encoding="utf-8")
    assert "GB33 **** **** **** 5555" in shown and "RuntimeError" in log_text
    assert leaks(shown, "the crash dialog") + leaks(log_text, "the log") == []
    hook.dialog.close()
