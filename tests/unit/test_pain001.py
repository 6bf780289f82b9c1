"""pain.001 writer (cio_desktop.integrations.payment_files)."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from cio_desktop.domain.credit_transfer import CreditTransfer
from cio_desktop.errors import ValidationError
from cio_desktop.integrations.payment_files import (build_pain001, namespace_for, transliterate,
                                                    validate_pain001, write_pain001)
from cio_desktop.integrations.payment_files import pain001 as pain001_module
from cio_desktop.integrations.payment_files import xsd as xsd_module

CREATED = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
D1 = date(2026, 11, 3)
D2 = date(2026, 11, 5)

DE = "DE89370400440532013000"
GB = "GB82WEST12345698765432"
NL = "NL91ABNA0417164300"
FR = "FR1420041010050500013M02606"
BE = "BE68539007547034"
IT = "IT60X0542811101000000123456"
ES = "ES9121000418450200051332"
CH = "CH9300762011623852957"
SA = "SA0380000000608010167519"    # valid IBAN, outside SEPA


def tx(n: int | str = 1, **kw) -> CreditTransfer:
    base = dict(end_to_end_id=f"E2E-{n}", instruction_id=f"INSTR-{n}", amount=Decimal("100.00"),
                currency="EUR", execution_date=D1, debtor_name="ACME Treasury GmbH",
                debtor_iban=DE, debtor_bic="COBADEFFXXX", creditor_name="Supplier SA",
                creditor_iban=FR, creditor_bic="BNPAFRPPXXX", creditor_country="FR",
                remittance=f"Invoice {n}")
    base.update(kw)
    return CreditTransfer(**base)


def build(transfers, version="09", **kw) -> bytes:
    args = dict(version=version, message_id="MSG-20261102-1", created_at=CREATED,
                initiating_party="ACME Treasury")
    args.update(kw)
    return build_pain001(transfers, **args)


class Doc:
    """Parsed output with namespace-free helpers."""

    def __init__(self, data: bytes, version: str = "09") -> None:
        self.root = etree.fromstring(data)
        self.ns = {"p": namespace_for(version)}

    def all(self, path: str, node=None):
        return (node if node is not None else self.root).xpath(self._p(path), namespaces=self.ns)

    def one(self, path: str, node=None):
        found = self.all(path, node)
        assert len(found) == 1, (path, found)
        return found[0]

    def text(self, path: str, node=None) -> str:
        return self.one(path, node).text

    @staticmethod
    def _p(path: str) -> str:
        return "/".join(("p:" + s if s and s not in (".", "..") and not s.startswith(("@", "p:"))
                         else s) for s in path.split("/"))

    @property
    def pmtinfs(self):
        return self.all("//PmtInf")


def field_error(transfers, field: str, version="09", **kw) -> ValidationError:
    with pytest.raises(ValidationError) as err:
        build(transfers, version, **kw)
    assert err.value.field == field, str(err.value)
    return err.value


# -- structure and sums -----------------------------------------------------------------------

def test_group_header_counts_and_sums_exactly():
    data = build([tx(1, amount=Decimal("100.10")), tx(2, amount=Decimal("0.01")),
                  tx(3, amount=Decimal("1234567.89"))])
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    d = Doc(data)
    assert d.root.tag == "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.09}Document"
    assert d.text("/p:Document/CstmrCdtTrfInitn/GrpHdr/MsgId") == "MSG-20261102-1"
    assert d.text("//GrpHdr/CreDtTm") == "2026-11-02T09:00:00Z"
    assert d.text("//GrpHdr/NbOfTxs") == "3"
    assert d.text("//GrpHdr/CtrlSum") == "1234668.00"
    assert d.text("//GrpHdr/InitgPty/Nm") == "ACME Treasury"
    assert len(d.pmtinfs) == 1
    p = d.pmtinfs[0]
    assert d.text("PmtInfId", p) == "MSG-20261102-1-1"
    assert d.text("PmtMtd", p) == "TRF"
    assert d.text("BtchBookg", p) == "true"
    assert d.text("NbOfTxs", p) == "3"
    assert d.text("CtrlSum", p) == "1234668.00"
    assert d.text("PmtTpInf/SvcLvl/Cd", p) == "SEPA"
    assert d.text("ReqdExctnDt/Dt", p) == "2026-11-03"
    assert d.text("Dbtr/Nm", p) == "ACME Treasury GmbH"
    assert d.text("DbtrAcct/Id/IBAN", p) == DE
    assert d.text("DbtrAgt/FinInstnId/BICFI", p) == "COBADEFFXXX"
    assert d.text("ChrgBr", p) == "SLEV"
    t = d.all("CdtTrfTxInf", p)[0]
    assert d.text("PmtId/InstrId", t) == "INSTR-1"
    assert d.text("PmtId/EndToEndId", t) == "E2E-1"
    assert d.text("Amt/InstdAmt", t) == "100.10"
    assert d.one("Amt/InstdAmt", t).get("Ccy") == "EUR"
    assert d.text("CdtrAgt/FinInstnId/BICFI", t) == "BNPAFRPPXXX"
    assert d.text("Cdtr/Nm", t) == "Supplier SA"
    assert d.text("Cdtr/PstlAdr/Ctry", t) == "FR"
    assert d.text("CdtrAcct/Id/IBAN", t) == FR
    assert d.text("RmtInf/Ustrd", t) == "Invoice 1"


def test_created_at_in_another_zone_is_written_as_utc_and_batch_booking_false():
    cet = timezone(timedelta(hours=1))
    d = Doc(build([tx()], created_at=datetime(2026, 11, 2, 10, 30, 15, 999, tzinfo=cet),
                  batch_booking=False))
    assert d.text("//GrpHdr/CreDtTm") == "2026-11-02T09:30:15Z"
    assert d.text("//PmtInf/BtchBookg") == "false"


def test_one_payment_information_per_debtor_account_and_date():
    transfers = [
        tx(1, debtor_iban=DE, execution_date=D2, amount=Decimal("1.00")),
        tx(2, debtor_iban=NL, debtor_bic="ABNANL2A", execution_date=D1, amount=Decimal("2.00")),
        tx(3, debtor_iban=DE, execution_date=D1, amount=Decimal("3.00")),
        tx(4, debtor_iban=DE, execution_date=D2, amount=Decimal("4.00")),
        tx(5, debtor_iban=NL, debtor_bic="ABNANL2A", execution_date=D1, amount=Decimal("5.00")),
        tx(6, debtor_iban=DE, execution_date=D1, amount=Decimal("6.00")),
    ]
    d = Doc(build(transfers))
    got = [(d.text("ReqdExctnDt/Dt", p), d.text("DbtrAcct/Id/IBAN", p), d.text("NbOfTxs", p),
            d.text("CtrlSum", p), [e.text for e in d.all("CdtTrfTxInf/PmtId/EndToEndId", p)],
            d.text("PmtInfId", p))
           for p in d.pmtinfs]
    assert got == [
        ("2026-11-03", DE, "2", "9.00", ["E2E-3", "E2E-6"], "MSG-20261102-1-1"),
        ("2026-11-03", NL, "2", "7.00", ["E2E-2", "E2E-5"], "MSG-20261102-1-2"),
        ("2026-11-05", DE, "2", "5.00", ["E2E-1", "E2E-4"], "MSG-20261102-1-3"),
    ]
    assert d.text("//GrpHdr/NbOfTxs") == "6" and d.text("//GrpHdr/CtrlSum") == "21.00"
    nl = d.pmtinfs[1]
    assert d.text("DbtrAgt/FinInstnId/BICFI", nl) == "ABNANL2A"


def test_currencies_get_their_own_payment_information_and_only_eur_sepa_is_sepa():
    transfers = [
        tx(1, currency="EUR", amount=Decimal("10.00")),
        tx(2, currency="USD", amount=Decimal("20.00"), creditor_iban=SA, creditor_bic="NCBKSAJE",
           creditor_country="SA"),
        tx(3, currency="EUR", amount=Decimal("30.00"), creditor_iban=SA, creditor_bic="NCBKSAJE"),
        tx(4, currency="EUR", amount=Decimal("40.00")),
    ]
    d = Doc(build(transfers))
    assert len(d.pmtinfs) == 3
    summary = [(d.text("CdtTrfTxInf[1]/Amt/InstdAmt", p),
                d.one("CdtTrfTxInf[1]/Amt/InstdAmt", p).get("Ccy"),
                [c.text for c in d.all("PmtTpInf/SvcLvl/Cd", p)], d.text("ChrgBr", p),
                d.text("CtrlSum", p)) for p in d.pmtinfs]
    assert summary == [
        ("10.00", "EUR", ["SEPA"], "SLEV", "50.00"),     # EUR to FR: SEPA
        ("30.00", "EUR", [], "SHAR", "30.00"),           # EUR to a Saudi IBAN: not SEPA
        ("20.00", "USD", [], "SHAR", "20.00"),
    ]
    assert not d.all("PmtInf[2]/PmtTpInf") and not d.all("PmtInf[3]/PmtTpInf")


def test_gbp_between_sepa_countries_and_eur_to_a_non_iban_account_are_not_sepa():
    d = Doc(build([tx(1, currency="GBP", debtor_iban=GB, debtor_bic="NWBKGB2L", creditor_iban=GB,
                      creditor_bic=""),
                   tx(2, creditor_iban="12-3456-7890", creditor_account_is_iban=False,
                      creditor_bic="CHASUS33", creditor_country="US")]))
    assert [d.all("PmtTpInf", p) for p in d.pmtinfs] == [[], []]
    assert [d.text("ChrgBr", p) for p in d.pmtinfs] == ["SHAR", "SHAR"]
    assert d.text("//CdtTrfTxInf[p:PmtId/p:EndToEndId='E2E-2']/CdtrAcct/Id/Othr/Id") == "12-3456-7890"
    assert not d.all("//CdtTrfTxInf[p:PmtId/p:EndToEndId='E2E-1']/CdtrAgt")


@pytest.mark.parametrize("currency, amount, written", [
    ("JPY", Decimal("1500"), "1500"),
    ("JPY", Decimal("1500.00"), "1500"),      # value fits the exponent, written without decimals
    ("EUR", Decimal("7"), "7.00"),
    ("EUR", Decimal("12.5"), "12.50"),
    ("EUR", Decimal("0.01"), "0.01"),
    ("BHD", Decimal("1.25"), "1.250"),
    ("KWD", Decimal("0.001"), "0.001"),
    ("USD", 42, "42.00"),
    ("EUR", Decimal("999999999.99"), "999999999.99"),
])
def test_amounts_are_written_with_exactly_the_currency_decimals(currency, amount, written):
    d = Doc(build([tx(currency=currency, amount=amount)]))
    assert d.text("//InstdAmt") == written
    assert d.one("//InstdAmt").get("Ccy") == currency
    assert d.text("//PmtInf/CtrlSum") == written


def test_header_control_sum_over_mixed_currencies_uses_the_largest_exponent():
    d = Doc(build([tx(1, currency="JPY", amount=Decimal("1500")),
                   tx(2, currency="EUR", amount=Decimal("12.50")),
                   tx(3, currency="BHD", amount=Decimal("1.250"))]))
    assert d.text("//GrpHdr/CtrlSum") == "1513.750"
    assert sorted(d.text("CtrlSum", p) for p in d.pmtinfs) == ["1.250", "12.50", "1500"]


def test_version_03_layout_and_both_versions_validate_against_the_official_xsd():
    transfers = [tx(1), tx(2, debtor_iban=CH, debtor_bic="", creditor_bic="", currency="USD",
                           creditor_iban=SA, creditor_country="")]
    for version in ("03", "09"):
        data = build(transfers, version)
        validate_pain001(data, version)                       # does not raise
        d = Doc(data, version)
        assert d.root.tag == f"{{urn:iso:std:iso:20022:tech:xsd:pain.001.001.{version}}}Document"
        other, sepa = d.pmtinfs                 # ordered by date, then debtor IBAN: CH before DE
        assert d.text("DbtrAcct/Id/IBAN", other) == CH and d.text("DbtrAcct/Id/IBAN", sepa) == DE
        if version == "03":
            assert d.text("ReqdExctnDt", sepa) == "2026-11-03"
            assert d.text("DbtrAgt/FinInstnId/BIC", sepa) == "COBADEFFXXX"
            assert d.text("CdtTrfTxInf/CdtrAgt/FinInstnId/BIC", sepa) == "BNPAFRPPXXX"
            assert not d.all("//BICFI")
        else:
            assert d.text("ReqdExctnDt/Dt", sepa) == "2026-11-03"
            assert not d.all("//BIC")
        # no debtor BIC: the EPC 'NOTPROVIDED' convention; no creditor BIC: no CdtrAgt
        assert d.text("DbtrAgt/FinInstnId/Othr/Id", other) == "NOTPROVIDED"
        assert not d.all("CdtTrfTxInf/CdtrAgt", other)
        assert not d.all("CdtTrfTxInf/Cdtr/PstlAdr", other)
    assert xsd_module.schema_source("09").endswith("pain.001.001.09.xsd")


def test_version_spellings():
    assert Doc(build([tx()], "pain.001.001.03"), "03").all("//ReqdExctnDt[not(*)]")
    assert Doc(build([tx()], "9")).all("//ReqdExctnDt/p:Dt")
    with pytest.raises(ValidationError) as err:
        build([tx()], "08")
    assert err.value.field == "version"


def test_instruction_id_is_optional_and_remittance_omitted_when_empty():
    d = Doc(build([tx(instruction_id="", remittance="")]))
    assert not d.all("//InstrId") and not d.all("//RmtInf")
    assert d.text("//EndToEndId") == "E2E-1"


# -- text -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Müller", "Mueller"),
    ("MÜLLER GMBH", "MUELLER GMBH"),
    ("Ärger Öl Übel", "Aerger Oel Uebel"),
    ("Straße", "Strasse"),
    ("Søren Ærø", "Soeren Aeroe"),
    ("Café Crème", "Cafe Creme"),
    ("Łódź Żółć", "Lodz Zolc"),
    ("Smith & Sons", "Smith + Sons"),
    ("ap@example.com", "ap(at)example.com"),
    ("5% off, 10 €", "5pct off, 10 EUR"),
    ("Invoice #12; “urgent”!", "Invoice No.12, 'urgent'."),
    ("A–B—C_D", "A-B-C-D"),
    ("line1\nline2\t  x", "line1 line2 x"),
    ("½", "1/2"),
    ("Ref: (A/B) ?+,.'", "Ref: (A/B) ?+,.'"),
    ("a*b=c~d$", "a b c d"),
])
def test_transliteration_to_the_sepa_character_set(text, expected):
    assert transliterate(text) == expected


def test_transliteration_is_applied_to_names_and_remittance_in_the_file():
    d = Doc(build([tx(debtor_name="Bäckerei Müller & Söhne", creditor_name="José Núñez",
                      remittance="Rechnung Nr. 4711 – Größe XL")], "03"), "03")
    assert d.text("//Dbtr/Nm") == "Baeckerei Mueller + Soehne"
    assert d.text("//Cdtr/Nm") == "Jose Nunez"
    assert d.text("//Ustrd") == "Rechnung Nr. 4711 - Groesse XL"
    assert d.text("//InitgPty/Nm") == "ACME Treasury"


def test_letters_without_a_latin_equivalent_are_refused_not_dropped():
    e = field_error([tx(creditor_name="Αθήνα Shipping")], "creditor_name")
    assert "Latin" in e.reason and "'Α'" in e.reason and e.source == "E2E-1"
    field_error([tx(remittance="Счёт 15")], "remittance")
    field_error([tx()], "initiating_party", initiating_party="東京")
    with pytest.raises(ValueError):
        transliterate("北京")


# -- length limits ----------------------------------------------------------------------------

def test_name_limits_sepa_70_otherwise_140():
    Doc(build([tx(creditor_name="N" * 70)]))
    e = field_error([tx(creditor_name="N" * 71)], "creditor_name")
    assert "at most 70" in e.reason and "SEPA" in e.reason
    usd = dict(currency="USD", creditor_iban=SA)
    assert Doc(build([tx(creditor_name="N" * 140, **usd)])).text("//Cdtr/Nm") == "N" * 140
    e = field_error([tx(creditor_name="N" * 141, **usd)], "creditor_name")
    assert "at most 140" in e.reason
    field_error([tx(debtor_name="D" * 71)], "debtor_name")
    field_error([tx()], "initiating_party", initiating_party="I" * 71)
    Doc(build([tx(**usd)], initiating_party="I" * 140))


def test_lengths_are_checked_after_transliteration_and_never_truncated():
    Doc(build([tx(creditor_name="ü" * 35)]))                 # 70 after 'ü' → 'ue'
    e = field_error([tx(creditor_name="ü" * 36)], "creditor_name")
    assert "72 characters after conversion" in e.reason
    Doc(build([tx(remittance="R" * 140)]))
    field_error([tx(remittance="R" * 141)], "remittance")
    field_error([tx(remittance="ß" * 71)], "remittance")


def test_required_names():
    field_error([tx(creditor_name="")], "creditor_name")
    field_error([tx(debtor_name="   ")], "debtor_name")
    field_error([tx()], "initiating_party", initiating_party="")


# -- identifiers --------------------------------------------------------------------------------

def test_ids_up_to_35_characters():
    e2e = "E" * 35
    d = Doc(build([tx(end_to_end_id=e2e, instruction_id="I" * 35)], message_id="M" * 35))
    assert d.text("//EndToEndId") == e2e and d.text("//MsgId") == "M" * 35
    assert d.text("//PmtInfId") == "M" * 33 + "-1"
    e = field_error([tx(end_to_end_id="E" * 36)], "end_to_end_id")
    assert "36 characters" in e.reason
    field_error([tx(instruction_id="I" * 36)], "instruction_id")
    e = field_error([tx()], "message_id", message_id="M" * 36)
    assert e.source is None


@pytest.mark.parametrize("bad", ["A//B", "/AB", "AB/", "Zahlung-ü", " AB", "A_B", ""])
def test_bad_identifier_characters(bad):
    field_error([tx(end_to_end_id=bad)], "end_to_end_id")
    field_error([tx()], "message_id", message_id=bad)


def test_payment_information_ids_are_unique_with_a_long_message_id():
    transfers = [tx(i, execution_date=D1 + timedelta(days=i % 12)) for i in range(24)]
    d = Doc(build(transfers, message_id="X" * 35))
    ids = [d.text("PmtInfId", p) for p in d.pmtinfs]
    assert len(ids) == 12 == len(set(ids)) and all(len(i) <= 35 for i in ids)
    assert ids[-1] == "X" * 32 + "-12"


def test_end_to_end_ids_unique_in_a_file():
    d = Doc(build([tx(i) for i in range(5)]))
    ids = [e.text for e in d.all("//EndToEndId")]
    assert len(ids) == len(set(ids)) == 5
    e = field_error([tx(1), tx(2), tx(1, amount=Decimal("5.00"))], "end_to_end_id")
    assert e.source == "E2E-1" and "transfers 1 and 3" in e.reason


# -- bad input ----------------------------------------------------------------------------------

def test_invalid_iban_check_digits_name_the_field_and_mask_the_number():
    e = field_error([tx(creditor_iban="FR1420041010050500013M02607")], "creditor_iban")
    assert e.source == "E2E-1" and "fails its check digits" in e.reason
    assert "20041010050500013M02607" not in str(e)
    e = field_error([tx(2, debtor_iban="DE89370400440532013001")], "debtor_iban")
    assert e.reason == "IBAN DE89 **** **** **** 3001 fails its check digits" and e.source == "E2E-2"


def test_bad_bics():
    field_error([tx(creditor_bic="BNPAFRPPXX")], "creditor_bic")
    field_error([tx(debtor_bic="COBA1EFF")], "debtor_bic")
    # an ISO 9362:2014 BIC with digits in the bank code: fine in 09, impossible in 03
    assert Doc(build([tx(creditor_bic="1A2BFRPP")])).text("//CdtrAgt//BICFI") == "1A2BFRPP"
    e = field_error([tx(creditor_bic="1A2BFRPP")], "creditor_bic", "03")
    assert "use version 09" in e.reason
    field_error([tx(creditor_bic="BNPAFR1P")], "creditor_bic", "03")   # location code 1P


@pytest.mark.parametrize("amount, words", [
    (Decimal("0"), "greater than zero"),
    (Decimal("0.00"), "greater than zero"),
    (Decimal("-5.00"), "greater than zero"),
    (Decimal("1.001"), "more decimals than EUR allows (2)"),
    (Decimal("NaN"), "not an amount"),
    (Decimal("Infinity"), "not an amount"),
    (1.5, "not a float"),
    ("abc", "not an amount"),
    (Decimal("1000000000.00"), "SEPA maximum"),
])
def test_bad_amounts(amount, words):
    e = field_error([tx(amount=amount)], "amount")
    assert words in e.reason and e.source == "E2E-1"


def test_jpy_with_decimals_and_amounts_over_18_digits():
    e = field_error([tx(currency="JPY", amount=Decimal("1500.5"), creditor_iban=SA)], "amount")
    assert "JPY allows (0)" in e.reason
    field_error([tx(currency="USD", amount=Decimal("12345678901234567.89"), creditor_iban=SA)],
                "amount")
    Doc(build([tx(currency="USD", amount=Decimal("1234567890123456.78"), creditor_iban=SA)]))


def test_control_sum_over_18_digits_is_refused():
    big = Decimal("9999999999999999.99")
    with pytest.raises(ValidationError) as err:
        build([tx(i, currency="USD", amount=big, creditor_iban=SA) for i in range(2)])
    assert err.value.field == "transfers" and "split" in err.value.reason


def test_empty_and_missing_transfer_lists():
    for empty in ([], (), iter([])):
        e = field_error(empty, "transfers")
        assert "at least one transfer" in e.reason
    field_error(None, "transfers")


def test_currency_dates_country_and_consistency_errors():
    field_error([tx(currency="EURO")], "currency")
    field_error([tx(currency="")], "currency")
    field_error([tx(execution_date=datetime(2026, 11, 3, 10, 0))], "execution_date")
    field_error([tx(execution_date="2026-11-03")], "execution_date")
    e = field_error([tx(execution_date=date(2026, 10, 31))], "execution_date")
    assert "in the past" in e.reason
    Doc(build([tx(execution_date=date(2026, 11, 1))]))        # one day of slack for time zones
    field_error([tx(execution_date=date(2027, 11, 3))], "execution_date")
    field_error([tx(creditor_country="XX")], "creditor_country")
    field_error([tx(creditor_country="FRA")], "creditor_country")
    assert Doc(build([tx(creditor_country="fr")])).text("//Cdtr/PstlAdr/Ctry") == "FR"
    e = field_error([tx(1), tx(2, debtor_name="Other Name")], "debtor_name")
    assert e.source == "E2E-2" and "DE89 **** **** **** 3000" in e.reason
    field_error([tx(1), tx(2, debtor_bic="DEUTDEFF")], "debtor_bic")
    field_error([tx(creditor_iban="12345678_x", creditor_account_is_iban=False)], "creditor_iban")
    field_error([tx(creditor_iban="1" * 35, creditor_account_is_iban=False)], "creditor_iban")
    field_error([tx(creditor_iban="", creditor_account_is_iban=False)], "creditor_iban")


def test_header_errors():
    field_error([tx()], "created_at", created_at=datetime(2026, 11, 2, 9, 0))
    field_error([tx()], "created_at", created_at=date(2026, 11, 2))
    field_error([tx()], "message_id", message_id="")
    field_error([tx()], "batch_booking", batch_booking="yes")


def test_error_source_when_the_end_to_end_id_itself_is_unusable():
    e = field_error([tx(1), tx(end_to_end_id="")], "end_to_end_id")
    assert e.source == "transfer 2"


# -- XSD validation -------------------------------------------------------------------------

def test_validate_pain001_rejects_a_file_that_breaks_the_schema():
    data = build([tx()])
    broken = data.replace(b"<NbOfTxs>1</NbOfTxs>", b"<NbOfTxs>one</NbOfTxs>", 1)
    with pytest.raises(ValidationError) as err:
        validate_pain001(broken, "09")
    e = err.value
    assert "does not conform to the official pain.001.001.09 schema" in e.reason
    assert e.line == 7 and e.field == "NbOfTxs" and e.source == "pain.001.001.09"
    assert "'one' is not accepted" in e.reason and "{urn:" not in e.reason
    missing = data.replace(b"<PmtMtd>TRF</PmtMtd>", b"", 1)
    with pytest.raises(ValidationError, match="PmtMtd|BtchBookg"):
        validate_pain001(missing, "09")


def test_validate_pain001_checks_the_version_namespace_and_refuses_dtds():
    data = build([tx()], "03")
    validate_pain001(data, "03")
    with pytest.raises(ValidationError, match="expected Document in namespace"):
        validate_pain001(data, "09")
    evil = data.replace(b"?>\n", b'?>\n<!DOCTYPE d [<!ENTITY x "y">]>\n', 1)
    with pytest.raises(ValidationError, match="DTD"):
        validate_pain001(evil, "03")
    with pytest.raises(ValidationError, match="well-formed"):
        validate_pain001(b"<Document", "03")


def test_a_writer_bug_is_caught_by_the_schema_before_the_file_is_returned(monkeypatch):
    real = pain001_module._build_tree

    def buggy(*args, **kwargs):
        doc = real(*args, **kwargs)
        pmt = doc.find(".//{*}PmtInf")
        pmt.remove(pmt.find("{*}PmtMtd"))
        return doc

    monkeypatch.setattr(pain001_module, "_build_tree", buggy)
    with pytest.raises(ValidationError) as err:
        build([tx()])
    assert err.value.reason.startswith("internal error: the payment file we built does not conform")
    assert err.value.line is not None


def test_schema_falls_back_to_the_sepaxml_copy_when_the_vendored_file_is_missing(monkeypatch):
    pytest.importorskip("sepaxml")
    real_files = xsd_module.resources.files

    class Missing:
        def __truediv__(self, other):
            return self

        def read_bytes(self):
            raise FileNotFoundError

    monkeypatch.setattr(xsd_module.resources, "files",
                        lambda pkg: Missing() if pkg == "cio_desktop" else real_files(pkg))
    data, source = xsd_module._read_xsd("09")
    assert source == "sepaxml/schemas/pain.001.001.09.xsd"
    vendored = (real_files("cio_desktop") / "resources" / "xsd" / "pain.001.001.09.xsd").read_bytes()
    assert data == vendored


# -- writing to disk --------------------------------------------------------------------------

def test_write_pain001_writes_atomically(tmp_path):
    target = tmp_path / "out.xml"
    path = write_pain001(target, [tx()], message_id="MSG-1", created_at=CREATED,
                         initiating_party="ACME")
    assert path == target
    assert target.read_bytes() == build([tx()], message_id="MSG-1", initiating_party="ACME")
    if os.name == "posix":
        assert (target.stat().st_mode & 0o077) == 0
    # a failed validation leaves the previous file untouched and no temp files behind
    with pytest.raises(ValidationError):
        write_pain001(target, [tx(amount=Decimal("0"))], message_id="MSG-2", created_at=CREATED,
                      initiating_party="ACME")
    assert b"MSG-1" in target.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xml"]


def test_write_pain001_cleans_up_when_the_rename_fails(tmp_path, monkeypatch):
    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(pain001_module.os, "replace", boom)
    with pytest.raises(OSError):
        write_pain001(tmp_path / "out.xml", [tx()], message_id="MSG-1", created_at=CREATED,
                      initiating_party="ACME")
    assert list(tmp_path.iterdir()) == []


# -- property ---------------------------------------------------------------------------------

DEBTORS = [(DE, "ACME Treasury GmbH", "COBADEFFXXX"), (NL, "ACME Nederland B.V.", "ABNANL2A"),
           (GB, "ACME UK Ltd", "NWBKGB2L"), (CH, "ACME Schweiz AG", "")]
CREDITOR_ACCOUNTS = [(FR, True), (BE, True), (IT, True), (ES, True), (SA, True), (GB, True),
                     ("000123456789", False), ("12-3456-7", False)]
CURRENCIES = ["EUR", "EUR", "EUR", "USD", "GBP", "JPY", "BHD", "CHF"]
NAME_CHARS = st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 -.,'&äöüßÄÖÜéèçñøåÆ/()"))


@st.composite
def transfer_lists(draw):
    n = draw(st.integers(min_value=1, max_value=25))
    out = []
    for i in range(n):
        debtor_iban, debtor_name, debtor_bic = draw(st.sampled_from(DEBTORS))
        account, is_iban = draw(st.sampled_from(CREDITOR_ACCOUNTS))
        currency = draw(st.sampled_from(CURRENCIES))
        exp = {"JPY": 0, "BHD": 3}.get(currency, 2)
        minor = draw(st.integers(min_value=1, max_value=99_999_999_999))
        name = draw(st.text(NAME_CHARS, min_size=1, max_size=30).filter(lambda s: s.strip("' -.,/()")))
        out.append(CreditTransfer(
            end_to_end_id=f"E2E-{i}-{draw(st.integers(0, 10**6))}",
            instruction_id=draw(st.sampled_from(["", f"I{i}"])),
            amount=Decimal(minor).scaleb(-exp), currency=currency,
            execution_date=D1 + timedelta(days=draw(st.integers(0, 30))),
            debtor_name=debtor_name, debtor_iban=debtor_iban, debtor_bic=debtor_bic,
            creditor_name=name, creditor_iban=account, creditor_account_is_iban=is_iban,
            creditor_bic=draw(st.sampled_from(["", "BNPAFRPPXXX", "DEUTDEFF"])),
            creditor_country=draw(st.sampled_from(["", "FR", "US"])),
            remittance=draw(st.text(NAME_CHARS, max_size=60))))
    return out


@settings(max_examples=150, deadline=None)
@given(transfers=transfer_lists(), version=st.sampled_from(["03", "09"]),
       batch=st.booleans())
def test_property_random_valid_transfers_always_give_xsd_valid_files_with_exact_totals(
        transfers, version, batch):
    data = build(transfers, version, batch_booking=batch)        # validates against the XSD
    validate_pain001(data, version)
    d = Doc(data, version)
    assert d.text("//GrpHdr/NbOfTxs") == str(len(transfers))
    assert Decimal(d.text("//GrpHdr/CtrlSum")) == sum(t.amount for t in transfers)
    assert len(d.all("//CdtTrfTxInf")) == len(transfers)
    seen = set()
    for p in d.pmtinfs:
        amounts = [Decimal(a.text) for a in d.all("CdtTrfTxInf/Amt/InstdAmt", p)]
        assert d.text("NbOfTxs", p) == str(len(amounts))
        assert Decimal(d.text("CtrlSum", p)) == sum(amounts)
        key = (d.text("DbtrAcct/Id/IBAN", p),
               d.text("ReqdExctnDt/Dt" if version == "09" else "ReqdExctnDt", p),
               {a.get("Ccy") for a in d.all("CdtTrfTxInf/Amt/InstdAmt", p)}.pop(),
               bool(d.all("PmtTpInf", p)))
        assert len({a.get("Ccy") for a in d.all("CdtTrfTxInf/Amt/InstdAmt", p)}) == 1
        assert key not in seen
        seen.add(key)
    by_id = {t.end_to_end_id: t for t in transfers}
    for e in d.all("//CdtTrfTxInf"):
        t = by_id[d.text("PmtId/EndToEndId", e)]
        amt = d.one("Amt/InstdAmt", e)
        assert Decimal(amt.text) == t.amount and amt.get("Ccy") == t.currency
        exp = {"JPY": 0, "BHD": 3}.get(t.currency, 2)
        assert ("." in amt.text) == (exp > 0) and (exp == 0 or len(amt.text.split(".")[1]) == exp)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_property_transliteration_yields_only_the_sepa_set_or_refuses(text):
    try:
        out = transliterate(text)
    except ValueError:
        return
    assert set(out) <= set(pain001_module._ALLOWED)
    assert out == out.strip() and "  " not in out
