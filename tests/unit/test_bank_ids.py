"""IBAN and BIC validation (cio_desktop.domain.bank_ids)."""

from __future__ import annotations

import pytest

from cio_desktop.domain import bank_ids
from cio_desktop.domain.bank_ids import (format_iban, iban_country, iban_in_sepa_zone,
                                         is_sepa_country, is_valid_bic, is_valid_iban,
                                         validate_bic, validate_iban)
from cio_desktop.errors import ValidationError


def _with_check_digits(country: str, bban: str) -> str:
    """A correctly check-digited IBAN for any BBAN (to test the format rules on their own)."""
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


@pytest.mark.parametrize("text, expected", [
    ("DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
    ("GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"),
    ("NL91ABNA0417164300", "NL91ABNA0417164300"),
    ("FR14 2004 1010 0505 0001 3M02 606", "FR1420041010050500013M02606"),
    ("fr1420041010050500013m02606", "FR1420041010050500013M02606"),
    ("\u00a0de89370400440532013000\t", "DE89370400440532013000"),   # NBSP and tab removed
])
def test_valid_ibans_are_returned_compact_and_upper_case(text, expected):
    assert validate_iban(text) == expected
    assert is_valid_iban(text)


def test_wrong_check_digits_message_is_masked_and_names_the_field():
    with pytest.raises(ValidationError) as err:
        validate_iban("DE89 3704 0044 0532 0130 01", field="creditor_iban", source="E2E-7")
    e = err.value
    assert e.reason == "IBAN DE89 **** **** **** 3001 fails its check digits"
    assert e.field == "creditor_iban" and e.source == "E2E-7"
    assert "370400440532013001" not in str(e)
    assert str(e) == "E2E-7, field 'creditor_iban': IBAN DE89 **** **** **** 3001 fails its check digits"


@pytest.mark.parametrize("iban", ["GB82WEST12345698765431", "NL91ABNA0417164301",
                                  "FR1420041010050500013M02607"])
def test_each_country_refuses_a_changed_digit(iban):
    with pytest.raises(ValidationError, match="fails its check digits"):
        validate_iban(iban)


def test_wrong_length_for_the_country():
    with pytest.raises(ValidationError) as err:
        validate_iban("DE8937040044053201300", field="debtor_iban")   # 21 characters
    assert "has 21 characters" in err.value.reason
    assert "Germany (DE) have 22" in err.value.reason
    assert err.value.field == "debtor_iban"
    with pytest.raises(ValidationError, match="have 18"):
        validate_iban("NL91ABNA04171643001")


def test_bban_format_of_the_country_is_checked_even_with_correct_check_digits():
    bad = _with_check_digits("DE", "37040044053201300A")   # a letter where DE has digits only
    assert len(bad) == 22
    with pytest.raises(ValidationError, match="account format used in Germany"):
        validate_iban(bad)


@pytest.mark.parametrize("text, words", [
    ("", "required"),
    (None, "required"),
    ("US12345678901234567", "not a country that issues IBANs"),
    ("DE89-3704-0044-0532-0130-00", "characters other than letters and digits"),
    ("12DE370400440532013000", "2-letter country code"),
])
def test_other_iban_errors(text, words):
    with pytest.raises(ValidationError, match=words) as err:
        validate_iban(text, field="iban")
    assert err.value.field == "iban"
    assert not is_valid_iban(text)


def test_no_error_message_contains_the_full_number():
    for bad in ["DE89370400440532013001", "DE8937040044053201300", "US12345678901234567",
                "DE89-3704-0044-0532-0130-00"]:
        with pytest.raises(ValidationError) as err:
            validate_iban(bad)
        digits = bad.replace("-", "")[4:]
        assert digits not in str(err.value).replace(" ", "")


@pytest.mark.parametrize("text, expected", [
    ("DEUTDEFF", "DEUTDEFF"),
    ("DEUTDEFF500", "DEUTDEFF500"),
    ("deutdeff500", "DEUTDEFF500"),
    (" bnpa fr pp xxx ", "BNPAFRPPXXX"),
    ("1A2BDEFF", "1A2BDEFF"),          # ISO 9362:2014 allows digits in the party prefix
])
def test_valid_bics(text, expected):
    assert validate_bic(text) == expected
    assert is_valid_bic(text)


@pytest.mark.parametrize("text, words", [
    ("DEUTDEF", "has 7 characters; a BIC has 8 or 11"),
    ("DEUTDEFF50", "has 10 characters"),
    ("DEUTDEFF5000", "has 12 characters"),
    ("DEUT1EFF", "not shaped like a BIC"),
    ("DEUTD-FF", "not shaped like a BIC"),
    ("DEUTXXFF", "'XX' is not a country code"),
    ("", "required"),
])
def test_bad_bics(text, words):
    with pytest.raises(ValidationError, match=words) as err:
        validate_bic(text, field="creditor_bic", source="E2E-1")
    assert err.value.field == "creditor_bic" and err.value.source == "E2E-1"
    assert not is_valid_bic(text)


def test_country_and_sepa_helpers():
    assert iban_country("de89 3704 0044 0532 0130 00") == "DE"
    assert iban_country("GB82WEST12345698765432") == "GB"
    with pytest.raises(ValidationError):
        iban_country("DE89370400440532013001")
    assert is_sepa_country("DE") and is_sepa_country("gb") and is_sepa_country("CH")
    assert not is_sepa_country("US") and not is_sepa_country("SA") and not is_sepa_country("")
    assert iban_in_sepa_zone("NL91ABNA0417164300")
    assert not iban_in_sepa_zone("SA0380000000608010167519")
    assert format_iban("de89370400440532013000") == "DE89 3704 0044 0532 0130 00"
    assert bank_ids.normalise_identifier(" ab c\u00a0d ") == "ABCD"
