"""Accounts panel over the demo company (workers run at once, offscreen)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from PySide6.QtCore import Qt
from sqlalchemy import delete, or_

from cio_desktop.errors import MfaRequired
from cio_desktop.storage.models import FxRate
from cio_desktop.ui.context import UiContext
from cio_desktop.ui.event_bridge import EventBridge
from cio_desktop.ui.models.accounts_model import ACCOUNT_COLUMNS, ACCOUNT_ROLE
from cio_desktop.ui.panels.accounts import AccountsPanel
from cio_desktop.ui.widgets.balance_chart import date_to_x
from cio_desktop.ui.workers import WorkerPool
from tests.conftest import login

COL = {c.key: i for i, c in enumerate(ACCOUNT_COLUMNS)}


def make_ui(ws) -> UiContext:  # noqa: ANN001
    errors: list[BaseException] = []
    ui = UiContext(workspace=ws, settings=ws.ctx.settings, workers=WorkerPool(errors.append, immediate=True),
                   bridge=EventBridge(ws.ctx.bus), show_error=errors.append)
    ui.extra["errors"] = errors
    return ui


def open_panel(qtbot, ws) -> AccountsPanel:  # noqa: ANN001
    ui = make_ui(ws)
    panel = AccountsPanel(ui)
    qtbot.addWidget(panel)
    ui.bridge.event.connect(lambda topic, data: topic in panel.TOPICS and panel.on_changes(topic, data))
    panel.resize(1400, 900)
    panel.show()
    panel.ensure_built()
    panel.on_shown()
    return panel


@pytest.fixture
def panel(qtbot, demo_ws):  # noqa: ANN001, ANN201
    login(demo_ws, "treasurer")
    return open_panel(qtbot, demo_ws)


def table_rows(panel: AccountsPanel) -> list[dict]:
    out = []
    for r in range(panel.proxy.rowCount()):
        out.append({key: panel.proxy.index(r, i).data() for key, i in COL.items()} |
                   {"view": panel.proxy.index(r, 0).data(ACCOUNT_ROLE)})
    return out


def test_panel_contract():
    assert (AccountsPanel.NAME, AccountsPanel.TITLE, AccountsPanel.SHORTCUT) == ("accounts", "Accounts", "Ctrl+1")
    assert AccountsPanel.TOPICS == ("accounts.changed", "ledger.changed", "sync.completed")


def test_every_account_is_shown_with_its_balance(panel, demo_ws):
    accounts = demo_ws.accounts.list_accounts()
    rows = table_rows(panel)
    assert len(rows) == len(accounts) == 8
    by_id = {r["view"].id: r for r in rows}
    for a in accounts:
        row = by_id[a.id]
        assert row["balance"] == a.balance.format()
        assert row["minimum"] == a.min_balance.format()
        assert row["headroom"] == (a.balance - a.min_balance).format()
        assert row["number"] == a.number_masked
        assert (row["name"], row["institution"], row["currency"]) == (a.name, a.institution, a.currency)
    balance_index = panel.proxy.index(0, COL["balance"])
    assert balance_index.data(Qt.ItemDataRole.TextAlignmentRole) & int(Qt.AlignmentFlag.AlignRight)
    assert not panel.app.extra["errors"]


def test_consolidated_totals_and_kpis(panel, demo_ws):
    totals, grand = demo_ws.accounts.consolidated()
    model = panel.consolidated_model
    assert model.rowCount() == len(totals) + 1
    for r, t in enumerate(totals):
        assert model.index(r, 0).data() == t.currency
        assert model.index(r, 2).data() == t.balance.format()
        assert model.index(r, 4).data() == t.in_base.format()
        assert t.rate is not None
    assert model.index(len(totals), 4).data() == grand.format()
    assert panel.total_card.value == grand.format()
    assert set(panel.currency_cards) == {t.currency for t in totals}
    for t in totals:
        assert panel.currency_cards[t.currency].value == t.balance.format()
    below = [a for a in demo_ws.accounts.list_accounts() if a.balance < a.min_balance]
    assert panel.below_card.value == str(len(below))


def test_a_currency_without_rate_gives_no_total(qtbot, demo_ws):
    with demo_ws.db.unit_of_work() as uow:
        uow.execute(delete(FxRate).where(or_(FxRate.base == "USD", FxRate.quote == "USD")))
    login(demo_ws, "treasurer")
    panel = open_panel(qtbot, demo_ws)
    assert panel.grand_total is None
    assert panel.total_card.value == "no rate"
    usd_row = [t.currency for t in panel.consolidated_model.totals()].index("USD")
    assert panel.consolidated_model.index(usd_row, 4).data() == "no rate"
    assert panel.consolidated_model.index(panel.consolidated_model.rowCount() - 1, 4).data() == "no rate"
    assert "USD" in panel.rates_note.text()


def test_selecting_an_account_charts_its_history(panel, demo_ws):
    rows = table_rows(panel)
    for r in (0, 3, len(rows) - 1):
        view = panel.proxy.index(r, 0).data(ACCOUNT_ROLE)
        panel.table.selectRow(r)
        assert panel.selected_account().id == view.id
        history = demo_ws.accounts.balance_history(view.id)
        (x, y), = panel.chart.data()
        assert np.array_equal(x, np.array([date_to_x(d) for d, _ in history]))
        assert np.allclose(y, np.array([float(m.amount) for _, m in history]))
        assert view.name in panel.chart.title_label.text()


def test_all_accounts_of_a_currency(panel, demo_ws):
    eur = next(r for r in range(panel.proxy.rowCount())
               if panel.proxy.index(r, 0).data(ACCOUNT_ROLE).currency == "EUR")
    panel.table.selectRow(eur)
    panel.all_currency_check.setChecked(True)
    eur_accounts = [a for a in demo_ws.accounts.list_accounts() if a.currency == "EUR"]
    data = panel.chart.data()
    assert len(data) == len(eur_accounts) > 1
    assert {s.label for s in panel.chart.series} == {a.name for a in eur_accounts}
    panel.all_currency_check.setChecked(False)
    assert len(panel.chart.data()) == 1


def test_filter_and_sort_the_table(panel):
    panel.filter_edit.setText("GBP")
    rows = table_rows(panel)
    assert rows and all(r["currency"] == "GBP" or "GBP" in r["name"] for r in rows)
    panel.filter_edit.clear()
    panel.table.sortByColumn(COL["balance"], Qt.SortOrder.DescendingOrder)
    balances = [float(r["view"].balance.amount) for r in table_rows(panel)]
    assert balances == sorted(balances, reverse=True)


def test_reveal_without_fresh_mfa_is_refused(panel, demo_ws, monkeypatch):
    account = panel.selected_account()
    with pytest.raises(MfaRequired):
        demo_ws.accounts.reveal_number(account.id)
    # without the MFA prompt module the refusal reaches show_error in plain words
    monkeypatch.setitem(sys.modules, "cio_desktop.ui.dialogs.mfa", None)
    panel.reveal_selected()
    assert any(isinstance(e, MfaRequired) for e in panel.app.extra["errors"])
    assert panel.model.revealed(account.id) is None


def test_reveal_goes_through_run_sensitive(panel, monkeypatch):
    calls = []
    fake = types.ModuleType("cio_desktop.ui.dialogs.mfa")

    def run_sensitive(ui_ctx, parent, fn, on_success=None, on_error=None, on_cancel=None):  # noqa: ANN001, ANN202
        calls.append(fn)
        try:
            fn()
        except MfaRequired as exc:
            return exc

    fake.run_sensitive = run_sensitive
    monkeypatch.setitem(sys.modules, "cio_desktop.ui.dialogs.mfa", fake)
    panel.reveal_selected()
    assert len(calls) == 1 and isinstance(panel.reveal_run, MfaRequired)


def test_reveal_with_the_real_prompt_asks_for_a_code(panel):
    panel.reveal_selected()
    run = panel.reveal_run
    assert run is not None and run.dialog is not None and not run.done
    run.dialog.reject()


def test_reveal_with_fresh_mfa_shows_the_number(qtbot, demo_ws):
    login(demo_ws, "treasurer", mfa=True)
    panel = open_panel(qtbot, demo_ws)
    account = panel.selected_account()
    panel.reveal_selected()
    number = panel.model.revealed(account.id)
    assert number and number != account.number_masked
    assert number[-4:] == account.number_masked.replace(" ", "")[-4:]
    row = panel.model.row_of(account.id)
    assert panel.model.index(row, COL["number"]).data() == number
    panel._hide_number(account.id)
    assert panel.model.index(row, COL["number"]).data() == account.number_masked


def test_viewer_cannot_reveal(qtbot, demo_ws):
    login(demo_ws, "viewer")
    panel = open_panel(qtbot, demo_ws)
    assert not panel.reveal_button.isVisibleTo(panel)
    assert panel.proxy.rowCount() == 8


def test_accounts_changed_event_refreshes(panel, demo_ws, qtbot):
    loads = panel._generation
    demo_ws.accounts.create_account(name="New Deposit", institution="Test Bank", number="GB82WEST12345698765432",
                                    currency="GBP", min_balance="100", opening_balance="50")
    qtbot.waitUntil(lambda: panel.proxy.rowCount() == 9, timeout=3000)
    assert panel._generation == loads + 1
    new = next(r for r in table_rows(panel) if r["name"] == "New Deposit")
    assert new["balance"] == "50.00 GBP" and new["last_booking"] == "none"
    # below its minimum: highlighted and counted
    assert panel.below_card.value == str(sum(1 for r in table_rows(panel)
                                             if r["view"].balance < r["view"].min_balance))
    selected = panel.selected_account().id
    demo_ws.ctx.bus.publish("ledger.changed")
    qtbot.waitUntil(lambda: panel._generation == loads + 2, timeout=3000)
    assert panel.selected_account().id == selected  # the selection survives a reload


def test_hidden_panel_reloads_when_shown(panel, demo_ws, qtbot):
    loads = panel._generation
    panel.hide()
    demo_ws.ctx.bus.publish("sync.completed")
    qtbot.wait(250)
    assert panel._generation == loads
    panel.show()
    panel.on_shown()
    assert panel._generation == loads + 1
