"""``cio-desktop compliance`` end to end in a subprocess: apply rules (MFA), list them, import a
sanctions list (a malformed one refused with file, line and field), standing and the report (CSV,
PDF; an unknown extension refused in plain words)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

from tests.integration.test_cli import PASSWORD, cli, initialised, otp  # noqa: F401 — fixture
from tests.reports_fixtures import pdf_pages


def test_cli_compliance_rules_sanctions_standing_report(tmp_path, initialised):  # noqa: F811
    db = str(initialised)

    def run(*args: str, code: str | None = None):  # noqa: ANN202
        return cli(tmp_path, "--json", "compliance", *args, "--db", db, "--user", "root", "--password-stdin",
                   *(["--otp", code] if code else []), stdin=PASSWORD + "\n")

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([
        {"name": "Cap", "type": "max_single_payment", "parameters": {"amount": "1000000", "currency": "EUR"}},
        {"name": "Buffer", "type": "min_liquidity", "parameters": {"amount": "0", "currency": "EUR"}}]),
        encoding="utf-8")
    r = run("apply", str(rules), code=otp())
    assert r.returncode == 0, r.stderr
    assert [v["version"] for v in json.loads(r.stdout)] == [1, 1]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"name": "Neg", "type": "min_liquidity",\n "parameters": {"amount": -5, }}]', encoding="utf-8")
    r = run("apply", str(bad))          # refused while reading the file: before any login
    assert r.returncode == 1 and "bad.json, line 2" in r.stderr and "Traceback" not in r.stderr
    sanctions = tmp_path / "list.csv"
    sanctions.write_text("name,country\nEvil Corp,KP\nBad Bank,XYZ\n", encoding="utf-8")
    r = run("import-sanctions", str(sanctions), code=otp(1))
    assert r.returncode == 1 and "list.csv, line 3, field 'country'" in r.stderr
    r = run("standing")
    assert r.returncode == 0, r.stderr
    assert {row["name"]: row["status"] for row in json.loads(r.stdout)} == {"Cap": "ok", "Buffer": "ok"}
    today = datetime.now(timezone.utc).date().isoformat()
    out = tmp_path / "report.csv"
    r = run("report", "--from", today, "--to", today, "--out", str(out))
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[-1] == ["report", "sha256", summary["sha256"]]
    assert [row[3] for row in rows if row and row[0] == "rule"] == ["Cap", "Buffer"]
    pdf = tmp_path / "report.pdf"
    r = run("report", "--from", today, "--to", today, "--out", str(pdf))
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["format"] == "pdf" and summary["path"] == str(pdf)
    text = _pdf_text(pdf)
    assert summary["sha256"] in text and "Cap" in text and "Buffer" in text
    r = run("report", "--from", today, "--to", today, "--out", str(tmp_path / "report.docx"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "cannot export a compliance report as a '.docx' file" in r.stderr and ".pdf, .xlsx" in r.stderr
    assert not (tmp_path / "report.docx").exists()


def _pdf_text(path) -> str:  # noqa: ANN001
    return "\n".join(pdf_pages(path))


def test_cli_compliance_override_and_active_overrides(tmp_path):
    """``compliance override`` (MFA) lets one demo payment pass a rule once; ``compliance overrides``
    lists it; a rule that does not exist is refused in plain words, nothing granted."""
    from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET

    db = str(tmp_path / "demo.db")
    r = cli(tmp_path, "demo", "--db", db, "--password-stdin", "--totp-secret", TEST_TOTP_SECRET,
            stdin=TEST_PASSWORD + "\n")
    assert r.returncode == 0, r.stderr

    def run(user: str, *args: str, code: str | None = None, json_out: bool = True):  # noqa: ANN202
        return cli(tmp_path, *(["--json"] if json_out else []), *args, "--db", db, "--user", user,
                   "--password-stdin", *(["--otp", code] if code else []), stdin=TEST_PASSWORD + "\n")

    r = run("admin", "compliance", "overrides")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
    rules = json.loads(run("admin", "compliance", "rules").stdout)
    cap = next(x for x in rules if x["name"] == "Single payment cap")
    pending = json.loads(run("treasurer", "payments", "list", "--status", "pending_approval").stdout)[0]
    args = ("compliance", "override", str(cap["id"]), "payment", str(pending["id"]), "--reason",
            "board minute 2026-41: contract signed before the cap", "--hours", "48")
    r = run("admin", *args)                                       # MFA-gated
    assert r.returncode == 5 and "two-factor" in r.stderr
    r = run("admin", *args, code=otp())
    assert r.returncode == 0, r.stderr
    granted = json.loads(r.stdout)
    assert (granted["rule_id"], granted["entity"], granted["entity_id"]) == (cap["id"], "payment", str(pending["id"]))
    assert granted["approved_by"] == "admin" and granted["used_check_id"] is None
    # listed (as JSON and as text), for anyone who may read compliance
    r = run("auditor", "compliance", "overrides")
    assert r.returncode == 0, r.stderr
    assert [(o["id"], o["rule_name"], o["reason"]) for o in json.loads(r.stdout)] == [
        (granted["id"], "Single payment cap", "board minute 2026-41: contract signed before the cap")]
    r = run("auditor", "compliance", "overrides", json_out=False)
    assert r.returncode == 0 and f"payment {pending['id']} may pass rule {cap['id']} 'Single payment cap'" in r.stdout
    # a rule that does not exist: exit 1, plain words; without compliance.manage: refused
    r = run("admin", "compliance", "override", "999", "payment", str(pending["id"]), "--reason", "because of X",
            code=otp(1))
    assert r.returncode == 1 and "there is no rule 999 in force" in r.stderr and "Traceback" not in r.stderr
    r = run("auditor", "compliance", "override", str(cap["id"]), "payment", str(pending["id"]), "--reason",
            "because of X")
    assert r.returncode == 4 and "compliance.manage" in r.stderr
    r = run("admin", "compliance", "overrides")
    assert len(json.loads(r.stdout)) == 1
