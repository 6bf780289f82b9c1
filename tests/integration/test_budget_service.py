"""Budget lines, file import (CSV and Excel) with located errors, and variance detection with
explanations on the demo company (issue 8)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from cio_desktop.errors import PermissionDenied, ValidationError
from cio_desktop.storage.models_planning import BudgetLine
from tests.conftest import login


def _count(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as s:
        return s.execute(select(func.count()).select_from(BudgetLine)).scalar_one()


def test_demo_has_budgets_for_recent_and_coming_months(demo_ws) -> None:
    login(demo_ws, "analyst")
    periods = sorted({b.period for b in demo_ws.budget.list_budget()})
    assert periods == ["2026-08", "2026-09", "2026-10", "2026-11", "2026-12", "2027-01"]
    out = demo_ws.budget.detect_budget_variance("2026-10")
    assert any(v.flagged for v in out) and not all(v.flagged for v in out)
    assert all("driven by" in v.explanation or "missing" in v.explanation for v in out if v.flagged)
    rent = next(v for v in out if v.category == "rent")
    assert not rent.flagged          # the same rent every month meets its budget
    # without a period: the last complete month (the clock says 2 November 2026)
    assert {v.period for v in demo_ws.budget.detect_budget_variance()} == {"2026-10"}


def test_csv_import_and_edit(demo_ws, tmp_path: Path) -> None:
    login(demo_ws, "analyst")
    f = tmp_path / "budget.csv"
    before = _count(demo_ws)
    f.write_text("Category;Month;Amount\nsuppliers;2027-06;1.500.000,00\n", encoding="utf-8")
    with pytest.raises(ValidationError) as err:        # 1.500.000,00 is not a number we guess at
        demo_ws.budget.import_budget(f)
    assert err.value.line == 2 and err.value.field == "amount"
    f.write_text("category,period,amount\nsuppliers,2027-06,1500000\nSalaries,2027/6,420000.50\n"
                 "rent,2027-06,\"100,000.00\"\n", encoding="utf-8")
    res = demo_ws.budget.import_budget(f)
    assert (res.lines, res.created, res.updated) == (3, 3, 0)
    lines = {(b.category, b.period): b.amount for b in demo_ws.budget.list_budget("2027-06", "2027-06")}
    assert lines == {("suppliers", "2027-06"): Decimal("1500000.00"), ("salaries", "2027-06"): Decimal("420000.50"),
                     ("rent", "2027-06"): Decimal("100000.00")}
    view = demo_ws.budget.set_budget_line("rent", "2027-06", "99000")
    assert view.amount == Decimal("99000.00") and _count(demo_ws) == before + 3
    demo_ws.budget.delete_budget_line("rent", "2027-06")
    assert _count(demo_ws) == before + 2
    # re-importing updates instead of duplicating
    f.write_text("category,period,amount\nsuppliers,2027-06,1\n", encoding="utf-8")
    res = demo_ws.budget.import_budget(f)
    assert (res.created, res.updated) == (0, 1) and _count(demo_ws) == before + 2


@pytest.mark.parametrize("body,line,field", [
    ("category,period,amount\nsuppliers,2026-10,100\nmarketing,2026-10,5\n", 3, "category"),
    ("category,period,amount\nsuppliers,2026-10,abc\n", 2, "amount"),
    ("category,period,amount\nsuppliers,2026-10,-5\n", 2, "amount"),
    ("category,period,amount\nsuppliers,Oct 2026,5\n", 2, "period"),
    ("category,period,amount\nsuppliers,2026-10,5\nsuppliers,2026-10,6\n", 3, "category"),
    ("category,when,amount\nsuppliers,2026-10,5\n", 1, "period"),
])
def test_bad_budget_file_names_line_and_column_and_stores_nothing(demo_ws, tmp_path, body, line, field) -> None:
    login(demo_ws, "treasurer")
    before = _count(demo_ws)
    f = tmp_path / "bad.csv"
    f.write_text(body, encoding="utf-8")
    with pytest.raises(ValidationError) as err:
        demo_ws.budget.import_budget(f)
    assert (err.value.line, err.value.field, err.value.source) == (line, field, "bad.csv")
    assert f"line {line}" in str(err.value)
    assert _count(demo_ws) == before


def test_excel_import(demo_ws, tmp_path: Path) -> None:
    login(demo_ws, "treasurer")
    wb = Workbook()
    ws_ = wb.active
    ws_.append(["category", "period", "amount"])
    ws_.append(["customers", "2027-06", 3000000])
    ws_.append(["taxes", "2027-06", 12.5])
    ws_.append(["nonsense", "2027-06", 1])
    path = tmp_path / "b.xlsx"
    wb.save(path)
    before = _count(demo_ws)
    with pytest.raises(ValidationError) as err:
        demo_ws.budget.import_budget(path)
    assert (err.value.line, err.value.field) == (4, "category") and _count(demo_ws) == before
    ws_.delete_rows(4)
    wb.save(path)
    assert demo_ws.budget.import_budget(path).lines == 2


def test_variance_flags_and_explains_on_demo(demo_ws) -> None:
    login(demo_ws, "treasurer")
    period = "2026-10"
    baseline = {v.category: v.actual for v in
                [*map(lambda c: demo_ws.budget.set_budget_line(c, period, "1"), ["suppliers", "customers", "rent"])]
                and demo_ws.budget.detect_budget_variance(period)}
    # budgets: suppliers 30 % under the actual, customers spot on, rent 5 % off (below 10 %)
    demo_ws.budget.set_budget_line("suppliers", period, str((baseline["suppliers"] * Decimal("0.7")).quantize(Decimal("0.01"))))
    demo_ws.budget.set_budget_line("customers", period, str(baseline["customers"]))
    demo_ws.budget.set_budget_line("rent", period, str((baseline["rent"] * Decimal("1.05")).quantize(Decimal("0.01"))))
    out = {v.category: v for v in demo_ws.budget.detect_budget_variance(period)}
    assert out["suppliers"].flagged and not out["customers"].flagged and not out["rent"].flagged
    text = out["suppliers"].explanation
    assert text.startswith("suppliers 2026-10: actual") and "above budget" in text and "driven by" in text
    assert out["suppliers"].drivers and out["suppliers"].drivers[0].counterparty in text
    flagged = {v.category for v in demo_ws.budget.detect_budget_variance(period, only_flagged=True)}
    assert flagged & {"suppliers", "customers", "rent"} == {"suppliers"}
    assert all(v.flagged for v in demo_ws.budget.detect_budget_variance(period, only_flagged=True))
    # a stricter percentage threshold flags rent too
    assert out["rent"].pct == pytest.approx(-0.0476, abs=0.001)
    stricter = {v.category for v in demo_ws.budget.detect_budget_variance(period, pct_threshold="0.01", only_flagged=True)}
    assert stricter & {"suppliers", "customers", "rent"} == {"suppliers", "rent"}


def test_missing_recurring_item_is_named(demo_ws) -> None:
    """Rent is paid monthly; in a month before the ledger's end with the rent budgeted but the
    actual lines recategorised away, the explanation names the missing payment."""
    login(demo_ws, "treasurer")
    period = "2026-09"
    demo_ws.budget.set_budget_line("rent", period, "1")
    with demo_ws.db.engine.begin() as conn:
        from sqlalchemy import text
        conn.execute(text("UPDATE transactions SET category='other' WHERE category='rent' "
                          "AND booking_date >= '2026-09-01' AND booking_date <= '2026-09-30'"))
    demo_ws.budget.set_budget_line("rent", period, "50000")
    var = next(v for v in demo_ws.budget.detect_budget_variance(period) if v.category == "rent")
    assert var.flagged and var.actual == 0
    assert "missing:" in var.explanation and "did not occur" in var.explanation, var.explanation


def test_budget_permissions(demo_ws) -> None:
    login(demo_ws, "auditor")
    assert demo_ws.budget.detect_budget_variance("2026-10")
    assert demo_ws.budget.detect_budget_variance("2030-01") == []
    with pytest.raises(PermissionDenied):
        demo_ws.budget.set_budget_line("rent", "2026-10", "1")


def test_a_stale_screen_never_overwrites_another_users_change(demo_ws, clock) -> None:
    """Two people at different desks edit one budget line: the second save (and a delete) made
    from what the screen showed before the first one is refused with who and when."""
    from cio_desktop.errors import ConcurrentUpdate

    login(demo_ws, "treasurer")
    shown = next(b for b in demo_ws.budget.list_budget("2026-10") if b.category == "suppliers")
    clock.advance(minutes=3)
    login(demo_ws, "analyst")
    demo_ws.budget.set_budget_line("suppliers", "2026-10", "1900000", seen=shown.updated_at)  # current: saved
    clock.advance(minutes=2)
    login(demo_ws, "treasurer")
    with pytest.raises(ConcurrentUpdate) as info:
        demo_ws.budget.set_budget_line("suppliers", "2026-10", "1700000", seen=shown.updated_at)
    assert "changed by analyst at" in str(info.value) and "not saved" in str(info.value)
    with pytest.raises(ConcurrentUpdate):
        demo_ws.budget.delete_budget_line("suppliers", "2026-10", seen=shown.updated_at)
    now = next(b for b in demo_ws.budget.list_budget("2026-10") if b.category == "suppliers")
    assert now.amount == Decimal("1900000.00") and now.updated_by == "analyst"
    # a line the screen did not show was created meanwhile
    demo_ws.budget.set_budget_line("fees", "2027-06", "5000")
    with pytest.raises(ConcurrentUpdate, match="created by treasurer"):
        demo_ws.budget.set_budget_line("fees", "2027-06", "6000", seen=None)
    # after a reload the save goes through; without 'seen' (imports, the CLI) the last write wins
    demo_ws.budget.set_budget_line("suppliers", "2026-10", "1700000", seen=now.updated_at)
    demo_ws.budget.set_budget_line("suppliers", "2026-10", "1750000")
    assert next(b for b in demo_ws.budget.list_budget("2026-10") if b.category == "suppliers").amount == Decimal("1750000.00")
