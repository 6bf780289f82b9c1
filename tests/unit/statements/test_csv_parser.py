"""CSV statement parser and profiles: real sample files, detection, errors, properties."""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cio_desktop.domain.statements import Statement, StatementLine
from cio_desktop.errors import ValidationError
from cio_desktop.integrations.statements import csv_parser
from cio_desktop.integrations.statements.csv_parser import parse, sniff
from cio_desktop.integrations.statements.csv_profiles import (
    BUILTIN_PROFILES, CsvAmbiguityError, CsvProfile, detect_profile, get_profile,
    make_amount_parser, make_date_parser, match_header, normalise_header,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "statements" / "csv"
SAMPLES = sorted(p.name for p in DATA.glob("*.csv"))
D = Decimal


def run(data: bytes | str | Path, profile=None, source: str = "bank.csv", **kw):
    """Parse and consume everything: [(statement, [lines])]."""
    if isinstance(data, Path):
        data = data.read_bytes()
    elif isinstance(data, str):
        data = data.encode("utf-8")
    out = []
    for stmt in parse(io.BytesIO(data), source, profile, **kw):
        out.append((stmt, list(stmt.lines)))
    return out


def _flat(result):
    """Statements without their (iterator) ``lines`` attribute, paired with the lines."""
    return [(dataclasses.replace(s, lines=()), lines) for s, lines in result]


def only(data, profile=None, **kw) -> tuple[Statement, list[StatementLine]]:
    result = run(data, profile, **kw)
    assert len(result) == 1
    return result[0]


def error(data, profile=None, **kw) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        run(data, profile, **kw)
    return info.value


def line(booking, amount, currency="EUR", value=None, counterparty="", cp_account="",
         reference="", e2e="", description="", bank_code="", n=None) -> StatementLine:
    return StatementLine(booking_date=booking, amount=D(amount), currency=currency,
                         value_date=value, counterparty=counterparty,
                         counterparty_account=cp_account, reference=reference,
                         end_to_end_id=e2e, description=description, bank_code=bank_code, line=n)


# A plain German-style profile for error tests (explicit, so detection plays no part)
DE = CsvProfile(name="de-test", delimiter=";", decimal=",", thousands=".",
                date_formats=("%d.%m.%Y",), booking_date="Datum", value_date="Valuta",
                amount="Betrag", description=("Text",), currency="EUR")
DE_HEAD = "Datum;Valuta;Betrag;Text\n"
DOT = CsvProfile(name="dot-test", delimiter=",", decimal=".", date_formats=("%Y-%m-%d",),
                 booking_date="Date", amount="Amount", currency_column="Currency")


# ------------------------------------------------------------------------------------------
# Sample files: exact records
# ------------------------------------------------------------------------------------------
def test_german_savings_bank_cp1252_quoted_two_digit_years():
    stmt, lines = only(DATA / "de_savings_bank_cp1252.csv", source="de.csv")
    assert (stmt.account, stmt.currency, stmt.format, stmt.source, stmt.line) == \
        ("DE44500105175407324931", "EUR", "csv", "de.csv", 2)
    assert stmt.extra["profile"] == "auto:de_semicolon_signed"
    assert lines == [
        line(date(2026, 3, 2), "-2450.00", value=date(2026, 3, 2),
             counterparty="Grundstücksgesellschaft Müller & Söhne",
             cp_account="DE02120300000000202051", e2e="E2E-MIETE-0326",
             description="Miete März 2026 Büro Köln", bank_code="LASTSCHRIFT", n=2),
        line(date(2026, 3, 3), "1234.56", value=date(2026, 3, 3),
             counterparty="Bäckerei Großmann GmbH", cp_account="DE89370400440532013000",
             e2e="NOTPROVIDED", description="Rechnung 2026-117 Dank!",
             bank_code="GUTSCHR. UEBERWEISUNG", n=3),
        line(date(2026, 3, 4), "-9.90", value=date(2026, 3, 5),
             description="Kontoführung 02/2026", bank_code="ENTGELTABSCHLUSS", n=4),
        line(date(2026, 3, 31), "0.07", value=date(2026, 3, 31),
             counterparty="Sparkasse KölnBonn", description='Zinsen; Q1 "Tagesgeld"',
             bank_code="GUTSCHR. UEBERWEISUNG", n=5),
    ]
    assert all(type(x.amount) is Decimal for x in lines)
    assert str(lines[0].amount) == "-2450.00"          # exact, scale kept
    assert stmt.extra["line_count"] == 4
    assert stmt.opening_balance is None and stmt.closing_balance is None


def test_german_soll_haben_columns_bom_preamble_multiline_and_footer():
    stmt, lines = only(DATA / "de_soll_haben_bom.csv")
    assert stmt.extra["profile"] == "auto:de_soll_haben_columns"
    assert (stmt.account, stmt.currency) == ("", "EUR")
    assert lines == [
        line(date(2026, 3, 2), "-145.90", value=date(2026, 3, 2),
             counterparty="Stadtwerke Düsseldorf AG", cp_account="DE12300500000001234567",
             e2e="KD-4711", description="Strom Abschlag März", bank_code="Lastschrift", n=5),
        line(date(2026, 3, 5), "1500.00", value=date(2026, 3, 5),
             counterparty="Kunde Ä. Öztürk", cp_account="DE75512108001245126199",
             description="Rechnung 2026-0042", bank_code="SEPA-Überweisung von", n=6),
        line(date(2026, 3, 31), "-12.50", value=date(2026, 3, 31),
             description="Kontoführung\nMärz 2026", bank_code="Entgelt", n=7),
    ]


def test_german_betrag_with_soll_haben_indicator_utf8():
    stmt, lines = only(DATA / "de_betrag_soll_haben.csv")
    assert stmt.extra["profile"] == "auto:de_betrag_soll_haben"
    assert [(x.booking_date, x.value_date, x.amount, x.counterparty, x.description)
            for x in lines] == [
        (date(2026, 1, 15), date(2026, 1, 15), D("-310.00"), "Versicherung Allianz",
         "Beitrag 2026"),
        (date(2026, 1, 16), date(2026, 1, 17), D("42.10"), "Jörg Weiß", "Erstattung Auslagen"),
        (date(2026, 1, 20), date(2026, 1, 20), D("-12000.00"), "Finanzamt München",
         "USt 12/2025"),
    ]
    assert [x.counterparty_account for x in lines][1] == "DE33100205000001234567"


def test_uk_debit_credit_newest_first_balances():
    stmt, lines = only(DATA / "uk_debit_credit.csv")
    assert stmt.extra["profile"] == "auto:uk_debit_credit"
    assert stmt.currency == "GBP"
    assert [(x.booking_date, x.amount, x.description, x.bank_code, x.line) for x in lines] == [
        (date(2026, 2, 28), D("-85.40"), "ACME ENERGY LTD, REF 99812", "DD", 2),
        (date(2026, 2, 27), D("2000.00"), "SALARY FEB", "BGC", 3),
        (date(2026, 2, 13), D("-1500.00"), "HMRC VAT", "FPO", 4),
        (date(2026, 2, 1), D("1500.00"), "OPENING TRANSFER", "BGC", 5),
    ]
    assert stmt.extra["order"] == "descending"
    assert stmt.extra["balances_consistent"] is True
    assert (stmt.opening_balance, stmt.opening_date) == (D("0.00"), date(2026, 2, 1))
    assert (stmt.closing_balance, stmt.closing_date) == (D("1914.60"), date(2026, 2, 28))


def test_us_signed_crlf_ascending_balances_filled_after_iteration():
    stmts = list(parse(io.BytesIO((DATA / "us_signed.csv").read_bytes()), "us.csv"))
    assert len(stmts) == 1
    stmt = stmts[0]
    assert stmt.opening_balance is None          # not known before the lines are consumed
    lines = list(stmt.lines)
    assert [(x.booking_date, x.amount, x.reference, x.bank_code) for x in lines] == [
        (date(2026, 1, 5), D("5000.00"), "", "ACH_CREDIT"),
        (date(2026, 1, 13), D("-1250.75"), "1042", "CHECK_PAID"),
        (date(2026, 1, 31), D("-3749.25"), "", "WIRE_OUTGOING"),
    ]
    assert lines[2].description == "WIRE OUT, VENDOR INC"
    assert (stmt.opening_balance, stmt.closing_balance) == (D("10000.00"), D("10000.00"))
    assert (stmt.opening_date, stmt.closing_date) == (date(2026, 1, 5), date(2026, 1, 31))
    assert stmt.extra["order"] == "ascending"
    assert stmt.currency == "USD"


def test_dutch_af_bij_yyyymmdd_quoted_decimal_comma():
    stmt, lines = only(DATA / "nl_af_bij.csv")
    assert stmt.extra["profile"] == "auto:nl_af_bij"
    assert stmt.account == "NL91ABNA0417164300"
    assert lines == [
        line(date(2026, 1, 5), "-23.45", counterparty="Albert Heijn 1403",
             description="Pasvolgnr:001 05-01-2026 17:34", bank_code="BA", n=2),
        line(date(2026, 1, 6), "1024.00", counterparty="Belastingdienst",
             cp_account="NL86INGB0002445588", description="Teruggaaf inkomstenbelasting",
             bank_code="GT", n=3),
    ]


def test_french_preamble_space_thousands_debit_credit_cp1252():
    stmt, lines = only(DATA / "fr_debit_credit_cp1252.csv")
    assert stmt.extra["profile"] == "auto"
    assert [(x.booking_date, x.value_date, x.amount, x.description, x.line) for x in lines] == [
        (date(2026, 2, 3), date(2026, 2, 3), D("-1234.56"), "PRLV SEPA EDF", 3),
        (date(2026, 2, 17), date(2026, 2, 18), D("15000.00"), "VIR SEPA SOCIÉTÉ GÉNÉRALE", 4),
        (date(2026, 2, 28), date(2026, 2, 28), D("-7.50"), "FRAIS BANCAIRES", 5),
    ]


MULTI_EXPECTED = {
    "DE89370400440532013000": [
        line(date(2026, 4, 1), "-100.00", value=date(2026, 4, 1), counterparty="Supplier A",
             cp_account="FR7630006000011234567890189", reference="REF-1", e2e="E2E-1",
             description="Invoice 1", bank_code="PMNT-ICDT-ESCT", n=2),
        line(date(2026, 4, 2), "250.50", value=date(2026, 4, 2), counterparty="Customer B",
             cp_account="DE02120300000000202051", reference="REF-3", e2e="E2E-3",
             description="Payment, thanks", bank_code="PMNT-RCDT-ESCT", n=4),
    ],
    "JP0001": [
        line(date(2026, 4, 1), "250000", "JPY", value=date(2026, 4, 2),
             counterparty="Tokyo Trading KK", reference="REF-2", description="Sales April",
             bank_code="PMNT-RCDT-ESCT", n=3),
        line(date(2026, 4, 3), "-1000", "JPY", value=date(2026, 4, 3), counterparty="Tokyo Gas",
             reference="REF-5", description="Utilities", bank_code="PMNT-IDDT-ESDD", n=6),
    ],
    "GB29NWBK60161331926819": [
        line(date(2026, 4, 2), "-0.01", "GBP", counterparty="Bank", reference="REF-4",
             description="Fee", bank_code="ACMT-MDOP-CHRG", n=5),
    ],
}


def test_multi_account_interleaved_one_statement_per_account():
    result = run(DATA / "multi_account_iso.csv")
    assert [(s.account, s.currency, s.line) for s, _ in result] == [
        ("DE89370400440532013000", "EUR", 2), ("JP0001", "JPY", 3),
        ("GB29NWBK60161331926819", "GBP", 5)]
    assert {s.account: lines for s, lines in result} == MULTI_EXPECTED
    balances = {s.account: (s.opening_balance, s.closing_balance, s.extra["line_count"])
                for s, _ in result}
    assert balances == {
        "DE89370400440532013000": (D("1000.00"), D("1150.50"), 2),
        "JP0001": (D("1000000"), D("1249000"), 2),
        "GB29NWBK60161331926819": (D("100.00"), D("99.99"), 1),
    }


def test_multi_account_any_consumption_order():
    data = (DATA / "multi_account_iso.csv").read_bytes()
    # all statements first, then their lines (everything gets queued)
    stmts = list(parse(io.BytesIO(data), "m.csv"))
    assert {s.account: list(s.lines) for s in reversed(stmts)} == MULTI_EXPECTED
    # interleaved: one line of each in turn
    stmts = list(parse(io.BytesIO(data), "m.csv"))
    iters = {s.account: iter(s.lines) for s in stmts}
    got: dict[str, list] = {k: [] for k in iters}
    while iters:
        for k in list(iters):
            item = next(iters[k], None)
            if item is None:
                del iters[k]
            else:
                got[k].append(item)
    assert got == MULTI_EXPECTED


def test_multi_account_spills_to_disk_and_keeps_order(monkeypatch):
    monkeypatch.setattr(csv_parser, "SPILL_LINES", 50)
    monkeypatch.setattr(csv_parser, "_SPILL_BATCH", 7)
    rnd = random.Random(5)
    rows = ["account,booking_date,amount,currency,reference"]
    expected: dict[str, list[tuple[str, D]]] = {"A": [], "B": [], "C": []}
    for i in range(3000):
        acct = rnd.choice("ABC")
        amount = D(rnd.randint(-99999, 99999)).scaleb(-2)
        rows.append(f"{acct},2026-05-{1 + i % 28:02d},{amount},EUR,R{i}")
        expected[acct].append((f"R{i}", amount))
    data = ("\n".join(rows) + "\n").encode()
    spilled = []
    real_dump = csv_parser.pickle.dump

    def dump(obj, fh, proto):
        spilled.append(len(obj))
        real_dump(obj, fh, proto)

    monkeypatch.setattr(csv_parser.pickle, "dump", dump)
    stmts = list(parse(io.BytesIO(data), "m.csv"))      # forces everything into the queues
    got = {s.account: [(x.reference, x.amount) for x in s.lines] for s in stmts}
    assert got == expected
    assert sum(spilled) > 2000                          # most lines went through the disk
    assert all(s.extra["line_count"] == len(expected[s.account]) for s in stmts)


# ------------------------------------------------------------------------------------------
# Detection
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_is_sniffed_as_csv(name):
    assert sniff((DATA / name).read_bytes()[:65536], name) is True


@pytest.mark.parametrize("name,expected", [
    ("de_savings_bank_cp1252.csv", dict(delimiter=";", encoding="cp1252", decimal=",",
                                        skip_lines=0, date_formats=("%d.%m.%y", "%d.%m.%Y"),
                                        account_column="Auftragskonto", amount="Betrag")),
    ("de_soll_haben_bom.csv", dict(delimiter=";", encoding="utf-8-sig", decimal=",",
                                   skip_lines=3, debit="Soll", credit="Haben",
                                   footer_markers=("Kontostand", "Saldo"))),
    ("de_betrag_soll_haben.csv", dict(encoding="utf-8", sign="indicator",
                                      indicator="Soll/Haben")),
    ("uk_debit_credit.csv", dict(delimiter=",", decimal=".", date_formats=("%d/%m/%Y",),
                                 debit="Paid out", credit="Paid in", balance="Balance")),
    ("us_signed.csv", dict(date_formats=("%m/%d/%Y",), amount="Amount", encoding="auto")),
    ("nl_af_bij.csv", dict(delimiter=",", decimal=",", date_formats=("%Y%m%d",),
                           sign="indicator", indicator="Af Bij")),
    ("multi_account_iso.csv", dict(account_column="account", balance="balance",
                                   currency_column="currency")),
    ("fr_debit_credit_cp1252.csv", dict(delimiter=";", encoding="cp1252", decimal=",",
                                        thousands=" ", skip_lines=1,
                                        date_formats=("%d/%m/%Y",), booking_date="Date",
                                        value_date="Date de valeur", debit="Débit",
                                        credit="Crédit", description=("Libellé",),
                                        currency_column="Devise")),
])
def test_detect_profile_of_each_sample(name, expected):
    data = (DATA / name).read_bytes()
    profile = detect_profile(data, name, complete=True)
    for key, value in expected.items():
        assert getattr(profile, key) == value, key


def test_synonyms_in_five_languages():
    cases = {
        ("Buchungstag", "Valuta", "Betrag", "Verwendungszweck", "Auftraggeber/Empfänger"):
            {"booking_date", "value_date", "amount", "counterparty"},
        ("Date", "Value date", "Debit", "Credit", "Payee", "Reference"):
            {"booking_date", "value_date", "debit", "credit", "counterparty", "reference"},
        ("Date opération", "Date de valeur", "Libellé", "Montant", "Devise"):
            {"booking_date", "value_date", "amount", "currency_column"},
        ("Datum", "Naam / Omschrijving", "Bedrag (EUR)", "Af Bij", "Omschrijving"):
            {"booking_date", "counterparty", "amount", "indicator"},
        ("Fecha", "Concepto", "Importe", "Saldo", "Fecha valor"):
            {"booking_date", "amount", "balance", "value_date"},
        ("Buchungstag", "Soll", "Haben", "Währung", "Kontostand"):
            {"booking_date", "debit", "credit", "currency_column", "balance"},
    }
    for cells, fields in cases.items():
        match = match_header(list(cells))
        assert set(match.columns) == fields, cells
    m = match_header(["Datum", "Omschrijving", "Mededelingen", "Bedrag (EUR)"])
    assert m.description == [1, 2] and m.currency_hint == "EUR"
    assert normalise_header(" Libellé ") == "libelle"
    assert normalise_header("Betrag (EUR)") == "betrag"
    assert normalise_header("Verwendungszweck 2") == "verwendungszweck"


def test_spanish_generic_detection_and_currency_from_header():
    text = ("Fecha;Concepto;Importe (EUR);Saldo\n"
            "15/03/2026;Recibo luz;-45,30;1.954,70\n"
            "16/03/2026;Transferencia recibida;1.000,00;2.954,70\n")
    stmt, lines = only(text)
    assert stmt.currency == "EUR"
    assert [(x.booking_date, x.amount, x.description) for x in lines] == [
        (date(2026, 3, 15), D("-45.30"), "Recibo luz"),
        (date(2026, 3, 16), D("1000.00"), "Transferencia recibida")]
    assert (stmt.opening_balance, stmt.closing_balance) == (D("2000.00"), D("2954.70"))


def test_delimiter_tab_and_pipe():
    for sep in ("\t", "|"):
        text = sep.join(["Date", "Amount", "Description"]) + "\n" + \
            sep.join(["2026-01-02", "-1.50", "Coffee, large"]) + "\n"
        stmt, lines = only(text, currency="EUR")
        assert lines[0].amount == D("-1.50") and lines[0].description == "Coffee, large"


@pytest.mark.parametrize("head", [
    b"OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\n\r\n<OFX><SIGNONMSGSRSV1>",
    b'<?xml version="1.0" encoding="UTF-8"?>\n<?OFX OFXHEADER="200"?>\n<OFX>',
    b"{1:F01BANKDEFFXXXX0000000000}{2:I940BANKDEFFXXXXN}{4:\r\n:20:STMT\r\n:25:123/456\r\n",
    b":20:STARTUMSE\r\n:25:10020030/1234567\r\n:28C:00001/001\r\n:60F:C260301EUR1234,56\r\n",
    b'<?xml version="1.0"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">',
    b"01,BANKID,CUSTID,260301,0800,1,80,1,2/\n02,CUSTID,BANKID,1,260228,,USD,2/\n",
    b"just some text\nwithout a header\n",
    b"",
    bytes(range(256)) * 4,
])
def test_sniff_refuses_other_formats(head):
    assert sniff(head, "file.txt") is False


def test_sniff_refuses_other_helpers_samples():
    root = DATA.parent
    files = [p for d in ("ofx", "mt940", "camt", "bai2") for p in (root / d).glob("*")
             if p.is_file()]
    if not files:
        pytest.skip("no OFX/MT940/camt/BAI2 samples present")
    for path in files:
        assert sniff(path.read_bytes()[:65536], path.name) is False, path.name


# ------------------------------------------------------------------------------------------
# Profiles: built-ins, JSON, validation
# ------------------------------------------------------------------------------------------
def test_builtin_profile_by_name_and_as_dict():
    data = (DATA / "uk_debit_credit.csv").read_bytes()
    by_name = run(data, "uk_debit_credit")
    by_dict = run(data, get_profile("uk_debit_credit").to_dict())
    assert [x for _s, lines in by_name for x in lines] == [x for _s, lines in by_dict
                                                             for x in lines]
    assert by_name[0][0].extra["profile"] == "uk_debit_credit"


@pytest.mark.parametrize("profile", [*BUILTIN_PROFILES.values(), DE, DOT])
def test_profile_json_round_trip(profile):
    text = json.dumps(profile.to_dict())
    again = CsvProfile.from_dict(json.loads(text))
    assert again == profile
    assert CsvProfile.from_json(profile.to_json()) == profile


@pytest.mark.parametrize("name", SAMPLES)
def test_detected_profile_round_trips_and_parses_the_same(name):
    data = (DATA / name).read_bytes()
    profile = detect_profile(data, name, complete=True)
    again = CsvProfile.from_json(profile.to_json())
    assert again == profile
    assert _flat(run(data, again)) == _flat(run(data))


@pytest.mark.parametrize("changes,field", [
    (dict(delimiter=";;"), "delimiter"),
    (dict(decimal=":"), "decimal"),
    (dict(thousands=","), "thousands"),           # DE uses ',' as decimal mark
    (dict(date_formats=("%Y",)), "date_formats"),
    (dict(date_formats=()), "date_formats"),
    (dict(encoding="klingon"), "encoding"),
    (dict(booking_date=None), "booking_date"),
    (dict(amount=None), "amount"),
    (dict(debit="Soll"), "amount"),
    (dict(sign="sideways"), "sign"),
    (dict(sign="indicator"), "indicator"),
    (dict(currency="EURO"), "currency"),
    (dict(skip_lines=-1), "skip_lines"),
    (dict(has_header=False), "booking_date"),     # names need a header
    (dict(description=("",)), "description"),
    (dict(encoding="rot13"), "encoding"),
    (dict(delimiter="a"), "delimiter"),
    (dict(quotechar="\n"), "quotechar"),
])
def test_invalid_profiles_are_refused_with_the_setting(changes, field):
    with pytest.raises(ValidationError) as info:
        dataclasses.replace(DE, **changes)
    assert info.value.field == field


def test_profile_from_dict_refuses_unknown_keys_and_versions():
    data = DE.to_dict()
    with pytest.raises(ValidationError) as info:
        CsvProfile.from_dict({**data, "colour": "blue"})
    assert info.value.field == "colour"
    with pytest.raises(ValidationError):
        CsvProfile.from_dict({**data, "version": 99})
    with pytest.raises(ValidationError):
        CsvProfile.from_json("{not json")
    with pytest.raises(ValidationError):
        get_profile("no-such-bank")


def test_headerless_profile_with_column_numbers_and_fixed_account():
    profile = CsvProfile(name="nohead", has_header=False, delimiter=",", decimal=".",
                         date_formats=("%Y-%m-%d",), booking_date=0, amount=2, description=(1,),
                         currency="CHF", account="CH9300762011623852957")
    stmt, lines = only("2026-06-01,Rent,-2500.00\n2026-06-02,Refund,12.05\n", profile)
    assert stmt.account == "CH9300762011623852957" and stmt.currency == "CHF"
    assert [(x.amount, x.description, x.line) for x in lines] == [
        (D("-2500.00"), "Rent", 1), (D("12.05"), "Refund", 2)]


def test_inverted_sign_and_several_description_columns():
    profile = CsvProfile(name="card", delimiter=",", date_formats=("%Y-%m-%d",),
                         booking_date="Date", amount="Amount", sign="inverted",
                         description=("Merchant", "City"), description_separator=" / ",
                         currency="USD")
    text = "Date,Merchant,City,Amount\n2026-02-01,Coffee Bar,Boston,4.50\n" \
           "2026-02-02,Refund Shop,,-20.00\n"
    _stmt, lines = only(text, profile)
    assert [(x.amount, x.description) for x in lines] == [
        (D("-4.50"), "Coffee Bar / Boston"), (D("20.00"), "Refund Shop")]


def test_account_and_currency_options_override_profile_values():
    text = "Datum;Valuta;Betrag;Text\n01.02.2026;;1,00;a\n"
    stmt, lines = only(text, DE, account="DE00123", currency="chf")
    assert (stmt.account, stmt.currency, lines[0].currency) == ("DE00123", "CHF", "CHF")


def test_utf16_and_old_mac_line_endings():
    text = "Buchungstag;Betrag;Währung;Verwendungszweck\r\n01.03.2026;-1,00;EUR;Gebühr\r\n"
    for data in (text.encode("utf-16"), text.replace("\r\n", "\r").encode("cp1252")):
        _stmt, lines = only(data)
        assert [(x.booking_date, x.amount, x.description, x.line) for x in lines] == [
            (date(2026, 3, 1), D("-1.00"), "Gebühr", 2)]


def test_ascii_head_then_cp1252_later_is_read_in_auto_encoding():
    rows = ["Date,Amount,Currency,Description"] + \
        [f"2026-01-{1 + i % 28:02d},1.00,EUR,plain {i}" for i in range(20000)]
    data = ("\n".join(rows) + "\n").encode("ascii") + "2026-02-01,2.00,EUR,Müller\n".encode(
        "cp1252")
    assert len(data) > csv_parser.HEAD_BYTES
    _stmt, lines = only(data)
    assert lines[-1].description == "Müller" and lines[-1].line == 20002


def test_lines_stream_without_reading_the_whole_file():
    class Counting(io.BytesIO):
        read_total = 0

        def read(self, size=-1):
            chunk = super().read(size)
            self.read_total += len(chunk)
            return chunk

    body = "".join(f"2026-01-{1 + i % 28:02d},{i}.00,EUR,row {i}\n" for i in range(200_000))
    stream = Counting(("Date,Amount,Currency,Description\n" + body).encode())
    stmt = next(parse(stream, "big.csv"))
    assert not isinstance(stmt.lines, (list, tuple))
    first = next(iter(stmt.lines))
    assert first.amount == D("0.00")
    assert stream.read_total <= csv_parser.HEAD_BYTES + 2 * 65536
    assert sum(1 for _ in stmt.lines) == 199_999


# ------------------------------------------------------------------------------------------
# Bad input: exact line and field
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [b"", b"   \r\n\n", b"\xef\xbb\xbf"])
def test_empty_file(data):
    e = error(data)
    assert (e.source, e.line, e.reason) == ("bank.csv", 1, "the file is empty")


@pytest.mark.parametrize("profile", [None, DE])
def test_header_only(profile):
    e = error(DE_HEAD.replace("Text", "Verwendungszweck") if profile is None else DE_HEAD,
              profile, currency="EUR")
    assert e.line == 1 and "no transactions" in str(e)
    assert e.source == "bank.csv"


def test_impossible_date_names_line_and_field():
    text = DE_HEAD + "01.02.2026;;1,00;a\n\n02.02.2026;;2,00;b\n30.02.2026;;3,00;c\n"
    e = error(text, DE)
    assert (e.source, e.line, e.field) == ("bank.csv", 5, "booking date")
    assert e.reason == "'30.02.2026' is not a date in format %d.%m.%Y"
    e = error(DE_HEAD + "01.02.2026;31.04.2026;1,00;a\n", DE)
    assert (e.line, e.field) == (2, "value date")
    e = error(DE_HEAD + ";;1,00;a\n", DE)
    assert (e.line, e.field, e.reason) == (2, "booking date", "the booking date is empty")


@pytest.mark.parametrize("value,reason", [
    ('"1.234,56"', "'1.234,56' is not an amount with '.' as decimal mark"),
    ("1.234", "'1.234' has 3 decimals; the currency allows 2"),
    ("12.50 EUR", None), ("abc", None), ("NaN", None), ("1e5", None), ("1_000", None),
    ("Infinity", None), ("--5", None), ('"1,23"', None), ("", "the amount is empty"),
    ("١٢٣", None),
])
def test_bad_amounts_are_errors_not_guesses(value, reason):
    e = error(f"Date,Amount,Currency\n2026-01-02,1.00,EUR\n2026-01-03,{value},EUR\n", DOT)
    assert (e.line, e.field) == (3, "amount")
    if reason:
        assert e.reason == reason


def test_decimals_checked_per_currency():
    e = error("Date,Amount,Currency\n2026-01-02,100.5,JPY\n", DOT)
    assert (e.line, e.field) == (2, "amount") and "allows 0" in e.reason
    _s, lines = only("Date,Amount,Currency\n2026-01-02,100.525,KWD\n2026-01-02,7,JPY\n", DOT)
    assert [x.amount for x in lines] == [D("100.525"), D("7")]


def test_amount_forms_accepted():
    parse_de = make_amount_parser(",", ".")
    assert parse_de("1.234.567,89", 2) == D("1234567.89")
    assert parse_de("12,5-", 2) == D("-12.5")
    assert parse_de("(3,00)", 2) == D("-3.00")
    assert parse_de("+0,01", 2) == D("0.01")
    assert parse_de(",50", 2) == D("0.50")
    for bad in ("1.23,00", "12.3456,00", "1,2,3", "1.234.56", "1,", "€5", "1 000,00"):
        with pytest.raises(ValueError):
            parse_de(bad, 2)
    with pytest.raises(ValueError, match="too large"):
        parse_de("1" * 19, 2)
    assert parse_de("0" * 5 + "1" * 18 + ",5", 2) == D("111111111111111111.5")
    assert make_amount_parser(",", " ")("1 234,56", 2) == D("1234.56")
    assert make_amount_parser(".", "'")("1'234.56", 2) == D("1234.56")


def test_date_formats():
    p = make_date_parser(["%d.%m.%Y", "%d.%m.%y"])
    assert p("05.03.2026") == date(2026, 3, 5)
    assert p("5.3.2026") == date(2026, 3, 5)
    assert p("05.03.26") == date(2026, 3, 5)
    assert make_date_parser(["%d %b %Y"])("05 Mar 2026") == date(2026, 3, 5)
    for bad in ("29.02.2026", "2026-03-05", "05.13.2026", "", "05.03.2026x"):
        with pytest.raises(ValueError):
            p(bad)
    assert make_date_parser(["%d.%m.%Y"])("29.02.2028") == date(2028, 2, 29)


def test_unterminated_quote_names_the_record_start():
    e = error(DE_HEAD + '01.02.2026;;1,00;a\n02.02.2026;;2,00;"b\n', DE)
    assert e.line == 3 and "closing quote" in e.reason
    e = error(DE_HEAD + '01.02.2026;;1,00;"a\n02.02.2026;;2,00;b\n03.02.2026;;2,00;b\n', DE)
    assert e.line == 2 and "closing quote" in e.reason
    e = error(DE_HEAD + '01.02.2026;;1,00;"a"x\n', DE)
    assert e.line == 2 and "after a closing quote" in e.reason


def test_truncated_last_line_is_a_short_row():
    e = error(DE_HEAD + "01.02.2026;;1,00;a\n02.02.2026;", DE)
    assert (e.line, e.field) == (3, "amount")


def test_binary_noise():
    rnd = random.Random(7)
    noise = bytes(rnd.randrange(256) for _ in range(5000))
    assert "binary" in error(noise).reason
    e = error(DE_HEAD.encode() + noise, DE)
    assert e.line is not None
    high = bytes(rnd.randrange(128, 256) for _ in range(3000))
    e = error(high)
    assert e.source == "bank.csv"


def test_wrong_encoding_names_the_line():
    data = (DE_HEAD + "01.02.2026;;1,00;Müller\n").encode("cp1252")
    e = error(data, dataclasses.replace(DE, encoding="utf-8"))
    assert e.line == 2 and "utf-8" in e.reason and "0xfc" in e.reason
    data = DE_HEAD.encode() + b"01.02.2026;;1,00;a\n" * 3 + b"01.02.2026;;1,00;M\x81ller\n"
    e = error(data, dataclasses.replace(DE, encoding="cp1252"))
    assert e.line == 5 and "cp1252" in e.reason


def test_short_row_and_missing_header_column():
    e = error(DE_HEAD + "01.02.2026;\n", DE)
    assert (e.line, e.field) == (2, "amount")
    e = error("Datum;Valuta;Wert;Text\n01.02.2026;;1,00;a\n", DE)
    assert (e.line, e.field) == (1, "amount") and "'Betrag'" in e.reason


def test_debit_credit_errors():
    profile = get_profile("uk_debit_credit")
    head = "Date,Type,Description,Paid out,Paid in,Balance\n"
    e = error(head + "01/02/2026,X,both,1.00,2.00,\n", profile)
    assert (e.line, e.field) == (2, "amount") and "both" in e.reason
    e = error(head + "01/02/2026,X,neither,,,\n", profile)
    assert (e.line, e.field) == (2, "amount")
    e = error(head + "01/02/2026,X,bad,1.0.0,,\n", profile)
    assert (e.line, e.field) == (2, "debit")
    e = error(head + "01/02/2026,X,bad,,1.00,x\n", profile)
    assert (e.line, e.field) == (2, "balance")
    _s, lines = only(head + "01/02/2026,X,zero other,0.00,5.00,\n", profile)
    assert lines[0].amount == D("5.00")


def test_indicator_currency_and_account_errors():
    e = error("Buchungstag;Betrag;Soll/Haben;Währung\n01.02.2026;1,00;X;EUR\n")
    assert (e.line, e.field) == (2, "debit/credit indicator")
    e = error("Date,Amount,Currency\n2026-01-02,1.00,\n", DOT)
    assert (e.line, e.field) == (2, "currency")
    e = error("Date,Amount,Currency\n2026-01-02,1.00,EURO\n", DOT)
    assert (e.line, e.field) == (2, "currency")
    profile = dataclasses.replace(DOT, account_column="Account")
    e = error("Date,Amount,Currency,Account\n2026-01-02,1.00,EUR,\n", profile)
    assert (e.line, e.field) == (2, "account")


def test_no_currency_anywhere_is_refused_until_given():
    text = "Date,Amount,Description\n2026-01-02,1.00,x\n"
    e = error(text)
    assert e.field == "currency"
    _s, lines = only(text, currency="SEK")
    assert lines[0].currency == "SEK"


def test_ambiguous_dates_refused_unless_the_profile_or_caller_says():
    text = "Date,Amount,Currency\n01/02/2026,1.00,EUR\n03/04/2026,2.00,EUR\n"
    with pytest.raises(CsvAmbiguityError) as info:
        run(text)
    assert info.value.choices == ("%d/%m/%Y", "%m/%d/%Y")
    assert (info.value.line, info.value.field) == (2, "booking date")
    _s, lines = only(text, date_format="%m/%d/%Y")
    assert [x.booking_date for x in lines] == [date(2026, 1, 2), date(2026, 3, 4)]
    profile = dataclasses.replace(DOT, date_formats=("%d/%m/%Y",))
    _s, lines = only(text, profile)
    assert [x.booking_date for x in lines] == [date(2026, 2, 1), date(2026, 4, 3)]
    # one reading only (day == month) and the sample is the whole file: not ambiguous
    _s, lines = only("Date,Amount,Currency\n05/05/2026,1.00,EUR\n")
    assert lines[0].booking_date == date(2026, 5, 5)
    # a day > 12 settles it
    _s, lines = only(text + "13/04/2026,3.00,EUR\n")
    assert lines[2].booking_date == date(2026, 4, 13)


def test_mixed_decimal_marks_refused():
    e = error('Date,Amount,Currency\n2026-01-02,"1,234.56",EUR\n2026-01-03,"12,50",EUR\n')
    assert e.field == "amount" and "both '.'" in e.reason


def test_inconsistent_balances_flagged():
    text = ("Date,Amount,Currency,Balance\n2026-01-01,10.00,EUR,110.00\n"
            "2026-01-02,5.00,EUR,200.00\n")
    stmt, _lines = only(text)
    assert stmt.extra["balances_consistent"] is False
    assert (stmt.opening_balance, stmt.closing_balance) == (D("100.00"), D("200.00"))


def test_error_in_later_row_raised_while_iterating():
    rows = "".join(f"{1 + i % 28:02d}.01.2026;;{i},00;r{i}\n" for i in range(100))
    stmts = list(parse(io.BytesIO((DE_HEAD + rows + "xx;;1,00;bad\n").encode()), "b.csv", DE))
    it = iter(stmts[0].lines)
    assert sum(1 for _ in zip(range(100), it)) == 100
    with pytest.raises(ValidationError) as info:
        next(it)
    assert (info.value.line, info.value.field) == (102, "booking date")


def test_error_in_multi_account_file_reaches_every_statement():
    text = ("account,booking_date,amount,currency\nA,2026-01-01,1.00,EUR\n"
            "B,2026-01-01,2.00,EUR\nA,2026-01-02,3.00,EUR\nB,2026-01-32,4.00,EUR\n")
    profile = dataclasses.replace(DOT, account_column="account", booking_date="booking_date",
                                  amount="amount", currency_column="currency")
    stmts = parse(io.BytesIO(text.encode()), "m.csv", profile)
    a = next(stmts)
    with pytest.raises(ValidationError) as info:
        list(a.lines)
    assert (info.value.line, info.value.field) == (5, "booking date")
    b = next(stmts)
    with pytest.raises(ValidationError):       # B does not look complete after the failure
        list(b.lines)


def test_detection_names_the_date_column_at_fault():
    e = error("Date,Value date,Amount,Currency\n2026-01-02,2026-01-02,1.00,EUR\n"
              "2026-01-03,tomorrow,1.00,EUR\n")
    assert (e.line, e.field) == (3, "value date")
    e = error("Date,Amount,Currency\n2026-01-02,1.00,EUR\nsoon,1.00,EUR\n")
    assert (e.line, e.field) == (3, "booking date")


def test_text_is_kept_as_is_no_formula_evaluation():
    _s, lines = only('Date,Amount,Currency,Description\n2026-01-02,1.00,EUR,"=1+2"\n'
                     '2026-01-03,1.00,EUR,@SUM(A1)\n')
    assert [x.description for x in lines] == ["=1+2", "@SUM(A1)"]


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------
SAMPLE_BYTES = [(DATA / name).read_bytes() for name in SAMPLES]


def _check_records(stmts: list[tuple[Statement, list[StatementLine]]]) -> None:
    for stmt, lines in stmts:
        assert isinstance(stmt, Statement) and stmt.format == "csv"
        for x in lines:
            assert isinstance(x, StatementLine)
            assert type(x.amount) is Decimal and x.amount.is_finite()
            assert type(x.booking_date) is date
            assert x.value_date is None or type(x.value_date) is date
            assert len(x.currency) == 3 and x.currency.isalpha() and x.currency.isupper()
            assert isinstance(x.line, int) and x.line >= 1
            for text in (x.counterparty, x.counterparty_account, x.reference,
                         x.end_to_end_id, x.description, x.bank_code):
                assert isinstance(text, str)


_mutation = st.tuples(st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate",
                                       "byte"]),
                      st.integers(min_value=0, max_value=10**6),
                      st.integers(min_value=0, max_value=255),
                      st.integers(min_value=1, max_value=40))


def _mutate(data: bytes, mutations) -> bytes:
    buf = bytearray(data)
    for op, pos, value, length in mutations:
        if not buf:
            break
        i = pos % len(buf)
        if op == "flip":
            buf[i] ^= 1 << (value % 8)
        elif op == "byte":
            buf[i] = value
        elif op == "insert":
            buf[i:i] = bytes([value]) * (1 + length % 3)
        elif op == "delete":
            del buf[i:i + length]
        elif op == "duplicate":
            buf[i:i] = buf[i:i + length]
        elif op == "truncate":
            del buf[i:]
    return bytes(buf)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=st.sampled_from(range(len(SAMPLE_BYTES))),
       mutations=st.lists(_mutation, min_size=1, max_size=6),
       explicit=st.booleans())
def test_mutated_csv_never_crashes(sample, mutations, explicit):
    original = SAMPLE_BYTES[sample]
    data = _mutate(original, mutations)
    profile = detect_profile(original, SAMPLES[sample], complete=True) if explicit else None
    try:
        result = run(data, profile, source=SAMPLES[sample])
    except ValidationError as exc:
        assert str(exc)
        return
    _check_records(result)
    assert sniff(data[:65536], SAMPLES[sample]) in (True, False)


# -- round trip: random rows written with a profile parse back equal ------------------------
_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.just("\n"),
                max_size=25).map(str.strip)
_row = st.fixed_dictionaries({
    "booking": st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31)),
    "value": st.none() | st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31)),
    "cents": st.integers(min_value=-10**12, max_value=10**12),
    "counterparty": _text, "description": _text, "reference": _text,
})

ROUND_TRIP_PROFILES = {
    "de": CsvProfile(name="rt-de", delimiter=";", decimal=",", thousands=".",
                     date_formats=("%d.%m.%Y",), encoding="utf-8-sig",
                     booking_date="Buchungstag", value_date="Valuta", amount="Betrag",
                     counterparty="Empfänger", reference="Referenz",
                     description=("Verwendungszweck",), currency_column="Währung"),
    "iso": CsvProfile(name="rt-iso", delimiter=",", decimal=".", date_formats=("%Y-%m-%d",),
                      encoding="utf-8", skip_lines=2, booking_date="booking_date",
                      value_date="value_date", amount="amount", counterparty="counterparty",
                      reference="reference", description=("description",), currency="JPY"),
    "uk": CsvProfile(name="rt-uk", delimiter=",", decimal=".", thousands=",",
                     date_formats=("%d/%m/%Y",), encoding="utf-16",
                     booking_date="Date", value_date="Value date", debit="Paid out",
                     credit="Paid in", counterparty="Payee", reference="Ref",
                     description=("Details",), currency="GBP"),
    "sh": CsvProfile(name="rt-sh", delimiter="\t", decimal=",", thousands=" ",
                     date_formats=("%Y%m%d",), encoding="utf-8", booking_date="Datum",
                     value_date="Valuta", amount="Betrag", sign="indicator",
                     indicator="S/H", counterparty="Name", reference="Ref",
                     description=("Text",), currency="EUR"),
}


def _format_amount(value: Decimal, exponent: int, mark: str, thousands: str) -> str:
    sign = "-" if value < 0 else ""
    q = f"{abs(value):.{exponent}f}"
    whole, _, frac = q.partition(".")
    if thousands:
        groups = []
        while len(whole) > 3:
            groups.insert(0, whole[-3:])
            whole = whole[:-3]
        whole = thousands.join([whole, *groups])
    return sign + whole + (mark + frac if frac else "")


def _write(profile: CsvProfile, rows: list[dict], key: str) -> tuple[bytes, list]:
    exponent = 0 if profile.currency == "JPY" else 2
    out = io.StringIO(newline="")
    for _ in range(profile.skip_lines or 0):
        out.write("Export created by round-trip test\n")
    w = csv.writer(out, delimiter=profile.delimiter, lineterminator="\r\n")
    header = ["Buchungstag", "Valuta", "Betrag", "Empfänger", "Referenz",
              "Verwendungszweck", "Währung"]
    if key == "iso":
        header = ["booking_date", "value_date", "amount", "counterparty", "reference",
                  "description"]
    elif key == "uk":
        header = ["Date", "Value date", "Paid out", "Paid in", "Payee", "Ref", "Details"]
    elif key == "sh":
        header = ["Datum", "Valuta", "Betrag", "S/H", "Name", "Ref", "Text"]
    w.writerow(header)
    expected = []
    for r in rows:
        amount = Decimal(r["cents"]).scaleb(-exponent)
        fmt = profile.date_formats[0]
        bd, vd = r["booking"].strftime(fmt), r["value"].strftime(fmt) if r["value"] else ""
        money = _format_amount(amount, exponent, profile.decimal, profile.thousands)
        absolute = _format_amount(abs(amount), exponent, profile.decimal, profile.thousands)
        if key == "de":
            cells = [bd, vd, money, r["counterparty"], r["reference"], r["description"], "EUR"]
        elif key == "iso":
            cells = [bd, vd, money, r["counterparty"], r["reference"], r["description"]]
        elif key == "uk":
            cells = [bd, vd, absolute if amount < 0 else "", absolute if amount >= 0 else "",
                     r["counterparty"], r["reference"], r["description"]]
        else:
            cells = [bd, vd, absolute, "S" if amount < 0 else "H", r["counterparty"],
                     r["reference"], r["description"]]
        w.writerow(cells)
        currency = profile.currency or "EUR"
        expected.append((r["booking"], r["value"], amount, currency, r["counterparty"],
                         r["reference"], r["description"]))
    return out.getvalue().encode(profile.encoding), expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(sorted(ROUND_TRIP_PROFILES)),
       rows=st.lists(_row, min_size=1, max_size=30))
def test_round_trip_written_rows_parse_back_equal(key, rows):
    profile = ROUND_TRIP_PROFILES[key]
    data, expected = _write(profile, rows, key)
    stmt, lines = only(data, profile)
    got = [(x.booking_date, x.value_date, x.amount, x.currency, x.counterparty, x.reference,
            x.description) for x in lines]
    assert got == expected
    assert stmt.extra["line_count"] == len(rows)


def test_bom_sniffed_in_explicit_profile():
    data = codecs.BOM_UTF8 + b"Date,Amount,Currency\n2026-01-02,1.00,EUR\n"
    _s, lines = only(data, DOT)
    assert lines[0].amount == D("1.00")
