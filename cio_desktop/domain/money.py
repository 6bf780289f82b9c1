"""Money: an exact ``Decimal`` amount with an ISO 4217 currency.

Stored as integer minor units so SQLite and PostgreSQL agree to the cent; ``to_minor`` refuses
an amount that does not fit the currency's exponent instead of silently rounding it away.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Union

# ISO 4217 minor-unit exponents for the currencies a treasury meets; anything else defaults to 2.
CURRENCY_EXPONENTS: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2,
    "HUF": 2, "CAD": 2, "AUD": 2, "NZD": 2, "CNY": 2, "HKD": 2, "SGD": 2, "INR": 2, "MXN": 2,
    "BRL": 2, "ZAR": 2, "TRY": 2, "RUB": 2, "ILS": 2, "AED": 2, "SAR": 2,
    "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "XOF": 0, "XAF": 0,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
}

Number = Union[Decimal, int, str]


def currency_exponent(currency: str) -> int:
    code = normalise_currency(currency)
    return CURRENCY_EXPONENTS.get(code, 2)


def normalise_currency(currency: str) -> str:
    code = (currency or "").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"'{currency}' is not an ISO 4217 currency code")
    return code


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
