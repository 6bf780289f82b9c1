"""Display formatting shared by tables, cards and charts (Qt-side: dates follow the locale)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from PySide6.QtCore import QDate, QLocale
from PySide6.QtGui import QColor, QGuiApplication, QPalette

from cio_desktop.domain.money import Money, currency_exponent

_DATE_FORMAT: str | None = None


def date_format() -> str:
    """The locale's short date format with a four-digit year (``dd/MM/yyyy``, ``M/d/yyyy``…)."""
    global _DATE_FORMAT
    if _DATE_FORMAT is None:
        locale = QLocale()
        if locale.language() in (QLocale.Language.C, QLocale.Language.AnyLanguage):
            fmt = "yyyy-MM-dd"  # no real locale (the "C" locale, CI): ISO 8601
        else:
            fmt = locale.dateFormat(QLocale.FormatType.ShortFormat)
            if "yyyy" not in fmt:
                fmt = fmt.replace("yy", "yyyy")
        _DATE_FORMAT = fmt
    return _DATE_FORMAT


def qdate(d: date | None) -> QDate:
    return QDate(d.year, d.month, d.day) if d is not None else QDate()


def format_date(d: date | None) -> str:
    if d is None:
        return ""
    return QLocale().toString(qdate(d), date_format())


def format_amount(money: Money, *, with_currency: bool = False) -> str:
    """``-1,234,567.89`` (grouped, the currency's decimals); with the code when asked."""
    if with_currency:
        return money.format()
    exp = currency_exponent(money.currency)
    return f"{money.rounded().amount:,.{exp}f}"


def format_rate(rate: Decimal | None) -> str:
    if rate is None:
        return "no rate"
    text = f"{rate.normalize():f}"
    if "." in text and len(text.split(".")[1]) > 6:
        text = f"{rate:.6f}".rstrip("0")
    return text


def compact_number(value: float) -> str:
    """Axis labels: ``950``, ``12.5k``, ``3.2M``, ``1.1B`` (sign kept)."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= limit:
            text = f"{v / limit:.2f}".rstrip("0").rstrip(".")
            return f"{sign}{text}{suffix}"
    return f"{sign}{v:,.0f}"


def is_dark() -> bool:
    app = QGuiApplication.instance()
    if app is None:
        return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Base).lightness() < 128


def negative_color() -> QColor:
    return QColor("#ff6b6b") if is_dark() else QColor("#c0262d")


def warning_background() -> QColor:
    return QColor("#4a3a12") if is_dark() else QColor("#fff4d6")


def danger_background() -> QColor:
    return QColor("#4a1f22") if is_dark() else QColor("#fde8e8")


def muted_color() -> QColor:
    return QColor("#9aa4ae") if is_dark() else QColor("#66727f")
