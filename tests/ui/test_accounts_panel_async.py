"""The Accounts panel with a real worker pool (issue 13): the load runs off the GUI thread and is
applied over several event-loop turns (table, then KPI cards, then the chart), and the pyqtgraph
chart is created after ``build`` — the panel must still end up showing the right figures."""

from __future__ import annotations

import numpy as np
import pytest

from cio_desktop.ui.context import UiContext
from cio_desktop.ui.event_bridge import EventBridge
from cio_desktop.ui.models.accounts_model import ACCOUNT_ROLE
from cio_desktop.ui.panels.accounts import AccountsPanel
from cio_desktop.ui.widgets.balance_chart import BalanceChart, ChartPlaceholder, date_to_x
from cio_desktop.ui.workers import WorkerPool
from tests.conftest import login


@pytest.fixture
def ui(demo_ws):  # noqa: ANN001, ANN201
    login(demo_ws, "treasurer")
    errors: list[BaseException] = []
    ctx = UiContext(workspace=demo_ws, settings=demo_ws.ctx.settings, workers=WorkerPool(errors.append),
                    bridge=EventBridge(demo_ws.ctx.bus), show_error=errors.append)
    ctx.extra["errors"] = errors
    yield ctx
    ctx.workers.wait()
    ctx.bridge.close()


def shown(panel: AccountsPanel) -> bool:
    return panel._loaded and panel._chart is not None and bool(panel._chart.series)


def open_async(qtbot, ui) -> AccountsPanel:  # noqa: ANN001
    panel = AccountsPanel(ui)
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.show()
    panel.ensure_built()
    return panel


def test_figures_table_and_chart_arrive_from_the_worker(qtbot, ui, demo_ws):
    panel = open_async(qtbot, ui)
    assert panel._chart is None  # the chart is built on a later turn, not inside build()
    assert panel.total_card.value == "…"  # nothing was read on the GUI thread
    qtbot.waitUntil(lambda: shown(panel), timeout=20_000)
    totals, grand = demo_ws.accounts.consolidated()
    accounts = demo_ws.accounts.list_accounts()
    assert panel.proxy.rowCount() == len(accounts)
    assert panel.total_card.value == grand.format()
    assert {c: card.value for c, card in panel.currency_cards.items()} == {
        t.currency: t.balance.format() for t in totals}
    assert panel.kpi_strip.cards == [panel.total_card, *panel.currency_cards.values(), panel.below_card]
    selected = panel.selected_account()
    assert selected is not None and selected.id == panel.proxy.index(0, 0).data(ACCOUNT_ROLE).id
    history = demo_ws.accounts.balance_history(selected.id)
    (x, y), = panel.chart.data()
    assert np.array_equal(x, np.array([date_to_x(d) for d, _ in history]))
    assert np.allclose(y, np.array([float(m.amount) for _, m in history]))
    assert not ui.extra["errors"]


def test_a_reload_reuses_the_cards_and_keeps_the_selection(qtbot, ui):
    panel = open_async(qtbot, ui)
    qtbot.waitUntil(lambda: shown(panel), timeout=20_000)
    panel.table.selectRow(2)
    chosen = panel.selected_account().id
    qtbot.waitUntil(lambda: bool(panel.chart.series)
                    and panel.selected_account().name in panel.chart.title_label.text(), timeout=20_000)
    cards = dict(panel.currency_cards)
    charts = panel._chart_generation
    panel.refresh()
    panel.refresh()  # a second reload at once: the first one's steps are dropped
    # the last step of a reload selects the account again, which reloads its chart
    qtbot.waitUntil(lambda: panel._chart_generation > charts and panel._selected_id == chosen, timeout=20_000)
    ui.workers.wait()
    qtbot.wait(50)
    assert panel._chart_generation == charts + 1  # one reload applied, the other dropped
    assert panel.currency_cards == cards  # the same card widgets, updated in place
    assert len(panel.kpi_strip.cards) == len(cards) + 2
    assert panel.selected_account().id == chosen
    assert not ui.extra["errors"]


def test_the_placeholder_sizes_like_the_chart(qtbot):
    """The panel lays out around the placeholder first: it must ask for what the chart asks."""
    chart, placeholder = BalanceChart(), ChartPlaceholder(BalanceChart.MINIMUM_HEIGHT)
    qtbot.addWidget(chart)
    qtbot.addWidget(placeholder)
    assert placeholder.sizeHint() == chart.sizeHint()
    assert placeholder.minimumSizeHint() == chart.minimumSizeHint()
