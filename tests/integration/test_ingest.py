"""The storage side of importing (shared by file import and API sync), fed with Statement
records directly so it is tested independently of any parser."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import func, select

from cio_desktop.domain.statements import Statement, StatementLine
from cio_desktop.errors import ValidationError
from cio_desktop.services.statement_import import FileImportResult, ingest
from cio_desktop.storage.models import ImportBatch, Transaction
from tests.conftest import login
from tests.property.helpers import make_session

IBAN = "DE89370400440532013000"


def line(d: str, amount: str, ref: str = "", cp: str = "ACME GmbH", desc: str = "Invoice", n: int = 1,
         currency: str = "EUR") -> StatementLine:
    return StatementLine(booking_date=date.fromisoformat(d), amount=Decimal(amount), currency=currency,
                         counterparty=cp, reference=ref, description=desc, line=n)


def run(ws, statements, account_id=None) -> FileImportResult:  # noqa: ANN001
    result = FileImportResult(file="test", format="test")
    with ws.db.unit_of_work() as uow:
        batch = ImportBatch(source="test", kind="file", format="test", actor=ws.ctx.actor,
                            imported_at=ws.ctx.now())
        uow.add(batch)
        uow.flush()
        ingest(ws.ctx, uow, statements, batch, result, account_id=account_id)
    return result


def ledger_count(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(Transaction)).scalar_one()


def stmt(lines, **kw) -> Statement:  # noqa: ANN001
    return Statement(account=kw.pop("account", IBAN), currency=kw.pop("currency", "EUR"), lines=lines,
                     source="test.sta", **kw)


def test_new_account_created_from_statement_and_duplicates_dropped(ws):
    login(ws, "treasurer")
    lines = [line("2026-03-02", "100.00", "R1"), line("2026-03-02", "-20.50", "R2", n=2)]
    first = run(ws, [stmt(lines)])
    assert (first.new, first.duplicates, first.created_accounts) == (2, 0, ["DE89 **** **** **** 3000"])
    again = run(ws, [stmt(lines + [line("2026-03-03", "5.00", "R3", n=3)])])
    assert (again.new, again.duplicates, again.created_accounts) == (1, 2, [])
    assert ledger_count(ws) == 3


def test_lines_without_reference_keep_identical_twins(ws):
    login(ws, "treasurer")
    twins = [line("2026-03-02", "-3.20", "", "Cafe", "Coffee", n=1), line("2026-03-02", "-3.20", "NONREF", "Cafe", "Coffee", n=2)]
    assert run(ws, [stmt(twins)]).new == 2
    assert run(ws, [stmt(twins)]).new == 0
    # an overlapping file with one more identical coffee adds exactly that one
    assert run(ws, [stmt(twins + [line("2026-03-02", "-3.20", "", "Cafe", "Coffee", n=3)])]).new == 1


def test_unbalanced_statement_refused_naming_both_figures(ws):
    login(ws, "treasurer")
    s = stmt([line("2026-03-02", "100.00", "R1")], opening_balance=Decimal("1000.00"),
             closing_balance=Decimal("1100.01"), line=4)
    with pytest.raises(ValidationError) as err:
        run(ws, [s])
    msg = str(err.value)
    assert "1,100.00 EUR" in msg and "1,100.01 EUR" in msg and "test.sta" in msg and "line 4" in msg
    assert ledger_count(ws) == 0


@pytest.mark.parametrize("bad,field", [
    (line("2026-03-02", "1.005", "R9", n=7), "amount"),
    (line("2026-03-02", "1.00", "R9", n=7, currency="XXX"), "currency"),
    (line("2026-03-02", "1.00", "R9", n=7, currency="USD"), "currency"),
])
def test_one_bad_line_refuses_the_whole_file(ws, bad, field):
    login(ws, "treasurer")
    with pytest.raises(ValidationError) as err:
        run(ws, [stmt([line("2026-03-01", "1.00", "R0"), bad])])
    assert err.value.field == field and err.value.line == 7 and err.value.source == "test.sta"
    assert ledger_count(ws) == 0


def test_statement_without_account_or_currency(ws):
    login(ws, "treasurer")
    with pytest.raises(ValidationError, match="names no account"):
        run(ws, [stmt([line("2026-03-01", "1.00", "R0")], account="")])
    with pytest.raises(ValidationError, match="does not say its currency"):
        run(ws, [stmt([line("2026-03-01", "1.00", "R0")], currency="")])


valid_line = st.builds(
    lambda d, cents, ref, cp: StatementLine(booking_date=d, amount=Decimal(cents).scaleb(-2), currency="EUR",
                                            counterparty=cp, reference=ref, description="x"),
    st.dates(date(2020, 1, 1), date(2030, 12, 31)), st.integers(-10**9, 10**9),
    st.sampled_from(["", "NONREF", "A1", "A2", "B7"]), st.sampled_from(["", "ACME", "Globex"]))
invalid_line = st.builds(
    lambda d, amount, currency: StatementLine(booking_date=d, amount=amount, currency=currency),
    st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    st.sampled_from([Decimal("0.001"), Decimal("NaN"), Decimal("1E+30"), Decimal("12.345")]),
    st.sampled_from(["EUR", "EUR", "usd", "ABC"]))


@settings(max_examples=100)
@given(lines=st.lists(st.one_of(valid_line, valid_line, invalid_line), min_size=1, max_size=12))
def test_property_2_data_validation_consistency(ws, lines):
    """A record is stored iff it (and so its file) validates; the same input, imported again,
    gives the same outcome and adds nothing."""
    make_session(ws, "treasurer")
    with ws.db.engine.begin() as conn:  # each example starts from an empty ledger
        conn.exec_driver_sql("DELETE FROM transactions")
    numbered = [StatementLine(**{**{f: getattr(ln, f) for f in ln.__slots__}, "line": i + 1})
                for i, ln in enumerate(lines)]
    outcomes = []
    for _ in range(2):
        try:
            outcomes.append(("ok", run(ws, [stmt(numbered)]).new))
        except ValidationError as exc:
            outcomes.append(("refused", exc.line, exc.field))
    all_valid = all(_valid(ln) for ln in numbered)
    if all_valid:
        assert outcomes[0][0] == "ok" and outcomes[1] == ("ok", 0)
        assert ledger_count(ws) == outcomes[0][1] > 0
    else:
        first_bad = next(ln for ln in numbered if not _valid(ln))
        assert outcomes[0] == outcomes[1] == ("refused", first_bad.line, outcomes[0][2])
        assert ledger_count(ws) == 0


def _valid(ln: StatementLine) -> bool:
    if ln.currency != "EUR" or not ln.amount.is_finite():
        return False
    scaled = ln.amount.scaleb(2)
    return scaled == scaled.to_integral_value() and abs(scaled) < 10**17
