"""CSV formula injection: hostile text that came in through an import (or sits in stored names)
leaves every CSV export with its formula cells escaped (a leading apostrophe), while plain
numbers stay numbers. Table-driven: an exporter is one entry of ``EXPORTERS``."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from cio_desktop.services.ledger import LedgerQuery
from tests.conftest import login
from tests.property.helpers import make_session

FORMULAS = ['=HYPERLINK("http://127.0.0.1:1/x","click")', "+SUM(1+1)*cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+9)*cmd", "=1+1", "\t=1+2", "\r=1+3"]
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _unsafe_cells(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return [cell for row in csv.reader(fh) for cell in row
                if cell and cell[0] in "=+-@\t\r" and not NUMBER.match(cell)]


def _escaped(path: Path) -> set[str]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return {cell[1:] for row in csv.reader(fh) for cell in row if cell.startswith("'")}


def _hostile_csv_statement(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Date", "Amount", "Payee", "Reference", "Description", "Type"])
        for i, formula in enumerate(FORMULAS):
            w.writerow([f"2026-03-{i + 2:02d}", f"-{i + 1}.25", formula, f"R{i}", formula, "TRF"])


def export_ledger(ws, tmp_path: Path) -> Path:  # noqa: ANN001
    make_session(ws, "treasurer")
    account = ws.accounts.create_account(name="=Injected account", institution="Bank",
                                         number="DE44500105175407324931", currency="EUR")
    source = tmp_path / "hostile.csv"
    _hostile_csv_statement(source)
    result = ws.imports.import_file(source, account_id=account.id)
    assert result.new == len(FORMULAS)
    out = tmp_path / "ledger.csv"
    assert ws.ledger.export_csv(LedgerQuery(), out) == len(FORMULAS)
    return out


def export_rebalancing(ws, tmp_path: Path) -> Path:  # noqa: ANN001
    from cio_desktop.services.portfolio import PortfolioService

    with ws.db.engine.begin() as conn:   # stored names an attacker could have synced in
        for i, (asset_id,) in enumerate(conn.execute(text("SELECT id FROM assets ORDER BY id")).all()):
            conn.execute(text("UPDATE assets SET name = :n WHERE id = :i"),
                         {"n": FORMULAS[i % len(FORMULAS)], "i": asset_id})
    login(ws, "treasurer")
    svc = PortfolioService(ws.ctx)
    pid = svc.list_portfolios()[0].id
    holdings = svc.holdings(pid)
    targets = {h.identifier: 1.0 / len(holdings) for h in holdings}
    proposal = svc.recommend_rebalancing(pid, targets)
    assert proposal.plan.trades, "the equal-weight targets should need trades"
    return svc.export_rebalancing_csv(proposal, tmp_path / "plan.csv", svc.assess_impact(proposal.plan.trades))


def export_board_pack_csv(ws, tmp_path: Path) -> Path:  # noqa: ANN001
    """The board pack's CSV format (reports/csv.py: a zip of one CSV per table) through
    ``export_report``, with formula text in headings, section and table titles and cells. The
    zip's CSV files are read back and written into one CSV, cell for cell, for the checks."""
    import io
    import zipfile
    from datetime import date, datetime, timezone
    from decimal import Decimal

    from cio_desktop.reports import Column, Period, ReportDocument, Section, Table, export_report

    doc = ReportDocument("Board pack", Period(date(2026, 10, 1), date(2026, 10, 31)),
                         generated_at=datetime(2026, 11, 2, tzinfo=timezone.utc), generated_by="treasurer",
                         audience="Board of directors")
    section = doc.add(Section(FORMULAS[0]))
    columns = [Column("Counterparty"), Column("Amount", "decimal", currency="EUR"), Column(FORMULAS[4]),
               Column("Share", "percent")]
    section.add(Table(FORMULAS[1], columns, rows=[
        (formula, Decimal(f"-{i + 1}.25"), FORMULAS[-1 - i], -0.05 * i) for i, formula in enumerate(FORMULAS)]))
    doc.add(Section("Second")).add(Table("Notes", [Column("Note")], rows=[(f,) for f in FORMULAS]))
    pack = export_report(doc, "csv", tmp_path / "board-pack.zip")
    out = tmp_path / "board-pack.csv"
    with zipfile.ZipFile(pack) as zf, out.open("w", newline="", encoding="utf-8") as fh:
        names = [n for n in zf.namelist() if n.endswith(".csv")]
        assert len(names) == 2, names
        w = csv.writer(fh)
        for name in names:
            raw = zf.read(name).decode("utf-8")
            assert raw.startswith("\ufeff") and "\ufeff" not in raw[1:], f"{name}: one BOM, at the start"
            w.writerows(csv.reader(io.StringIO(raw[1:], newline="")))
    return out


EXPORTERS = [pytest.param("ws", export_ledger, id="ledger_export_csv"),
             pytest.param("demo_ws", export_rebalancing, id="rebalancing_export_csv"),
             pytest.param("ws", export_board_pack_csv, id="board_pack_csv_zip")]


@pytest.mark.parametrize("fixture,export", EXPORTERS)
def test_csv_exports_escape_formula_cells(request, tmp_path, fixture, export):
    ws = request.getfixturevalue(fixture)
    path = export(ws, tmp_path)
    assert _unsafe_cells(path) == []
    escaped = _escaped(path)
    assert escaped & set(FORMULAS), "the hostile text should be in the export, escaped"
    with path.open(newline="", encoding="utf-8-sig") as fh:
        numbers = [c for row in csv.reader(fh) for c in row if NUMBER.match(c) and c.startswith("-")]
    assert numbers, "negative amounts stay plain numbers"
