"""Properties 22, 23 and 24 (see ../shared/PROPERTIES.md) over random rule sets and random
sequences of schedule / approve / execute / rule-update steps on real payments.

The oracle recomputes every blocking rule with its own integer arithmetic from the stored rows
(not with the domain evaluator), so a wrong evaluator, a missing call or a stale rule version
fails the property."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count

from hypothesis import given, settings, strategies as st
from sqlalchemy import func, or_, select

from cio_desktop.domain.compliance import name_key
from cio_desktop.errors import CioError, ComplianceViolation
from cio_desktop.services.compliance import REQUIRED_CHECK_FIELDS, RuleChange
from cio_desktop.storage.models import Account, Payment, Transaction
from cio_desktop.storage.models_compliance import ComplianceCheck, ComplianceCheckResult
from tests.compliance_fixtures import BENEFICIARIES, known_beneficiaries, open_account
from tests.property.helpers import make_session

_names = count(1)
COUNTRIES = {0: "DE", 1: "FR", 2: "NL"}
CAPS = [None, 500_00, 1_000_00, 5_000_00]
DAILY = [None, 1_500_00, 3_000_00]
BUFFERS = [None, 5_000_00, 12_000_00]
BLOCKED_COUNTRIES = [None, ("FR",), ("FR", "NL")]
BLOCKED_NAMES = [None, ("ACME GmbH",), ("Van der Berg BV",)]
TYPES = ("cap", "daily", "buffer", "country", "name")
CHOICES = {"cap": CAPS, "daily": DAILY, "buffer": BUFFERS, "country": BLOCKED_COUNTRIES, "name": BLOCKED_NAMES}

severity = st.sampled_from(["block", "block", "block", "warn"])
ruleset = st.fixed_dictionaries({t: st.tuples(st.sampled_from(range(len(CHOICES[t]))), severity) for t in TYPES})
amounts = st.one_of(st.sampled_from([100_00, 499_99, 500_00, 500_01, 999_99, 1_000_00, 1_000_01, 1_500_00,
                                     3_000_00, 4_999_99, 5_000_00, 5_000_01]), st.integers(1, 6_000_00))
pick = st.floats(0, 1, exclude_max=True)
step = st.one_of(
    st.tuples(st.just("schedule"), amounts, st.integers(0, 2), st.integers(0, 1)),
    st.tuples(st.just("schedule"), amounts, st.integers(0, 2), st.just(0)),
    st.tuples(st.just("approve"), pick),
    st.tuples(st.just("approve"), pick),
    st.tuples(st.just("execute"), pick),
    st.tuples(st.just("update"), st.sampled_from(TYPES), st.integers(0, 3), severity),
)
opening = st.sampled_from([3_000_00, 8_000_00, 20_000_00])


@dataclass
class Model:
    """The test's own view of the rules in force: type → (rule id, value, severity, version)."""

    rules: dict[str, tuple[int, object, str, int]] = field(default_factory=dict)

    def versions(self) -> set[tuple[int, int]]:
        return {(rid, ver) for rid, _, _, ver in self.rules.values()}


def _change_for(kind: str, value: object, sev: str, suffix: int) -> dict:
    name = f"{kind}-{suffix}"
    if kind == "cap":
        return {"name": name, "type": "max_single_payment", "severity": sev,
                "parameters": {"amount": str(value / 100), "currency": "EUR"}}
    if kind == "daily":
        return {"name": name, "type": "daily_outgoing_limit", "severity": sev,
                "parameters": {"amount": str(value / 100), "currency": "EUR", "per": "account"}}
    if kind == "buffer":
        return {"name": name, "type": "min_liquidity", "severity": sev,
                "parameters": {"amount": str(value / 100), "currency": "EUR"}}
    if kind == "country":
        return {"name": name, "type": "country_block", "severity": sev, "parameters": {"countries": list(value)}}
    return {"name": name, "type": "counterparty_block", "severity": sev, "parameters": {"names": list(value)}}


def _setup(ws, clock, rules: dict, open_minor: int) -> tuple[Model, int]:  # noqa: ANN001
    if not getattr(ws, "_compliance_props_ready", False):
        make_session(ws, "admin")
        known_beneficiaries(ws)
        ws._compliance_props_ready = True
    clock.advance(days=2)                     # a new day per example: daily sums and the report period
    make_session(ws, "admin", mfa_age_seconds=0)
    model = Model()
    retire = [RuleChange(rule_id=r.id, retire=True) for r in ws.compliance.rules()]
    changes, kinds = [], []
    suffix = next(_names)
    for kind, (idx, sev) in rules.items():
        value = CHOICES[kind][idx]
        if value is not None:
            changes.append(_change_for(kind, value, sev, suffix))
            kinds.append((kind, value, sev))
    if changes or retire:   # one transaction: yesterday's rules retired, today's added
        views = ws.compliance.update_rules(retire + changes)[len(retire):]
        for (kind, value, sev), view in zip(kinds, views):
            model.rules[kind] = (view.id, value, sev, view.version)
    # this example's money only: earlier examples' accounts are closed
    with ws.db.unit_of_work() as uow:
        for a in uow.execute(select(Account).where(Account.is_active.is_(True))).scalars():
            a.is_active = False
    account = open_account(ws, opening=f"{open_minor / 100:.2f}")
    return model, account


def _update(ws, model: Model, kind: str, idx: int, sev: str) -> None:  # noqa: ANN001
    value = CHOICES[kind][idx % len(CHOICES[kind])]
    make_session(ws, "admin", mfa_age_seconds=0)
    current = model.rules.get(kind)
    if current is None and value is None:
        return
    if current is None:
        (view,) = ws.compliance.update_rules([_change_for(kind, value, sev, next(_names))])
    elif value is None:
        ws.compliance.update_rules([RuleChange(rule_id=current[0], retire=True)])
        del model.rules[kind]
        return
    else:
        params = _change_for(kind, value, sev, 0)["parameters"]
        (view,) = ws.compliance.update_rules([RuleChange(rule_id=current[0], parameters=params, severity=sev)])
    model.rules[kind] = (view.id, value, sev, view.version)


def breaches(ws, model: Model, p: Payment, *, committed_self: bool = False) -> list[str]:  # noqa: ANN001
    """The blocking rules ``p`` breaches now, recomputed from the rows with integer arithmetic."""
    out = []
    country = p.account_masked[:2]
    with ws.db.unit_of_work(write=False) as uow:
        for kind, (rid, value, sev, _) in model.rules.items():
            if sev != "block":
                continue
            if kind == "cap" and p.amount_minor > value:
                out.append(kind)
            elif kind == "country" and (country in value or p.country in value):
                out.append(kind)
            elif kind == "name" and name_key(p.beneficiary_name) in {name_key(n) for n in value}:
                out.append(kind)
            elif kind == "daily":
                others = uow.execute(select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
                    Payment.debit_account_id == p.debit_account_id, Payment.execution_date == p.execution_date,
                    Payment.status.in_(["pending_approval", "approved", "scheduled", "executed"]),
                    Payment.id != p.id)).scalar_one()
                if others + p.amount_minor > value:
                    out.append(kind)
            elif kind == "buffer":
                ids = list(uow.execute(select(Account.id).where(Account.currency == "EUR",
                                                                Account.is_active.is_(True))).scalars())
                opening = uow.execute(select(func.coalesce(func.sum(Account.opening_balance_minor), 0))
                                      .where(Account.id.in_(ids))).scalar_one()
                ledger = uow.execute(select(func.coalesce(func.sum(Transaction.amount_minor), 0))
                                     .where(Transaction.account_id.in_(ids))).scalar_one()
                out_ = uow.execute(select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
                    Payment.debit_account_id.in_(ids), Payment.id != p.id,
                    or_(Payment.status.in_(["approved", "scheduled"]), Payment.status == "executed"))).scalar_one()
                if opening + ledger - out_ - p.amount_minor < value:
                    out.append(kind)
    return out


def _payment(ws, pid: int) -> Payment:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        p = uow.get(Payment, pid)
        uow.expunge(p)
        return p


def _pick(ws, account: int, f: float, statuses: set[str]) -> int | None:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        rows = [pid for pid, s in uow.execute(select(Payment.id, Payment.status).where(
            Payment.debit_account_id == account).order_by(Payment.id)) if s in statuses]
    return rows[int(f * len(rows))] if rows else None


def _check_rows_after(ws, last_id: int) -> list[tuple[ComplianceCheck, set[tuple[int, int]]]]:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        rows = list(uow.execute(select(ComplianceCheck).where(ComplianceCheck.id > last_id)
                                .order_by(ComplianceCheck.id)).scalars())
        out = []
        for c in rows:
            rv = {(r.rule_id, r.rule_version) for r in uow.execute(
                select(ComplianceCheckResult).where(ComplianceCheckResult.check_id == c.id)).scalars()}
            out.append((c, rv))
        return out


def _last_check(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.coalesce(func.max(ComplianceCheck.id), 0))).scalar_one()


@dataclass
class Logged:
    op: str            # payment.schedule / .approve / .execute
    entity_id: str     # payment id, or "new" for a refused schedule
    outcome: str       # done | blocked
    approver: str = ""


def run(ws, clock, rules: dict, open_minor: int, steps: list, *, on_check=None) -> tuple[Model, list[Logged]]:  # noqa: ANN001
    """Apply the steps; after each one assert property 22 (both ways: what completed breaks no
    blocking rule in force; what compliance refused breaks one). ``on_check(model, rows,
    logged)`` sees each step's new check rows (property 24)."""
    model, account = _setup(ws, clock, rules, open_minor)
    log: list[Logged] = []
    for s in steps:
        kind = s[0]
        if kind == "update":
            _update(ws, model, *s[1:])
            continue
        before = _last_check(ws)
        entry = None
        if kind == "schedule":
            _, amount, payee, ahead = s
            iban, name = BENEFICIARIES[payee]
            make_session(ws, "treasurer")
            with ws.db.unit_of_work(write=False) as uow:
                n_before = uow.execute(select(func.count()).select_from(Payment)).scalar_one()
            try:
                r = ws.payments.schedule_transaction(
                    account_id=account, beneficiary_name=name, beneficiary_account=iban,
                    amount=f"{amount / 100:.2f}", execution_date=clock.now.date() + timedelta(days=ahead),
                    confirm_duplicate=True)
                p = _payment(ws, r.payment.id)
                assert not breaches(ws, model, p), ("scheduled despite", breaches(ws, model, p))
                entry = Logged("payment.schedule", str(p.id), "done")
            except ComplianceViolation as exc:
                with ws.db.unit_of_work(write=False) as uow:
                    assert uow.execute(select(func.count()).select_from(Payment)).scalar_one() == n_before
                probe = Payment(id=0, debit_account_id=account, amount_minor=amount, currency="EUR",
                                beneficiary_name=name, account_masked=iban[:2], country=iban[:2],
                                execution_date=clock.now.date() + timedelta(days=ahead))
                assert breaches(ws, model, probe), f"refused without a breach: {exc}"
                entry = Logged("payment.schedule", "new", "blocked")
        else:
            f = s[1]
            statuses = {"pending_approval"} if kind == "approve" else {"approved"}
            pid = _pick(ws, account, f, statuses)
            if pid is None:
                continue
            before_status = _payment(ws, pid).status
            make_session(ws, "approver" if kind == "approve" else "treasurer", mfa_age_seconds=0)
            try:
                if kind == "approve":
                    ws.payments.approve(pid, "ok")
                else:
                    ws.payments.execute_transaction(pid)
                p = _payment(ws, pid)
                assert p.status != before_status
                assert not breaches(ws, model, p), (kind, "went through despite", breaches(ws, model, p))
                entry = Logged(f"payment.{kind}", str(pid), "done", "approver" if kind == "approve" else "")
            except ComplianceViolation as exc:
                assert _payment(ws, pid).status == before_status        # nothing happened
                assert breaches(ws, model, _payment(ws, pid)), f"refused without a breach: {exc}"
                entry = Logged(f"payment.{kind}", str(pid), "blocked")
            except CioError:
                entry = None   # another control (funds) refused it before or after compliance
        rows = _check_rows_after(ws, before)
        if entry is not None:
            assert rows, f"{entry.op} completed or was refused without a recorded check"
            log.append(entry)
        if on_check is not None:
            on_check(model, rows, entry)
    return model, log


@settings(max_examples=100, deadline=None)
@given(rules=ruleset, open_minor=opening, steps=st.lists(step, min_size=3, max_size=9))
def test_property_22_compliance_violation_blocking(ws, clock, rules, open_minor, steps):
    run(ws, clock, rules, open_minor, steps)


@settings(max_examples=100, deadline=None)
@given(rules=ruleset, open_minor=opening,
       steps=st.lists(st.one_of(step, st.tuples(st.just("update"), st.sampled_from(TYPES), st.integers(0, 3),
                                                severity)), min_size=3, max_size=9))
def test_property_24_rule_update_propagation(ws, clock, rules, open_minor, steps):
    def check(model: Model, rows, entry) -> None:  # noqa: ANN001
        expected = model.versions()
        for c, versions in rows:
            # every rule in force at its current version, and nothing else (no old version, no retired rule)
            assert versions == expected, (c.operation, versions, expected)
            assert c.ruleset == ",".join(f"{r}:{v}" for r, v in sorted(expected))

    run(ws, clock, rules, open_minor, steps, on_check=check)


@settings(max_examples=100, deadline=None)
@given(rules=ruleset, open_minor=opening, steps=st.lists(step, min_size=3, max_size=9))
def test_property_23_regulatory_record_completeness(ws, clock, rules, open_minor, steps):
    seen: list = []
    model, log = run(ws, clock, rules, open_minor, steps, on_check=lambda m, rows, e: seen.extend(rows))
    rulesets = {c.id: c.ruleset for c, _ in seen}
    c_ruleset = lambda cid: [x for x in rulesets[cid].split(",") if x]  # noqa: E731
    make_session(ws, "auditor")
    day = clock.now.date()
    rep = ws.compliance.generate_compliance_report(day, day)
    assert rep.verify() and rep.generated_by == "auditor" and rep.generated_at == clock.now
    # exactly the period's checks, each with every required field filled
    assert [c["check_id"] for c in rep.checks] == [c.id for c, _ in seen]
    for c in rep.checks:
        for k in REQUIRED_CHECK_FIELDS:
            assert c[k] not in (None, ""), (k, c)
        assert {(r["rule_id"], r["version"]) for r in c["rules"]} == {
            tuple(map(int, x.split(":"))) for x in c_ruleset(c["check_id"])}
        assert all(r["rule"] and r["outcome"] and r["limit"] for r in c["rules"])
    in_force = {(r["rule_id"], r["version"]) for r in rep.rules}
    for c in rep.checks:
        assert {(r["rule_id"], r["version"]) for r in c["rules"]} <= in_force
    # every operation the steps made appears with its outcome
    remaining = list(rep.checks)
    for e in log:
        match = next((c for c in remaining if c["operation"] == e.op and c["entity_id"] == e.entity_id
                      and (c["outcome"] == "block") == (e.outcome == "blocked")), None)
        assert match is not None, (e, [(c["operation"], c["entity_id"], c["outcome"]) for c in rep.checks])
        remaining.remove(match)
    blocked = {(v["check_id"], v["rule_id"]) for v in rep.violations}
    for c in rep.checks:
        for r in c["rules"]:
            assert ((c["check_id"], r["rule_id"]) in blocked) == (r["outcome"] in ("block", "overridden"))
    # approval trails: every approval that went through is there with its approver
    trails = {t["payment_id"]: t for t in rep.approval_trails}
    for e in log:
        if e.op == "payment.approve" and e.outcome == "done":
            assert "approver" in {a["approver"] for a in trails[int(e.entity_id)]["approvals"]}
