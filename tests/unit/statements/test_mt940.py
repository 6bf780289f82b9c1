"""MT940 / MT942 parser: exact records from several banks' shapes, located errors, robustness."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from tests.unit.statements.mutation import mutated
from hypothesis import HealthCheck, given, settings


from cio_desktop.domain.statements import Statement, StatementLine
from cio_desktop.errors import ValidationError
from cio_desktop.integrations.statements import mt940
from cio_desktop.integrations.statements.mt940 import parse, parse_86, reconcile, sniff

DATA = Path(__file__).resolve().parents[2] / "data" / "statements" / "mt940"
SAMPLES = sorted(p.name for p in DATA.iterdir())
D = Decimal


def load(name: str, data: bytes | None = None, **options) -> list[tuple[Statement, list[StatementLine]]]:
    raw = data if data is not None else (DATA / name).read_bytes()
    out = []
    for statement in parse(io.BytesIO(raw), name, **options):
        out.append((statement, list(statement.lines)))
    return out


def text_of(name: str, encoding: str = "utf-8") -> str:
    return (DATA / name).read_bytes().decode(encoding)


def error_of(data: bytes | str, name: str = "bad.sta", encoding: str = "cp1252") -> ValidationError:
    raw = data.encode(encoding) if isinstance(data, str) else data
    with pytest.raises(ValidationError) as info:
        load(name, raw)
    return info.value


# ---------------------------------------------------------------------------------------------
# exact records
# ---------------------------------------------------------------------------------------------
def test_german_statement_with_subfields_umlauts_and_year_end_rollover():
    [(st_, lines)] = load("de_sparkasse_cp1252.sta")
    assert (st_.format, st_.account, st_.bic, st_.currency) == ("mt940", "10050000/0123456789", "", "EUR")
    assert st_.statement_id == "00001/001" and st_.line == 1 and st_.source == "de_sparkasse_cp1252.sta"
    assert (st_.opening_balance, st_.opening_date) == (D("12345.67"), date(2025, 12, 30))
    assert (st_.closing_balance, st_.closing_date) == (D("14020.77"), date(2026, 1, 2))
    assert st_.extra["reference"] == "STARTUMSE"
    assert st_.extra["blz"] == "10050000" and st_.extra["account_number"] == "0123456789"
    assert st_.extra["available_balance"] == D("14020.77")
    assert st_.extra["available_date"] == date(2026, 1, 2)
    assert lines == [
        StatementLine(booking_date=date(2025, 12, 31), amount=D("-1250.00"), currency="EUR",
                      value_date=date(2025, 12, 31), counterparty="Stadtwerke München GmbH",
                      counterparty_account="DE02120300000000202051", reference="",
                      end_to_end_id="RG-2025-12-0042", description="Strom Dezember 2025 Kunde 4711",
                      bank_code="NMSC/105", line=5),
        # value date 31 Dec 2025, entry date "0102" → 2 January 2026 (year roll-over)
        StatementLine(booking_date=date(2026, 1, 2), amount=D("3000.00"), currency="EUR",
                      value_date=date(2025, 12, 31), counterparty="Müller & Söhne Maschinenbau GmbH",
                      counterparty_account="DE89370400440532013000", reference="", end_to_end_id="",
                      description="Rechnung 2025-118 vom 15.12.2025", bank_code="NMSC/166", line=10),
        StatementLine(booking_date=date(2026, 1, 2), amount=D("-89.90"), currency="EUR",
                      value_date=date(2026, 1, 2), counterparty="", counterparty_account="",
                      reference="", end_to_end_id="", description="Bäckerei Schäfer Düsseldorf",
                      bank_code="NMSC/005", line=14),
        # RD = reversal of a debit: a credit
        StatementLine(booking_date=date(2026, 1, 2), amount=D("15.00"), currency="EUR",
                      value_date=date(2026, 1, 2), counterparty="Sparkasse Gebührenkonto",
                      counterparty_account="37040044/532013000", reference="9912345678",
                      end_to_end_id="", description="Rückbuchung Kontoführung Dezember 2025",
                      bank_code="NMSC/808", line=17),
    ]


def test_dutch_abn_amro_eref_style_two_statements_crlf_utf8():
    [(s1, l1), (s2, l2)] = load("nl_abnamro_sepa.sta")
    assert (s1.account, s1.currency, s1.statement_id, s1.line) == ("NL91ABNA0417164300", "EUR", "13501/1", 4)
    assert (s1.opening_balance, s1.opening_date, s1.closing_balance, s1.closing_date) == \
        (D("5000.00"), date(2026, 3, 2), D("5924.50"), date(2026, 3, 5))
    assert l1 == [
        StatementLine(booking_date=date(2026, 3, 3), amount=D("-250.00"), currency="EUR",
                      value_date=date(2026, 3, 3), counterparty="J. JANSEN",
                      counterparty_account="NL44RABO0123456789", end_to_end_id="E2E-20260303-001",
                      description="Factuur 2026-001 huur maart", bank_code="N658", line=8),
        StatementLine(booking_date=date(2026, 3, 4), amount=D("1210.00"), currency="EUR",
                      value_date=date(2026, 3, 4), counterparty="Müller GmbH",
                      counterparty_account="DE89370400440532013000", end_to_end_id="",
                      description="Invoice 88123", bank_code="N658", line=11),
        StatementLine(booking_date=date(2026, 3, 5), amount=D("-35.50"), currency="EUR",
                      value_date=date(2026, 3, 5), counterparty="KPN B.V.",
                      end_to_end_id="KPN/2026/03/4711", description="Factuur 31-03-2026 klantnr 55",
                      bank_code="N426", line=14),
    ]
    assert (s2.statement_id, s2.line, s2.opening_balance, s2.closing_balance) == \
        ("13502/1", 22, D("5924.50"), D("5900.00"))
    assert s2.extra["forward_available"] == [(date(2026, 3, 7), D("5900.00")),
                                             (date(2026, 3, 8), D("5900.00"))]
    assert l2 == [StatementLine(booking_date=date(2026, 3, 6), amount=D("-24.50"), currency="EUR",
                                value_date=date(2026, 3, 6),
                                description="BEA NR:XXXX1234 06.03.26/14.22 ALBERT HEIJN 1402,PAS123",
                                bank_code="N426", line=26)]


def test_multi_statement_file_with_swift_envelopes_and_intermediate_balances():
    result = load("multi_swift_envelope.fin")
    assert [(s.statement_id, s.account, s.bic, s.currency, s.line) for s, _ in result] == [
        ("00070/001", "DE89370400440532013000", "DEUTDEFF", "EUR", 2),
        ("00012/001", "DE12500105170648489890", "DEUTDEFF", "USD", 15),
        ("00012/002", "DE12500105170648489890", "DEUTDEFF", "USD", 24),
    ]
    (s1, l1), (s2, l2), (s3, l3) = result
    assert [s.format for s, _ in result] == ["mt940"] * 3
    assert l1 == [
        StatementLine(booking_date=date(2026, 3, 10), amount=D("-125000.00"), currency="EUR",
                      value_date=date(2026, 3, 10), reference="DB1003100001",
                      end_to_end_id="TREAS-0310-1", description="SWEEP TO CASH POOL",
                      bank_code="NTRF", line=6),
        StatementLine(booking_date=date(2026, 3, 10), amount=D("5320.17"), currency="EUR",
                      value_date=date(2026, 3, 10), counterparty="ACME Industries plc",
                      reference="DB1003100002", end_to_end_id="INV-77812",
                      description="Invoice 77812", bank_code="NTRF", line=9),
    ]
    assert (s2.opening_balance, s2.closing_balance) == (D("1000000.00"), D("750000"))
    assert s2.extra["opening_type"] == s2.extra["closing_type"] == "intermediate"
    assert l2 == [StatementLine(booking_date=date(2026, 3, 10), amount=D("-250000"), currency="USD",
                                value_date=date(2026, 3, 10), reference="DB1003100003",
                                end_to_end_id="000123", description="CHEQUE 000123",
                                bank_code="NCHK", line=19)]
    assert (s3.opening_balance, s3.closing_balance, s3.extra["closing_type"]) == \
        (D("750000"), D("762500.50"), "final")
    # no :86:: the supplementary details are absent too, so no description
    assert l3 == [StatementLine(booking_date=date(2026, 3, 10), amount=D("12500.50"), currency="USD",
                                value_date=date(2026, 3, 10), reference="DB1003100004",
                                end_to_end_id="PO-55-A", bank_code="NTRF", line=28)]


def test_mt942_interim_report():
    [(st_, lines)] = load("mt942_intraday.fin")
    assert (st_.format, st_.account, st_.currency, st_.statement_id) == \
        ("mt942", "NL44RABO0123456789", "EUR", "00071")
    assert st_.opening_balance is st_.closing_balance is None
    assert st_.extra["account_currency"] == "EUR"
    assert st_.extra["floor_limit_debit"] == st_.extra["floor_limit_credit"] == D("0")
    assert st_.extra["report_datetime"] == datetime(2026, 3, 11, 14, 30,
                                                    tzinfo=timezone(timedelta(hours=1)))
    assert (st_.extra["debit_count"], st_.extra["debit_total"]) == (2, D("400.00"))
    assert (st_.extra["credit_count"], st_.extra["credit_total"]) == (1, D("1500.00"))
    assert lines == [
        StatementLine(booking_date=date(2026, 3, 11), amount=D("1500.00"), currency="EUR",
                      value_date=date(2026, 3, 11), counterparty="Globex B.V.",
                      reference="RABO0311001", end_to_end_id="ORDER-5512",
                      description="Order 5512 advance", bank_code="N541", line=8),
        StatementLine(booking_date=date(2026, 3, 11), amount=D("-320.40"), currency="EUR",
                      value_date=date(2026, 3, 11), counterparty="Treasury Ops",
                      reference="RABO0311002", description="Bank fee Q1", bank_code="N102", line=11),
        StatementLine(booking_date=date(2026, 3, 11), amount=D("-79.60"), currency="EUR",
                      value_date=date(2026, 3, 11), counterparty="Van Dijk Logistiek",
                      counterparty_account="NL66INGB0001234567", reference="RABO0311003",
                      description="Freight 0311", bank_code="N102", line=13),
    ]


def test_envelope_blocks_on_separate_lines_keep_the_message_type():
    text = text_of("mt942_intraday.fin").replace("}{2:", "}\r\n{2:").replace("N}{4:", "N}\r\n{4:")
    [(st_, lines)] = load("x.fin", text.encode())
    assert st_.format == "mt942" and [x.line for x in lines] == [10, 13, 15]
    # the envelope says MT940, so this MT942 body lacks the opening balance an MT940 needs
    err = error_of(text.replace("{2:O942", "{2:O940"))
    assert (err.line, err.field) == (4, ":60F:")


def test_mt942_without_envelope_is_recognised_by_its_fields():
    text = text_of("mt942_intraday.fin").split("{4:\r\n", 1)[1].replace("-}\r\n", "")
    [(st_, lines)] = load("x.txt", text.encode())
    assert st_.format == "mt942" and len(lines) == 3 and st_.line == 1


@pytest.mark.parametrize("name", SAMPLES)
def test_every_valid_sample_reconciles_exactly(name):
    for statement, lines in load(name):
        total = sum((line.amount for line in lines), Decimal(0))
        assert all(isinstance(line.amount, Decimal) for line in lines)
        if statement.format == "mt940":
            assert statement.opening_balance + total == statement.closing_balance
            assert reconcile(total, statement) is True
        else:
            assert reconcile(total, statement) is False   # nothing to check against
            debits = [line.amount for line in lines if line.amount < 0]
            assert -sum(debits) == statement.extra["debit_total"]


def test_reconcile_helper_names_the_closing_balance_field():
    [(st_, lines)] = load("de_sparkasse_cp1252.sta")
    with pytest.raises(ValidationError) as info:
        reconcile(Decimal("0.01"), st_)
    assert (info.value.line, info.value.field) == (21, ":62F:")


# ---------------------------------------------------------------------------------------------
# streaming, line ends, encodings
# ---------------------------------------------------------------------------------------------
def test_lines_are_streamed_and_reiterable():
    statements = list(parse(io.BytesIO((DATA / "nl_abnamro_sepa.sta").read_bytes()), "x"))
    assert not isinstance(statements[0].lines, list)
    # statements can be consumed out of order, and twice
    assert len(list(statements[1].lines)) == 1
    assert len(list(statements[0].lines)) == 3
    assert len(list(statements[0].lines)) == 3
    eager = load("nl_abnamro_sepa.sta", lazy_lines=False)
    assert isinstance(eager[0][0].lines, list)


def test_interleaved_consumption_keeps_the_scan_in_place():
    seen = []
    for statement in parse(io.BytesIO((DATA / "multi_swift_envelope.fin").read_bytes()), "x"):
        it = iter(statement.lines)
        seen.append(next(it, None))    # stop after the first line: the scan must not care
    assert [s.line for s in seen] == [6, 19, 28]


class _Pipe(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001
        chunk = self._data.read(len(b))
        b[:len(chunk)] = chunk
        return len(chunk)

    def seekable(self) -> bool:
        return False


def test_non_seekable_stream_is_spooled():
    raw = (DATA / "multi_swift_envelope.fin").read_bytes()
    statements = list(parse(io.BufferedReader(_Pipe(raw)), "pipe"))
    assert [len(list(s.lines)) for s in statements] == [2, 1, 1]


@pytest.mark.parametrize("eol", [b"\n", b"\r"])
def test_lf_and_lone_cr_line_ends_give_the_same_records_and_lines(eol):
    raw = (DATA / "de_sparkasse_cp1252.sta").read_bytes()
    reference = load("x", raw)
    other = load("x", raw.replace(b"\r\n", eol))
    assert [lines for _s, lines in other] == [lines for _s, lines in reference]


def test_latin1_and_forced_encoding():
    raw = text_of("de_sparkasse_cp1252.sta", "cp1252").encode("latin-1")
    [(_s, lines)] = load("x", raw, encoding="latin-1")
    assert lines[0].counterparty == "Stadtwerke München GmbH"


def test_bom_is_ignored():
    [(st_, _lines)] = load("x", b"\xef\xbb\xbf" + (DATA / "nl_abnamro_sepa.sta").read_bytes())[:1]
    assert st_.account == "NL91ABNA0417164300"


# ---------------------------------------------------------------------------------------------
# sniffing and sub-parsers
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SAMPLES)
def test_sniff_recognises_samples(name):
    assert sniff((DATA / name).read_bytes()[:65536], name)


@pytest.mark.parametrize("head", [
    b"", b"OFXHEADER:100\r\nDATA:OFXSGML\r\n", b"date;amount;text\r\n2026-01-01;1,00;x\r\n",
    b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">',
    b":20:ONLY\r\n:25:NO BALANCE\r\n", b"\x00\x01\x02binary",
])
def test_sniff_rejects_other_formats(head):
    assert not sniff(head, "x.txt")


def test_sniff_accepts_envelope_alone():
    assert sniff(b"{1:F01ABNANL2AXXXX0000000000}{2:O9421200260311ABNANL2AXXXX0000000000}{4:\r\n", "x")
    assert mt940.FORMAT == "mt940"


def test_parse_86_german_without_sepa_keywords_joins_27_char_lines():
    info = parse_86("020?00UEBERWEISUNG?10931?20Miete Maerz 2026 Bueroflaec?21he Haus B?30"
                    "70020270?3115307654?32Immobilien Verwaltung Sued?33 GmbH?34997")
    assert info.style == "german" and info.gvc == "020" and info.booking_text == "UEBERWEISUNG"
    assert info.prima_nota == "931" and info.text_key_extension == "997"
    assert info.remittance == "Miete Maerz 2026 Bueroflaeche Haus B"
    assert info.counterparty_name == "Immobilien Verwaltung Sued GmbH"
    assert (info.counterparty_bank, info.counterparty_account) == ("70020270", "15307654")


def test_parse_86_german_remittance_continues_in_60_to_63():
    info = parse_86("166?00GUTSCHRIFT?20SVWZ+Sammelrechnung 11/25?60und 12/2025?61Kd 4711")
    assert info.remittance == "Sammelrechnung 11/25 und 12/2025 Kd 4711"


def test_parse_86_ing_cntp_and_structured_remittance():
    info = parse_86("/EREF/E2E-77//CNTP/NL66INGB0001234567/INGBNL2A/Jansen BV/Utrecht//REMI/"
                    "STRD/CUR/RF18539007547034//")
    assert (info.style, info.end_to_end_id) == ("keys", "E2E-77")
    assert (info.counterparty_account, info.counterparty_bank, info.counterparty_name) == \
        ("NL66INGB0001234567", "INGBNL2A", "Jansen BV")
    assert info.remittance == "RF18539007547034"


def test_parse_86_free_text():
    info = parse_86("PAYMENT FROM ACME\nINVOICE  42")
    assert (info.style, info.description) == ("free", "PAYMENT FROM ACME INVOICE 42")


@pytest.mark.parametrize("value, account, bic, extra", [
    ("DE89370400440532013000", "DE89370400440532013000", "", {}),
    ("COBADEFFXXX/DE89370400440532013000", "DE89370400440532013000", "COBADEFFXXX", {}),
    ("10020030/1234567", "10020030/1234567", "", {"blz": "10020030", "account_number": "1234567"}),
    ("NL44RABO0123456789 EUR", "NL44RABO0123456789", "", {"account_currency": "EUR"}),
    ("SC18SSCB11010000000000001497USD", "SC18SSCB11010000000000001497USD", "", {}),
])
def test_account_identification_forms(value, account, bic, extra):
    assert mt940._account(value) == (account, bic, extra)


# ---------------------------------------------------------------------------------------------
# bad input: every error names file, line and field
# ---------------------------------------------------------------------------------------------
GERMAN = text_of("de_sparkasse_cp1252.sta", "cp1252")


def _sub(old: str, new: str, text: str = GERMAN) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize("text, line, field, words", [
    pytest.param(_sub(":61:2601020102D89,90NMSC", ":61:2602300230D89,90NMSC"), 14, ":61:",
                 "'260230' is not a calendar date", id="impossible-61-date"),
    pytest.param(_sub(":60F:C251230EUR12345,67", ":60F:C251230EUR12345.67"), 4, ":60F:",
                 "uses '.' — MT940 amounts use a decimal comma", id="decimal-point-60F"),
    pytest.param(_sub("D89,90NMSC", "D89.90NMSC"), 14, ":61:",
                 "amount '89.90' uses '.'", id="decimal-point-61"),
    pytest.param(_sub(":60F:C251230EUR", ":60F:C251230XYZ"), 4, ":60F:",
                 "'XYZ' is not an ISO 4217 currency", id="unknown-currency"),
    pytest.param(_sub(":62F:C260102EUR", ":62F:C260102USD"), 21, ":62F:",
                 "differs from the statement currency EUR", id="currency-mismatch"),
    pytest.param(_sub(":25:10050000/0123456789\r\n", ""), 1, ":25:",
                 "no account identification", id="missing-25"),
    pytest.param(_sub(":60F:C251230EUR12345,67\r\n", ""), 1, ":60F:",
                 "no opening balance", id="missing-60F"),
    pytest.param(GERMAN.split(":62F:")[0], 20, ":62F:", "truncated", id="truncated-no-62F"),
    pytest.param(_sub(":61:2601020102D89,90NMSC", ":61:2601020102X89,90NMSC"), 14, ":61:",
                 "mark 'X8' must be C, D, RC or RD", id="bad-mark"),
    pytest.param(_sub(":61:2601020102D89,90NMSC", ":61:2601020230D89,90NMSC"), 14, ":61:",
                 "entry date '0230'", id="impossible-entry-date"),
    pytest.param(_sub(":61:2601020102D89,90NMSC", ":61:2601020102D89,90"), 14, ":61:",
                 "transaction type", id="missing-type-code"),
    pytest.param(_sub(":61:2601020102D89,90NMSC", ":61:2601020102D89,9,0NMSC"), 14, ":61:",
                 "not a number", id="two-commas"),
    pytest.param(_sub(":61:2601020102D89,90NMSC", ":61:2601020102D-89,90NMSC"), 14, ":61:",
                 "amount '-89,90' has a sign", id="signed-amount"),
    pytest.param(_sub(":60F:C251230EUR12345,67", ":60F:C251330EUR12345,67"), 4, ":60F:",
                 "'251330' is not a calendar date", id="impossible-balance-date"),
    pytest.param(_sub(":28C:00001/001", ":28C:ABC"), 3, ":28C:", "statement number",
                 id="bad-28C"),
    pytest.param(_sub(":25:", "GARBAGE LINE\r\n:25:"), 2, ":20:", "unexpected text 'GARBAGE LINE'",
                 id="stray-text-in-header"),
    pytest.param(":61:2601020102D89,90NMSC\r\n" + GERMAN, 1, ":61:", "before the statement's :20:",
                 id="line-before-20"),
    pytest.param(_sub(":64:C260102EUR14020,77", ":61:2601020102D1,00NMSC"), 22, ":61:",
                 "after the closing balance", id="61-after-62F"),
    pytest.param(_sub(":62F:C260102EUR14020,77", ":62F:C260102EUR14020,77\r\n:62F:C260102EUR1,00"),
                 22, ":62F:", "appears twice", id="duplicate-62F"),
    pytest.param("{1:F01DEUTDEFFAXXX0000000000}{2:O1031200260310DEUTDEFFAXXX0000000000}{4:\r\n"
                 ":20:X\r\n-}", 1, "{2:", "MT103 is not a statement", id="not-a-statement-type"),
])
def test_bad_input_is_located(text, line, field, words):
    err = error_of(text)
    assert (err.source, err.line, err.field) == ("bad.sta", line, field), str(err)
    assert words in err.reason, err.reason


def test_closing_balance_that_does_not_reconcile_fails_at_62F_while_reading_lines():
    text = _sub(":62F:C260102EUR14020,77", ":62F:C260102EUR14020,78")
    statements = list(parse(io.BytesIO(text.encode("cp1252")), "bad.sta"))   # header is fine
    with pytest.raises(ValidationError) as info:
        list(statements[0].lines)
    assert (info.value.line, info.value.field) == (21, ":62F:")
    assert "does not reconcile" in info.value.reason and "14020.78" in info.value.reason


def test_mt942_totals_are_checked():
    text = text_of("mt942_intraday.fin").replace(":90D:2EUR400,00", ":90D:2EUR400,01")
    err = error_of(text)
    assert (err.line, err.field) == (16, ":90D:") and "400.01" in err.reason


def test_mt942_without_floor_limit_is_refused():
    text = text_of("mt942_intraday.fin").replace(":34F:EURD0,\r\n:34F:EURC0,\r\n", "")
    err = error_of(text)
    assert (err.line, err.field) == (2, ":34F:")


@pytest.mark.parametrize("raw, words", [
    (b"", "the file is empty"),
    (b"  \r\n\r\n", "the file is empty"),
    (bytes(range(256)) * 8, "no MT940/MT942 statement"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "no MT940/MT942 statement"),
])
def test_empty_and_binary_files(raw, words):
    err = error_of(raw)
    assert err.line == 1 and words in err.reason


# ---------------------------------------------------------------------------------------------
# robustness: random byte-level mutations never escape as anything but ValidationError
# ---------------------------------------------------------------------------------------------
RAW_SAMPLES = [(DATA / n).read_bytes() for n in SAMPLES]


MUTATION_TOKENS = [b":", b"?", b"/", b"//", b",", b".", b"\r\n", b"\n",
    b"-}", b"{4:", b":61:", b":86:?20", b"/NAME/",
    b"\x00", b"\xff", b"9"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(RAW_SAMPLES, MUTATION_TOKENS, max_duplicate=200))
def test_mutated_mt940_never_crashes(data):
    try:
        for statement in parse(io.BytesIO(data), "fuzz.sta"):
            assert isinstance(statement, Statement)
            for line in statement.lines:
                assert isinstance(line.amount, Decimal) and line.amount.is_finite()
                assert isinstance(line.booking_date, date)
                assert line.currency == statement.currency
    except ValidationError as err:
        assert err.source == "fuzz.sta" and err.line is not None and err.line >= 1
