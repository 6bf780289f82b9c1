"""``cio-desktop compliance`` end to end in a subprocess: apply rules (MFA), list them, import a
sanctions list (a malformed one refused with file, line and field), standing and the report (CSV,
PDF; an unknown extension refused in plain words)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

from tests.integration.test_cli import PASSWORD, cli, initialised, otp  # noqa: F401 — fixture


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
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(path))
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in pdf)
    finally:
        pdf.close()
