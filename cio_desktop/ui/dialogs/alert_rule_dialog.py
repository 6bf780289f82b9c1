"""Add or edit a threshold alert rule (issue 9; team mode, issue 12).

The form has every setting a rule has: name, what is measured (source and metric), the
comparison and threshold, the severity, the subject, who is notified (the path's first step)
and whom it escalates to. The form is checked on the GUI thread first (no I/O), so a bad
threshold is reported at its field before anything is sent; the service checks again.

Team mode: the dialog remembers what it showed (the rule's ``updated_at``, or None for a new
rule) and passes it as ``seen``. When another user saved the rule meanwhile, the save is refused
with who and when; the dialog then reloads the rule, shows the other user's version, and the
user makes their change again on top of it — nobody's change is silently overwritten.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Sequence

from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QWidget

from cio_desktop.domain.alerting import SEVERITIES
from cio_desktop.security.permissions import Role
from cio_desktop.services.alert_measures import EVENT_SOURCES, MEASURES
from cio_desktop.ui.dialogs.common import hint_label, title_label
from cio_desktop.ui.dialogs.connection_dialog import NumberField
from cio_desktop.ui.dialogs.editor_base import EditorDialog

log = logging.getLogger(__name__)

FRACTION = "fraction: 0.05 = 5 %"
EVENT = "not used (raised on each failure)"
#: (source, metric) → (short name, what is measured, what the threshold means, threshold used?);
#: kept to one line each in the dialog (the tooltips say more)
MEASURE_HELP: dict[tuple[str, str], tuple[str, str, str, bool]] = {
    ("portfolio", "drawdown"): ("Drawdown", "each portfolio's fall from its highest value", FRACTION, True),
    ("portfolio", "loss_n_days"): ("Loss over N days", "each portfolio's loss over the last N days", FRACTION,
                                   True),
    ("portfolio", "weight"): ("Position weight", "each position's share of its portfolio", FRACTION, True),
    ("risk", "var"): ("Value at risk", "one-day historical value at risk, as a loss fraction", FRACTION, True),
    ("risk", "limit_breach"): ("Risk limit breach", "every limit of the portfolio's risk profile",
                               "not used (each limit is its own)", False),
    ("budget", "variance"): ("Budget variance", "budget against actual per category, last full month",
                             "not used (the Budget panel decides)", False),
    ("liquidity", "balance_below_min"): ("Balance headroom", "each account's balance above its own minimum",
                                         "amount in account currency; 0 = minimum", True),
    ("liquidity", "forecast_below_buffer"): ("Forecast below buffer", "the 13-week forecast against the "
                                             "minimum balances", "not used (the buffer decides)", False),
    ("sync", "failure"): ("Sync failed", "a connection's sync failing", EVENT, False),
    ("job", "failure"): ("Job failed", "a background job failing", EVENT, False),
    ("notify", "channel_failure"): ("Channel failing", "a notification channel failing", EVENT, False),
}
#: sources in the order offered (the first is a new rule's default); unknown ones follow
SOURCE_NAMES = {"portfolio": "Portfolio", "risk": "Risk", "liquidity": "Liquidity", "budget": "Budget",
                "sync": "Connections (sync)", "job": "Background jobs", "notify": "Notification channels"}
#: measures a new rule compares "below" by default (a balance or forecast falling too low)
BELOW_BY_DEFAULT = frozenset({("liquidity", "balance_below_min"), ("liquidity", "forecast_below_buffer")})
MAX_ESCALATION_MINUTES = 7 * 24 * 60


def measures() -> list[tuple[str, str]]:
    """Every (source, metric) a rule may use: the measured ones and the event-driven ones."""
    return sorted(set(MEASURES) | set(EVENT_SOURCES))


def help_for(source: str, metric: str) -> tuple[str, str, str, bool]:
    """(short name, what is measured, what the threshold means, whether the threshold is used)."""
    return MEASURE_HELP.get((source, metric), (metric, f"{source}/{metric}", "a number", True))


def parse_path(text: str) -> list[str]:
    """``"role:treasurer, alice"`` → ``["role:treasurer", "alice"]`` (empty text: no path)."""
    return [] if not text.strip() else [step.strip() for step in text.split(",")]


class AlertRuleDialog(EditorDialog):
    """``rule`` None = add a rule; a ``RuleView`` = edit it (the name is its key and stays).
    ``taken`` are the names the rules table shows (a new rule may not reuse one). ``reloaded``:
    after a refused save the rule was read again (the rules table should reload too)."""

    def __init__(self, ui_ctx: Any, rule: Any = None, parent: QWidget | None = None, *,
                 taken: Sequence[str] = ()) -> None:
        super().__init__(ui_ctx, parent)
        self.rule = rule
        self.taken = {t.casefold() for t in taken}
        self.params: dict = dict(rule.params) if rule is not None else {}
        self.seen: Any = rule.updated_at if rule is not None else None
        self.setObjectName("alertRuleDialog")
        self.setMinimumWidth(600)
        layout = self.dialog_layout()
        self.title = title_label("")
        layout.addWidget(self.title)
        self.changed_label = hint_label("")
        self.changed_label.setObjectName("ruleChanged")
        layout.addWidget(self.changed_label)

        form = self.form_layout()
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("ruleName")
        self.name_edit.setMaxLength(128)
        self.name_edit.setPlaceholderText("e.g. EUR balance floor")
        self.source_combo = QComboBox()
        self.source_combo.setObjectName("ruleSource")
        order = list(SOURCE_NAMES)
        for source in sorted({s for s, _m in measures()}, key=lambda x: (order.index(x) if x in order
                                                                        else len(order), x)):
            self.source_combo.addItem(SOURCE_NAMES.get(source, source), source)
        self.metric_combo = QComboBox()
        self.metric_combo.setObjectName("ruleMetric")
        self.measure_hint = hint_label("")
        self.measure_hint.setWordWrap(False)   # one line (the texts are short): no stray gap below it
        self.comparison_combo = QComboBox()
        self.comparison_combo.setObjectName("ruleComparison")
        self.comparison_combo.addItem("above the threshold", "above")
        self.comparison_combo.addItem("below the threshold", "below")
        self.threshold_edit = QLineEdit()
        self.threshold_edit.setObjectName("ruleThreshold")
        self.threshold_edit.setMaximumWidth(160)
        self.threshold_note = QLabel("")
        self.threshold_note.setProperty("hint", True)
        self.threshold_note.setWordWrap(False)
        threshold_row = QWidget()
        tr = QHBoxLayout(threshold_row)
        tr.setContentsMargins(0, 0, 0, 0)
        tr.addWidget(self.threshold_edit)
        tr.addWidget(self.threshold_note, 1)
        self.severity_combo = QComboBox()
        self.severity_combo.setObjectName("ruleSeverity")
        for s in SEVERITIES:
            self.severity_combo.addItem(s.capitalize(), s)
        self.subject_edit = QLineEdit("*")
        self.subject_edit.setObjectName("ruleSubject")
        self.subject_edit.setMaxLength(128)
        self.subject_edit.setPlaceholderText("* = all")
        self.subject_edit.setToolTip("* for every portfolio or account, or one portfolio's or account's id "
                                     "(a portfolio also by its name)")
        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("rulePath")
        self.path_edit.setPlaceholderText("e.g. role:treasurer, role:approver, role:admin")
        self.path_edit.setToolTip("User names or role:<role>, separated by commas. The first step is notified; "
                                  "an unacknowledged critical alert moves one step up per escalation interval.")
        self.escalate_box = QCheckBox("Escalate every")
        self.escalate_box.setObjectName("ruleEscalate")
        self.minutes_field = NumberField("ruleEscalationMinutes", "minutes (critical alerts only)", 1,
                                         MAX_ESCALATION_MINUTES)
        self.minutes_field.setValue(30)
        escalate_row = QWidget()
        er = QHBoxLayout(escalate_row)
        er.setContentsMargins(0, 0, 0, 0)
        er.addWidget(self.escalate_box)
        er.addWidget(self.minutes_field, 1)
        escalate_row.setToolTip("While nobody acknowledges a critical alert, it moves one step up the path "
                                "per interval.")
        self.enabled_box = QCheckBox("Enabled: the rule is checked and raises alerts")
        self.enabled_box.setObjectName("ruleEnabled")
        self.enabled_box.setChecked(True)
        self.params_hint = hint_label("")

        form.addRow("Name", self.name_edit)
        form.addRow("Source", self.source_combo)
        form.addRow("Measure", self.metric_combo)
        form.addRow("", self.measure_hint)
        form.addRow("Alert when", self.comparison_combo)
        form.addRow("Threshold", threshold_row)
        form.addRow("Severity", self.severity_combo)
        form.addRow("Subject", self.subject_edit)
        form.addRow("Notify (path)", self.path_edit)
        form.addRow("Escalation", escalate_row)
        form.addRow("", self.enabled_box)
        form.addRow("", self.params_hint)
        self.add_form(layout, form)
        self.add_footer(layout, "rule", "Save")

        self.field_widgets = {
            "name": self.name_edit, "source": self.source_combo, "metric": self.metric_combo,
            "comparison": self.comparison_combo, "threshold": self.threshold_edit,
            "severity": self.severity_combo, "subject": self.subject_edit,
            "escalation_minutes": self.minutes_field.edit, "escalation_path": self.path_edit}
        self.source_combo.currentIndexChanged.connect(lambda _i: self._source_changed())
        self.metric_combo.currentIndexChanged.connect(lambda _i: self._metric_changed())
        self.threshold_edit.textChanged.connect(lambda _t: self._update_threshold_note())
        self.escalate_box.toggled.connect(self.minutes_field.setEnabled)
        self._source_changed()
        self.minutes_field.setEnabled(False)
        if rule is not None:
            self.fill(rule)
        else:
            self.severity_combo.setCurrentIndex(self.severity_combo.findData("warning"))
        self._update_title()
        if rule is None:
            self.name_edit.setFocus()
        else:
            (self.threshold_edit if self.threshold_edit.isEnabled() else self.severity_combo).setFocus()

    # -- form state ------------------------------------------------------------------------------
    @property
    def editing(self) -> bool:
        return self.rule is not None

    def _update_title(self) -> None:
        text = f"Edit alert rule “{self.rule.name}”" if self.editing else "Add an alert rule"
        self.setWindowTitle(text)
        self.title.setText(text)
        self.save_button.setText("Save" if self.editing else "Add rule")
        self.name_edit.setReadOnly(self.editing)
        self.name_edit.setToolTip("the name identifies the rule: add a new rule to use another name"
                                  if self.editing else "")
        when = self.rule.updated_at if self.editing else None
        self.changed_label.setText(f"Last changed by {self.rule.updated_by} on "
                                   f"{when.astimezone():%Y-%m-%d %H:%M}." if when is not None else "")
        self.changed_label.setVisible(when is not None)

    def set_measure(self, source: str, metric: str) -> None:
        index = self.source_combo.findData(source)
        if index < 0:  # a measure this version does not know: keep it selectable
            self.source_combo.addItem(source, source)
            index = self.source_combo.count() - 1
        self.source_combo.setCurrentIndex(index)
        m = self.metric_combo.findData(metric)
        if m < 0:
            self.metric_combo.addItem(metric, metric)
            m = self.metric_combo.count() - 1
        self.metric_combo.setCurrentIndex(m)

    def _source_changed(self) -> None:
        source = self.source_combo.currentData()
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        for s, metric in measures():
            if s == source:
                self.metric_combo.addItem(help_for(s, metric)[0], metric)
        self.metric_combo.blockSignals(False)
        self._metric_changed()

    def _metric_changed(self) -> None:
        source, metric = self.source_combo.currentData(), self.metric_combo.currentData()
        _name, what, threshold_help, used = help_for(source or "", metric or "")
        kind = ("raised when it happens" if (source, metric) in EVENT_SOURCES
                else "measured every 15 minutes and by “Check rules now”")
        self.measure_hint.setText(f"{what[:1].upper()}{what[1:]}.")
        self.measure_hint.setToolTip(f"{source}/{metric}: {kind}")
        if not self.editing:
            self.comparison_combo.setCurrentIndex(self.comparison_combo.findData(
                "below" if (source, metric) in BELOW_BY_DEFAULT else "above"))
        self.threshold_edit.setEnabled(used)
        self.comparison_combo.setEnabled(used)
        self.threshold_edit.setToolTip(threshold_help)
        self._update_threshold_note()

    def _update_threshold_note(self) -> None:
        source, metric = self.source_combo.currentData(), self.metric_combo.currentData()
        _name, _what, threshold_help, used = help_for(source or "", metric or "")
        note = threshold_help
        if used and threshold_help == FRACTION:
            value = _decimal(self.threshold_edit.text())
            if value is not None:
                note = f"= {_plain(value * 100)} %  ({FRACTION})"
        self.threshold_note.setToolTip(note)
        self.threshold_note.setText(note)

    def fill(self, rule: Any) -> None:
        """Show ``rule`` (also after a conflict: the current version, the other user's)."""
        self.rule = rule
        self.params = dict(rule.params or {})
        self.seen = rule.updated_at
        self.name_edit.setText(rule.name)
        self.set_measure(rule.source, rule.metric)
        self.comparison_combo.setCurrentIndex(max(self.comparison_combo.findData(rule.comparison), 0))
        self.threshold_edit.setText(str(rule.threshold))
        self.severity_combo.setCurrentIndex(max(self.severity_combo.findData(rule.severity), 0))
        self.subject_edit.setText(rule.subject or "*")
        self.path_edit.setText(", ".join(rule.escalation_path))
        self.escalate_box.setChecked(bool(rule.escalation_minutes))
        self.minutes_field.setEnabled(bool(rule.escalation_minutes))
        if rule.escalation_minutes:
            self.minutes_field.setValue(int(rule.escalation_minutes))
        self.enabled_box.setChecked(bool(rule.enabled))
        params = ", ".join(f"{k} = {v}" for k, v in sorted(self.params.items()))
        self.params_hint.setText(f"Parameters: {params} (kept as they are)." if params else "")
        self.params_hint.setVisible(bool(params))
        self._update_title()

    # -- values ----------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The keyword arguments for ``AlertsService.save_rule`` (``seen`` included)."""
        source, metric = self.source_combo.currentData(), self.metric_combo.currentData()
        used = help_for(source, metric)[3]
        threshold = self.threshold_edit.text().strip() if used else (self.rule.threshold if self.editing else "0")
        return {"name": self.name_edit.text().strip(), "source": source, "metric": metric,
                "comparison": self.comparison_combo.currentData(), "threshold": threshold or "0",
                "severity": self.severity_combo.currentData(), "subject": self.subject_edit.text().strip() or "*",
                "params": dict(self.params),
                "escalation_minutes": self.minutes_field.value() if self.escalate_box.isChecked() else None,
                "escalation_path": parse_path(self.path_edit.text()), "enabled": self.enabled_box.isChecked(),
                "seen": self.seen}

    def check(self) -> str | None:
        """Problems found without the database (None = fine); the field in question gets focus."""
        name = self.name_edit.text().strip()
        if not name:
            return self._problem("name", "enter a name for the rule")
        if not self.editing and name.casefold() in self.taken:
            return self._problem("name", f"a rule named “{name}” exists already: edit that one instead")
        if self.threshold_edit.isEnabled() and _decimal(self.threshold_edit.text()) is None:
            return self._problem("threshold", "the threshold must be a number, e.g. 0.05 or -2500 "
                                              "(a dot for decimals, no thousands separators)")
        if self.escalate_box.isChecked() and self.minutes_field.value() is None:
            return self._problem("escalation_minutes", "escalate every 1 to "
                                                       f"{MAX_ESCALATION_MINUTES} minutes (a whole number)")
        path = parse_path(self.path_edit.text())
        if any(not step for step in path):
            return self._problem("escalation_path", "the path has an empty step: remove the extra comma")
        roles = {r.value for r in Role}
        for step in path:
            if step.startswith("role:") and step[5:] not in roles:
                return self._problem("escalation_path", f"unknown role in “{step}”: use one of "
                                                        + ", ".join(f"role:{r}" for r in sorted(roles)))
        if self.escalate_box.isChecked() and len(path) < 2:
            return self._problem("escalation_path", "escalating needs somewhere to go: give at least two "
                                                    "steps in the path (who is told first, then who next)")
        return None

    def _problem(self, field: str, text: str) -> str:
        self.focus_field(field)
        return text

    # -- saving ----------------------------------------------------------------------------------
    def save_call(self) -> Callable[[], Any]:
        service, values = self.ui_ctx.workspace.alerts, self.values()
        return lambda: service.save_rule(**values)

    # -- after a conflict (also when the rule was added meanwhile under the same name) -----------
    def reload_current(self, message: str) -> None:
        """Show the rule as it is now, so the user redoes the change on top of the other user's
        (the message stays, with a line saying the form was reloaded)."""
        name = self.name_edit.text().strip()
        self.reload_from(message, self.ui_ctx.workspace.alerts.rules, lambda r: r.name == name)

    def show_current(self, rule: Any) -> str:
        self.fill(rule)
        return "Reloaded: the form now shows the current version; make your change again and save."

    def show_gone(self) -> str:
        self.seen = None   # gone: saving again adds it anew, knowingly
        return "It no longer exists: saving adds it again."


def _plain(value: Decimal) -> str:
    """``Decimal('7.00')`` → ``7``, ``Decimal('0.50')`` → ``0.5`` (no exponent)."""
    text = f"{value.normalize():f}"
    return text


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


__all__ = ["AlertRuleDialog", "MEASURE_HELP", "measures", "parse_path"]
