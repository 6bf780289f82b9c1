"""Opportunities panel: a criteria editor (saved sets of criteria as data), the screen's results
with their portfolio context (holding, weight before/after, correlation, volatility and
concentration effect of the proposed purchase), and why each other asset missed."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QTabWidget, QVBoxLayout, QWidget)

from cio_desktop.domain.opportunities import Criteria
from cio_desktop.errors import ConcurrentUpdate, ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services.market import OpportunityScreen
from cio_desktop.ui.models.portfolio_models import Column, RowsModel, num, pct
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.panels.portfolio import make_table

RESULT_COLUMNS = [
    Column("identifier", "Identifier"), Column("name", "Name"), Column("asset_class", "Class"),
    Column("currency", "Ccy"), Column("momentum", "Momentum 3m", pct, numeric=True, signed=True),
    Column("volatility", "Volatility", pct, numeric=True), Column("pe", "P/E", num, numeric=True),
    Column("signal", "Signal", lambda v: num(v, 2), numeric=True, signed=True),
    Column("holding", "Held (base)", lambda v: num(v, 0), numeric=True),
    Column("weight", "Weight", pct, numeric=True), Column("weight_after", "Weight after", pct, numeric=True),
    Column("correlation", "Correlation", lambda v: num(v, 2), numeric=True, signed=True),
    Column("vol_change", "Portfolio vol. change", pct, numeric=True, signed=True),
    Column("hhi_after", "HHI after", lambda v: num(v, 3), numeric=True),
]
REJECT_COLUMNS = [Column("identifier", "Identifier"), Column("reasons", "Why it does not qualify")]
NO_LIMIT = "no limit"


def _spin(lo: float, hi: float, decimals: int, suffix: str, name: str) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setObjectName(name)
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSuffix(suffix)
    s.setSpecialValueText(NO_LIMIT)  # the minimum means "no limit"
    s.setValue(lo)
    return s


class OpportunitiesPanel(Panel):
    NAME = "opportunities"
    TITLE = "Opportunities"
    PERMISSION = Permission.MARKET_READ
    SHORTCUT = "Ctrl+Shift+O"
    TOPICS = ("market.updated", "market.criteria_changed", "portfolio.changed", "prices.changed")

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.result: OpportunityScreen | None = None
        self.saved: dict[str, Criteria] = {}

    def build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(10)
        head, self.status_label = self.header_row(None, wrap_status=True)
        root.addLayout(head)

        box = QGroupBox("Investment criteria")
        form_row = QHBoxLayout(box)
        left, mid, right = QFormLayout(), QFormLayout(), QFormLayout()
        self.criteria_combo = QComboBox()
        self.criteria_combo.setObjectName("criteriaName")
        self.criteria_combo.setEditable(True)
        self.criteria_combo.activated.connect(lambda _i: self._fill(self.saved.get(self.criteria_combo.currentText())))
        left.addRow("Name", self.criteria_combo)
        self.classes = QLineEdit()
        self.classes.setObjectName("criteriaClasses")
        self.classes.setPlaceholderText("any (e.g. equity, government_bond)")
        left.addRow("Asset classes", self.classes)
        self.currencies = QLineEdit()
        self.currencies.setObjectName("criteriaCurrencies")
        self.currencies.setPlaceholderText("any (e.g. EUR, USD)")
        left.addRow("Currencies", self.currencies)
        self.min_liquidity = _spin(0, 1e12, 0, " /day", "criteriaLiquidity")
        self.min_liquidity.setSingleStep(1e6)
        mid.addRow("Min. liquidity", self.min_liquidity)
        self.max_vol = _spin(0, 200, 1, " %", "criteriaVolatility")
        mid.addRow("Max. volatility", self.max_vol)
        self.min_mom = _spin(-101, 500, 1, " %", "criteriaMomentum")
        mid.addRow("Min. momentum (3 m)", self.min_mom)
        self.max_pe = _spin(0, 500, 1, "", "criteriaPe")
        right.addRow("Max. P/E", self.max_pe)
        self.min_dy = _spin(0, 50, 2, " %", "criteriaDividend")
        right.addRow("Min. dividend yield", self.min_dy)
        self.exclude = QLineEdit()
        self.exclude.setObjectName("criteriaExclude")
        self.exclude.setPlaceholderText("identifiers, sectors or countries")
        right.addRow("Exclude", self.exclude)
        for f in (left, mid, right):
            form_row.addLayout(f, 1)
        actions = QVBoxLayout()
        self.portfolio_combo = QComboBox()
        self.portfolio_combo.setObjectName("oppPortfolio")
        actions.addWidget(QLabel("Portfolio"))
        actions.addWidget(self.portfolio_combo)
        self.size = QDoubleSpinBox()
        self.size.setObjectName("oppSize")
        self.size.setRange(0, 1e12)
        self.size.setDecimals(0)
        self.size.setSingleStep(100_000)
        self.size.setSpecialValueText("2 % of the portfolio")
        actions.addWidget(QLabel("Proposed purchase"))
        actions.addWidget(self.size)
        self.screen_button = QPushButton("Screen")
        self.screen_button.setObjectName("oppScreen")
        self.screen_button.clicked.connect(self.screen)
        self.save_button = QPushButton("Save criteria")
        self.save_button.setObjectName("oppSave")
        self.save_button.clicked.connect(self.save)
        actions.addWidget(self.screen_button)
        actions.addWidget(self.save_button)
        actions.addStretch(1)
        form_row.addLayout(actions)
        root.addWidget(box)

        tabs = QTabWidget()
        self.result_model = RowsModel(RESULT_COLUMNS, self)
        self.result_table, self.result_proxy = make_table("opportunityTable", self.result_model)
        self.result_filter = QLineEdit()
        self.result_filter.setPlaceholderText("Filter…")
        self.result_filter.textChanged.connect(self.result_proxy.setFilterFixedString)
        page = QWidget()
        pl = QVBoxLayout(page)
        pl.setContentsMargins(0, 6, 0, 0)
        pl.addWidget(self.result_filter)
        pl.addWidget(self.result_table, 1)
        tabs.addTab(page, "Opportunities with portfolio context")
        self.reject_model = RowsModel(REJECT_COLUMNS, self)
        self.reject_table, _ = make_table("rejectTable", self.reject_model)
        self.reject_table.horizontalHeader().setStretchLastSection(True)
        tabs.addTab(self.reject_table, "Did not qualify")
        self.tabs = tabs
        root.addWidget(tabs, 1)
        self.refresh()

    def on_changes(self, topic: str, data: dict) -> None:
        if self._built and topic == "market.criteria_changed":
            self.refresh()

    # -- criteria <-> form -------------------------------------------------------------------
    def _fill(self, c: Criteria | None) -> None:
        if c is None:
            return
        self.classes.setText(", ".join(sorted(c.asset_classes)))
        self.currencies.setText(", ".join(sorted(c.currencies)))
        self.min_liquidity.setValue(c.min_liquidity if c.min_liquidity is not None else self.min_liquidity.minimum())
        self.max_vol.setValue(c.max_volatility * 100 if c.max_volatility is not None else self.max_vol.minimum())
        self.min_mom.setValue(c.min_momentum * 100 if c.min_momentum is not None else self.min_mom.minimum())
        self.max_pe.setValue(c.max_pe if c.max_pe is not None else self.max_pe.minimum())
        self.min_dy.setValue(c.min_dividend_yield * 100 if c.min_dividend_yield is not None else self.min_dy.minimum())
        self.exclude.setText(", ".join(sorted(c.exclude_assets | c.exclude_sectors | c.exclude_countries)))

    def criteria(self) -> Criteria:
        """The form as Criteria (an exclusion word counts as identifier, sector and country)."""
        def opt(spin: QDoubleSpinBox, scale: float = 1.0) -> float | None:
            return None if spin.value() == spin.minimum() else spin.value() / scale

        words = [w.strip() for w in self.exclude.text().split(",") if w.strip()]
        name = self.criteria_combo.currentText().strip() or "unnamed"
        return Criteria.from_dict({
            "name": name, "asset_classes": self.classes.text(), "currencies": self.currencies.text().upper(),
            "min_liquidity": opt(self.min_liquidity), "max_volatility": opt(self.max_vol, 100),
            "min_momentum": opt(self.min_mom, 100), "max_pe": opt(self.max_pe),
            "min_dividend_yield": opt(self.min_dy, 100), "exclude_assets": words, "exclude_sectors": words,
            "exclude_countries": words}, source="criteria form")

    # -- loading -----------------------------------------------------------------------------
    def refresh(self) -> None:
        svc, psvc = self.app.workspace.market, self.app.workspace.portfolio
        self.app.workers.run(lambda: (svc.criteria(), psvc.list_portfolios()), lambda r: self._loaded(*r),
                             self._failed)

    def _loaded(self, criteria: list[Criteria], portfolios: list) -> None:
        first = not self.saved
        self.saved = {c.name: c for c in criteria}
        current = self.criteria_combo.currentText()
        self.criteria_combo.clear()
        for c in criteria:
            self.criteria_combo.addItem(c.name)
        self.criteria_combo.setCurrentText(current if current and not first else
                                           ("default" if "default" in self.saved else current))
        if first:
            self._fill(self.saved.get(self.criteria_combo.currentText()))
        pid = self.portfolio_combo.currentData()
        self.portfolio_combo.clear()
        self.portfolio_combo.addItem("Automatic (holds the most equities)", None)
        for p in portfolios:
            self.portfolio_combo.addItem(p.name, p.id)
        if pid is not None:
            self.portfolio_combo.setCurrentIndex(max(self.portfolio_combo.findData(pid), 0))
        if first:
            self.screen()

    def _failed(self, exc: BaseException) -> None:
        self.status_label.setText(f"Not shown: {exc}")
        self.screen_button.setEnabled(True)
        self.app.show_error(exc)

    def screen(self) -> None:
        try:
            crit = self.criteria()
        except ValidationError as exc:
            self._failed(exc)
            return
        svc, pid = self.app.workspace.market, self.portfolio_combo.currentData()
        size = self.size.value() if self.size.value() > 0 else None
        self.screen_button.setEnabled(False)
        self.status_label.setText("Screening…")
        self.app.workers.run(lambda: svc.identify_opportunities(crit, portfolio_id=pid, proposed_value=size),
                             self._show, self._failed)

    def save(self) -> None:
        try:
            crit = self.criteria()
        except ValidationError as exc:
            self._failed(exc)
            return
        svc, seen = self.app.workspace.market, self.saved.get(crit.name)   # what this screen loaded

        def saved(c: Criteria) -> None:
            self.saved[c.name] = c
            self.status_label.setText(f"Criteria '{c.name}' saved.")

        def reloaded(criteria: list[Criteria]) -> None:
            self.saved = {c.name: c for c in criteria}
            self._fill(self.saved.get(crit.name))

        def failed(exc: BaseException) -> None:
            self._failed(exc)
            if isinstance(exc, ConcurrentUpdate):   # show the other desk's version to work on
                self.app.workers.run(svc.criteria, reloaded, self._failed)

        self.app.workers.run(lambda: svc.save_criteria(crit, seen=seen), saved, failed)

    def _show(self, result: OpportunityScreen) -> None:
        self.result = result
        self.screen_button.setEnabled(True)
        rows = []
        for o in result.opportunities:
            c, x = o.candidate, o.context
            tip = (f"correlation: {x.correlation_reason}" if x.correlation is None else "") + \
                  (f" risk: {x.risk_reason}" if x.volatility_change is None else
                   f" portfolio volatility {pct(x.volatility_before)} → {pct(x.volatility_after)}")
            rows.append({"identifier": c.identifier, "name": c.name, "asset_class": c.asset_class,
                         "currency": c.currency, "momentum": c.momentum, "volatility": c.volatility,
                         "pe": c.pe_ratio if c.pe_ratio is not None else math.nan, "signal": c.signal,
                         "holding": x.holding_value, "weight": x.weight, "weight_after": x.weight_after,
                         "correlation": x.correlation if x.correlation is not None else math.nan,
                         "vol_change": x.volatility_change if x.volatility_change is not None else math.nan,
                         "hhi_after": x.hhi_after, "_tooltip": tip.strip()})
        self.result_model.set_rows(rows)
        self.result_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.result_proxy.sort(-1)  # the service's order: best signal first
        self.reject_model.set_rows([{"identifier": k, "reasons": "; ".join(v), "_tooltip": "; ".join(v)}
                                    for k, v in sorted(result.rejected.items())])
        size = result.opportunities[0].context.proposed_value if result.opportunities else 0.0
        names = {self.portfolio_combo.itemData(i): self.portfolio_combo.itemText(i)
                 for i in range(self.portfolio_combo.count())}
        self.status_label.setText(f"'{result.criteria.name}': {len(result.opportunities)} of {result.universe} "
                                  f"assets qualify · context: a purchase of {size:,.0f} into "
                                  f"{names.get(result.portfolio_id, 'no portfolio')}")
