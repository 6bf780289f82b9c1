"""The per-line import work (services.statement_rows): the search text matches the ledger's,
chunk boundaries never change the rows, and a bad line ends its chunk with an error that
names file, line and field."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from cio_desktop.domain.statements import StatementLine
from cio_desktop.errors import ValidationError
from cio_desktop.services.ledger import search_text_for
from cio_desktop.services.statement_rows import RowBuilder, check_currencies, search_text

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=300)
@given(texts, texts, texts)
def test_search_text_is_the_ledgers(counterparty, reference, description):
    assert search_text(counterparty, reference, description) == \
        search_text_for(counterparty, reference, description, "")


lines_strategy = st.lists(st.builds(
    StatementLine,
    booking_date=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    amount=st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
    currency=st.just("EUR"),
    counterparty=st.sampled_from(["", "Coffee Ltd", "ACME"]),
    reference=st.sampled_from(["", "NONREF", "R1", "R2"]),
    description=st.sampled_from(["", "coffee", "invoice"]),
    line=st.integers(1, 10**6)), max_size=40)


@settings(max_examples=100)
@given(lines_strategy, st.integers(1, 50))
def test_chunk_size_never_changes_rows_or_total(lines, size):
    one = RowBuilder("f.csv", iso_dates=True)
    whole = [r for c in one.chunks(lines, size=10**6) for r in c.rows]
    other = RowBuilder("f.csv", iso_dates=True)
    chunks = list(other.chunks(lines, size=size))
    assert [r for c in chunks for r in c.rows] == whole
    assert all(len(c.rows) <= size for c in chunks)
    assert one.total_minor == other.total_minor == sum(int(ln.amount * 100) for ln in lines)
    # identical lines without a bank reference stay distinct (occurrence number in the key)
    hashed = [r[4] for r in whole if r[4].startswith("h:")]
    assert len(set(hashed)) == len(hashed) == sum(ln.reference in ("", "NONREF") for ln in lines)


def line(n: int, amount: str = "1.00", currency: str = "EUR", **kw) -> StatementLine:  # noqa: ANN003
    return StatementLine(booking_date=date(2026, 1, n), amount=Decimal(amount), currency=currency, line=n,
                         reference=f"R{n}", **kw)


@pytest.mark.parametrize(("bad", "message", "field"), [
    (line(3, "1.234"), "1.234 has more than 2 decimals for EUR", "amount"),
    (line(3, "NaN"), "'NaN' is not an amount", "amount"),
    (line(3, "1E+20"), "beyond any plausible amount", "amount"),
    (line(3, currency="XXY"), "'XXY' is not an ISO 4217 currency", "currency"),
    (StatementLine(booking_date=None, amount=Decimal(1), currency="EUR", line=3),  # type: ignore[arg-type]
     "booking date is missing", "booking date"),
    (StatementLine(booking_date=date(2026, 1, 3), amount=1.5, currency="EUR", line=3),  # type: ignore[arg-type]
     "'1.5' is not an amount", "amount"),
])
def test_a_bad_line_ends_the_chunk_with_its_place(bad, message, field):
    chunks = list(RowBuilder("f.csv", iso_dates=True).chunks([line(1), line(2), bad, line(4)]))
    assert len(chunks) == 1 and len(chunks[0].rows) == 2
    err = chunks[0].error
    assert isinstance(err, ValidationError) and message in str(err)
    assert (err.source, err.line, err.field) == ("f.csv", 3, field)


def test_foreign_currency_is_refused_at_its_first_line_by_the_writer_check():
    chunk = next(RowBuilder("f.csv", iso_dates=True).chunks([line(1), line(2, currency="USD"), line(3, "1.5")]))
    assert chunk.currencies == {"EUR": 1, "USD": 2} and chunk.error is None
    with pytest.raises(ValidationError, match="line 2.*USD differs from the account currency EUR"):
        check_currencies(chunk.currencies, "EUR", "f.csv")
    check_currencies({"eur": 1}, "EUR", "f.csv")  # the case of a code is not a difference
