"""Ledger panel and its lazy model over the demo company (workers run at once, offscreen)."""

from __future__ import annotations

import csv
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtTest import QTest
from sqlalchemy import insert

from cio_desktop.services.ledger import LedgerQuery, search_text_for
from cio_desktop.storage.models import Transaction
from cio_desktop.ui.context import UiContext
from cio_desktop.ui.event_bridge import EventBridge
from cio_desktop.ui.models.ledger_model import COLUMN_KEYS, COLUMNS, LedgerTableModel
from cio_desktop.reports.csv_cells import safe_cell as csv_safe
from cio_desktop.ui.panels.ledger import LedgerPanel, count_text
from cio_desktop.ui.workers import WorkerPool
from tests.conftest import login

AMOUNT = COLUMN_KEYS.index("amount")


def make_ui(ws) -> UiContext:  # noqa: ANN001
    errors: list[BaseException] = []
    ui = UiContext(workspace=ws, settings=ws.ctx.settings, workers=WorkerPool(errors.append, immediate=True),
                   bridge=EventBridge(ws.ctx.bus), show_error=errors.append)
    ui.extra["errors"] = errors
    return ui


@pytest.fixture
def ui(demo_ws):  # noqa: ANN001, ANN201
    login(demo_ws, "treasurer")
    ctx = make_ui(demo_ws)
    yield ctx
    ctx.bridge.close()


@pytest.fixture
def panel(qtbot, ui):  # noqa: ANN001, ANN201
    p = LedgerPanel(ui)
    qtbot.addWidget(p)
    # route bus events to the panel the way the main window does
    ui.bridge.event.connect(lambda topic, data: topic in p.TOPICS and p.on_changes(topic, data))
    p.resize(1400, 900)
    p.show()
    p.ensure_built()
    p.on_shown()
    return p


def test_panel_contract():
    assert (LedgerPanel.NAME, LedgerPanel.TITLE, LedgerPanel.SHORTCUT) == ("ledger", "Ledger", "Ctrl+2")
    assert LedgerPanel.TOPICS == ("ledger.changed", "sync.completed")


def test_first_page_is_loaded_with_names_and_count(panel, ui):
    ledger = ui.workspace.ledger
    model = panel.model
    assert model.rowCount() == LedgerTableModel.PAGE_SIZE
    assert [r.id for r in model.rows()] == [r.id for r in ledger.page(LedgerQuery(), 0, 500)]
    total = ledger.count(LedgerQuery())
    assert model.total == total
    assert panel.count_label.text() == f"{total:,} transactions"
    names = ledger.account_names()
    first = model.row(0)
    assert model.index(0, COLUMN_KEYS.index("account")).data() == names[first.account_id]
    assert [model.headerData(i, Qt.Orientation.Horizontal) for i in range(len(COLUMNS))] == [
        "Booking date", "Value date", "Account", "Counterparty", "Description", "Reference",
        "Category", "Amount", "Currency"]
    assert not ui.extra["errors"]


def test_amounts_are_right_aligned_grouped_and_negative_red(panel):
    model = panel.model
    rows = model.rows()
    neg = next(i for i, r in enumerate(rows) if r.amount.amount < 0)
    pos = next(i for i, r in enumerate(rows) if r.amount.amount >= 1000)
    assert model.index(neg, AMOUNT).data(Qt.ItemDataRole.TextAlignmentRole) & int(Qt.AlignmentFlag.AlignRight)
    assert model.index(neg, AMOUNT).data(Qt.ItemDataRole.ForegroundRole) is not None
    assert model.index(pos, AMOUNT).data(Qt.ItemDataRole.ForegroundRole) is None
    text = model.index(pos, AMOUNT).data()
    assert "," in text and text.replace(",", "") == f"{rows[pos].amount.amount:.2f}"
    assert model.index(pos, COLUMN_KEYS.index("currency")).data() == rows[pos].amount.currency


def test_fetch_more_appends_the_next_page(panel, ui):
    model = panel.model
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert model.rowCount() == 1000
    want = ui.workspace.ledger.page(LedgerQuery(), 0, 1000)
    assert [r.id for r in model.rows()] == [r.id for r in want]
    assert len({r.id for r in model.rows()}) == 1000


def test_scrolling_to_the_end_fetches_more(panel, qtbot):
    panel.table.scrollToBottom()
    qtbot.waitUntil(lambda: panel.model.rowCount() > 500, timeout=3000)


def _amounts(model: LedgerTableModel) -> list[Decimal]:
    return [r.amount.amount for r in model.rows()]


def test_sort_by_amount_in_the_database(panel, ui):
    model = panel.model
    model.sort(AMOUNT, Qt.SortOrder.AscendingOrder)
    model.fetchMore(QModelIndex())
    amounts = _amounts(model)
    assert len(amounts) == 1000 and amounts == sorted(amounts)
    assert amounts[0] == min(r.amount.amount for r in ui.workspace.ledger.page(
        LedgerQuery(sort="amount", descending=False), 0, 1))
    model.sort(AMOUNT, Qt.SortOrder.DescendingOrder)
    model.fetchMore(QModelIndex())
    amounts = _amounts(model)
    assert amounts == sorted(amounts, reverse=True)
    assert model.query.sort == "amount" and model.query.descending


def test_clicking_headers_sorts_and_unsortable_column_is_ignored(panel):
    header = panel.table.horizontalHeader()
    panel.table.sortByColumn(AMOUNT, Qt.SortOrder.AscendingOrder)
    assert panel.model.query.sort == "amount" and not panel.model.query.descending
    assert _amounts(panel.model) == sorted(_amounts(panel.model))
    before = panel.model.generation
    header.setSortIndicator(COLUMN_KEYS.index("description"), Qt.SortOrder.AscendingOrder)
    assert panel.model.generation == before  # no reload
    assert header.sortIndicatorSection() == AMOUNT


def test_text_filter_shows_only_matching_rows_and_counts_them(panel, ui, qtbot):
    ledger = ui.workspace.ledger
    panel.filter_bar.search.setText("elbtal")
    assert panel.model.query.text == ""  # debounced: nothing yet
    qtbot.waitUntil(lambda: panel.model.query.text == "elbtal", timeout=2000)
    q = panel.model.query
    rows = panel.model.rows()
    assert rows and all("elbtal" in " ".join((r.counterparty, r.reference, r.description, r.category)).lower()
                        for r in rows)
    n = ledger.count(q)
    assert panel.count_label.text() == count_text(n)
    assert panel.model.total == n
    while panel.model.canFetchMore(QModelIndex()):
        panel.model.fetchMore(QModelIndex())
    assert panel.model.rowCount() == n


def test_escape_clears_the_search_and_ctrl_f_focuses_it(panel, qtbot):
    panel.filter_bar.search.setText("zzqqxxj")
    panel.filter_bar.flush()
    assert panel.model.rowCount() == 0 and panel.count_label.text() == "no transactions"
    panel.table.setFocus()
    assert panel.find_shortcut.key() == QKeySequence(QKeySequence.StandardKey.Find)
    panel.find_shortcut.activated.emit()  # offscreen windows are never active: fire the shortcut
    assert panel.focusWidget() is panel.filter_bar.search
    QTest.keyClick(panel.filter_bar.search, Qt.Key.Key_Escape)
    assert panel.filter_bar.search.text() == ""
    assert panel.model.query.text == "" and panel.model.rowCount() == 500


def test_account_date_and_amount_filters(panel, ui):
    ledger = ui.workspace.ledger
    names = ledger.account_names()
    target = sorted(names)[1]
    panel.filter_bar.set_selected_accounts([target])
    assert panel.model.query.account_ids == (target,)
    assert panel.filter_bar.accounts_button.text() == f"{names[target]}  ▾"
    assert {r.account_id for r in panel.model.rows()} == {target}
    assert panel.model.total == ledger.count(LedgerQuery(account_ids=(target,)))

    panel.filter_bar.date_from.set_value(date(2025, 3, 1))
    panel.filter_bar.date_to.set_value(date(2025, 3, 31))
    q = panel.model.query
    assert (q.date_from, q.date_to) == (date(2025, 3, 1), date(2025, 3, 31))
    rows = panel.model.rows()
    assert rows and all(date(2025, 3, 1) <= r.booking_date <= date(2025, 3, 31) for r in rows)
    assert panel.model.total == ledger.count(q)

    panel.filter_bar.amount_min.setText("-1000")
    panel.filter_bar.amount_max.setText("5,000.50")
    panel.filter_bar.flush()
    q = panel.model.query
    assert (q.amount_min, q.amount_max) == (Decimal("-1000"), Decimal("5000.50"))
    assert all(Decimal("-1000") <= r.amount.amount <= Decimal("5000.50") for r in panel.model.rows())
    assert panel.model.total == ledger.count(q)

    panel.filter_bar.clear()
    assert panel.model.query == LedgerQuery(sort=q.sort, descending=q.descending)
    assert panel.filter_bar.accounts_button.text() == "All accounts  ▾"


def test_ledger_changed_event_reloads(panel, ui, qtbot):
    ws = ui.workspace
    before = panel.model.total
    account_id = sorted(ws.ledger.account_names())[0]
    newest = panel.model.row(0).booking_date
    with ws.db.unit_of_work() as uow:
        uow.execute(insert(Transaction).values(
            account_id=account_id, booking_date=newest, value_date=newest, amount_minor=-4242,
            currency="EUR", counterparty="Brand New Supplier", bank_reference="BNS-1",
            description="just booked", category="misc", bank_code="", source="test",
            search_text=search_text_for("Brand New Supplier", "BNS-1", "just booked", "misc"),
            created_at=datetime.now(timezone.utc)))
    assert panel.model.total == before  # nothing until the event
    ws.ctx.bus.publish("ledger.changed", account_ids=[account_id])
    qtbot.waitUntil(lambda: panel.model.total == before + 1, timeout=3000)
    assert panel.model.row(0).reference == "BNS-1"
    assert panel.count_label.text() == count_text(before + 1)


def test_other_topics_do_not_reload(panel, ui, qtbot):
    generation = panel.model.generation
    panel.on_changes("payments.changed", {})
    ui.workspace.ctx.bus.publish("users.changed")
    qtbot.wait(300)
    assert panel.model.generation == generation


class DeferredWorkers:
    """Runs nothing until told: lets a test deliver results in any order."""

    def __init__(self) -> None:
        self.tasks: list = []

    def run(self, fn, on_success=None, on_error=None):  # noqa: ANN001, ANN201
        self.tasks.append((fn, on_success, on_error))

    def finish(self, i: int) -> None:
        fn, ok, err = self.tasks[i]
        try:
            result = fn()
        except BaseException as exc:  # noqa: BLE001
            err(exc)
        else:
            ok(result)


def test_a_stale_page_is_dropped(qtbot, ui):
    workers = DeferredWorkers()
    model = LedgerTableModel(ui.workspace.ledger, workers)
    model.set_query(LedgerQuery(text="invoice"))     # tasks 0 (count) and 1 (page)
    model.set_query(LedgerQuery(text="zzqqxxj"))     # tasks 2 and 3
    assert model.loading
    workers.finish(3)
    workers.finish(2)
    assert model.rowCount() == 0 and model.total == 0 and model.exhausted
    workers.finish(1)  # the old page arrives late: dropped
    workers.finish(0)
    assert model.rowCount() == 0 and model.total == 0


def test_copy_selected_rows_as_tab_separated_text(panel):
    panel.table.selectRow(0)
    panel.table.selectionModel().select(panel.model.index(2, 0), panel.table.selectionModel().SelectionFlag.Select
                                        | panel.table.selectionModel().SelectionFlag.Rows)
    text = panel.copy_selected()
    lines = text.rstrip("\n").split("\n")
    assert lines[0].split("\t")[0] == "Booking date"
    assert len(lines) == 3
    r = panel.model.row(2)
    cells = lines[2].split("\t")
    assert len(cells) == len(COLUMNS)
    assert cells[COLUMN_KEYS.index("reference")] == r.reference
    assert Decimal(cells[AMOUNT]) == r.amount.amount
    assert QGuiApplication.clipboard().text() == text


def test_export_writes_every_filtered_row_with_formulas_neutralised(panel, ui, tmp_path):
    panel.filter_bar.search.setText("elbtal")
    panel.filter_bar.flush()
    done = []
    panel.export_to(tmp_path / "out.csv", done.append)
    n = ui.workspace.ledger.count(panel.model.query)
    assert done == [n]
    with open(tmp_path / "out.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0] == "Booking date" and len(rows) == n + 1
    assert csv_safe("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert csv_safe("+1+2") == "'+1+2" and csv_safe("@SUM(A1)") == "'@SUM(A1)"
    assert csv_safe("-12.50") == "-12.50" and csv_safe("-cmd|' /C calc'!A0") == "'-cmd|' /C calc'!A0"
    assert csv_safe("ACME") == "ACME"


def test_viewer_sees_no_export(qtbot, demo_ws):
    login(demo_ws, "viewer")
    p = LedgerPanel(make_ui(demo_ws))
    qtbot.addWidget(p)
    p.ensure_built()
    assert not p.export_button.isVisibleTo(p)
    assert p.model.rowCount() == 500
