"""Statement files end to end: format detection, import into the encrypted ledger, re-import
adds nothing, refused files add nothing, the CLI's summary and exit code."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import func, select

from cio_desktop.errors import CioError, ValidationError
from cio_desktop.storage.models import AuditEntry, ImportBatch, Transaction
from tests.property.helpers import make_session

DATA = Path(__file__).resolve().parents[1] / "data" / "statements"
SAMPLES = sorted(p for p in DATA.rglob("*") if p.is_file() and p.parent.name in ("mt940", "camt", "bai2", "ofx"))
CSV_SAMPLES = sorted((DATA / "csv").glob("*"))


def counts(ws):  # noqa: ANN001, ANN201
    with ws.db.unit_of_work(write=False) as uow:
        return (uow.execute(select(func.count()).select_from(Transaction)).scalar_one(),
                uow.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
                uow.execute(select(func.count()).select_from(ImportBatch)).scalar_one())


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_imports_once(ws, sample):
    make_session(ws, "treasurer")
    first = ws.imports.import_file(sample)
    assert first.format == {"mt940": "mt940", "camt": "camt053", "bai2": "bai2", "ofx": "ofx"}[sample.parent.name]
    assert first.new > 0 and first.duplicates == 0 and first.statements >= 1
    lines, audits, batches = counts(ws)
    assert lines == first.new
    again = ws.imports.import_file(sample)
    assert again.new == 0 and again.duplicates == first.new
    assert any("already imported" in w for w in again.warnings)
    assert counts(ws)[0] == lines


def test_csv_samples_import_into_a_chosen_account(ws):
    make_session(ws, "treasurer")
    imported = 0
    for sample in CSV_SAMPLES:
        try:
            result = ws.imports.import_file(sample)
        except ValidationError as exc:  # a file without an account column needs --account
            assert exc.field in ("account", "currency", "date format") or "account" in str(exc), str(exc)
            continue
        assert result.new > 0
        imported += 1
    assert imported >= 3


def test_refused_file_adds_nothing_and_names_the_place(ws, tmp_path):
    make_session(ws, "treasurer")
    good = next(p for p in SAMPLES if p.parent.name == "mt940")
    broken = tmp_path / "broken.sta"
    text = good.read_bytes()
    broken.write_bytes(text.replace(b":62F:", b":62F:X", 1))
    before = counts(ws)
    with pytest.raises(ValidationError) as err:
        ws.imports.import_file(broken)
    assert "broken.sta" in str(err.value) and err.value.line is not None
    assert counts(ws) == before


def test_unbalanced_statement_refused(ws, tmp_path):
    make_session(ws, "treasurer")
    sample = DATA / "camt" / "camt053_v08.xml"
    text = sample.read_text(encoding="utf-8")
    import re

    m = re.search(r"(<Cd>CLBD</Cd>.*?<Amt Ccy=\"\w+\">)([\d.]+)", text, re.S)
    assert m
    changed = text[:m.start(2)] + f"{float(m.group(2)) + 1:.2f}" + text[m.end(2):]
    path = tmp_path / "unbalanced.xml"
    path.write_text(changed, encoding="utf-8")
    with pytest.raises(ValidationError, match="reconcile|closing"):
        ws.imports.import_file(path)
    assert counts(ws)[0] == 0


@settings(max_examples=100)
@given(sample=st.sampled_from(SAMPLES), seed=st.integers(0, 2**32 - 1))
def test_mutated_files_import_wholly_or_not_at_all(ws, tmp_path_factory, sample, seed):
    """Fuzz at the service: a mutated file is either imported as a whole (valid records) or
    refused with a clear error, and never leaves part of itself in the ledger."""
    make_session(ws, "treasurer")
    rng = random.Random(seed)
    data = bytearray(sample.read_bytes())
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(["flip", "delete", "insert", "truncate"])
        i = rng.randrange(len(data)) if data else 0
        if op == "flip" and data:
            data[i] = rng.randrange(256)
        elif op == "delete" and data:
            del data[i:i + rng.randint(1, 20)]
        elif op == "insert":
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 10)))
        elif op == "truncate":
            del data[i:]
    path = tmp_path_factory.mktemp("fuzz") / sample.name
    path.write_bytes(bytes(data))
    before_lines, before_audit, before_batches = counts(ws)
    try:
        result = ws.imports.import_file(path)
    except CioError as exc:
        assert str(exc)
        assert counts(ws) == (before_lines, before_audit, before_batches)
        return
    lines, audits, batches = counts(ws)
    assert lines - before_lines == result.new
    assert batches == before_batches + 1
    assert audits - before_audit == 1 + len(result.created_accounts)


def test_cli_import_json_summary_and_exit_codes(tmp_path):
    from tests.integration.test_cli import PASSWORD, cli

    db = tmp_path / "co.db"
    r = cli(tmp_path, "init", "--db", str(db), "--admin", "root", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    r = cli(tmp_path, "users", "add", "tina", "--role", "treasurer", "--db", str(db), "--user", "root",
            "--password-stdin", stdin=f"{PASSWORD}\nTr3asury-Secret-Long\n")
    assert r.returncode == 5  # adding users needs MFA: enrol root first via --totp-secret instead
    db2 = tmp_path / "co2.db"
    from tests.conftest import TEST_TOTP_SECRET
    from tests.integration.test_cli import otp

    r = cli(tmp_path, "init", "--db", str(db2), "--admin", "root", "--password-stdin", "--totp-secret",
            TEST_TOTP_SECRET, stdin=PASSWORD + "\n")
    assert r.returncode == 0
    r = cli(tmp_path, "users", "add", "tina", "--role", "treasurer", "--db", str(db2), "--user", "root",
            "--password-stdin", "--otp", otp(), stdin=f"{PASSWORD}\nTr3asury-Secret-Long\n")
    assert r.returncode == 0, r.stderr
    good = DATA / "mt940" / "nl_abnamro_sepa.sta"
    bad = tmp_path / "bad.sta"
    bad.write_bytes(good.read_bytes()[:200])
    r = cli(tmp_path, "--json", "import", str(good), str(bad), "--db", str(db2), "--user", "tina",
            "--password-stdin", stdin="Tr3asury-Secret-Long\n")
    assert r.returncode == 7, r.stderr
    out = json.loads(r.stdout)
    assert out["files"][0]["new"] > 0 and out["files"][0]["duplicates"] == 0
    assert out["files"][1]["new"] == 0 and "bad.sta" in out["files"][1]["error"]
    r = cli(tmp_path, "import", str(good), "--db", str(db2), "--user", "tina", "--password-stdin",
            stdin="Tr3asury-Secret-Long\n")
    assert r.returncode == 0 and " 0 new" in r.stdout
