"""Accounts panel: KPI cards, the accounts table, consolidated balances per currency and a
balance-history chart for the selected account (or all accounts of its currency).

Everything is read through ``ui_ctx.workers`` (never on the GUI thread); the panel refreshes
only on its ``TOPICS``, coalescing bursts of events into one reload, and only while visible
(a hidden panel remembers it is stale and reloads when shown).

The GUI thread must never stall for more than ~50 ms, also at a million ledger lines, so the
work it does is cut into event-loop turns (``workers.soon``): the pyqtgraph chart (the costliest
widget to construct) is created on a turn after the panel's first paint; a loaded result is
applied as table and totals, then KPI cards, then the chart's account selection, one turn each.
The worker hands back ready-to-draw series (x in chart seconds, y as floats), so the GUI thread
only draws them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QPoint, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QFont, QFontMetrics, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QGridLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLayout, QLineEdit, QMenu, QPushButton,
                               QSizePolicy, QSplitter, QTableView, QVBoxLayout, QWidget)

from cio_desktop.domain.money import Money
from cio_desktop.security.permissions import Permission
from cio_desktop.services.accounts import AccountView, CurrencyTotal
from cio_desktop.ui.models.accounts_model import (ACCOUNT_COLUMNS, ACCOUNT_ROLE, AccountsFilterProxy, AccountsTableModel,
                                                  ConsolidatedTableModel, below_minimum)
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.widgets.balance_chart import BalanceChart, ChartPlaceholder, Series, date_to_x
from cio_desktop.ui.widgets.kpi_card import KpiCard

log = logging.getLogger(__name__)

REFRESH_DELAY_MS = 150  # events arriving within this window cause one reload
REVEAL_SECONDS = 30  # a revealed number is masked again after this long


class KpiStrip(QWidget):
    """The KPI cards, never cut off: in one row when the figures fit (the figures' type steps down
    from 17 to 13 pt to make them fit), otherwise in a grid that reflows with the panel's width;
    each row is as tall as its wrapped detail text."""

    SPACING = 12
    VALUE_SIZES = (17, 16, 15, 14, 13)  # pt; KpiCard draws its figure at 17 pt

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(self.SPACING)
        # the strip decides its own size (reflowing), so a narrow window can still shrink
        self.grid.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.cards: list[KpiCard] = []
        self.columns = 0
        self.value_size = self.VALUE_SIZES[0]
        self._min_width = 170
        self._height = 0

    def set_cards(self, cards: list[KpiCard]) -> None:
        for card in self.cards:
            self.grid.removeWidget(card)
        self.cards = list(cards)
        for card in self.cards:
            if card.parent() is not self:
                card.setParent(self)
            if not card.property("kpiStripStretch"):  # rows share a height: text stays at the top
                card.layout().addStretch(1)
                card.setProperty("kpiStripStretch", True)
            card.show()
        self.columns = 0
        self.reflow()

    @staticmethod
    def needed_width(card: KpiCard, size: int) -> int:
        """The width at which the card's caption and figure (at ``size`` pt) show in full."""
        card.ensurePolished()
        card.caption_label.ensurePolished()
        font = QFont(card.value_label.font())
        font.setPointSize(size)
        font.setWeight(QFont.Weight.DemiBold)
        figure = QFontMetrics(font).horizontalAdvance(card.value_label.text()) + 6
        margins = card.layout().contentsMargins()
        text = max(figure, card.caption_label.sizeHint().width())
        return max(card.minimumWidth(), text + margins.left() + margins.right() + 12)  # + border, state bar

    @staticmethod
    def _apply_value_size(card: KpiCard, size: int) -> None:
        sheet = card.value_label.styleSheet()
        sized = re.sub(r"font-size:\s*\d+pt", f"font-size: {size}pt", sheet)
        if sized != sheet:
            card.value_label.setStyleSheet(sized)

    def reflow(self) -> None:
        if not self.cards:
            return
        n = len(self.cards)
        width = self.contentsRect().width()
        gaps = self.SPACING * (n - 1)
        if width <= 0 or not self.isVisible():  # not laid out yet: never grow the window for it
            width = sum(self.needed_width(c, self.VALUE_SIZES[0]) for c in self.cards) + gaps
        # the fewest rows, then the largest figures: one row if the figures fit at some size
        best: tuple[int, int, int, list[int]] | None = None   # rows, -size, columns, widths
        for candidate in self.VALUE_SIZES:
            needs = [self.needed_width(c, candidate) for c in self.cards]
            if sum(needs) + gaps <= width:
                best = (1, -candidate, n, needs)
                break
            widest = max(needs)
            cols = max(1, min(n, (width + self.SPACING) // (widest + self.SPACING)))
            rows = -(-n // cols)
            option = (rows, -candidate, -(-n // rows), [widest] * n)  # balanced: 5 cards are 3 + 2
            if best is None or option[:2] < best[:2]:
                best = option
        assert best is not None
        _rows, neg_size, columns, widths = best
        size = -neg_size
        self.value_size = size
        for card in self.cards:
            self._apply_value_size(card, size)
        if columns != self.columns:
            for card in self.cards:
                self.grid.removeWidget(card)
            for i, card in enumerate(self.cards):
                self.grid.addWidget(card, i // columns, i % columns)
            self.columns = columns
        for c in range(max(columns, self.grid.columnCount())):
            self.grid.setColumnStretch(c, widths[c] if c < columns else 0)
            self.grid.setColumnMinimumWidth(c, 0)
        rows = -(-n // columns)
        weights = widths[:columns]
        spare = max(width - sum(weights) - self.SPACING * (columns - 1), 0)
        column_widths = [w + spare * w // sum(weights) for w in weights]
        total = 0
        for r in range(rows):
            row = self.cards[r * columns:(r + 1) * columns]
            height = 0
            for i, card in enumerate(row):
                h = card.heightForWidth(column_widths[i]) if card.hasHeightForWidth() else -1
                height = max(height, h, card.layout().sizeHint().height())
            for card in row:
                card.setFixedHeight(height)
            total += height
        total += self.SPACING * (rows - 1)
        self._min_width = max(widths)
        if total != self._height:
            self._height = total
            self.setFixedHeight(total)
        self.updateGeometry()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(self._min_width, self._height)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(self._min_width * max(self.columns, 1), self._height)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        super().resizeEvent(event)
        self.reflow()

    def showEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        super().showEvent(event)
        self.reflow()


class AccountsPanel(Panel):
    NAME = "accounts"
    TITLE = "Accounts"
    PERMISSION = Permission.ACCOUNTS_READ
    SHORTCUT = "Ctrl+1"
    TOPICS = ("accounts.changed", "ledger.changed", "sync.completed")

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self._generation = 0
        self._chart_generation = 0
        self._dirty = True
        self._loaded = False
        self._selected_id: int | None = None
        self.accounts: list[AccountView] = []
        self.totals: list[CurrencyTotal] = []
        self.grand_total: Money | None = None
        self.reveal_run: Any = None  # the last run_sensitive handle (tests inspect it)
        self._chart_state: tuple[list[Series], str, float | None] | None = None  # redrawn on theme change

    # -- construction ---------------------------------------------------------------------------
    def build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(12)

        self.reveal_button = QPushButton("Reveal number")
        self.reveal_button.setObjectName("revealNumber")
        self.reveal_button.setToolTip("Show the full number of the selected account (needs a two-factor check)")
        self.reveal_button.clicked.connect(self.reveal_selected)
        head, self.status_label = self.header_row(self.refresh, trailing=[self.reveal_button])
        root.addLayout(head)

        # KPI cards: total in base currency, one per currency, accounts below minimum
        base = self.app.settings.base_currency
        self.total_card = KpiCard(f"Total in {base}", "…", "all accounts at the latest FX rates")
        self.below_card = KpiCard("Below minimum", "…", "accounts under their minimum balance")
        self.currency_cards: dict[str, KpiCard] = {}
        self.kpi_strip = KpiStrip()
        self.kpi_strip.setObjectName("kpiStrip")
        self.kpi_strip.set_cards([self.total_card, self.below_card])
        root.addWidget(self.kpi_strip)

        # accounts table with a filter
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("accountsFilter")
        self.filter_edit.setPlaceholderText("Filter accounts by bank, name, number, currency…")
        self.filter_edit.setClearButtonEnabled(True)
        self.model = AccountsTableModel(self)
        self.proxy = AccountsFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setObjectName("accountsTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(28)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for i, col in enumerate(ACCOUNT_COLUMNS):
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        # The account name must stay readable; the bank's full name may elide (tooltip has it).
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 170)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        copy = QAction("Copy", self.table)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_selected)
        self.table.addAction(copy)

        table_box = QWidget()
        self.table_box = table_box
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.setSpacing(6)
        table_layout.addWidget(self.filter_edit)
        table_layout.addWidget(self.table, 1)

        # consolidated per currency
        self.consolidated_model = ConsolidatedTableModel(self)
        self.consolidated = QTableView()
        self.consolidated.setObjectName("consolidatedTable")
        self.consolidated.setModel(self.consolidated_model)
        self.consolidated.verticalHeader().hide()
        self.consolidated.verticalHeader().setDefaultSectionSize(28)
        self.consolidated.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.consolidated.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        ch = self.consolidated.horizontalHeader()
        ch.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        ch.setStretchLastSection(False)
        self.consolidated.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.consolidated.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        cons_box = QGroupBox("Consolidated by currency")
        self.cons_box = cons_box
        cons_layout = QVBoxLayout(cons_box)
        cons_layout.addWidget(self.consolidated)
        self.rates_note = QLabel("")
        self.rates_note.setProperty("hint", True)
        self.rates_note.setWordWrap(True)
        cons_layout.addWidget(self.rates_note)
        cons_layout.addStretch(1)

        # balance chart
        chart_box = QGroupBox("Balance history")
        chart_layout = QVBoxLayout(chart_box)
        options = QHBoxLayout()
        self.all_currency_check = QCheckBox("All accounts in this currency")
        self.all_currency_check.setObjectName("chartAllCurrency")
        self.all_currency_check.toggled.connect(lambda _c: self.load_chart())
        options.addStretch(1)
        options.addWidget(self.all_currency_check)
        self._chart: BalanceChart | None = None  # made after the first paint (see ``paintEvent``)
        self._chart_scheduled = False
        self.chart_layout = chart_layout
        chart_layout.addLayout(options)
        self._chart_placeholder = ChartPlaceholder(BalanceChart.MINIMUM_HEIGHT)  # same size hints
        chart_layout.addWidget(self._chart_placeholder, 1)

        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(cons_box)
        lower.addWidget(chart_box)
        lower.setStretchFactor(0, 0)
        lower.setStretchFactor(1, 1)
        lower.setChildrenCollapsible(False)
        lower.setSizes([580, 820])
        self.lower_split = lower
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(table_box)
        split.addWidget(lower)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        self.split = split
        root.addWidget(split, 1)

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self._update_actions()
        theme = self.app.extra.get("theme")
        if theme is not None and hasattr(theme, "changed"):
            theme.changed.connect(self._theme_changed)
        self.refresh()

    def paintEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        """After the first paint of the built panel, create the chart on a turn of its own (while
        the worker still reads): created in ``build`` it would lengthen the turn that also shows
        the panel for the first time."""
        super().paintEvent(event)
        if self._built and self._chart is None and not self._chart_scheduled:
            self._chart_scheduled = True
            QTimer.singleShot(1, self, lambda: self.chart)

    @property
    def chart(self) -> BalanceChart:
        """The balance chart, created on first use (or after the first paint): building a
        pyqtgraph plot takes ~20 ms, too much to add to ``build``'s turn."""
        if self._chart is None:
            chart = BalanceChart()
            self.chart_layout.replaceWidget(self._chart_placeholder, chart)
            self._chart_placeholder.deleteLater()
            self._chart = chart
        return self._chart

    def _theme_changed(self, _name: str = "") -> None:
        """Light/dark switched: the chart's background, axes, legend and lines follow; the KPI
        cards are measured again (the style sheet sets their fonts)."""
        if self._chart is not None:  # a chart made later starts in the current theme
            self._chart.apply_theme()
        if self._chart_state is not None:
            series, title, minimum = self._chart_state
            self._draw_chart(series, title, minimum)
        self.kpi_strip.columns = 0
        self.kpi_strip.reflow()

    def _draw_chart(self, series: list[Series], title: str, minimum: float | None = None) -> None:
        """Draw with a fresh legend: pyqtgraph's ``addLegend`` hands back the legend it made first
        (in the colours of the theme of that moment, and detached from the plot once
        ``BalanceChart.clear`` removed it), so the old one is dropped before each drawing."""
        item = self.chart.plot.getPlotItem()
        legend = getattr(item, "legend", None)
        if legend is not None:
            if legend.scene() is not None:
                legend.scene().removeItem(legend)
            item.legend = None
            self.chart._legend = None
        self.chart.set_series(series, title=title, minimum=minimum)

    # -- loading ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload accounts and totals off the GUI thread."""
        self._dirty = False
        self._generation += 1
        generation = self._generation
        service = self.app.workspace.accounts
        self.status_label.setText("loading…")

        def load() -> tuple[list[AccountView], list[CurrencyTotal], Money | None]:
            accounts = service.list_accounts()
            totals, grand = service.consolidated(accounts)
            return accounts, totals, grand

        self.app.workers.run(load, lambda result: self._loaded_data(generation, result),
                             lambda exc: self._load_failed(generation, exc))

    def _load_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            self.status_label.setText("could not load the accounts")
            self.app.show_error(exc)

    def _loaded_data(self, generation: int, result: tuple) -> None:
        """Apply a load in three event-loop turns — table and totals; KPI cards; the chart's
        account selection — each later one dropped if a newer load started meanwhile. Each turn
        is followed by its own relayout and repaint (~20 ms of CPU for this panel), so together
        in one turn they would stall the GUI thread past 50 ms."""
        if generation != self._generation:
            return
        accounts, totals, grand = result
        self.accounts, self.totals, self.grand_total = accounts, totals, grand
        keep = self._selected_id
        self.model.set_accounts(accounts)
        counts: dict[str, int] = {}
        for a in accounts:
            counts[a.currency] = counts.get(a.currency, 0) + 1
        base = self.app.settings.base_currency
        self.consolidated_model.set_totals(totals, grand, base, counts)
        missing = [t.currency for t in totals if t.rate is None]
        self.rates_note.setText(
            f"No FX rate for {', '.join(missing)}: those balances are not converted and no total is shown."
            if missing else f"Converted to {base} at the latest stored rate of each currency.")
        self.status_label.setText(f"{len(accounts)} account{'s' if len(accounts) != 1 else ''}")
        self._fit_tables()

        def cards() -> None:
            if generation == self._generation:
                self._update_kpis(accounts, totals, grand, base)
                self.app.workers.soon(select, self)

        def select() -> None:
            if generation != self._generation:
                return
            # keep the selection (the chart follows it), else select the first account
            target = keep if keep is not None and self.model.row_of(keep) >= 0 else None
            if target is None and self.proxy.rowCount() > 0:
                target = self.proxy.index(0, 0).data(ACCOUNT_ROLE).id
            self._selected_id = None
            if target is not None:
                self.select_account(target)
            else:
                self._chart_state = None
                self.chart.set_series([], title="")
            self._update_actions()

        self._loaded = True
        self.app.workers.soon(cards, self)

    def _fit_tables(self) -> None:
        """Show every account (up to 12 rows) without scrolling; the chart takes the rest."""
        row_h = self.table.verticalHeader().defaultSectionSize()
        header_h = self.table.horizontalHeader().sizeHint().height()
        shown = min(max(self.model.rowCount(), 3), 12)
        table_h = header_h + shown * row_h + 2 * self.table.frameWidth() + 4
        self.table.setMinimumHeight(header_h + 3 * row_h)
        top = table_h + self.filter_edit.sizeHint().height() + 6
        self.table_box.setMinimumHeight(top)
        c_rows = self.consolidated_model.rowCount()
        c_header = self.consolidated.horizontalHeader().sizeHint().height()
        self.consolidated.setFixedHeight(c_header + max(c_rows, 1) * row_h + 2 * self.consolidated.frameWidth() + 2)
        self.consolidated.resizeColumnsToContents()
        width = self.consolidated.horizontalHeader().length() + 2 * self.consolidated.frameWidth() + 4
        self.consolidated.setMinimumWidth(width)
        self.cons_box.setMaximumWidth(width + 48)  # the chart takes the rest of the row

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        super().resizeEvent(event)
        if self._loaded:
            self._fit_tables()

    def _update_kpis(self, accounts: list[AccountView], totals: list[CurrencyTotal],
                     grand: Money | None, base: str) -> None:
        if grand is not None:
            self.total_card.set_values(grand.format(), f"{len(accounts)} accounts at the latest FX rates",
                                       "normal")
        else:
            missing = ", ".join(t.currency for t in totals if t.rate is None)
            self.total_card.set_values("no rate", f"no {missing}/{base} FX rate stored: total not shown",
                                       "warning")
        old = dict(self.currency_cards)  # a reload reuses the cards of the same currencies
        self.currency_cards = {}
        for t in totals:
            n = sum(1 for a in accounts if a.currency == t.currency)
            detail = f"{n} account{'s' if n != 1 else ''}"
            if t.in_base is not None and t.currency != base:
                detail += f" · {t.in_base.format()}"
            elif t.rate is None:
                detail += f" · no {base} rate"
            card = old.pop(t.currency, None)
            if card is None:
                card = KpiCard(f"{t.currency} balance", t.balance.format(), detail)
            else:
                card.set_values(t.balance.format(), detail)
            card.set_state("danger" if t.balance.amount < 0 else "normal")
            self.currency_cards[t.currency] = card
        below = [a for a in accounts if below_minimum(a)]
        if below:
            names = ", ".join(a.name for a in below[:3]) + ("…" if len(below) > 3 else "")
            self.below_card.set_values(str(len(below)), names, "danger")
        else:
            self.below_card.set_values("0", "every account is above its minimum", "ok")
        self.kpi_strip.set_cards([self.total_card, *self.currency_cards.values(), self.below_card])
        for card in old.values():
            card.hide()
            card.deleteLater()

    # -- selection and chart ------------------------------------------------------------------------
    def selected_account(self) -> AccountView | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        return rows[0].data(ACCOUNT_ROLE)

    def select_account(self, account_id: int) -> bool:
        row = self.model.row_of(account_id)
        if row < 0:
            return False
        proxy_index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not proxy_index.isValid():
            return False
        self.table.selectionModel().setCurrentIndex(
            proxy_index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(proxy_index)
        if self._selected_id != account_id:  # selection signal did not fire (same row)
            self._selection_changed()
        return True

    def _selection_changed(self) -> None:
        account = self.selected_account()
        new_id = account.id if account else None
        if new_id == self._selected_id and new_id is not None and self.chart.series:
            return
        self._selected_id = new_id
        self._update_actions()
        if account is not None:
            self.all_currency_check.setText(f"All {account.currency} accounts")
        self.load_chart()

    def load_chart(self) -> None:
        account = self.selected_account()
        self._chart_generation += 1
        generation = self._chart_generation
        if account is None:
            self._chart_state = None
            self.chart.set_series([], title="Select an account")
            return
        if self.all_currency_check.isChecked():
            chosen = [a for a in self.model.accounts() if a.currency == account.currency]
            title = f"All {account.currency} accounts"
        else:
            chosen = [account]
            title = f"{account.institution} · {account.name} ({account.currency})"
        service = self.app.workspace.accounts

        def load() -> list[Series]:
            """Query and convert in the worker: the GUI thread only draws."""
            series = []
            for a in chosen:
                history = service.balance_history(a.id)
                series.append(Series(a.name, [d for d, _m in history], [float(m.amount) for _d, m in history],
                                     a.currency, x=[date_to_x(d) for d, _m in history]))
            return series

        def done(series: list[Series]) -> None:
            if generation != self._chart_generation:
                return
            minimum = float(chosen[0].min_balance.amount) if len(chosen) == 1 and \
                not chosen[0].min_balance.is_zero() else None
            self._chart_state = (series, title, minimum)
            self._draw_chart(series, title, minimum)

        def failed(exc: BaseException) -> None:
            if generation == self._chart_generation:
                self._chart_state = None
                self.chart.set_series([], title="could not load the balance history")
                self.app.show_error(exc)

        self.app.workers.run(load, done, failed)

    # -- reveal, copy, context menu --------------------------------------------------------------------
    def _update_actions(self) -> None:
        session = self.app.workspace.ctx.session
        allowed = session is not None and session.can(Permission.ACCOUNT_NUMBER_REVEAL)
        self.reveal_button.setVisible(allowed)
        self.reveal_button.setEnabled(allowed and self.selected_account() is not None)

    def reveal_selected(self) -> None:
        """Reveal the selected account's full number: MFA-gated (a fresh two-factor code)."""
        account = self.selected_account()
        if account is None:
            return
        service = self.app.workspace.accounts
        account_id = account.id

        def fn() -> str:
            return service.reveal_number(account_id)

        def shown(number: str) -> None:
            self.model.reveal(account_id, number)
            self.app.status(f"number of {account.name} shown for {REVEAL_SECONDS} s")
            QTimer.singleShot(REVEAL_SECONDS * 1000, lambda: self._hide_number(account_id))

        try:
            from cio_desktop.ui.dialogs.mfa import run_sensitive
        except ImportError:  # the MFA prompt is not available: report the refusal in plain words
            self.reveal_run = None
            self.app.workers.run(fn, shown, self.app.show_error)
            return
        self.reveal_run = run_sensitive(self.app, self, fn, on_success=shown)

    def _hide_number(self, account_id: int) -> None:
        try:
            self.model.hide_number(account_id)
        except RuntimeError:  # the panel was closed meanwhile
            pass

    def copy_selected(self) -> None:
        account = self.selected_account()
        if account is None:
            return
        cells = [self.model.index(self.model.row_of(account.id), c).data() for c in range(len(ACCOUNT_COLUMNS))]
        QGuiApplication.clipboard().setText("\t".join(c.title for c in ACCOUNT_COLUMNS) + "\n" +
                                            "\t".join(str(c) for c in cells) + "\n")

    def _context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        menu = QMenu(self)
        reveal = menu.addAction("Reveal number…")
        reveal.setEnabled(self.reveal_button.isVisible())
        reveal.triggered.connect(self.reveal_selected)
        menu.addAction("Copy row", self.copy_selected)
        menu.addAction("Show all accounts in this currency",
                       lambda: self.all_currency_check.setChecked(True))
        menu.popup(self.table.viewport().mapToGlobal(pos))

    # -- Panel contract ---------------------------------------------------------------------------------
    def on_shown(self) -> None:
        if self._dirty and self._built:
            self.refresh()

    def on_changes(self, topic: str, data: dict) -> None:
        if topic not in self.TOPICS:
            return
        self._dirty = True
        if self._built and self.isVisible():
            self._refresh_timer.start()
