from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from cio_desktop.domain.money import Money, convert, currency_exponent, format_minor


def test_minor_units_round_trip_per_currency_exponent():
    assert Money.of("1234.56", "EUR").to_minor() == 123456
    assert Money.of("1234", "JPY").to_minor() == 1234
    assert Money.of("1.234", "KWD").to_minor() == 1234
    assert Money.from_minor(123456, "EUR").amount == Decimal("1234.56")
    assert currency_exponent("jpy") == 0


def test_too_many_decimals_refused_not_rounded():
    with pytest.raises(ValueError, match="more than 2 decimal"):
        Money.of("0.005", "EUR").to_minor()
    with pytest.raises(ValueError):
        Money.of("1.5", "JPY").to_minor()


def test_floats_and_bad_codes_refused():
    with pytest.raises(TypeError):
        Money.of(0.1, "EUR")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ISO 4217"):
        Money.of("1", "EURO")
    with pytest.raises(ValueError):
        Money.of("NaN", "EUR")


def test_arithmetic_needs_same_currency():
    assert Money.of("1.10", "EUR") + Money.of("2.20", "EUR") == Money.of("3.30", "EUR")
    with pytest.raises(ValueError, match="currency mismatch"):
        Money.of("1", "EUR") + Money.of("1", "USD")
    assert -Money.of("5", "GBP") < Money.zero("GBP")


def test_banker_rounding_and_format():
    assert Money.of("2.345", "EUR").rounded().amount == Decimal("2.34")
    assert Money.of("2.355", "EUR").rounded().amount == Decimal("2.36")
    assert Money.of("-1234567.891", "USD").format() == "-1,234,567.89 USD"
    assert format_minor(100, "JPY") == "100 JPY"
    assert convert(Money.of("100.00", "EUR"), Decimal("1.08555"), "USD") == Money.of("108.56", "USD")


@given(st.integers(min_value=-10**15, max_value=10**15), st.sampled_from(["EUR", "JPY", "KWD", "GBP"]))
def test_from_minor_to_minor_is_identity(minor, currency):
    assert Money.from_minor(minor, currency).to_minor() == minor
