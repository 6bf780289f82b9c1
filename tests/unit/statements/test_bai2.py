"""BAI2 parser: exact records from realistic samples (several groups and accounts, continuation
records, funds-type variants), every control total and record count verified, bad input refused
with line and field, and a mutation test (never anything but ValidationError)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.unit.statements.mutation import parse_all as shared_parse_all
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cio_desktop.domain.statements import Statement, StatementLine
from cio_desktop.errors import ValidationError
from cio_desktop.integrations.statements import bai2

DATA = Path(__file__).resolve().parents[2] / "data" / "statements" / "bai2"
MULTI = (DATA / "bai2_multi.bai").read_bytes()
CRLF = (DATA / "bai2_crlf_noslash.bai").read_bytes()


def parse_all(data: bytes, source: str = "test.bai", **options) -> list[Statement]:
    return shared_parse_all(bai2, data, source, **options)


def refused(data: bytes, **options) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse_all(data, **options)
    return info.value


def line_of(data: bytes, prefix: str) -> int:
    """1-based number of the first line starting with ``prefix``."""
    for number, line in enumerate(data.splitlines(), start=1):
        if line.decode("latin-1").startswith(prefix):
            return number
    raise AssertionError(prefix)


def replace_line(data: bytes, old: str, new: str) -> bytes:
    assert data.count(old.encode()) == 1, old
    return data.replace(old.encode(), new.encode())


def L(**kw) -> StatementLine:  # noqa: N802
    kw["amount"] = Decimal(kw["amount"])
    return StatementLine(**kw)


AS_OF = date(2024, 1, 14)


def test_multi_group_file_exact_records():
    a, b, c, d = parse_all(MULTI, "bank.bai")
    assert (a.account, a.currency, a.statement_id, a.format, a.source, a.line) == (
        "000123456789", "USD", "20240115A/20240114/000123456789", "bai2", "bank.bai", 3)
    assert (a.opening_balance, a.opening_date, a.closing_balance, a.closing_date) == (
        Decimal("15000.00"), AS_OF, Decimal("18123.45"), AS_OF)
    assert a.lines == [
        # text continued on an 88 record (joined with a space; commas and '/' inside text kept)
        L(booking_date=AS_OF, amount="2500.00", currency="USD", reference="FW2401140001",
          end_to_end_id="INV-88123", bank_code="195", line=5,
          description="INCOMING WIRE ORG=ACME CORP, NEW YORK OBI=INVOICE 88123/88124"),
        # funds type S: three availability amounts before the references
        L(booking_date=AS_OF, amount="1500.00", currency="USD", reference="LBX0114",
          description="LOCKBOX DEPOSIT 3 ITEMS", bank_code="175", line=7),
        L(booking_date=AS_OF, amount="500.00", currency="USD", reference="ACH0114-77",
          description="ACH CREDIT RECEIVED PAYROLL REFUND", bank_code="142", line=8),
        # funds type V: value date and time → value_date
        L(booking_date=AS_OF, amount="-376.55", currency="USD", value_date=date(2024, 1, 16),
          reference="CHK1001", end_to_end_id="1001", description="CHECK PAID", bank_code="475", line=9),
        # funds type D: two distributions
        L(booking_date=AS_OF, amount="-1000.00", currency="USD", reference="ACH0114-88",
          end_to_end_id="VENDOR-PAY-7", description="ACH DEBIT RECEIVED", bank_code="455", line=10),
    ]
    # the 03 record continued on an 88 record: every summary item read
    assert a.extra["summaries"] == [("010", 1500000, None, ""), ("015", 1812345, None, ""),
                                    ("040", 1450000, None, ""), ("045", 1762345, None, ""),
                                    ("100", 450000, 3, ""), ("400", 137655, 2, "")]
    assert (a.extra["control_total"], a.extra["record_count"]) == (7700000, 9)
    assert (a.extra["originator"], a.extra["as_of_modifier"], a.extra["file_id"]) == (
        "021000021", "2", "20240115A")

    # no currency on the 03: the group's; negative (overdrawn) ledger balances; 890 gives no line
    assert (b.account, b.currency, b.opening_balance, b.closing_balance) == (
        "000987654321", "USD", Decimal("-2500.00"), Decimal("-1750.00"))
    assert b.lines == [
        L(booking_date=AS_OF, amount="1000.00", currency="USD", reference="ACH0114-99",
          end_to_end_id="CUST-REF-1", description="PREAUTHORIZED ACH CREDIT", bank_code="165", line=13),
        L(booking_date=AS_OF, amount="-250.00", currency="USD", reference="FEE0114",
          description="MISCELLANEOUS FEE", bank_code="699", line=14),
    ]
    assert b.extra["non_monetary"] == 1

    # second group in CAD; an account in JPY (no minor unit)
    assert (c.account, c.currency, c.opening_balance, c.closing_balance) == (
        "55501234", "CAD", Decimal("100000.00"), Decimal("98765.43"))
    assert c.lines == [L(booking_date=AS_OF, amount="-1234.57", currency="CAD", reference="PAD0114",
                         description="PRE-AUTHORIZED DEBIT HYDRO", bank_code="451", line=20)]
    assert (d.currency, d.opening_balance, d.closing_balance) == ("JPY", Decimal("5000000"), Decimal("5120000"))
    assert d.lines == [L(booking_date=AS_OF, amount="120000", currency="JPY", reference="FW-JP-0114",
                         description="INCOMING WIRE TOKYO BRANCH", bank_code="195", line=23)]
    for s in (a, b, c, d):
        assert s.opening_balance + sum(x.amount for x in s.lines) == s.closing_balance


def test_crlf_file_without_slash_terminators():
    [s] = parse_all(CRLF)
    assert (s.account, s.currency, s.opening_balance, s.closing_balance, s.opening_date) == (
        "4455667788", "USD", Decimal("0.00"), Decimal("12345.67"), date(2024, 11, 4))
    assert s.lines == [
        L(booking_date=date(2024, 11, 4), amount="13000.00", currency="USD", reference="BOOKXFER1",
          description="BOOK TRANSFER CREDIT FROM 4455667799", bank_code="206", line=5),
        L(booking_date=date(2024, 11, 4), amount="-654.33", currency="USD", reference="PAYMENT9",
          end_to_end_id="ACME-9981", bank_code="409", line=6,
          description="DEBIT: CARD SETTLEMENT MERCHANT 0042 BATCH 77 SETTLED 2024-11-04"),
    ]
    assert s.extra["record_count"] == 7


def test_default_currency_option():
    [s] = parse_all(CRLF, default_currency="EUR")
    assert s.currency == "EUR" and {x.currency for x in s.lines} == {"EUR"}
    with pytest.raises(ValidationError) as info:
        bai2.parse(io.BytesIO(CRLF), "x", default_currency="ZZZ")
    assert info.value.field == "default_currency"


def test_sniff():
    assert bai2.sniff(MULTI[:200], "x.bai")
    assert bai2.sniff(b"\xef\xbb\xbf" + CRLF[:200], "x.txt")
    assert not bai2.sniff(b"02,EXAMPLECORP,021000021,1,240114", "x.bai")
    assert not bai2.sniff(b"01,02,03\n04,05,06\n", "numbers.csv")
    assert not bai2.sniff(b'<?xml version="1.0"?><Document/>', "x.xml")


class Trickle(io.BytesIO):
    """Hands the parser 7 bytes at a time, so CRLF pairs and records straddle reads."""

    def read(self, size=-1):
        return super().read(7 if size is not None and size > 0 else size)


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings_and_chunking(newline):
    expected = [(s.account, s.lines) for s in parse_all(MULTI)]
    data = MULTI.replace(b"\n", newline)
    for stream in (io.BytesIO(data), Trickle(data)):
        got = []
        for statement in bai2.parse(stream, "x"):
            got.append((statement.account, list(statement.lines)))
        assert got == expected


def test_sniff_refuses_other_helpers_samples():
    files = [p for d in ("ofx", "mt940", "camt", "csv") for p in (DATA.parent / d).glob("*") if p.is_file()]
    if not files:
        pytest.skip("no other samples present")
    for path in files:
        assert bai2.sniff(path.read_bytes()[:65536], path.name) is False, path.name


def test_lines_are_lazy_and_read_through():
    statements = bai2.parse(io.BytesIO(MULTI), "x")
    first = next(statements)
    second = next(statements)            # the first account's lines were never consumed
    assert second.account == "000987654321"
    assert list(first.lines) == []
    assert len(list(second.lines)) == 2
    assert [s.account for s in statements] == ["55501234", "77700001"]


def test_bank_specific_type_code_needs_a_direction():
    data = replace_line(CRLF, "16,206,1300000", "16,721,1300000")
    err = refused(data)
    assert (err.line, err.field) == (5, "16/type code")
    [s] = parse_all(data, type_codes={"721": 1})
    assert s.lines[0].amount == Decimal("13000.00") and s.lines[0].bank_code == "721"


def test_custom_ranges_are_signed():
    data = replace_line(CRLF, "16,206,1300000", "16,925,1300000")
    data = replace_line(data, "16,409,65433", "16,975,65433")
    [s] = parse_all(data)
    assert [x.amount for x in s.lines] == [Decimal("13000.00"), Decimal("-654.33")]


# ---------------------------------------------------------------------------------------------
# control totals and record counts: both figures, the line and the field

@pytest.mark.parametrize("old, new, field, figures", [
    ("49,7700000,9/", "49,7700001,9/", "49/account control total", ("7700001", "7700000")),
    ("49,7700000,9/", "49,7700000,8/", "49/number of records", ("8", "9")),
    ("98,7400000,2,16/", "98,7400100,2,16/", "98/group control total", ("7400100", "7400000")),
    ("98,7400000,2,16/", "98,7400000,3,16/", "98/number of accounts", ("3", "2")),
    ("98,7400000,2,16/", "98,7400000,2,17/", "98/number of records", ("17", "16")),
    ("99,37640000,2,26/", "99,37640001,2,26/", "99/file control total", ("37640001", "37640000")),
    ("99,37640000,2,26/", "99,37640000,1,26/", "99/number of groups", ("1", "2")),
    ("99,37640000,2,26/", "99,37640000,2,25/", "99/number of records", ("25", "26")),
])
def test_control_totals_and_counts_verified(old, new, field, figures):
    data = replace_line(MULTI, old, new)
    err = refused(data)
    assert (err.line, err.field) == (line_of(data, new), field)
    for figure in figures:
        assert figure in err.reason
    assert err.source == "test.bai"


def test_amount_changed_without_control_total_is_refused():
    data = replace_line(MULTI, "16,142,50000,1", "16,142,50001,1")
    err = refused(data)
    assert (err.line, err.field) == (line_of(data, "49,7700000"), "49/account control total")
    assert "7700001" in err.reason and "7700000" in err.reason


def test_account_trailer_count_includes_continuations():
    # dropping an 88 continuation (and its text) changes the account's record count
    data = MULTI.replace(b"88,OBI=INVOICE 88123/88124\n", b"")
    err = refused(data)
    assert (err.line, err.field) == (line_of(data, "49,7700000"), "49/number of records")


# ---------------------------------------------------------------------------------------------
# structure and field errors

@pytest.mark.parametrize("old, new, field", [
    ("16,475,37655,V,240116", "16,475,37655,V,240230", "16/value date"),
    ("16,195,250000,0", "16,015,250000,0", "16/type code"),
    ("16,195,250000,0", "16,1A5,250000,0", "16/type code"),
    ("16,195,250000,0", "16,195,2_50000,0", "16/amount"),
    ("16,195,250000,0", "16,195,2500.00,0", "16/amount"),
    ("16,195,250000,0", "16,195,-250000,0", "16/amount"),
    ("16,142,50000,1", "16,142,50000,X", "16/funds type"),
    ("16,475,37655,V,240116,1200", "16,475,37655,V,,1200", "16/value date"),
    ("16,475,37655,V,240116,1200", "16,475,37655,V,240116,2561", "16/value time"),
    ("16,455,100000,D,2,0,60000,1,40000", "16,455,100000,D,2,0,60000,1,4O000", "16/availability amount"),
    ("16,175,150000,S,100000", "16,175,150000,S,1OOOOO", "16/immediate availability"),
    ("03,55501234,CAD", "03,55501234,XYZ", "03/currency code"),
    ("03,000123456789,USD,010,1500000", "03,000123456789,USD,010,15000x0", "03/amount"),
    ("03,000123456789,USD,010,1500000", "03,000123456789,USD,01,1500000", "03/type code"),
    ("02,EXAMPLECORP,021000021,1,240114", "02,EXAMPLECORP,021000021,1,241414", "02/as-of date"),
    ("02,EXAMPLECORP,021000021,1,240114", "02,EXAMPLECORP,021000021,7,240114", "02/group status"),
    ("02,EXAMPLECORP,CIBCCATT,1,240114,,CAD/", "02,EXAMPLECORP,CIBCCATT,1,240114,,DOLLARS/", "02/currency code"),
    ("01,COBANKUS,EXAMPLECORP,240115,0600,20240115A,,,2/", "01,COBANKUS,EXAMPLECORP,240115,0600,20240115A,,,3/",
     "01/version number"),
    ("49,7700000,9/", "49,77000.00,9/", "49/account control total"),
    ("49,7700000,9/", "49,7700000,nine/", "49/number of records"),
])
def test_bad_field_is_located(old, new, field):
    data = replace_line(MULTI, old, new)
    err = refused(data)
    assert (err.line, err.field) == (line_of(data, new), field), str(err)


def test_bad_field_on_a_continuation_line_names_that_line():
    data = replace_line(MULTI, "88,040,1450000,,,045", "88,040,14500OO,,,045")
    err = refused(data)
    assert (err.line, err.field) == (4, "03/amount")


@pytest.mark.parametrize("cut_after, field", [
    ("16,455,100000,D", "49"),     # inside an account
    ("49,-300000,5/", "98"),       # inside a group
    ("98,30240000,2,8/", "99"),    # after the last group
])
def test_truncated_file(cut_after, field):
    pos = MULTI.index(cut_after.encode())
    data = MULTI[: MULTI.index(b"\n", pos) + 1]
    err = refused(data)
    assert err.field == field
    assert err.line == data.count(b"\n")
    assert "truncated" in err.reason


def test_record_order_errors():
    err = refused(replace_line(MULTI, "02,EXAMPLECORP,021000021,1,240114,2400,USD,2/\n03,000123456789",
                               "03,000123456789"))
    assert (err.line, err.field) == (2, "03")
    data = MULTI.replace(b"03,000987654321,,010,-250000,,,015,-175000,,/\n", b"")
    err = refused(data)
    assert (err.line, err.field) == (12, "16")          # a 16 after the 49: no account open
    err = refused(b"88,CONTINUED\n" + MULTI)
    assert (err.line, err.field) == (1, "88")
    err = refused(MULTI + b"01,AGAIN,X,240115,0600,2,,,2/\n")
    assert (err.line, err.field) == (27, "01")
    err = refused(replace_line(MULTI, "16,142,50000,1", "17,142,50000,1"))
    assert (err.line, err.field) == (8, "record code")
    err = refused(b"99,0,0,1/\n")
    assert (err.line, err.field) == (1, "01")


def test_empty_file():
    err = refused(b"\n\n")
    assert err.field == "01"


def test_unknown_option():
    with pytest.raises(ValidationError) as info:
        bai2.parse(io.BytesIO(MULTI), "x", colour="red")
    assert info.value.field == "options"


def test_type_code_sign_table():
    assert [bai2.type_code_sign(c) for c in ("100", "399", "400", "699", "920", "959", "960", "999", "890",
                                             "010", "700", "919")] == [1, 1, -1, -1, 1, 1, -1, -1, 0,
                                                                        None, None, None]


# ---------------------------------------------------------------------------------------------
# mutation

@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from([MULTI, CRLF])))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "digit"]))
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 40))]
        elif kind == "truncate":
            del data[pos:]
        elif kind == "duplicate":
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 200))]
        elif chr(data[pos]).isalnum():
            data[pos] = ord(draw(st.sampled_from("0123456789AZSVD,/-")))
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_bai2_never_crashes(data):
    try:
        for statement in bai2.parse(io.BytesIO(data), "mutated.bai"):
            assert isinstance(statement, Statement)
            for line in statement.lines:
                assert isinstance(line, StatementLine)
                assert isinstance(line.amount, Decimal) and line.amount.is_finite()
    except ValidationError as exc:
        assert exc.source == "mutated.bai"
