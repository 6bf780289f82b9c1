"""Compliance panel: the live standing of every rule (limit, actual, headroom; breaches in red),
the rule set with its editor (add, change, retire — MFA-gated), the sanctions-list import, the
violations log with "Grant override…" for a blocked payment or portfolio (MFA-gated, compliance
managers only) and the overrides still active, and the regulator's report (PDF, Excel, CSV or
JSON). Service calls run in the worker pool.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QPoint, Qt
from PySide6.QtWidgets import (QComboBox, QDateEdit, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMenu, QPlainTextEdit, QPushButton,
                               QSplitter, QTabWidget, QVBoxLayout, QWidget)

from cio_desktop.domain.compliance import LABELS, RuleType
from cio_desktop.errors import CioError, ConcurrentUpdate, ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services.compliance import (REPORT_SUFFIXES, CheckView, OverrideView, RuleChange, RuleView,
                                             StandingRow)
from cio_desktop.ui.dialogs.common import confirm
from cio_desktop.ui.dialogs.compliance_override import OverrideDialog, overridable
from cio_desktop.ui.dialogs.mfa import run_sensitive
from cio_desktop.ui.models.portfolio_models import ROW_ROLE, Column, RowsModel
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.panels.portfolio import make_table


def format_datetime(v: Any) -> str:
    """Local time on screen (storage is UTC)."""
    return v.astimezone().strftime("%Y-%m-%d %H:%M") if v else ""


TOPICS = ("compliance.rules_changed", "compliance.checked", "payments.changed", "portfolio.changed",
          "portfolio.plan_accepted", "prices.changed")

STANDING_COLUMNS = [
    Column("status", "Status"), Column("name", "Rule"), Column("subject", "On"), Column("limit", "Limit"),
    Column("actual", "Actual"), Column("headroom", "Headroom"), Column("severity", "Severity"),
    Column("note", "Note"),
]
RULE_COLUMNS = [
    Column("id", "Id", numeric=True), Column("name", "Rule"), Column("type", "Type"),
    Column("severity", "Severity"), Column("limit", "Limit"), Column("version", "Version", numeric=True),
    Column("valid", "Valid"), Column("scope", "Scope"), Column("author", "Changed by"),
    Column("changed", "Changed", lambda v: format_datetime(v) if v else ""),
]
VIOLATION_COLUMNS = [
    Column("at", "When", lambda v: format_datetime(v) if v else ""), Column("outcome", "Outcome"),
    Column("operation", "Operation"), Column("subject", "What"), Column("rules", "Rule (version): reason"),
    Column("actor", "By"),
]
OVERRIDE_COLUMNS = [
    Column("rule", "Rule"), Column("operation", "Operation"), Column("reason", "Reason"),
    Column("approved_by", "Granted by"), Column("approved_at", "Granted", lambda v: format_datetime(v) if v else ""),
    Column("expires_at", "Expires", lambda v: format_datetime(v) if v else ""),
]

#: parameter templates shown when a type is chosen in the editor
TEMPLATES: dict[str, dict[str, Any]] = {
    "max_single_payment": {"amount": "1000000", "currency": "EUR"},
    "daily_outgoing_limit": {"amount": "5000000", "currency": "EUR", "per": "entity"},
    "counterparty_block": {"names": ["Example Blocked Ltd"], "sanctions_list": True},
    "country_block": {"countries": ["KP", "IR"]},
    "min_liquidity": {"amount": "1000000", "currency": "EUR"},
    "max_weight": {"dimension": "issuer", "max": "0.25"},
    "allowed_instruments": {"asset_classes": ["equity", "government_bond", "corporate_bond", "money_market"]},
    "min_credit_rating": {"rating": "BBB-", "asset_classes": ["government_bond", "corporate_bond"]},
    "fx_exposure_limit": {"max": "0.40"},
}


def standing_rows(rows: list[StandingRow]) -> list[dict]:
    out = [{"status": r.status.upper() if r.status in ("breach", "warning") else r.status, "name": r.name, "subject": r.subject,
            "limit": r.limit, "actual": r.actual, "headroom": r.headroom, "severity": r.severity, "note": r.note,
            "breach": r.status == "breach", "_tooltip": f"{r.name} v{r.version}: {r.note}"} for r in rows]
    out.sort(key=lambda d: (not d["breach"], d["status"] != "WARNING", d["name"], d["subject"]))
    return out


def rule_rows(rules: list[RuleView]) -> list[dict]:
    rows = []
    for r in rules:
        valid = (f"{r.valid_from or '…'} – {r.valid_to or '…'}" if r.valid_from or r.valid_to else "always")
        scope = ", ".join(f"{k}: {', '.join(map(str, v))}" for k, v in r.scope.items()) or "all"
        rows.append({"id": r.id, "name": r.name, "type": r.type_label, "severity": r.severity, "limit": r.limit,
                     "version": r.version, "valid": valid, "scope": scope, "author": r.author,
                     "changed": r.changed_at, "view": r, "_tooltip": r.note or r.limit})
    return rows


def violation_rows(checks: list[CheckView]) -> list[dict]:
    return [{"at": c.checked_at, "outcome": c.outcome.upper() if c.outcome == "block" else c.outcome,
             "operation": c.operation, "subject": c.subject,
             "rules": "; ".join(f"{r.rule_name} (v{r.rule_version}): {r.message}" for r in c.breaches),
             "actor": c.actor, "blocked": c.outcome == "block", "view": c,
             "_tooltip": "\n".join(f"{r.rule_name} v{r.rule_version} — limit {r.limit}; actual {r.actual}"
                                   for r in c.breaches)} for c in checks]


def override_rows(overrides: list[OverrideView]) -> list[dict]:
    return [{"rule": o.rule_name, "operation": f"{o.entity} {o.entity_id}", "reason": o.reason,
             "approved_by": o.approved_by, "approved_at": o.approved_at, "expires_at": o.expires_at, "view": o,
             "_tooltip": f"override {o.id}: {o.reason}"} for o in overrides]


#: the report tab's export choices (file-dialog filters), the first one preselected
REPORT_FILTERS = (("PDF", ".pdf"), ("Excel", ".xlsx"), ("CSV files in a zip", ".zip"), ("CSV", ".csv"),
                  ("JSON", ".json"))
REPORT_FILTER = ";;".join(f"{label} (*{suffix})" for label, suffix in REPORT_FILTERS)


def with_report_suffix(path: str, chosen_filter: str) -> str:
    """``path`` as typed in the save dialog, with the chosen filter's extension added when it
    has none the export knows (so "report" under "Excel" becomes "report.xlsx")."""
    if Path(path).suffix.lower() in REPORT_SUFFIXES:
        return path
    for _label, suffix in REPORT_FILTERS:
        if chosen_filter.strip().endswith(f"(*{suffix})"):
            return path + suffix
    return path + REPORT_FILTERS[0][1]


class RuleDialog(QDialog):
    """Add or change a rule. Parameters and scope are JSON (a template per type); the service
    validates and its message names the field that is wrong."""

    def __init__(self, parent: QWidget | None, rule: RuleView | None = None) -> None:
        super().__init__(parent)
        self.rule = rule
        self.setWindowTitle("Change compliance rule" if rule else "Add compliance rule")
        self.setObjectName("ruleDialog")
        self.setMinimumWidth(520)
        form = QFormLayout(self)
        self.name = QLineEdit(rule.name if rule else "")
        self.name.setObjectName("ruleName")
        form.addRow("Name", self.name)
        self.type = QComboBox()
        self.type.setObjectName("ruleType")
        for t in RuleType:
            self.type.addItem(LABELS[t], t.value)
        if rule:
            self.type.setCurrentIndex(self.type.findData(rule.rule_type))
            self.type.setEnabled(False)   # a rule keeps its type
        self.type.currentIndexChanged.connect(self._template)
        form.addRow("Type", self.type)
        self.severity = QComboBox()
        self.severity.setObjectName("ruleSeverity")
        self.severity.addItem("block — stops the operation", "block")
        self.severity.addItem("warn — lets it through, recorded", "warn")
        if rule:
            self.severity.setCurrentIndex(self.severity.findData(rule.severity))
        form.addRow("Severity", self.severity)
        self.params = QPlainTextEdit()
        self.params.setObjectName("ruleParameters")
        self.params.setFixedHeight(110)
        form.addRow("Parameters (JSON)", self.params)
        self.scope = QLineEdit(json.dumps(rule.scope) if rule and rule.scope else "")
        self.scope.setObjectName("ruleScope")
        self.scope.setPlaceholderText('everywhere; or e.g. {"account_ids": [3]} / {"portfolio_ids": [1]}')
        form.addRow("Scope (JSON)", self.scope)
        self.valid_from = QLineEdit(str(rule.valid_from) if rule and rule.valid_from else "")
        self.valid_from.setPlaceholderText("YYYY-MM-DD (empty: now)")
        self.valid_to = QLineEdit(str(rule.valid_to) if rule and rule.valid_to else "")
        self.valid_to.setPlaceholderText("YYYY-MM-DD (empty: open-ended)")
        form.addRow("Valid from", self.valid_from)
        form.addRow("Valid to", self.valid_to)
        self.note = QLineEdit()
        self.note.setPlaceholderText("why the change (kept with the version)")
        form.addRow("Note", self.note)
        self.error = QLabel("")
        self.error.setObjectName("ruleError")
        self.error.setWordWrap(True)
        self.error.setProperty("status", "error")
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        if rule:
            self.params.setPlainText(json.dumps(rule.parameters, indent=1))
        else:
            self._template()
        self.change: RuleChange | None = None

    def _template(self) -> None:
        self.params.setPlainText(json.dumps(TEMPLATES.get(self.type.currentData(), {}), indent=1))

    def build_change(self) -> RuleChange:
        """The change the form describes; ValidationError naming the field for unreadable JSON."""
        try:
            params = json.loads(self.params.toPlainText() or "{}")
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not valid JSON ({exc.msg}, line {exc.lineno})", field="parameters") from None
        try:
            scope = json.loads(self.scope.text()) if self.scope.text().strip() else {}
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not valid JSON ({exc.msg})", field="scope") from None
        if not isinstance(params, dict):
            raise ValidationError("give an object: {\"name\": value, …}", field="parameters")
        return RuleChange(rule_id=self.rule.id if self.rule else None, name=self.name.text(),
                          rule_type=self.type.currentData(), parameters=params, severity=self.severity.currentData(),
                          scope=scope, valid_from=self.valid_from.text().strip() or None,
                          valid_to=self.valid_to.text().strip() or None, note=self.note.text(),
                          seen_version=self.rule.version if self.rule else None)

    def _save(self) -> None:
        try:
            self.change = self.build_change()
        except CioError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


class CompliancePanel(Panel):
    NAME = "compliance"
    TITLE = "Compliance"
    PERMISSION = Permission.COMPLIANCE_READ
    SHORTCUT = "Ctrl+7"
    TOPICS = TOPICS

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.standing: list[StandingRow] = []
        self.rules: list[RuleView] = []
        self.checks: list[CheckView] = []
        self.active_overrides: list[OverrideView] = []
        self.last_report: Any = None
        self.dialog: RuleDialog | None = None
        self.override_dialog: OverrideDialog | None = None

    @property
    def service(self) -> Any:
        return self.app.workspace.compliance

    def _can_manage(self) -> bool:
        s = self.app.workspace.ctx.session
        return bool(s and s.can(Permission.COMPLIANCE_MANAGE))

    def build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(10)
        self.filter = QLineEdit()
        self.filter.setObjectName("complianceFilter")
        self.filter.setPlaceholderText("Filter…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setMaximumWidth(240)
        self.filter.textChanged.connect(self._apply_filter)
        head, self.status_label = self.header_row(self.refresh, trailing=[self.filter], wrap_status=True)
        self.status_label.setObjectName("complianceStatus")
        root.addLayout(head)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("complianceTabs")
        # standing
        self.standing_model = RowsModel(STANDING_COLUMNS, self, row_flag=lambda r: r.get("breach", False))
        self.standing_table, self.standing_proxy = make_table("standingTable", self.standing_model)
        self._interactive(self.standing_table, {1: 200, 2: 170, 3: 260, 4: 220, 5: 140})
        self.tabs.addTab(self.standing_table, "Current standing")
        # rules
        rules_w = QWidget()
        rl = QVBoxLayout(rules_w)
        rl.setContentsMargins(0, 8, 0, 0)
        bar = QHBoxLayout()
        self.add_button = QPushButton("Add rule…")
        self.add_button.setObjectName("addRule")
        self.add_button.setProperty("primary", True)
        self.add_button.clicked.connect(lambda: self.open_editor(None))
        self.edit_button = QPushButton("Change…")
        self.edit_button.setObjectName("editRule")
        self.edit_button.clicked.connect(lambda: self.open_editor(self.selected_rule()))
        self.retire_button = QPushButton("Retire…")
        self.retire_button.setObjectName("retireRule")
        self.retire_button.clicked.connect(self._retire_clicked)
        self.sanctions_button = QPushButton("Import sanctions list…")
        self.sanctions_button.setObjectName("importSanctions")
        self.sanctions_button.clicked.connect(self._sanctions_clicked)
        for b in (self.add_button, self.edit_button, self.retire_button, self.sanctions_button):
            bar.addWidget(b)
        bar.addStretch(1)
        hint = QLabel("Changes need a fresh two-factor code and apply to the next operation; "
                      "every version is kept.")
        hint.setProperty("hint", True)
        bar.addWidget(hint)
        rl.addLayout(bar)
        self.rules_model = RowsModel(RULE_COLUMNS, self)
        self.rules_table, self.rules_proxy = make_table("rulesTable", self.rules_model)
        self._interactive(self.rules_table, {1: 200, 4: 300})
        self.rules_table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.rules_table.doubleClicked.connect(lambda _i: self.open_editor(self.selected_rule()))
        self.rules_table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        rl.addWidget(self.rules_table, 1)
        self.tabs.addTab(rules_w, "Rules")
        # violations, with overrides for the blocked ones and the overrides still active
        violations_w = QWidget()
        vl = QVBoxLayout(violations_w)
        vl.setContentsMargins(0, 8, 0, 0)
        vbar = QHBoxLayout()
        self.override_button = QPushButton("Grant override…")
        self.override_button.setObjectName("grantOverride")
        self.override_button.clicked.connect(lambda: self.open_override(self.selected_check()))
        vbar.addWidget(self.override_button)
        vbar.addStretch(1)
        self.override_hint = QLabel("Select a blocked payment or portfolio to let it pass the rule once "
                                    "(two-factor code, audited).")
        self.override_hint.setProperty("hint", True)
        vbar.addWidget(self.override_hint)
        vl.addLayout(vbar)
        self.violations_model = RowsModel(VIOLATION_COLUMNS, self, row_flag=lambda r: r.get("blocked", False))
        self.violations_table, self.violations_proxy = make_table("violationsTable", self.violations_model)
        self._interactive(self.violations_table, {3: 360, 4: 420})
        self.violations_table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.violations_table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.violations_table.customContextMenuRequested.connect(self._violation_menu_requested)
        overrides_w = QWidget()
        ol = QVBoxLayout(overrides_w)
        ol.setContentsMargins(0, 6, 0, 0)
        ol.setSpacing(4)
        self.overrides_title = QLabel("Active overrides")
        self.overrides_title.setObjectName("overridesTitle")
        font = self.overrides_title.font()
        font.setBold(True)
        self.overrides_title.setFont(font)
        ol.addWidget(self.overrides_title)
        self.overrides_model = RowsModel(OVERRIDE_COLUMNS, self)
        self.overrides_table, self.overrides_proxy = make_table("overridesTable", self.overrides_model)
        self._interactive(self.overrides_table, {0: 200, 1: 120, 2: 360})
        ol.addWidget(self.overrides_table, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("violationsSplitter")
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.violations_table)
        splitter.addWidget(overrides_w)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        vl.addWidget(splitter, 1)
        self.tabs.addTab(violations_w, "Violations log")
        # report
        report_w = QWidget()
        rf = QFormLayout(report_w)
        today = self.app.workspace.ctx.now().date()
        self.report_from = QDateEdit(QDate(today.year, today.month, 1))
        self.report_from.setObjectName("reportFrom")
        self.report_to = QDateEdit(QDate(today.year, today.month, today.day))
        self.report_to.setObjectName("reportTo")
        for d in (self.report_from, self.report_to):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
        rf.addRow("From", self.report_from)
        rf.addRow("To", self.report_to)
        self.report_button = QPushButton("Export report…")
        self.report_button.setObjectName("exportComplianceReport")
        self.report_button.setProperty("primary", True)
        self.report_button.clicked.connect(self._report_clicked)
        rf.addRow(self.report_button)
        self.report_label = QLabel("Rules in force with versions, every check with its outcome, violations, "
                                   "warnings, overrides and payment approval trails; signed with your name and "
                                   "the time, with a SHA-256 of the content. PDF, Excel, CSV or JSON.")
        self.report_label.setObjectName("reportSummary")
        self.report_label.setWordWrap(True)
        self.report_label.setProperty("hint", True)
        rf.addRow(self.report_label)
        self.tabs.addTab(report_w, "Report")
        root.addWidget(self.tabs, 1)

        self._timer = self.debouncer(self.refresh, 200)
        self._update_buttons()
        self.refresh()

    @staticmethod
    def _interactive(table: Any, widths: dict[int, int]) -> None:
        header = table.horizontalHeader()
        for col, w in widths.items():
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(col, w)
        header.setStretchLastSection(True)

    def _apply_filter(self, text: str) -> None:
        for proxy in (self.standing_proxy, self.rules_proxy, self.violations_proxy, self.overrides_proxy):
            proxy.setFilterFixedString(text)

    def _update_buttons(self) -> None:
        manage = self._can_manage()
        selected = self.selected_rule() is not None
        self.add_button.setEnabled(manage)
        self.sanctions_button.setEnabled(manage)
        self.edit_button.setEnabled(manage and selected)
        self.retire_button.setEnabled(manage and selected)
        # overrides: only compliance managers see the action; it is enabled for a blocked row
        why_not = overridable(self.selected_check())
        self.override_button.setVisible(manage)
        self.override_hint.setVisible(manage)
        self.override_button.setEnabled(manage and why_not is None)
        self.override_button.setToolTip(why_not or "Let this operation pass the blocking rule once "
                                        "(two-factor code, audited)")

    def on_changes(self, topic: str, data: dict) -> None:
        if self._built:
            self._timer.start()

    # -- loading --------------------------------------------------------------------------------
    def refresh(self) -> None:
        svc = self.service
        self.status_label.setText("Loading…")

        def work() -> tuple[list[StandingRow], list[RuleView], list[CheckView], list[OverrideView]]:
            return svc.standing(), svc.rules(), svc.violations(limit=2000), svc.active_overrides()

        self.app.workers.run(work, self._show, self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.status_label.setText(f"Not shown: {exc}")
        self.app.show_error(exc)

    def _show(self, result: tuple[list[StandingRow], list[RuleView], list[CheckView], list[OverrideView]]) -> None:
        self.standing, self.rules, self.checks, self.active_overrides = result
        self.standing_model.set_rows(standing_rows(self.standing))
        self.rules_model.set_rows(rule_rows(self.rules))
        self.violations_model.set_rows(violation_rows(self.checks))
        self.overrides_model.set_rows(override_rows(self.active_overrides))
        n = len(self.active_overrides)
        self.overrides_title.setText(f"Active overrides ({n}): not used yet, not expired" if n
                                     else "Active overrides: none (an override is used once, or expires)")
        for table, proxy in ((self.standing_table, self.standing_proxy),
                             (self.violations_table, self.violations_proxy)):
            table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
            proxy.sort(-1)   # the service's order: breaches first / newest first
        breaches = sum(1 for r in self.standing if r.status == "breach")
        warnings = sum(1 for r in self.standing if r.status == "warning")
        blocked = sum(1 for c in self.checks if c.outcome == "block")
        self.status_label.setText(f"{len(self.rules)} rule(s) in force · "
                                  + (f"{breaches} in breach now" if breaches else "no blocking rule in breach")
                                  + (f", {warnings} warning(s)" if warnings else "")
                                  + f" · {blocked} blocked operation(s) logged")
        self.tabs.setTabText(0, f"Current standing ({breaches} breach{'es' if breaches != 1 else ''})"
                             if breaches else "Current standing")
        self._update_buttons()

    # -- rules ------------------------------------------------------------------------------------
    def selected_rule(self) -> RuleView | None:
        if not self._built:
            return None
        rows = self.rules_table.selectionModel().selectedRows() if self.rules_table.selectionModel() else []
        if not rows:
            return None
        row = self.rules_proxy.index(rows[0].row(), 0).data(ROW_ROLE)
        return row["view"] if row else None

    def open_editor(self, rule: RuleView | None) -> RuleDialog | None:
        if not self._can_manage():
            return None
        self.dialog = RuleDialog(self, rule)
        self.dialog.accepted.connect(lambda: self.dialog and self.dialog.change and self.apply_changes([self.dialog.change]))
        self.dialog.open()
        return self.dialog

    def apply_changes(self, changes: list[RuleChange]) -> None:
        """Save rule changes (MFA asked when needed); the panel refreshes on the event."""
        svc = self.service

        def failed(exc: BaseException) -> None:
            self.app.show_error(exc)
            if isinstance(exc, ConcurrentUpdate):  # show the other desk's version to edit again
                self.refresh()

        run_sensitive(self.app, self, lambda: svc.update_rules(changes),
                      lambda views: self.app.status(f"{len(views)} compliance rule(s) saved: "
                                                    + ", ".join(f"{v.name} v{v.version}" for v in views)), failed)

    def _retire_clicked(self) -> None:
        rule = self.selected_rule()
        if rule is None:
            return
        if confirm(self, "Retire compliance rule", f"Retire '{rule.name}' (version {rule.version})? It stops "
                   "applying to the next operation; its history and past checks stay.", "Retire rule"):
            self.apply_changes([RuleChange(rule_id=rule.id, retire=True, seen_version=rule.version)])

    def _sanctions_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import sanctions list", "", "CSV (*.csv)")
        if path:
            self.import_sanctions(path)

    def import_sanctions(self, path: str | Path) -> None:
        svc = self.service
        run_sensitive(self.app, self, lambda: svc.import_sanctions(path),
                      lambda r: self.app.status(f"Sanctions list replaced: {r.entries} entries"))

    # -- overrides --------------------------------------------------------------------------------
    def selected_check(self) -> CheckView | None:
        if not self._built:
            return None
        rows = self.violations_table.selectionModel().selectedRows() if self.violations_table.selectionModel() else []
        if not rows:
            return None
        row = self.violations_proxy.index(rows[0].row(), 0).data(ROW_ROLE)
        return row["view"] if row else None

    def violation_menu(self, pos: QPoint) -> QMenu | None:
        """The violations log's context menu at ``pos`` (viewport coordinates): the row under the
        cursor is selected first. None for users who may not grant overrides (nothing to offer)."""
        index = self.violations_table.indexAt(pos)
        if index.isValid():
            self.violations_table.selectRow(index.row())
        if not self._can_manage():
            return None
        check = self.selected_check()
        why_not = overridable(check)
        menu = QMenu(self.violations_table)
        menu.setObjectName("violationMenu")
        act = menu.addAction("Grant override…")
        act.setObjectName("grantOverrideAction")
        act.setEnabled(why_not is None)
        act.setToolTip(why_not or "")
        menu.setToolTipsVisible(True)
        act.triggered.connect(lambda: self.open_override(check))
        return menu

    def _violation_menu_requested(self, pos: QPoint) -> None:
        menu = self.violation_menu(pos)
        if menu is not None:
            menu.popup(self.violations_table.viewport().mapToGlobal(pos))

    def open_override(self, check: CheckView | None) -> OverrideDialog | None:
        """The override dialog for a blocked check; None when the user may not grant overrides
        or the check cannot be overridden (the reason is shown in the status bar)."""
        if not self._can_manage():
            return None
        why_not = overridable(check)
        if why_not is not None or check is None:
            self.app.status(f"No override: {why_not}")
            return None
        self.override_dialog = OverrideDialog(self.app, self.service, check, self, self.active_overrides)
        self.override_dialog.accepted.connect(self._override_granted)
        self.override_dialog.open()
        return self.override_dialog

    def _override_granted(self) -> None:
        view = self.override_dialog.granted if self.override_dialog else None
        if view is not None:
            self.app.status(f"Override granted: {view.entity} {view.entity_id} may pass '{view.rule_name}' once "
                            f"until {format_datetime(view.expires_at)}")
        self.refresh()

    # -- report -----------------------------------------------------------------------------------
    def period(self) -> tuple[date, date]:
        a, b = self.report_from.date(), self.report_to.date()
        return date(a.year(), a.month(), a.day()), date(b.year(), b.month(), b.day())

    def _report_clicked(self) -> None:
        start, end = self.period()
        path, chosen = QFileDialog.getSaveFileName(self, "Export compliance report",
                                                   f"compliance-{start}-{end}.pdf", REPORT_FILTER)
        if path:
            self.export_report_to(with_report_suffix(path, chosen), start, end)

    def export_report_to(self, path: str | Path, start: date | None = None, end: date | None = None) -> None:
        if start is None or end is None:
            start, end = self.period()
        svc = self.service

        def work() -> tuple[Any, Path]:
            report = svc.generate_compliance_report(start, end)
            return report, svc.export_report(report, path)

        def done(result: tuple[Any, Path]) -> None:
            report, out = result
            self.last_report = report
            self.report_label.setText(f"Written {out.name}: {len(report.checks)} check(s), "
                                      f"{len(report.violations)} violation(s), {len(report.warnings)} warning(s), "
                                      f"{len(report.overrides)} override(s) · SHA-256 {report.sha256}")
            self.app.status(f"Compliance report written to {out}")

        self.app.workers.run(work, done, self.app.show_error)

