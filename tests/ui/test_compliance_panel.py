"""The Compliance panel on the demo company (offscreen): standing, rules editor (MFA-gated),
violations log, report export; and the rebalancing view's "Accept plan" button."""

from __future__ import annotations

import csv
import json

import pytest

from cio_desktop.errors import ComplianceViolation, ValidationError
from cio_desktop.services.compliance import RuleChange
from cio_desktop.ui.models.portfolio_models import ROW_ROLE
from cio_desktop.ui.panels.compliance import CompliancePanel, RuleDialog
from cio_desktop.ui.panels.portfolio import PortfolioPanel
from cio_desktop.ui.panels.registry import PANELS
from tests.property.helpers import make_session
from tests.reports_fixtures import pdf_pages
from tests.ui.shell_helpers import open_panel, rows



def test_registered_after_risk_with_its_shortcut() -> None:
    names = [p.NAME for p in PANELS]
    assert names.index("compliance") > names.index("risk")   # other panels may sit between
    assert CompliancePanel.SHORTCUT == "Ctrl+7" and CompliancePanel.PERMISSION.value == "compliance.read"


@pytest.fixture
def panel(qtbot, demo_ws):  # noqa: ANN001, ANN201
    make_session(demo_ws, "admin", mfa_age_seconds=0)
    return open_panel(qtbot, demo_ws, CompliancePanel)


def test_standing_rules_and_violations_match_the_service(panel, demo_ws, qtbot) -> None:  # noqa: ANN001
    assert not panel.app.extra["errors"]
    standing = demo_ws.compliance.standing()
    shown = rows(panel.standing_proxy)
    assert len(shown) == len(standing) > 10
    assert {(r["name"], r["subject"], r["actual"]) for r in shown} == {(s.name, s.subject, s.actual) for s in standing}
    assert [r["name"] for r in rows(panel.rules_proxy)] == [r.name for r in demo_ws.compliance.rules()]
    # a blocked payment appears in the violations log after the event
    make_session(demo_ws, "treasurer")
    acct = next(a for a in demo_ws.accounts.list_accounts() if a.currency == "EUR")
    with pytest.raises(ComplianceViolation):
        demo_ws.payments.schedule_transaction(account_id=acct.id, beneficiary_name="ACME GmbH",
                                              beneficiary_account="DE89370400440532013000", amount="9000000",
                                              execution_date=demo_ws.ctx.now().date())
    qtbot.waitUntil(lambda: panel.violations_model.rowCount() == 1, timeout=3000)
    (v,) = rows(panel.violations_proxy)
    assert v["outcome"] == "BLOCK" and "Single payment cap (v1)" in v["rules"] and v["blocked"]
    panel.filter.setText("Equities")
    assert {r["name"] for r in rows(panel.standing_proxy)} == {"Equities ≤ 60 %"}


def test_rule_editor_saves_a_new_version_and_shows_errors(panel, demo_ws, qtbot) -> None:  # noqa: ANN001
    panel.tabs.setCurrentIndex(1)
    first = panel.rules_proxy.index(0, 0)
    panel.rules_table.selectRow(0)
    rule = panel.selected_rule()
    assert rule is not None and rule.id == first.data(ROW_ROLE)["id"]
    assert panel.edit_button.isEnabled() and panel.retire_button.isEnabled()
    dialog = panel.open_editor(rule)
    assert isinstance(dialog, RuleDialog) and json.loads(dialog.params.toPlainText()) == rule.parameters
    dialog.params.setPlainText("{not json")
    dialog._save()
    assert "not valid JSON" in dialog.error.text() and dialog.isVisible()
    assert rule.name == "Single payment cap"
    dialog.params.setPlainText(json.dumps({**rule.parameters, "amount": "2600000"}))
    dialog.note.setText("board minute 12")
    dialog._save()
    qtbot.waitUntil(lambda: any(r["id"] == rule.id and r["version"] == 2 for r in rows(panel.rules_proxy)),
                    timeout=3000)
    assert demo_ws.compliance.rule_history(rule.id)[-1].note == "board minute 12"
    # a refused change: the service's message reaches the user, nothing changes
    panel.apply_changes([RuleChange(rule_id=rule.id, parameters={"amount": "-1", "currency": "EUR"})])
    assert isinstance(panel.app.extra["errors"][-1], ValidationError)
    assert demo_ws.compliance.rule_history(rule.id)[-1].version == 2


def test_auditor_sees_everything_but_cannot_edit(qtbot, demo_ws) -> None:  # noqa: ANN001
    make_session(demo_ws, "auditor")
    p = open_panel(qtbot, demo_ws, CompliancePanel)
    assert p.rules_model.rowCount() > 0 and not p.app.extra["errors"]
    p.rules_table.selectRow(0)
    assert not any(b.isEnabled() for b in (p.add_button, p.edit_button, p.retire_button, p.sanctions_button))
    assert p.open_editor(p.selected_rule()) is None


def test_report_export_writes_csv_with_its_hash(panel, tmp_path, demo_ws) -> None:  # noqa: ANN001
    day = demo_ws.ctx.now().date()
    out = tmp_path / "compliance.csv"
    panel.export_report_to(out, day, day)
    assert panel.last_report is not None and panel.last_report.verify()
    lines = list(csv.reader(out.open(encoding="utf-8")))
    assert lines[-1] == ["report", "sha256", panel.last_report.sha256]
    assert panel.last_report.sha256 in panel.report_label.text()


def test_report_dialog_offers_pdf_and_excel_and_exports_them(panel, tmp_path, demo_ws, monkeypatch) -> None:  # noqa: ANN001
    from cio_desktop.reports.excel import read_tables
    from cio_desktop.ui.panels import compliance as module
    from tests.compliance_fixtures import known_beneficiaries, open_account, schedule, set_rules

    known_beneficiaries(demo_ws)            # a rule and a checked payment on the test clock's day
    set_rules(demo_ws, {"name": "Panel test cap", "type": "max_single_payment",
                        "parameters": {"amount": "1000000", "currency": "EUR"}})
    schedule(demo_ws, open_account(demo_ws), "250")
    make_session(demo_ws, "auditor")
    asked: list[str] = []
    answer: list[tuple[str, str]] = [(str(tmp_path / "board"), "Excel (*.xlsx)")]

    def fake_save(parent, title, name, filters):  # noqa: ANN001, ANN202
        asked.append(filters)
        return answer[0]

    monkeypatch.setattr(module.QFileDialog, "getSaveFileName", staticmethod(fake_save))
    day = demo_ws.ctx.now().date()
    panel.report_from.setDate(panel.report_to.date())
    panel.report_button.click()
    filters = asked[0].split(";;")
    assert filters[:2] == ["PDF (*.pdf)", "Excel (*.xlsx)"] and "CSV (*.csv)" in filters and "JSON (*.json)" in filters
    assert panel.app.extra["errors"] == []
    xlsx = tmp_path / "board.xlsx"                      # the chosen filter's extension was added
    report = panel.last_report
    assert report is not None and report.period_start == report.period_end == day
    (checks,) = [rows for h, rows in read_tables(xlsx) if h[:2] == ["Check", "Checked at"] and "Subject" in h]
    assert [(r[0], r[2], r[4], r[6]) for r in checks] == [
        (c["check_id"], c["operation"], c["outcome"], "; ".join(f"{x['rule']} v{x['version']}: {x['outcome']}"
                                                             for x in c["rules"])) for c in report.checks]
    assert [r[2] for r in checks] == ["payment.schedule"] and "Panel test cap v1: pass" in checks[0][6]

    answer[0] = (str(tmp_path / "signed.pdf"), "Excel (*.xlsx)")   # a typed extension wins
    panel.report_button.click()
    text = "\n".join(pdf_pages(tmp_path / "signed.pdf"))
    assert panel.last_report.sha256 in text and panel.last_report.sha256 in panel.report_label.text()
    assert [r["name"] for r in panel.last_report.rules] == ["Panel test cap"]
    assert "Panel test cap" in " ".join(text.split())
    assert not (tmp_path / "signed.pdf.xlsx").exists()


def test_accept_plan_runs_the_compliance_check(qtbot, demo_ws) -> None:  # noqa: ANN001
    make_session(demo_ws, "treasurer")
    p = open_panel(qtbot, demo_ws, PortfolioPanel)
    idx = next(i for i in range(p.selector.count()) if "Liquidity" in p.selector.itemText(i))
    p.selector.setCurrentIndex(idx)
    view = p.rebalancing
    p.tabs.setCurrentWidget(view)
    view.set_target("money_market", 30)
    view.set_target("government_bond", 45)
    view.set_target("corporate_bond", 25)
    view.propose()
    assert view.proposal is not None and view.accept_button.isEnabled()
    view.accept_plan()
    assert view.accepted is not None and view.accepted.outcome in ("pass", "warn"), p.app.extra["errors"]
    assert "Plan accepted by treasurer" in view.summary_label.text()
    # a rule that the plan breaks: refused, shown, recorded as blocked
    make_session(demo_ws, "admin", mfa_age_seconds=0)
    demo_ws.compliance.update_rules([{"name": "Bonds ≤ 10 %", "type": "max_weight",
                                      "parameters": {"dimension": "asset_class", "value": "government_bond",
                                                     "max": "0.10"}}])
    make_session(demo_ws, "treasurer")
    view.accept_plan()
    assert view.accepted is None and "Bonds ≤ 10 %" in view.summary_label.text()
    assert isinstance(p.app.extra["errors"][-1], ComplianceViolation)
    make_session(demo_ws, "auditor")
    last = demo_ws.compliance.checks(entity="portfolio")[0]
    assert last.outcome == "block" and last.operation == "portfolio.rebalance"
