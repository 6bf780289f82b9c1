"""Helpers for the compliance tests: accounts, beneficiaries, rules and payments set up through
the real services (sessions built directly, so no password hashing per example)."""

from __future__ import annotations

from datetime import date
from itertools import count

from sqlalchemy import select

from cio_desktop.services.payments import add_beneficiary
from cio_desktop.storage.models_compliance import ComplianceCheck, ComplianceCheckResult
from tests.property.helpers import make_session

BENEFICIARIES = [("DE89370400440532013000", "ACME GmbH"), ("FR7630006000011234567890189", "Lyon Acier SA"),
                 ("NL16INGB0007356212", "Van der Berg B.V.")]
_serial = count(1)


def iban_for(n: int) -> str:
    bban = f"70050000{n:010d}"
    digits = "".join(str(int(ch, 36)) for ch in bban + "DE00")
    return f"DE{98 - int(digits) % 97:02d}{bban}"


def known_beneficiaries(ws) -> None:  # noqa: ANN001
    """Payees paid before (no 'new beneficiary' extra approval)."""
    with ws.db.unit_of_work() as uow:
        for iban, name in BENEFICIARIES:
            add_beneficiary(uow, ws.ctx, name=name, account=iban, first_used_on=date(2025, 1, 2), actor="test")


def open_account(ws, opening: str = "1000000", currency: str = "EUR", minimum: str = "0") -> int:  # noqa: ANN001
    make_session(ws, "treasurer")
    n = next(_serial)
    return ws.accounts.create_account(name=f"Compliance {n}", institution="Test Bank", number=iban_for(n),
                                      currency=currency, bic="COBADEFFXXX", min_balance=minimum,
                                      opening_balance=opening).id


def set_rules(ws, *changes) -> list:  # noqa: ANN001, ANN002
    make_session(ws, "admin", mfa_age_seconds=0)
    return ws.compliance.update_rules(list(changes))


def schedule(ws, account_id: int, amount: str, payee: int = 0, when: date | None = None):  # noqa: ANN001, ANN201
    make_session(ws, "treasurer")
    iban, name = BENEFICIARIES[payee]
    return ws.payments.schedule_transaction(account_id=account_id, beneficiary_name=name, beneficiary_account=iban,
                                            amount=amount, execution_date=when or ws.ctx.now().date(),
                                            confirm_duplicate=True)


def approve(ws, payment_id: int, who: str = "approver"):  # noqa: ANN001, ANN201
    make_session(ws, who, mfa_age_seconds=0)
    return ws.payments.approve(payment_id, "ok")


def execute(ws, payment_id: int):  # noqa: ANN001, ANN201
    make_session(ws, "treasurer", mfa_age_seconds=0)
    return ws.payments.execute_transaction(payment_id)


def checks(ws) -> list[tuple[ComplianceCheck, list[ComplianceCheckResult]]]:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        rows = list(uow.execute(select(ComplianceCheck).order_by(ComplianceCheck.id)).scalars())
        results: dict[int, list[ComplianceCheckResult]] = {}
        for r in uow.execute(select(ComplianceCheckResult).order_by(ComplianceCheckResult.id)).scalars():
            results.setdefault(r.check_id, []).append(r)
        return [(c, results.get(c.id, [])) for c in rows]
