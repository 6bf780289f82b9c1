"""The compliance service over a real SQLCipher file: rules as versioned data (MFA, audit),
payments blocked before scheduling, approval and execution, warnings recorded, overrides,
sanctions import, the portfolio check, standing and the regulator's report."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cio_desktop.errors import ComplianceViolation, ConcurrentUpdate, MfaRequired, PermissionDenied, ValidationError
from cio_desktop.services.compliance import ComplianceBlocked, RuleChange
from cio_desktop.storage.models import ApprovalDecision, AuditEntry, Payment
from cio_desktop.storage.models_compliance import ComplianceRuleVersion, SanctionsEntry
from tests.compliance_fixtures import (approve, checks, execute, known_beneficiaries, open_account, schedule,
                                       set_rules)
from tests.property.helpers import make_session
from tests.reports_fixtures import pdf_pages

CAP = {"name": "Cap", "type": "max_single_payment", "parameters": {"amount": "5000", "currency": "EUR"}}


def _count(ws, model) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(model)).scalar_one()


def test_rules_are_versioned_audited_and_need_compliance_manage_with_mfa(ws):
    make_session(ws, "treasurer", mfa_age_seconds=0)
    with pytest.raises(PermissionDenied):
        ws.compliance.update_rules([CAP])
    make_session(ws, "admin", mfa_age_seconds=None)
    with pytest.raises(MfaRequired):
        ws.compliance.update_rules([CAP])
    (v1,) = set_rules(ws, CAP)
    assert v1.version == 1 and v1.limit == "at most 5,000.00 EUR per payment" and v1.author == "admin"
    (v2,) = set_rules(ws, RuleChange(rule_id=v1.id, parameters={"amount": "6000", "currency": "EUR"}, note="raise"))
    assert v2.version == 2 and v2.parameters["amount"] == "6000"
    history = ws.compliance.rule_history(v1.id)
    assert [h.version for h in history] == [1, 2] and history[0].parameters["amount"] == "5000"
    (v3,) = set_rules(ws, RuleChange(rule_id=v1.id, retire=True))
    assert not v3.is_active and ws.compliance.rules() == []
    with ws.db.unit_of_work(write=False) as uow:
        actions = [a for (a,) in uow.execute(select(AuditEntry.action).where(AuditEntry.entity == "compliance_rule"))]
    assert actions == ["compliance_rule.added", "compliance_rule.changed", "compliance_rule.retired"]


def test_a_bad_update_changes_nothing(ws):
    (rule,) = set_rules(ws, CAP)
    before = _count(ws, ComplianceRuleVersion)
    with pytest.raises(ValidationError) as err:
        set_rules(ws, RuleChange(rule_id=rule.id, parameters={"amount": "7000", "currency": "EUR"}),
                  {"name": "Neg", "type": "min_liquidity", "parameters": {"amount": "-1", "currency": "EUR"}})
    assert err.value.field == "parameters.amount" and "change 2" in str(err.value)
    with pytest.raises(ValidationError) as err:
        set_rules(ws, {"name": "Fx", "type": "max_single_payment", "parameters": {"amount": "1", "currency": "EURO"}})
    assert err.value.field == "parameters.currency"
    assert _count(ws, ComplianceRuleVersion) == before
    assert ws.compliance.rules()[0].version == 1 and ws.compliance.rules()[0].parameters["amount"] == "5000"


def test_blocked_payment_never_reaches_approval_or_execution(ws, clock):
    known_beneficiaries(ws)
    acct = open_account(ws)
    (cap,) = set_rules(ws, CAP)
    # 1. at scheduling: refused, nothing created, the check recorded with rule, version, limit and actual
    with pytest.raises(ComplianceViolation) as err:
        schedule(ws, acct, "5000.01")
    assert "Cap" in str(err.value) and "5,000.00 EUR" in str(err.value) and "5,000.01 EUR" in str(err.value)
    assert _count(ws, Payment) == 0
    (check, results), = checks(ws)
    assert (check.operation, check.outcome, check.entity_id) == ("payment.schedule", "block", "new")
    assert [(r.rule_id, r.rule_version, r.outcome) for r in results] == [(cap.id, 1, "block")]
    # 2. the rule tightens after scheduling: approval is refused, the payment stays pending
    p = schedule(ws, acct, "4000").payment
    assert p.status == "pending_approval"
    set_rules(ws, RuleChange(rule_id=cap.id, parameters={"amount": "3000", "currency": "EUR"}))
    with pytest.raises(ComplianceViolation):
        approve(ws, p.id)
    make_session(ws, "approver")
    assert ws.payments.get_payment(p.id).status == "pending_approval"
    assert _count(ws, ApprovalDecision) == 0
    # through the approvals service directly: refused too, and recorded
    with pytest.raises(ComplianceViolation):
        make_session(ws, "approver", mfa_age_seconds=0)
        ws.approvals.approve(p.approval_request_id, "ok")
    assert [c.outcome for c, _ in checks(ws)][-2:] == ["block", "block"]
    # 3. loosened again: approved; tightened once more: execution refused, then the tick fails it
    set_rules(ws, RuleChange(rule_id=cap.id, parameters={"amount": "4500", "currency": "EUR"}))
    assert approve(ws, p.id).status == "approved"
    set_rules(ws, RuleChange(rule_id=cap.id, parameters={"amount": "100", "currency": "EUR"}))
    with pytest.raises(ComplianceViolation):
        execute(ws, p.id)
    make_session(ws, "treasurer", mfa_age_seconds=0)
    assert ws.payments.get_payment(p.id).status == "approved"
    report = ws.payments.execute_due()
    assert report.executed == [] and [pid for pid, _ in report.failed] == [p.id]
    assert "Cap" in report.failed[0][1]
    view = ws.payments.get_payment(p.id)
    assert view.status == "failed" and view.executed_at is None
    ops = [(c.operation, c.outcome, [(r.rule_version, r.outcome) for r in rs]) for c, rs in checks(ws)]
    assert ops[-2:] == [("payment.execute", "block", [(4, "block")]), ("payment.execute", "block", [(4, "block")])]


def test_warnings_let_the_payment_through_and_are_recorded(ws):
    known_beneficiaries(ws)
    acct = open_account(ws)
    (warn,) = set_rules(ws, {**CAP, "name": "Big", "severity": "warn"})
    p = schedule(ws, acct, "9000").payment
    assert p.status == "pending_approval"
    approve(ws, p.id)
    assert execute(ws, p.id).status == "executed"
    outcomes = [(c.operation, c.outcome) for c, _ in checks(ws)]
    assert outcomes == [("payment.schedule", "warn"), ("payment.approve", "warn"), ("payment.execute", "warn")]
    make_session(ws, "auditor")
    (v, *_) = ws.compliance.violations()
    assert v.outcome == "warn" and v.breaches[0].rule_name == "Big"


def test_an_override_lets_one_check_pass_and_names_who_allowed_it(ws, clock):
    known_beneficiaries(ws)
    acct = open_account(ws)
    (cap,) = set_rules(ws, {**CAP, "parameters": {"amount": "10000", "currency": "EUR"}})
    p = schedule(ws, acct, "8000").payment
    set_rules(ws, RuleChange(rule_id=cap.id, parameters={"amount": "5000", "currency": "EUR"}))
    make_session(ws, "admin", mfa_age_seconds=0)
    with pytest.raises(ValidationError):
        ws.compliance.grant_override(cap.id, "payment", p.id, "")
    o = ws.compliance.grant_override(cap.id, "payment", p.id, "board decision 2026-11-02")
    assert approve(ws, p.id).status == "approved"                 # the override is used here
    with pytest.raises(ComplianceViolation):
        execute(ws, p.id)                                         # and only once
    make_session(ws, "auditor")
    rep = ws.compliance.generate_compliance_report(clock.now.date(), clock.now.date())
    (ov,) = rep.overrides
    assert ov["approved_by"] == "admin" and ov["override_id"] == o.id and ov["used_by_check"] is not None
    assert any(v["outcome"] == "overridden" for v in rep.violations)


def test_country_counterparty_liquidity_and_daily_rules_through_payments(ws, tmp_path):
    known_beneficiaries(ws)
    acct = open_account(ws, opening="20000")
    set_rules(ws, {"name": "No FR", "type": "country_block", "parameters": {"countries": ["FR"]}},
              {"name": "Sanctions", "type": "counterparty_block", "parameters": {"sanctions_list": True}},
              {"name": "Buffer", "type": "min_liquidity", "parameters": {"amount": "15000", "currency": "EUR"}},
              {"name": "Daily", "type": "daily_outgoing_limit",
               "parameters": {"amount": "4000", "currency": "EUR", "per": "account"}})
    with pytest.raises(ComplianceViolation, match="No FR"):
        schedule(ws, acct, "10", payee=1)
    # sanctions list: a malformed file changes nothing, a good one blocks the named payee
    bad = tmp_path / "bad.csv"
    bad.write_text("name,country\nVan der Berg B.V.,NLX\n", encoding="utf-8")
    good = tmp_path / "good.csv"
    good.write_text("name,country,list\nvan der berg bv,NL,EU\n", encoding="utf-8")
    make_session(ws, "admin", mfa_age_seconds=0)
    with pytest.raises(ValidationError) as err:
        ws.compliance.import_sanctions(bad)
    assert (err.value.line, err.value.field) == (2, "country") and _count(ws, SanctionsEntry) == 0
    assert schedule(ws, acct, "10", payee=2).payment.status == "pending_approval"
    make_session(ws, "admin", mfa_age_seconds=0)
    assert ws.compliance.import_sanctions(good).entries == 1
    with pytest.raises(ComplianceViolation, match="Sanctions"):
        schedule(ws, acct, "10", payee=2)
    # the buffer counts approved payments only; the daily limit counts every live one that day
    p = schedule(ws, acct, "3000").payment
    approve(ws, p.id)
    with pytest.raises(ComplianceViolation, match="Daily"):
        schedule(ws, acct, "1000")
    assert schedule(ws, acct, "990").payment.status == "pending_approval"   # 10 + 3000 + 990 = 4000
    with pytest.raises(ComplianceViolation, match="Buffer") as err:
        schedule(ws, acct, "2000.01", when=ws.ctx.now().date() + timedelta(days=1))
    assert "limit" in str(err.value) and "actual" in str(err.value)


def test_standing_shows_limit_actual_and_headroom(ws):
    known_beneficiaries(ws)
    acct = open_account(ws, opening="50000")
    set_rules(ws, CAP, {"name": "Buffer", "type": "min_liquidity", "parameters": {"amount": "10000", "currency": "EUR"}})
    schedule(ws, acct, "1200")
    make_session(ws, "viewer")
    with pytest.raises(PermissionDenied):
        ws.compliance.standing()
    make_session(ws, "auditor")
    rows = {r.name: r for r in ws.compliance.standing()}
    assert rows["Cap"].actual == "1,200.00 EUR" and rows["Cap"].headroom == "3,800.00 EUR"
    assert rows["Cap"].status == "ok"
    assert rows["Buffer"].actual == "50,000.00 EUR" and rows["Buffer"].headroom == "40,000.00 EUR"


def test_report_lists_rules_checks_trails_and_verifies_its_hash(ws, clock, tmp_path):
    known_beneficiaries(ws)
    acct = open_account(ws)
    set_rules(ws, CAP)
    p = schedule(ws, acct, "100").payment
    approve(ws, p.id)
    execute(ws, p.id)
    with pytest.raises(ComplianceViolation):
        schedule(ws, acct, "6000")
    make_session(ws, "auditor")
    day = clock.now.date()
    rep = ws.compliance.generate_compliance_report(day, day)
    assert rep.generated_by == "auditor" and rep.verify() and len(rep.sha256) == 64
    assert [(r["name"], r["version"]) for r in rep.rules] == [("Cap", 1)]
    assert [c["operation"] for c in rep.checks] == ["payment.schedule", "payment.approve", "payment.execute",
                                                    "payment.schedule"]
    assert len(rep.violations) == 1 and rep.violations[0]["actual"] == "6,000.00 EUR"
    (trail,) = rep.approval_trails
    assert trail["approvals"][0]["approver"] == "approver" and trail["status"] == "executed"
    out_json = ws.compliance.export_report(rep, tmp_path / "r.json")
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["sha256"] == rep.sha256 and len(data["checks"]) == 4
    out_csv = ws.compliance.export_report(rep, tmp_path / "r.csv")
    rows = list(csv.reader(io.StringIO(out_csv.read_text(encoding="utf-8"))))
    assert rows[-1] == ["report", "sha256", rep.sha256]
    assert sum(1 for r in rows if r and r[0] == "check") == 4
    rep.checks.pop()
    assert not rep.verify()
    with pytest.raises(ValidationError):
        ws.compliance.export_report(rep, tmp_path / "tampered.json")
    assert ws.compliance.generate_compliance_report(day + timedelta(days=1), day + timedelta(days=2)).checks == []


def _pdf_text(path) -> str:  # noqa: ANN001
    return "\n".join(pdf_pages(path))


def _utc_second(v):  # noqa: ANN001, ANN202 - what a datetime column holds: UTC, whole seconds
    from datetime import timezone

    v = v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v.astimezone(timezone.utc)
    return v.replace(microsecond=0)


def test_report_exports_through_the_renderers_pdf_excel_and_csv_zip(ws, clock, tmp_path):
    from cio_desktop.reports import csv as csv_reader
    from cio_desktop.reports import excel
    from cio_desktop.services.compliance import compliance_document

    known_beneficiaries(ws)
    acct = open_account(ws)
    set_rules(ws, CAP, {**CAP, "name": "Big ticket", "severity": "warn",
                        "parameters": {"amount": "50", "currency": "EUR"}})
    p = schedule(ws, acct, "100").payment
    approve(ws, p.id)
    with pytest.raises(ComplianceViolation):
        schedule(ws, acct, "6000")
    make_session(ws, "auditor")
    day = clock.now.date()
    rep = ws.compliance.generate_compliance_report(day, day)
    audits_before = _count(ws, AuditEntry)
    out = tmp_path / "exports"
    out.mkdir()

    doc = compliance_document(rep)
    assert [s.title for s in doc.sections] == ["Signature", "Rules in force", "Checks", "Violations and warnings",
                                               "Overrides", "Payment approval trails"]
    assert any(f"Content SHA-256: {rep.sha256}" == b.text for b in doc.sections[0].blocks if hasattr(b, "text"))

    pdf = ws.compliance.export_report(rep, out / "r.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    text = _pdf_text(pdf)
    assert rep.sha256 in text
    assert "Cap" in text and "Big ticket" in " ".join(text.split())

    xlsx = ws.compliance.export_report(rep, out / "r.xlsx")
    tables = excel.read_tables(xlsx)
    expected_checks = [(c["check_id"], _utc_second(c["checked_at"]), c["operation"], c["actor"], c["outcome"],
                        c["subject"], "; ".join(f"{r['rule']} v{r['version']}: {r['outcome']}" for r in c["rules"]))
                       for c in rep.checks]
    by_heading = {tuple(h): rows for h, rows in tables}
    assert by_heading[("Check", "Checked at", "Operation", "Actor", "Outcome", "Subject",
                       "Rules (version: outcome)")] == expected_checks
    assert [(c[2], c[4]) for c in expected_checks] == [("payment.schedule", "warn"), ("payment.approve", "warn"),
                                                      ("payment.schedule", "block")]
    rules = by_heading[("Rule ID", "Rule", "Version", "Type", "Severity", "Limit", "Scope")]
    assert [(r[1], r[2], r[4]) for r in rules] == [("Cap", 1, "block"), ("Big ticket", 1, "warn")]
    breach_heading = ["Check", "Checked at", "Rule", "Version", "Outcome", "Limit", "Actual", "Message"]
    violations, warnings = [rows for h, rows in tables if h == breach_heading]     # in document order
    assert [(v[2], v[3], v[4], v[6]) for v in violations] == [("Cap", 1, "block", "6,000.00 EUR")]
    assert {(w[2], w[4]) for w in warnings} == {("Big ticket", "warn")} and len(warnings) == 3
    (signature,) = [rows for h, rows in by_heading.items() if h == ("Field", "Value")]
    assert ("Content SHA-256", rep.sha256) in signature and ("Generated by", "auditor") in signature

    zipped = ws.compliance.export_report(rep, out / "r.zip")
    assert csv_reader.read_tables(zipped) == tables
    assert _count(ws, AuditEntry) == audits_before + 3
    with ws.db.unit_of_work(write=False) as uow:
        last = uow.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(3)).scalars().all()
    assert {e.action for e in last} == {"compliance.report_exported"}

    for bad in ("r.docx", "report"):
        with pytest.raises(ValidationError, match=r"\.pdf, \.xlsx"):
            ws.compliance.export_report(rep, out / bad)
        assert not (out / bad).exists()
    rep.checks.pop()
    before = pdf.read_bytes()
    with pytest.raises(ValidationError, match="no longer matches its hash"):
        ws.compliance.export_report(rep, pdf)
    with pytest.raises(ValidationError, match="no longer matches its hash"):
        compliance_document(rep)
    assert pdf.read_bytes() == before and _count(ws, AuditEntry) == audits_before + 3
    assert sorted(f.name for f in out.iterdir()) == ["r.pdf", "r.xlsx", "r.zip"]


def test_portfolio_change_is_checked_and_recorded(demo_ws):
    from cio_desktop.services.compliance import validate_portfolio_change

    ws = demo_ws
    make_session(ws, "auditor")
    pid = ws.portfolio.list_portfolios()[0].id
    hold = ws.portfolio.holdings(pid)
    big = max(hold, key=lambda h: h.weight)
    total = sum(h.value_base.amount for h in hold)
    set_rules(ws, {"name": "Tiny weight", "type": "max_weight", "parameters": {"dimension": "asset", "max": "0.01"}})
    make_session(ws, "treasurer")
    with pytest.raises(ComplianceBlocked, match="Tiny weight"):
        with ws.db.unit_of_work() as uow:
            validate_portfolio_change(uow, ws.ctx, pid, {big.identifier: total / 10})
    make_session(ws, "auditor")
    results = ws.compliance.preview_portfolio_change(pid, [(big.identifier, -float(big.value_base.amount) / 2)])
    assert {r.name: r.outcome.value for r in results}["Tiny weight"] == "pass"   # selling down is allowed


def test_a_rule_edited_from_a_stale_screen_is_refused_with_who_and_when(ws, clock):
    """Team mode: desk B edits the version it saw while desk A saved a newer one meanwhile: B's
    change (or retirement) is refused naming A and the time, and nothing is written."""
    (v1,) = set_rules(ws, CAP)
    clock.advance(minutes=5)
    (v2,) = set_rules(ws, RuleChange(rule_id=v1.id, parameters={"amount": "6000", "currency": "EUR"},
                                     seen_version=1))
    assert v2.version == 2
    audits, versions = _count(ws, AuditEntry), _count(ws, ComplianceRuleVersion)
    for stale in (RuleChange(rule_id=v1.id, parameters={"amount": "7000", "currency": "EUR"}, seen_version=1),
                  RuleChange(rule_id=v1.id, retire=True, seen_version=1)):
        with pytest.raises(ConcurrentUpdate, match=r"changed by admin at \d{4}-\d\d-\d\d .*now version 2"):
            ws.compliance.update_rules([stale])
    assert (_count(ws, AuditEntry), _count(ws, ComplianceRuleVersion)) == (audits, versions)
    (v3,) = set_rules(ws, RuleChange(rule_id=v1.id, parameters={"amount": "7000", "currency": "EUR"},
                                     seen_version=2))
    assert v3.version == 3 and v3.limit == "at most 7,000.00 EUR per payment"
