"""camt.053 / camt.052 parser: exact records from realistic samples, refusal of bad and hostile
input with line and field, and a mutation test (never anything but ValidationError)."""

from __future__ import annotations

import io
import socket
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.unit.statements.mutation import parse_all as shared_parse_all
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cio_desktop.domain.statements import Statement, StatementLine
from cio_desktop.errors import ValidationError
from cio_desktop.integrations.statements import camt
from cio_desktop.integrations.statements.xml_safety import parse_document, refuse_doctype, sniff_root

DATA = Path(__file__).resolve().parents[2] / "data" / "statements" / "camt"
SAMPLES = sorted(DATA.glob("*.xml"))
V02 = (DATA / "camt053_v02.xml").read_bytes()
V04 = (DATA / "camt053_v04.xml").read_bytes()
V08 = (DATA / "camt053_v08.xml").read_bytes()
R08 = (DATA / "camt052_v08.xml").read_bytes()


def parse_all(data: bytes, source: str = "test.xml", **options) -> list[Statement]:
    return shared_parse_all(camt, data, source, **options)


def refused(data: bytes, **options) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse_all(data, **options)
    return info.value


def line_of(data: bytes, needle: str, nth: int = 1) -> int:
    """1-based line of the nth occurrence of ``needle``."""
    pos = -1
    for _ in range(nth):
        pos = data.index(needle.encode(), pos + 1)
    return data[:pos].count(b"\n") + 1


def to_camt052(data: bytes, version: str) -> bytes:
    return (data.replace(f"camt.053.001.{version}".encode(), f"camt.052.001.{version}".encode())
            .replace(b"BkToCstmrStmt", b"BkToCstmrAcctRpt").replace(b"<Stmt>", b"<Rpt>")
            .replace(b"</Stmt>", b"</Rpt>").replace(b"StmtPgntn>", b"RptPgntn>"))


def L(**kw) -> StatementLine:  # noqa: N802 - short constructor for expected lines
    kw["amount"] = Decimal(kw["amount"])
    return StatementLine(**kw)


# ---------------------------------------------------------------------------------------------
# valid samples, exact records

EXPECTED_V02 = [
    L(booking_date=date(2024, 3, 1), amount="1500.00", currency="EUR", value_date=date(2024, 3, 1),
      counterparty="Muster GmbH", counterparty_account="DE02120300000000202051",
      reference="2024030100012345", end_to_end_id="INV-2024-117",
      description="Invoice 2024-117 Customer 4711", bank_code="PMNT/RCDT/ESCT", line=79),
    L(booking_date=date(2024, 3, 1), amount="-250.75", currency="EUR", value_date=date(2024, 3, 1),
      counterparty="Stadtwerke Köln GmbH", counterparty_account="DE44370501980001802057",
      reference="2024030100012399", end_to_end_id="", description="RF18539007547034",
      bank_code="PMNT/ICDT/ESCT", line=142),
    L(booking_date=date(2024, 3, 4), amount="-1200.00", currency="EUR", value_date=date(2024, 3, 4),
      counterparty="Anna Schmidt", counterparty_account="DE75512108001245126199",
      reference="2024030400000771/1", end_to_end_id="SAL-0301-A", description="Salary advance March",
      bank_code="PMNT/ICDT/ESCT", line=228),
    L(booking_date=date(2024, 3, 4), amount="-800.00", currency="EUR", value_date=date(2024, 3, 4),
      counterparty="Jonas Weber", counterparty_account="DE91100000000123456789",
      reference="2024030400000771/2", end_to_end_id="SAL-0301-B",
      description="Travel expenses February", bank_code="PMNT/ICDT/ESCT", line=252),
    L(booking_date=date(2024, 3, 4), amount="-450.50", currency="EUR", value_date=date(2024, 3, 4),
      counterparty="Lea Fischer", counterparty_account="DE12500105170648489890",
      reference="2024030400000771/3", end_to_end_id="SAL-0301-C",
      description="Training course refund", bank_code="PMNT/ICDT/ESCT", line=276),
    # reversal (RvslInd true, CRDT): a returned direct debit; the counterparty is the original creditor
    L(booking_date=date(2024, 3, 4), amount="89.90", currency="EUR", value_date=date(2024, 3, 4),
      counterparty="Telekom Deutschland GmbH", counterparty_account="DE58200400600220000000",
      reference="2024030400000802", end_to_end_id="TK-2024-02-998877",
      description="Return of direct debit: mobile invoice February", bank_code="PMNT/IDDT/UPDD",
      line=322),
    # batch without per-transaction amounts: one line for the entry
    L(booking_date=date(2024, 3, 4), amount="-75.00", currency="EUR", value_date=date(2024, 3, 4),
      reference="2024030400000815", description="SEPA direct debit collection, 2 items",
      bank_code="PMNT/IDDT/ESDD", line=379),
]


def test_camt053_v02_exact_records():
    [s] = parse_all(V02, "bank.xml")
    assert (s.account, s.currency, s.statement_id, s.bic, s.format, s.source, s.line) == (
        "DE89370400440532013000", "EUR", "2024-03-04-DE89370400440532013000", "COBADEFFXXX",
        "camt053", "bank.xml", 12)
    assert (s.opening_balance, s.opening_date) == (Decimal("10000.00"), date(2024, 3, 1))
    assert (s.closing_balance, s.closing_date) == (Decimal("8813.65"), date(2024, 3, 4))
    assert s.lines == EXPECTED_V02
    assert s.extra["skipped"] == {"PDNG": 1}
    assert s.extra["batches_not_split"] == 1
    assert s.extra["version"] == "camt.053.001.02"
    assert s.extra["message_id"] == "STMT-20240304-000117"
    assert ("CLAV", Decimal("8813.65"), date(2024, 3, 4)) in s.extra["balances"]
    assert s.opening_balance + sum(x.amount for x in s.lines) == s.closing_balance


def test_camt053_v04_two_statements_prcd_opening_and_batch_split():
    first, second = parse_all(V04)
    assert (first.account, first.currency, first.bic) == ("CH9300762011623852957", "CHF", "UBSWCHZH80A")
    assert (first.opening_balance, first.opening_date) == (Decimal("-1250.00"), date(2024, 5, 31))
    assert (first.closing_balance, first.closing_date) == (Decimal("3414.60"), date(2024, 6, 3))
    assert first.lines == [
        L(booking_date=date(2024, 6, 3), amount="5000.00", currency="CHF", value_date=date(2024, 6, 3),
          counterparty="Acme AG", counterparty_account="CH5604835012345678009",
          reference="UBS-240603-000001", end_to_end_id="ACME-E2E-9981",
          description="210000000003139471430009017", bank_code="PMNT/RCDT/DMCT", line=54),
        L(booking_date=date(2024, 6, 3), amount="-120.40", currency="CHF", value_date=date(2024, 6, 3),
          counterparty="Papeterie Muller SA", counterparty_account="CH4431999123000889012",
          reference="UBS-240603-000002/1", end_to_end_id="SUPPL-0603-1",
          description="Office paper, invoice 2024-0517", bank_code="PMNT/ICDT/DMCT", line=131),
        L(booking_date=date(2024, 6, 3), amount="-200.00", currency="CHF", value_date=date(2024, 6, 3),
          counterparty="Kaffee Huber GmbH", reference="UBS-240603-000002/2",
          end_to_end_id="SUPPL-0603-2", description="Coffee machine lease June",
          bank_code="PMNT/ICDT/DMCT", line=151),
        # proprietary bank transaction code only
        L(booking_date=date(2024, 6, 3), amount="-15.00", currency="CHF", value_date=date(2024, 5, 31),
          reference="UBS-240603-000003", description="Account maintenance fee May 2024",
          bank_code="NCHG", line=169),
    ]
    assert first.opening_balance + sum(x.amount for x in first.lines) == first.closing_balance
    # an account identified by Othr/Id, with no entries
    assert (second.account, second.currency, second.lines, second.line) == (
        "0012345678", "EUR", [], line_of(V04, "<Stmt>", 2))
    assert second.opening_balance == second.closing_balance == Decimal("0.00")


def test_camt053_v08_status_choice_parties_reversal_and_split():
    [s] = parse_all(V08)
    assert (s.account, s.bic, s.opening_balance, s.closing_balance, s.closing_date) == (
        "NL91ABNA0417164300", "ABNANL2A", Decimal("25000.00"), Decimal("13054.33"), date(2024, 10, 15))
    assert s.lines == [
        L(booking_date=date(2024, 10, 15), amount="-12345.67", currency="EUR",
          value_date=date(2024, 10, 15), counterparty="Northwind Traders Ltd",
          counterparty_account="GB29NWBK60161331926819", reference="ABN-15102024-7781",
          end_to_end_id="E2E-2024-0001", description="PO 5531 & PO 5532",
          bank_code="PMNT/ICDT/XBCT", line=81),
        L(booking_date=date(2024, 10, 15), amount="100.00", currency="EUR",
          value_date=date(2024, 10, 15), counterparty="Jansen Consultancy",
          counterparty_account="NL02RABO0123456789", reference="ABN-15102024-7790-01",
          end_to_end_id="SUB-OCT-0001", description="Subscription October",
          bank_code="PMNT/RCDT/ESCT", line=172),
        L(booking_date=date(2024, 10, 15), amount="200.00", currency="EUR",
          value_date=date(2024, 10, 15), counterparty="De Vries Logistiek B.V.",
          counterparty_account="417164300", reference="ABN-15102024-7790-02",
          end_to_end_id="SUB-OCT-0002", description="RF712348231", bank_code="PMNT/RCDT/ESCT",
          line=195),
        L(booking_date=date(2024, 10, 15), amount="300.00", currency="EUR",
          value_date=date(2024, 10, 15), counterparty="Bakker & Zonen",
          reference="ABN-15102024-7790-03", description="Subscription October and November",
          bank_code="PMNT/RCDT/ESCT", line=224),
        # DBIT reversal of an incoming payment: counterparty is the original debtor
        L(booking_date=date(2024, 10, 15), amount="-200.00", currency="EUR",
          value_date=date(2024, 10, 14), counterparty="Contoso Europe B.V.",
          counterparty_account="NL20INGB0001234567", reference="ABN-15102024-7802",
          end_to_end_id="CONTOSO-REFUND-77", description="Reversal: refund credited in error",
          bank_code="PMNT/RCDT/RRTN", line=245),
    ]
    assert s.extra["skipped"] == {"PDNG": 1, "INFO": 1}
    assert s.opening_balance + sum(x.amount for x in s.lines) == s.closing_balance


def test_camt052_v08_report_without_closing_balance():
    [r] = parse_all(R08)
    assert (r.format, r.account, r.opening_balance, r.closing_balance) == (
        "camt052", "DE89370400440532013000", Decimal("1000.00"), None)
    assert [(x.booking_date, x.amount, x.counterparty, x.reference) for x in r.lines] == [
        (date(2024, 10, 16), Decimal("1000.00"), "Globex Corporation", "IDR-0001"),
        (date(2024, 10, 16), Decimal("-250.00"), "", "IDR-0002")]
    interim = [b for b in r.extra["balances"] if b[0] == "ITBD"]
    assert interim == [("ITBD", Decimal("1750.00"), date(2024, 10, 16))]
    assert r.opening_balance + sum(x.amount for x in r.lines) == interim[0][1]


@pytest.mark.parametrize("version, data", [("02", V02), ("04", V04)])
def test_camt052_v02_v04_read_like_the_statement(version, data):
    statements = parse_all(data)
    reports = parse_all(to_camt052(data, version))
    assert [r.format for r in reports] == ["camt052"] * len(statements)
    assert [r.lines for r in reports] == [s.lines for s in statements]
    assert [r.closing_balance for r in reports] == [s.closing_balance for s in statements]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_valid_samples_reconcile_and_sniff(path):
    data = path.read_bytes()
    assert camt.sniff(data[:4096], path.name)
    statements = parse_all(data)
    assert sum(len(s.lines) for s in statements) > 0
    for s in statements:
        if s.closing_balance is not None:
            assert s.opening_balance + sum(x.amount for x in s.lines) == s.closing_balance


def test_sniff_refuses_other_formats():
    assert not camt.sniff(b"OFXHEADER:100\nDATA:OFXSGML\n<OFX>", "x.ofx")
    assert not camt.sniff(b"date;amount;text\n2024-01-01;1,00;x\n", "x.csv")
    assert not camt.sniff(b":20:STARTUMSE\n:25:10020030/1234567\n", "x.sta")
    assert not camt.sniff(b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:'
                          b'pain.001.001.03"><CstmrCdtTrfInitn/></Document>', "p.xml")
    assert not camt.sniff(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">', "n.xml")
    # a cut-off head and an unsupported version are still recognised (parse then explains)
    assert camt.sniff(V08[:300], "x.xml")
    assert camt.sniff(V02.replace(b"camt.053.001.02", b"camt.053.001.10")[:500], "x.xml")


def test_sniff_refuses_other_helpers_samples():
    files = [p for d in ("ofx", "mt940", "bai2", "csv") for p in (DATA.parent / d).glob("*") if p.is_file()]
    if not files:
        pytest.skip("no other samples present")
    for path in files:
        assert camt.sniff(path.read_bytes()[:65536], path.name) is False, path.name


def test_sniff_inside_an_envelope():
    wrapped = (b'<?xml version="1.0"?><Envelope xmlns="urn:example:envelope"><AppHdr/>'
               + V08.split(b"?>", 1)[1] + b"</Envelope>")
    assert camt.sniff(wrapped[:2000], "x.xml")
    [s] = parse_all(wrapped)
    assert len(s.lines) == 5


def test_reversal_flip_option_and_statuses_option():
    [iso] = parse_all(V08)
    [flipped] = parse_all(V08, reversal="flip")
    assert iso.lines[-1].amount == Decimal("-200.00")
    assert flipped.lines[-1].amount == Decimal("200.00")
    assert flipped.lines[-1].counterparty == "Example Treasury B.V."  # original direction = DBIT
    [with_pending] = parse_all(V08, statuses=("BOOK", "PDNG"))
    pending = with_pending.lines[-1]
    assert (pending.amount, pending.booking_date) == (Decimal("5000.00"), date(2024, 10, 16))
    assert with_pending.extra["skipped"] == {"INFO": 1}


def test_split_batches_off_gives_one_line_per_entry():
    [s] = parse_all(V08, split_batches=False)
    assert [x.amount for x in s.lines] == [Decimal("-12345.67"), Decimal("600.00"), Decimal("-200.00")]
    assert s.lines[1].reference == "ABN-15102024-7790"
    assert s.lines[1].description == "Batch of 3 transactions"
    assert s.extra["batches_not_split"] == 0         # not split on purpose, not for want of amounts


def test_batch_whose_parts_do_not_add_up_is_not_split():
    data = V08.replace(b'<Amt Ccy="EUR">300.00</Amt>', b'<Amt Ccy="EUR">299.00</Amt>')
    [s] = parse_all(data)
    assert [x.amount for x in s.lines][1] == Decimal("600.00")
    assert s.extra["batches_not_split"] == 1


def test_lines_are_lazy_and_unconsumed_lines_are_read_through():
    statements = camt.parse(io.BytesIO(V04), "x.xml")
    first = next(statements)
    assert not isinstance(first.lines, list)
    second = next(statements)             # the first statement's lines were never consumed
    assert second.account == "0012345678"
    assert list(first.lines) == []        # one-shot: already read through
    with pytest.raises(StopIteration):
        next(statements)


def test_utf16_document():
    text = V02.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    [s] = parse_all(text.encode("utf-16"))
    assert s.lines == EXPECTED_V02


def test_line_numbers_past_65535_are_exact():
    """libxml2 reports big lines off by the newlines of the element's first text; corrected."""
    first = V02.index(b"      <Ntry>")
    end = V02.index(b"      <Ntry>", first + 1)
    entry = V02[first:end]
    copies = 70_000 // entry.count(b"\n") + 1
    bad_entry = entry.replace(b"<Dt>2024-03-01</Dt>\n        </BookgDt>", b"<Dt>2024-03-32</Dt>\n        </BookgDt>")
    assert bad_entry != entry
    good = V02[:first] + entry * copies + V02[end:]
    [s] = parse_all(good)
    last_copy = line_of(good, "<Ntry>", copies)
    assert last_copy > 65_535
    assert s.lines[copies - 1].line == last_copy
    assert s.lines[-1].line == line_of(good, "<NtryRef>6</NtryRef>") - 1
    bad = V02[:first] + entry * (copies - 1) + bad_entry + V02[end:]
    err = refused(bad)
    assert (err.line, err.field) == (line_of(bad, "2024-03-32"), "Ntry/BookgDt/Dt")


def test_unknown_option_refused():
    with pytest.raises(ValidationError) as info:
        camt.parse(io.BytesIO(V02), "x.xml", colour="red")
    assert info.value.field == "options"


# ---------------------------------------------------------------------------------------------
# bad input: every refusal names the line and the field

def test_truncated_xml():
    cut = V02[: V02.index(b"<NtryRef>3</NtryRef>") + 10]
    err = refused(cut)
    assert err.line is not None and err.line >= line_of(V02, "<NtryRef>3</NtryRef>")
    assert "well-formed" in err.reason
    assert err.source == "test.xml"


def test_wrong_namespace():
    err = refused(V02.replace(b"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02", b"urn:example:camt"))
    assert (err.line, err.field) == (2, "Document/@xmlns")


def test_unsupported_version():
    err = refused(V02.replace(b"camt.053.001.02", b"camt.053.001.03"))
    assert (err.line, err.field) == (2, "Document/@xmlns")
    assert "camt.053.001.03 is not a supported version" in err.reason


def test_other_camt_message_refused():
    err = refused(V08.replace(b"camt.053.001.08", b"camt.054.001.08"))
    assert (err.line, err.field) == (2, "Document/@xmlns")


def test_not_xml_and_no_document():
    err = refused(b"hello, world")
    assert err.line == 1
    err = refused(b'<?xml version="1.0"?><Other xmlns="urn:x"><Stmt/></Other>')
    assert err.field == "Stmt"


def test_statement_element_in_the_wrong_message():
    err = refused(V02.replace(b"<Stmt>", b"<Rpt>").replace(b"</Stmt>", b"</Rpt>"))
    assert (err.line, err.field) == (12, "Rpt")


def test_document_without_statement():
    data = V02[: V02.index(b"<Stmt>")] + b"</BkToCstmrStmt></Document>"
    assert refused(data, xsd="off").field == "Stmt"  # the parser's own structural check
    err = refused(data)  # the official schema refuses it first, at the statement's parent
    assert "schema" in err.reason and "Stmt" in err.reason and err.field == "Document/BkToCstmrStmt"


@pytest.mark.parametrize("old, new, needle, field", [
    (b"<Dt>2024-03-04</Dt>\n        </BookgDt>", b"<Dt>2024-02-30</Dt>\n        </BookgDt>",
     "2024-02-30", "Ntry/BookgDt/Dt"),
    (b"<DtTm>2024-03-01T09:14:00</DtTm>", b"<DtTm>2024-03-01T25:14:00</DtTm>", "T25:14", "Ntry/BookgDt/DtTm"),
    (b"<Dt>2024-03-01</Dt>\n        </ValDt>", b"<Dt>01.03.2024</Dt>\n        </ValDt>", "01.03.2024",
     "Ntry/ValDt/Dt"),
    (b'<Amt Ccy="EUR">250.75</Amt>\n        <CdtDbtInd>DBIT', b'<Amt Ccy="XYZ">250.75</Amt>\n        <CdtDbtInd>DBIT',
     'Ccy="XYZ"', "Ntry/Amt/@Ccy"),
    (b'<Amt Ccy="EUR">250.75</Amt>\n        <CdtDbtInd>DBIT', b'<Amt Ccy="EUR">250.755</Amt>\n        <CdtDbtInd>DBIT',
     "250.755", "Ntry/Amt"),
    (b'<Amt Ccy="EUR">250.75</Amt>\n        <CdtDbtInd>DBIT', b'<Amt Ccy="EUR">-250.75</Amt>\n        <CdtDbtInd>DBIT',
     "-250.75", "Ntry/Amt"),
    (b'<Amt Ccy="EUR">250.75</Amt>\n        <CdtDbtInd>DBIT', b'<Amt Ccy="EUR">2,50.75</Amt>\n        <CdtDbtInd>DBIT',
     "2,50.75", "Ntry/Amt"),
    (b'<Amt Ccy="EUR">250.75</Amt>\n        <CdtDbtInd>DBIT', b'<Amt>250.75</Amt>\n        <CdtDbtInd>DBIT',
     "<Amt>250.75", "Ntry/Amt/@Ccy"),
    (b'<Amt Ccy="EUR">1200.00</Amt>', b'<Amt Ccy="EUR">1200.001</Amt>', "1200.001",
     "Ntry/NtryDtls/TxDtls/AmtDtls/TxAmt/Amt"),
    (b"<CdtDbtInd>DBIT</CdtDbtInd>\n        <Sts>BOOK</Sts>", b"<CdtDbtInd>DEBIT</CdtDbtInd>\n        <Sts>BOOK</Sts>",
     "DEBIT", "Ntry/CdtDbtInd"),
    (b"<Sts>BOOK</Sts>", b"<Sts>BOOKED</Sts>", "BOOKED", "Ntry/Sts"),
    (b"<Sts>BOOK</Sts>", b"<Sts><Cd>BOOK</Cd></Sts>", "<Sts><Cd>", "Ntry/Sts"),
    (b"<RvslInd>true</RvslInd>", b"<RvslInd>yes</RvslInd>", "<RvslInd>", "Ntry/RvslInd"),
    (b'<Amt Ccy="EUR">10000.00</Amt>', b'<Amt Ccy="USD">10000.00</Amt>', 'Ccy="USD"', "Bal/Amt/@Ccy"),
    (b"<Dt>2024-03-01</Dt>\n        </Dt>", b"<Dt>2024-13-01</Dt>\n        </Dt>", "2024-13-01", "Bal/Dt/Dt"),
    (b"<Ccy>EUR</Ccy>", b"<Ccy>EURO</Ccy>", "<Ccy>EURO", "Stmt/Acct/Ccy"),
    (b"<IBAN>DE89370400440532013000</IBAN>", b"<BBAN>0532013000</BBAN>", "<Id>\n          <BBAN>",
     "Stmt/Acct/Id"),
])
def test_bad_field_is_located(old, new, needle, field):
    assert V02.count(old) >= 1, old
    data = V02.replace(old, new, 1)
    err = refused(data, xsd="off")  # the parser's own checks
    assert (err.line, err.field) == (line_of(data, needle), field), str(err)
    assert err.source == "test.xml"
    err = refused(data)  # with the official schema (the default): refused at the same place
    assert err.line in (line_of(data, needle), line_of(data, needle) + 1), str(err)
    assert err.field.split("/")[0] == field.split("/")[0] and err.source == "test.xml", str(err)


def test_jpy_amount_with_decimals_refused():
    data = V02.replace(b'Ccy="EUR"', b'Ccy="JPY"').replace(b"<Ccy>EUR</Ccy>", b"<Ccy>JPY</Ccy>")
    err = refused(data)
    # 10000.00 JPY is a whole number of yen and passes; 8813.65 JPY cannot
    assert (err.line, err.field) == (line_of(data, "8813.65"), "Bal/Amt")
    assert "JPY" in err.reason


@pytest.mark.parametrize("remove, field", [
    (b"        <CdtDbtInd>DBIT</CdtDbtInd>\n        <Sts>BOOK</Sts>\n", "Ntry/CdtDbtInd"),
    (b'        <Amt Ccy="EUR">250.75</Amt>\n', "Ntry/Amt"),
    (b"        <Sts>BOOK</Sts>\n        <BookgDt>\n          <DtTm>", "Ntry/Sts"),
])
def test_missing_entry_element_names_the_entry_line(remove, field):
    assert remove in V02, remove
    replacement = b"        <BookgDt>\n          <DtTm>" if remove.endswith(b"<DtTm>") else b""
    if field == "Ntry/CdtDbtInd":
        replacement = b"        <Sts>BOOK</Sts>\n"
    data = V02.replace(remove, replacement, 1)
    err = refused(data, xsd="off")  # the parser's own check names the entry
    assert (err.line, err.field) == (line_of(data, "<Ntry>", 2), field)
    err = refused(data)  # the official schema names the element where the missing one belonged
    missing = field.split("/")[-1]
    assert "schema" in err.reason and missing in err.reason, err.reason
    assert line_of(data, "<Ntry>", 2) < err.line <= line_of(data, "</Ntry>", 2)


def test_missing_booking_date():
    data = V02.replace(b"<BookgDt>\n          <DtTm>2024-03-01T09:14:00</DtTm>\n        </BookgDt>\n", b"")
    err = refused(data)
    assert (err.line, err.field) == (line_of(data, "<Ntry>", 2), "Ntry/BookgDt")


def test_missing_balances_and_duplicate_closing():
    start = V02.index(b"      <Bal>")
    end = V02.index(b"      <TxsSummry>")
    err = refused(V02[:start] + V02[end:], xsd="off")
    assert (err.line, err.field) == (12, "Stmt/Bal")
    err = refused(V02[:start] + V02[end:])
    assert "schema" in err.reason and "Bal" in err.reason and err.field == "Stmt/TxsSummry"
    clbd = V02[V02.index(b"      <Bal>", start + 1):V02.index(b"      <Bal>", V02.index(b"<Cd>CLBD</Cd>"))]
    data = V02.replace(clbd, clbd + clbd, 1)
    err = refused(data)  # valid for the schema (Bal repeats); the parser refuses the second CLBD
    assert (err.line, err.field) == (line_of(data, "<Cd>CLBD</Cd>", 2) - 3, "Bal/Tp/CdOrPrtry/Cd")


def test_v08_status_must_be_a_choice():
    data = V08.replace(b"<Sts>\n          <Cd>BOOK</Cd>\n        </Sts>", b"<Sts>BOOK</Sts>", 1)
    err = refused(data, xsd="off")
    assert (err.line, err.field) == (line_of(data, "<Sts>BOOK</Sts>"), "Ntry/Sts/Cd")
    err = refused(data)
    assert "schema" in err.reason and (err.line, err.field) == (line_of(data, "<Sts>BOOK</Sts>"), "Ntry/Sts")


def test_undefined_entity_refused():
    data = V02.replace(b"Invoice 2024-117", b"Invoice &foo;")
    err = refused(data)
    assert "well-formed" in err.reason


# ---------------------------------------------------------------------------------------------
# hostile XML

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Document [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""


def with_prolog(prolog: bytes, body: bytes = V02) -> bytes:
    return prolog + body.split(b"?>", 1)[1].lstrip(b"\n").replace(b"Invoice 2024-117", b"&lol9;")


def test_billion_laughs_refused():
    data = with_prolog(BILLION_LAUGHS)
    assert camt.sniff(data[:4096], "x.xml")      # recognised, so the user gets the refusal below
    err = refused(data)
    assert (err.line, err.field) == (2, "DOCTYPE")


def test_doctype_after_a_long_prolog_is_still_refused():
    prolog = b'<?xml version="1.0"?>\n' + b"<!-- padding -->\n" * 5000 + BILLION_LAUGHS.split(b"\n", 1)[1]
    err = refused(with_prolog(prolog))
    assert err.field == "DOCTYPE"


def test_xxe_local_file_refused_and_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7731")
    xxe = (f'<?xml version="1.0"?>\n<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
           ).encode()
    data = xxe + V02.split(b"?>", 1)[1].lstrip(b"\n").replace(b"Invoice 2024-117", b"&xxe;")
    err = refused(data)
    assert err.field == "DOCTYPE"
    assert "TOP-SECRET" not in str(err)
    # and the parser itself would not have expanded it either (defence in depth)
    with pytest.raises(ValidationError):
        parse_document(data)


@pytest.fixture
def listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.5)
    hits: list = []

    def serve():
        try:
            conn, _ = server.accept()
            hits.append(conn.recv(1024))
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits, thread
    server.close()


def test_xxe_network_refused_without_any_connection(listener):
    port, hits, thread = listener
    url = f"http://127.0.0.1:{port}/evil.dtd"
    variants = [
        f'<?xml version="1.0"?>\n<!DOCTYPE Document SYSTEM "{url}">\n'.encode(),
        f'<?xml version="1.0"?>\n<!DOCTYPE Document [<!ENTITY % p SYSTEM "{url}"> %p;]>\n'.encode(),
        f'<?xml version="1.0"?>\n<!DOCTYPE Document [<!ENTITY x SYSTEM "{url}">]>\n'.encode(),
    ]
    for prolog in variants:
        data = prolog + V02.split(b"?>", 1)[1].lstrip(b"\n").replace(b"Invoice 2024-117", b"&x;")
        assert camt.sniff(data[:4096], "x.xml") in (True, False)   # sniffing must not fetch either
        err = refused(data)
        assert err.field == "DOCTYPE"
    thread.join(timeout=1.0)
    assert hits == [], "the parser opened a network connection"


def test_deeply_nested_xml_refused():
    depth = 400
    nested = b"<Ustrd>" * depth + b"x" + b"</Ustrd>" * depth
    data = V02.replace(b"<Ustrd>Customer 4711</Ustrd>", nested)
    err = refused(data)
    assert "nested" in err.reason
    assert err.line == line_of(V02, "<Ustrd>Customer 4711</Ustrd>")


def test_xml_safety_helpers():
    with pytest.raises(ValidationError) as info:
        refuse_doctype(b'<?xml version="1.0"?>\n\n<!DOCTYPE x [<!ENTITY a "b">]><x/>', "f.xml")
    assert (info.value.line, info.value.field, info.value.source) == (3, "DOCTYPE", "f.xml")
    refuse_doctype(b"<x><![CDATA[<!DOCTYPE is text here]]></x>")       # only the prolog counts
    assert sniff_root(b"\x00\xff garbage") == []
    assert sniff_root(b'<a xmlns="urn:a"><b') == [("urn:a", "a")]


# ---------------------------------------------------------------------------------------------
# XSD validation hook (the official schemas are not shipped; see camt.py)

# A deliberately tiny TEST FIXTURE, not the ISO 20022 schema: Document/BkToCstmrStmt must hold a
# GrpHdr and then Stmt elements, nothing else.
FIXTURE_XSD = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
           targetNamespace="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
           elementFormDefault="qualified">
  <xs:element name="Document">
    <xs:complexType><xs:sequence>
      <xs:element name="BkToCstmrStmt">
        <xs:complexType><xs:sequence>
          <xs:element name="GrpHdr"><xs:complexType><xs:sequence>
            <xs:any processContents="skip" maxOccurs="unbounded" namespace="##targetNamespace"/>
          </xs:sequence></xs:complexType></xs:element>
          <xs:element name="Stmt" maxOccurs="unbounded"><xs:complexType><xs:sequence>
            <xs:any processContents="skip" maxOccurs="unbounded" namespace="##targetNamespace"/>
          </xs:sequence></xs:complexType></xs:element>
        </xs:sequence></xs:complexType>
      </xs:element>
    </xs:sequence></xs:complexType>
  </xs:element>
</xs:schema>
"""


def test_xsd_hook_validates_when_a_schema_is_found(tmp_path):
    (tmp_path / "camt.053.001.02.xsd").write_text(FIXTURE_XSD)
    assert camt.find_xsd("urn:iso:std:iso:20022:tech:xsd:camt.053.001.02", tmp_path) == \
        tmp_path / "camt.053.001.02.xsd"
    [s] = parse_all(V02, xsd_dir=tmp_path, xsd="require")
    assert s.lines == EXPECTED_V02
    bad = V02.replace(b"    <Stmt>", b"    <Unexpected/>\n    <Stmt>", 1)
    err = refused(bad, xsd_dir=tmp_path)
    assert "schema" in err.reason and "camt.053.001.02.xsd" in err.reason
    assert err.line == line_of(bad, "<Unexpected/>")
    # a non-seekable stream is spooled for the two passes
    class OneWay(io.RawIOBase):
        def __init__(self, data):
            self._b = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buf):
            chunk = self._b.read(len(buf))
            buf[:len(chunk)] = chunk
            return len(chunk)

        def seekable(self):
            return False
    s2 = next(camt.parse(OneWay(V02), "x.xml", xsd_dir=tmp_path))
    assert list(s2.lines) == EXPECTED_V02


def test_xsd_require_without_schema(tmp_path, monkeypatch):
    monkeypatch.setattr(camt, "xsd_search_path", lambda extra=None: [tmp_path])  # nothing shipped
    err = refused(V08, xsd="require", xsd_dir=tmp_path)
    assert err.field == "xsd" and "no XSD found" in err.reason


@pytest.mark.parametrize("ns", ["camt.053.001.02", "camt.053.001.04", "camt.053.001.08",
                                "camt.052.001.02", "camt.052.001.04", "camt.052.001.08"])
def test_official_schemas_ship_with_the_application(ns):
    """The ISO 20022 message schemas are in the package, so validation is on by default."""
    path = camt.find_xsd(f"urn:iso:std:iso:20022:tech:xsd:{ns}")
    assert path is not None and path.parent.name == "xsd"
    assert f'targetNamespace="urn:iso:std:iso:20022:tech:xsd:{ns}"' in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("sample", sorted((Path(__file__).resolve().parents[2] / "data" / "statements"
                                           / "camt").glob("*.xml")), ids=lambda p: p.name)
def test_every_camt_sample_conforms_to_the_official_schema(sample):
    statements = list(camt.parse(sample.open("rb"), sample.name, xsd="require"))
    assert statements and all(s.lines for s in statements)


def test_schema_error_names_line_and_field():
    data = V08.replace(b'Ccy="EUR">', b">", 1)
    err = refused(data)
    assert "schema camt.053.001.08.xsd" in err.reason and "Ccy" in err.reason
    assert err.field.endswith("/@Ccy") and err.line == line_of(data, "<Amt >")


# ---------------------------------------------------------------------------------------------
# mutation: whatever the bytes, ValidationError or valid records, never another exception

MUTATION_BASES = [V02, V04, V08, R08]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(MUTATION_BASES)))
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
            n = draw(st.integers(1, 400))
            data[pos:pos] = data[pos:pos + n]
        else:   # a digit or letter swap keeps the XML well-formed more often
            if data and chr(data[pos]).isalnum():
                data[pos] = ord(draw(st.sampled_from("0123456789AZ.-")))
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_camt_never_crashes(data):
    try:
        for statement in camt.parse(io.BytesIO(data), "mutated.xml"):
            assert isinstance(statement, Statement)
            for line in statement.lines:
                assert isinstance(line, StatementLine)
                assert isinstance(line.amount, Decimal) and line.amount.is_finite()
                assert isinstance(line.booking_date, date)
    except ValidationError as exc:
        assert exc.source == "mutated.xml"
