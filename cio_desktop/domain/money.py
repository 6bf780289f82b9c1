"""Money: an exact ``Decimal`` amount with an ISO 4217 currency.

Stored as integer minor units so SQLite and PostgreSQL agree to the cent; ``to_minor`` refuses
an amount that does not fit the currency's exponent instead of silently rounding it away.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Union

# ISO 4217 active currencies and their minor-unit exponents (the list as published by the
# maintenance agency, 2025). A code not in this table is refused as unknown.
CURRENCY_EXPONENTS: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2,
    "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BMD": 2, "BND": 2, "BOB": 2, "BRL": 2,
    "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2, "CHF": 2, "CNY": 2,
    "COP": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2,
    "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2,
    "GMD": 2, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2,
    "INR": 2, "IRR": 2, "JMD": 2, "KES": 2, "KGS": 2, "KHR": 2, "KPW": 2, "KYD": 2, "KZT": 2,
    "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2,
    "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2,
    "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2, "PAB": 2, "PEN": 2, "PGK": 2,
    "PHP": 2, "PKR": 2, "PLN": 2, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "SAR": 2, "SBD": 2,
    "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2,
    "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TOP": 2, "TRY": 2,
    "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "USD": 2, "UYU": 2, "UZS": 2, "VES": 2, "WST": 2,
    "XCD": 2, "XCG": 2, "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}

Number = Union[Decimal, int, str]


def currency_exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[normalise_currency(currency)]


def normalise_currency(currency: str) -> str:
    """Upper-cased ISO 4217 code; raises ValueError for anything that is not an active currency."""
    code = (currency or "").strip().upper()
    if code not in CURRENCY_EXPONENTS:
        raise ValueError(f"'{currency}' is not an ISO 4217 currency code")
    return code


def is_currency(code: str) -> bool:
    return (code or "").strip().upper() in CURRENCY_EXPONENTS


def to_decimal(value: Number) -> Decimal:
    """Exact conversion; floats are refused because they carry binary rounding error."""
    if isinstance(value, float):
        raise TypeError("money amounts must be Decimal, int or str, not float")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"'{value}' is not a number") from None
    if not result.is_finite():
        raise ValueError(f"'{value}' is not a finite amount")
    return result


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", to_decimal(self.amount))
        object.__setattr__(self, "currency", normalise_currency(self.currency))

    # -- construction and storage -------------------------------------------------------
    @classmethod
    def of(cls, amount: Number, currency: str) -> "Money":
        return cls(to_decimal(amount), currency)

    @classmethod
    def zero(cls, currency: str) -> "Money":
        return cls(Decimal(0), currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> "Money":
        exp = currency_exponent(currency)
        return cls(Decimal(int(minor)).scaleb(-exp), currency)

    def to_minor(self) -> int:
        """Integer minor units; raises if the amount has more decimals than the currency allows."""
        exp = currency_exponent(self.currency)
        scaled = self.amount.scaleb(exp)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{self.amount} {self.currency} has more than {exp} decimal places")
        return int(scaled)

    def rounded(self) -> "Money":
        """Rounded to the currency's minor unit, half to even (banker's rounding)."""
        exp = currency_exponent(self.currency)
        return Money(self.amount.quantize(Decimal(1).scaleb(-exp), rounding=ROUND_HALF_EVEN),
                     self.currency)

    # -- arithmetic ---------------------------------------------------------------------
    def _same(self, other: "Money") -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} and {other.currency}")

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.amount, self.currency)

    def __abs__(self) -> "Money":
        return Money(abs(self.amount), self.currency)

    def __mul__(self, factor: Number) -> "Money":
        return Money(self.amount * to_decimal(factor), self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: "Money") -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: "Money") -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: "Money") -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: "Money") -> bool:
        self._same(other)
        return self.amount >= other.amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def format(self) -> str:
        """``1,234,567.89 EUR`` — grouped, with exactly the currency's decimals."""
        exp = currency_exponent(self.currency)
        q = self.rounded().amount
        return f"{q:,.{exp}f} {self.currency}"

    def __str__(self) -> str:
        return self.format()


def format_minor(minor: int, currency: str) -> str:
    return Money.from_minor(minor, currency).format()


def convert(money: Money, rate: Decimal, to_currency: str) -> Money:
    """Convert with ``rate`` = units of ``to_currency`` per one unit of ``money.currency``; rounded."""
    return Money(money.amount * to_decimal(rate), to_currency).rounded()
