from cio_desktop.domain.masking import (iban_checksum_ok, mask_account_number,
                                        mask_account_numbers_in_text)


def test_iban_masked_like_the_spec():
    assert mask_account_number("DE89 3704 0044 0532 0130 00") == "DE89 **** **** **** 3000"
    assert mask_account_number("GB29NWBK60161331926819") == "GB29 **** **** **** 6819"


def test_plain_numbers_show_last_four_only():
    assert mask_account_number("0532013000") == "**** 3000"
    assert mask_account_number("123") == "***"


def test_iban_checksum():
    assert iban_checksum_ok("DE89370400440532013000")
    assert not iban_checksum_ok("DE88370400440532013000")


def test_text_masking_leaves_amounts_alone():
    out = mask_account_numbers_in_text("pay 1234.56 EUR from DE89370400440532013000 acct 123456789012")
    assert "DE89370400440532013000" not in out and "123456789012" not in out
    assert "1234.56" in out and "DE89 **** **** **** 3000" in out

