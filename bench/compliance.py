"""Time the compliance engine: the pure evaluation kernel, the check a payment pays for when it is
scheduled (with and without the default rule set), a portfolio-change check, the standing list
and the regulator's report over many recorded checks.

    python bench/compliance.py [CHECKS]        # default CHECKS = 20000 (report size)

Runs on a temporary encrypted database (demo company, seed 7) and prints measured figures.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("CIO_KEYRING", "memory")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cio_desktop.domain import compliance as dc  # noqa: E402


def kernel(n_payments: int = 20_000) -> None:
    rules = [dc.validate_rule(name=f"cap {i}", rule_type="max_single_payment",
                              parameters={"amount": str(1000 + i), "currency": "EUR"}) for i in range(10)]
    rules += [dc.validate_rule(name="daily", rule_type="daily_outgoing_limit",
                               parameters={"amount": "50000", "currency": "EUR", "per": "account"}),
              dc.validate_rule(name="countries", rule_type="country_block", parameters={"countries": ["IR", "KP"]}),
              dc.validate_rule(name="names", rule_type="counterparty_block",
                               parameters={"names": [f"Blocked {i}" for i in range(500)]})]
    same = tuple(dc.SameDayPayment(i % 3, Decimal(100 + i), "EUR") for i in range(50))
    facts = [dc.PaymentFacts(Decimal(500 + i % 2000), "EUR", i % 3, f"Payee {i}", ("DE",), date(2026, 11, 2), same)
             for i in range(n_payments)]
    t = time.perf_counter()
    for f in facts:
        dc.evaluate_payment(rules, f, lambda a, b: None)
    dt = time.perf_counter() - t
    print(f"kernel: {n_payments} payments × {len(rules)} rules in {dt:.2f} s = {dt / n_payments * 1e6:.0f} µs/payment")


def service(n_checks: int) -> None:
    from sqlalchemy import insert

    from cio_desktop.services.demo import build_demo
    from cio_desktop.services.workspace import open_workspace
    from cio_desktop.storage.models_compliance import ComplianceCheck, ComplianceCheckResult
    from tests.conftest import TEST_KEY, TEST_PASSWORD, TEST_TOTP_SECRET, FakeClock, make_settings
    from tests.property.helpers import make_session

    root = Path(tempfile.mkdtemp(prefix="cio-bench-compliance-"))
    clock = FakeClock()
    ws = open_workspace(make_settings(root), create=True, key=TEST_KEY, clock=clock)
    t = time.perf_counter()
    build_demo(ws.ctx, seed=7, scale=1, password=TEST_PASSWORD, totp_secret=TEST_TOTP_SECRET)
    built = time.perf_counter() - t
    make_session(ws, "auditor")
    print(f"demo built in {built:.1f} s ({len(ws.compliance.rules())} default rules seeded)")
    make_session(ws, "treasurer")
    acct = next(a for a in ws.accounts.list_accounts() if a.currency == "EUR")

    def schedule_times(n: int) -> list[float]:
        out = []
        for i in range(n):
            make_session(ws, "treasurer")
            t0 = time.perf_counter()
            ws.payments.schedule_transaction(account_id=acct.id, beneficiary_name="ACME GmbH",
                                             beneficiary_account="DE89370400440532013000",
                                             amount=f"{100 + i}.00", execution_date=clock.now.date() + timedelta(days=1),
                                             confirm_duplicate=True)
            out.append(time.perf_counter() - t0)
        return out

    with_rules = schedule_times(60)
    make_session(ws, "admin", mfa_age_seconds=0)
    from cio_desktop.services.compliance import RuleChange
    saved = ws.compliance.rules()
    ws.compliance.update_rules([RuleChange(rule_id=r.id, retire=True) for r in saved])
    without = schedule_times(60)
    med = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    print(f"schedule_transaction median: {med(with_rules):.1f} ms with the {len(saved)} default rules, "
          f"{med(without):.1f} ms with none (the check's cost: {med(with_rules) - med(without):.1f} ms)")
    make_session(ws, "admin", mfa_age_seconds=0)
    ws.compliance.update_rules([{"name": f"{r.name} (again)", "type": r.rule_type, "parameters": r.parameters,
                                 "severity": r.severity} for r in saved])

    from cio_desktop.services.compliance import validate_portfolio_change
    make_session(ws, "treasurer")
    pid = ws.portfolio.list_portfolios()[0].id
    hold = ws.portfolio.holdings(pid)
    trades = {h.identifier: (h.value_base.amount / 20).quantize(Decimal("0.01")) for h in hold[:5]}
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        with ws.db.unit_of_work() as uow:
            validate_portfolio_change(uow, ws.ctx, pid, trades)
        times.append(time.perf_counter() - t0)
    print(f"portfolio change check ({len(hold)} holdings, {len(trades)} trades): median {med(times):.1f} ms")

    make_session(ws, "auditor")
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        rows = ws.compliance.standing()
        times.append(time.perf_counter() - t0)
    print(f"standing ({len(rows)} rows, {len(ws.payments.list_payments())} payments): median {med(times):.1f} ms")

    # the report over many checks: bulk-insert synthetic checks into the period
    rules = ws.compliance.rules()
    now = clock.now
    with ws.db.unit_of_work() as uow:
        base = uow.execute(insert(ComplianceCheck).returning(ComplianceCheck.id), [
            {"checked_at": now, "operation": "payment.schedule", "entity": "payment", "entity_id": str(1 + i % 10),
             "actor": "bench", "outcome": "warn" if i % 7 == 0 else "pass", "subject": f"bench check {i}",
             "ruleset": ",".join(f"{r.id}:{r.version}" for r in rules)} for i in range(n_checks)]).scalars().all()
        uow.execute(insert(ComplianceCheckResult), [
            {"check_id": cid, "rule_id": r.id, "rule_version": r.version, "outcome": "pass", "limit_text": r.limit,
             "actual_text": "1.00 EUR", "message": "within the limit"} for cid in base for r in rules])
    out = root / "report.csv"
    t0 = time.perf_counter()
    report = ws.compliance.generate_compliance_report(now.date(), now.date())
    t1 = time.perf_counter()
    make_session(ws, "auditor")
    ws.compliance.export_report(report, out)
    t2 = time.perf_counter()
    ws.compliance.export_report(report, root / "report.json")
    t3 = time.perf_counter()
    print(f"report: {len(report.checks)} checks × {len(rules)} rules generated in {t1 - t0:.2f} s, CSV "
          f"({out.stat().st_size / 1e6:.1f} MB) in {t2 - t1:.2f} s, JSON in {t3 - t2:.2f} s")
    ws.close()


if __name__ == "__main__":
    kernel()
    service(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
