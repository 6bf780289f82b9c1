"""Board packs from the services, exported in every format, audited; the CLI command."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from cio_desktop.errors import MfaRequired, PermissionDenied, ValidationError
from cio_desktop.reports import ExportFailed
from cio_desktop.reports import csv as rcsv
from cio_desktop.reports import excel
from cio_desktop.services.reporting import SECTION_KEYS, parse_period
from tests.conftest import login


def test_period_parsing() -> None:
    today = date(2026, 11, 2)
    assert parse_period("", today).label == "October 2026"
    assert (parse_period("2026-Q3", today).start, parse_period("2026-Q3", today).end) == (date(2026, 7, 1),
                                                                                         date(2026, 9, 30))
    assert parse_period("2026-02", today).end == date(2026, 2, 28)
    assert parse_period("2026-10-05..2026-10-09", today).start == date(2026, 10, 5)
    with pytest.raises(ValidationError, match="after today"):
        parse_period("2027-01", today)
    with pytest.raises(ValidationError, match="not a period"):
        parse_period("last tuesday", today)
    with pytest.raises(ValidationError, match="ends"):
        parse_period("2026-10-09..2026-10-01", today)


@pytest.mark.parametrize("fmt,name", [("pdf", "pack.pdf"), ("xlsx", "pack.xlsx"), ("csv", "pack.zip")])
def test_board_pack_on_the_demo_in_every_format(demo_ws, tmp_path: Path, fmt: str, name: str) -> None:  # noqa: ANN001
    login(demo_ws, "treasurer")
    out = tmp_path / "out"
    out.mkdir()
    seen, steps = [], []
    demo_ws.ctx.bus.subscribe("reports.exported", lambda e: seen.append(e.data))
    result = demo_ws.reporting.export_board_pack(fmt, out / name, period="2026-10",
                                                 progress=lambda f, m: steps.append(f))
    assert Path(result.path).exists() and result.masked
    assert steps[-1] == 1.0 and steps == sorted(steps)
    assert seen and seen[0]["kind"] == "board_pack"
    assert [p.name for p in out.iterdir()] == [name]     # no temporary left behind
    from sqlalchemy import select

    from cio_desktop.storage.models import AuditEntry
    with demo_ws.db.unit_of_work(write=False) as uow:
        last = uow.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
    assert last.action == "report.exported" and json.loads(last.summary)["after"]["format"] == fmt
    if fmt == "xlsx":
        tables = excel.read_tables(result.path)
        headings = [h for h, _r in tables]
        assert ["Currency", "Balance", "In base (EUR)", "FX rate"] in headings
    if fmt == "csv":
        tables = rcsv.read_tables(result.path)
        accounts = next(rows for h, rows in tables if h[:2] == ["Institution", "Account"])
        assert len(accounts) == len(demo_ws.accounts.list_accounts())
        assert all("****" in r[2] for r in accounts)            # masked numbers


def test_board_pack_on_an_empty_database_says_no_data(ws, tmp_path: Path) -> None:  # noqa: ANN001
    login(ws, "treasurer")
    doc = ws.reporting.build_board_pack("2026-10")
    assert [s.title for s in doc.sections][0] == "Summary"
    missing = {s.title: s.no_data for s in doc.sections if s.no_data}
    assert missing["Cash and liquidity"] == "no bank accounts yet"
    assert missing["Portfolio"] == "no portfolios yet"
    assert missing["Budget variance"] == "no budget for October 2026"
    result = ws.reporting.export_report(doc, "pdf", tmp_path / "empty.pdf")
    assert ("Portfolio", "no portfolios yet") in result.missing


def test_sections_roles_and_unmasked_exports(demo_ws, tmp_path: Path) -> None:  # noqa: ANN001
    login(demo_ws, "viewer")
    with pytest.raises(PermissionDenied):
        demo_ws.reporting.export_board_pack("pdf", tmp_path / "x.pdf")
    login(demo_ws, "analyst")
    doc = demo_ws.reporting.build_board_pack("2026-10", ["cash", "payments"])
    assert [s.title for s in doc.sections] == ["Cash and liquidity", "Payments"]
    with pytest.raises(ValidationError, match="unknown section"):
        demo_ws.reporting.build_board_pack("2026-10", ["cash", "gossip"])
    login(demo_ws, "treasurer")
    with pytest.raises(MfaRequired):
        demo_ws.reporting.build_board_pack("2026-10", ["cash"], masked=False)
    login(demo_ws, "treasurer", mfa=True)
    doc = demo_ws.reporting.build_board_pack("2026-10", ["cash"], masked=False)
    accounts = next(t for t in doc.sections[0].tables if t.title == "Accounts")
    assert not any("****" in r[2] for r in accounts.rows)
    assert set(SECTION_KEYS) >= {"cash", "payments"}


def test_unwritable_target_fails_before_any_work(demo_ws, tmp_path: Path) -> None:  # noqa: ANN001
    login(demo_ws, "treasurer")
    with pytest.raises(ExportFailed, match="does not exist"):
        demo_ws.reporting.export_board_pack("pdf", tmp_path / "nope" / "pack.pdf")


def _budget_text(doc) -> str:  # noqa: ANN001
    section = next(s for s in doc.sections if s.title == "Budget variance")
    assert not section.no_data, section.no_data
    return section.blocks[0].text


def test_board_pack_budget_compares_complete_months_only(demo_ws) -> None:  # noqa: ANN001
    login(demo_ws, "treasurer")   # the clock stands at 2 November 2026
    # a complete reporting period: the month it ends in
    text = _budget_text(demo_ws.reporting.build_board_pack("2026-Q3", ["budget"]))
    assert "in September 2026 (EUR)" in text
    doc = demo_ws.reporting.build_board_pack("2026-10", ["budget"])
    assert "in October 2026 (EUR)" in _budget_text(doc)
    assert doc.sections[0].tables[0].title == "Budget variance October 2026"
    # a running period (November to date): the last complete month, said so
    text = _budget_text(demo_ws.reporting.build_board_pack("mtd", ["budget"]))
    assert "in October 2026 — the last complete month" in text and "not complete yet" in text
    october = demo_ws.budget.detect_budget_variance("2026-10")
    assert text.startswith(f"{sum(1 for v in october if v.flagged)} of {len(october)} ")
