"""The lazy ledger model after the GUI-thread work was cut down (issue 13): every page still
arrives in order, ``multiData`` (what the view paints with) answers exactly what ``data`` does,
display strings cached on first paint follow later account names, and re-sorting keeps the row
count instead of counting a million lines again."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex, QModelRoleData, QModelRoleDataSpan, Qt

from cio_desktop.services.ledger import LedgerQuery, iter_rows
from cio_desktop.ui.models.ledger_model import COLUMN_KEYS, ROW_ROLE, LedgerTableModel
from cio_desktop.ui.workers import WorkerPool
from tests.conftest import login

ROLES = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.ForegroundRole,
         Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.FontRole, ROW_ROLE)


class CountingWorkers(WorkerPool):
    """Runs at once, and records what it ran (to see which queries a change sends)."""

    def __init__(self) -> None:
        super().__init__(lambda exc: (_ for _ in ()).throw(exc), immediate=True)
        self.calls = 0

    def run(self, fn, on_success=None, on_error=None):  # noqa: ANN001, ANN201
        self.calls += 1
        return super().run(fn, on_success, on_error)


@pytest.fixture
def ledger(demo_ws):  # noqa: ANN001, ANN201
    login(demo_ws, "treasurer")
    return demo_ws.ledger


def multi(model: LedgerTableModel, index: QModelIndex, role: int) -> object:
    """What the view reads through ``multiData`` for one role (None when left unset)."""
    role_data = QModelRoleData(int(role))
    model.multiData(index, QModelRoleDataSpan(role_data))
    return role_data.data()


def test_small_pages_fetch_every_row_in_order(qtbot, ledger):
    query = LedgerQuery(text="invoice", sort="amount", descending=False)
    want = [r.id for r in iter_rows(ledger.page, query)]
    assert len(want) > 120  # several pages of 50
    model = LedgerTableModel(ledger, WorkerPool(lambda exc: None, immediate=True), page_size=50)
    model.set_query(query)
    pages = 1
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
        pages += 1
    assert model.exhausted and not model.loading
    assert [r.id for r in model.rows()] == want
    assert model.rowCount() == model.total == len(want)
    assert pages == len(want) // 50 + 1


def test_pages_arriving_from_real_threads_are_all_appended(qtbot, ledger):
    errors: list[BaseException] = []
    workers = WorkerPool(errors.append)
    model = LedgerTableModel(ledger, workers, page_size=100)
    model.set_query(LedgerQuery())
    qtbot.waitUntil(lambda: not model.loading and model.total is not None, timeout=10_000)
    for _ in range(4):
        model.fetchMore(QModelIndex())
        qtbot.waitUntil(lambda: not model.loading, timeout=10_000)
    workers.wait()
    assert not errors
    assert [r.id for r in model.rows()] == [r.id for r in ledger.page(LedgerQuery(), 0, 500)]


def test_multidata_answers_what_data_answers(qtbot, ledger):
    model = LedgerTableModel(ledger, WorkerPool(lambda exc: None, immediate=True))
    model.set_account_names(ledger.account_names())
    model.set_query(LedgerQuery())
    rows = model.rows()
    negative = next(i for i, r in enumerate(rows) if r.amount.amount < 0)
    positive = next(i for i, r in enumerate(rows) if r.amount.amount > 0)
    for i in (0, negative, positive, len(rows) - 1):
        for col in range(len(COLUMN_KEYS)):
            index = model.index(i, col)
            for role in ROLES:
                assert multi(model, index, role) == index.data(role), (i, COLUMN_KEYS[col], role)
            assert index.data() == model.text(rows[i], COLUMN_KEYS[col])
    amount = COLUMN_KEYS.index("amount")
    assert multi(model, model.index(negative, amount), Qt.ItemDataRole.ForegroundRole) is not None
    assert multi(model, model.index(positive, amount), Qt.ItemDataRole.ForegroundRole) is None
    assert multi(model, model.index(0, 0), ROW_ROLE) == rows[0]


def test_a_reused_span_never_carries_a_value_into_the_next_cell(qtbot, ledger):
    """The view's delegate passes the same span for every cell it paints: each role must be set
    or cleared, or a positive amount would keep the previous negative one's red."""
    model = LedgerTableModel(ledger, WorkerPool(lambda exc: None, immediate=True))
    model.set_query(LedgerQuery())
    rows = model.rows()
    negative = next(i for i, r in enumerate(rows) if r.amount.amount < 0)
    positive = next(i for i, r in enumerate(rows) if r.amount.amount > 0)
    amount, description = COLUMN_KEYS.index("amount"), COLUMN_KEYS.index("description")
    role_data = QModelRoleData(int(Qt.ItemDataRole.ForegroundRole))
    span = QModelRoleDataSpan(role_data)
    model.multiData(model.index(negative, amount), span)
    assert role_data.data() is not None
    for index in (model.index(positive, amount), model.index(negative, description)):
        model.multiData(index, span)
        assert role_data.data() is None


def test_cached_display_strings_follow_new_account_names(qtbot, ledger):
    model = LedgerTableModel(ledger, WorkerPool(lambda exc: None, immediate=True))
    model.set_query(LedgerQuery())
    account = COLUMN_KEYS.index("account")
    first = model.row(0)
    assert model.index(0, account).data() == f"#{first.account_id}"  # formatted (and cached) before names came
    assert model.index(0, 0).data()  # the row's other strings are cached now
    model.set_account_names({first.account_id: "Renamed (EUR)"})
    assert model.index(0, account).data() == "Renamed (EUR)"
    assert multi(model, model.index(0, account), Qt.ItemDataRole.DisplayRole) == "Renamed (EUR)"


def test_a_new_sort_keeps_the_count_and_a_new_filter_recounts(qtbot, ledger):
    workers = CountingWorkers()
    model = LedgerTableModel(ledger, workers)
    counts: list[object] = []
    model.countChanged.connect(counts.append)
    model.set_query(LedgerQuery(text="invoice"))
    total = ledger.count(LedgerQuery(text="invoice"))
    assert model.total == total and workers.calls == 2  # count + first page
    model.sort(COLUMN_KEYS.index("amount"), Qt.SortOrder.AscendingOrder)
    assert workers.calls == 3  # the first page in the new order only
    assert model.total == total and counts[-1] == total
    assert [r.id for r in model.rows()] == [r.id for r in ledger.page(model.query, 0, model.page_size)]
    model.set_query(model.query.with_(text="zzqqxxj"))
    assert workers.calls == 5 and model.total == 0
    model.reload()  # the data changed underneath: counted again even with the same query
    assert workers.calls == 7


def test_the_ledger_panel_paints_its_rows(qtbot, demo_ws):
    """The view paints through multiData: a grab renders without errors and shows rows."""
    from cio_desktop.ui.panels.ledger import LedgerPanel
    from tests.ui.shell_helpers import open_panel

    login(demo_ws, "treasurer")
    panel = open_panel(qtbot, demo_ws, LedgerPanel)
    image = panel.table.viewport().grab().toImage()
    assert not image.isNull()
    top = panel.table.rowAt(0)
    assert top == 0 and panel.table.indexAt(panel.table.viewport().rect().topLeft()).data()
    assert not panel.app.extra["errors"]
