"""CSV statement profiles: how one bank lays out its export, and how to recognise an unknown one.

A :class:`CsvProfile` says how to read one bank's CSV export: the dialect (delimiter, quote
character, encoding), number conventions (decimal mark, thousands separator), date format(s),
where the header is, and which column holds which
:class:`~cio_desktop.domain.statements.StatementLine` field. Profiles are plain data with
``to_dict``/``from_dict`` (JSON-friendly) so the import service can save one per bank in the
database.

Column references are either a header name (matched exactly first, then ignoring case, accents,
punctuation and a parenthesised suffix such as ``Betrag (EUR)``) or a 0-based column index
(the only kind allowed when ``has_header`` is false).

:func:`detect_profile` builds a profile for an unknown file from its first bytes: encoding (BOM,
UTF-8 decode attempt, else cp1252), delimiter (``csv.Sniffer`` with a fallback that scores each
candidate by how many header names it recognises), the header row (preamble lines are skipped),
the column mapping (a multilingual synonym table), the decimal mark and the date format inferred
from the sample rows. When the sample fits two date formats that read differently (``03/04/2026``
as dd/mm or mm/dd) it refuses with :class:`CsvAmbiguityError` instead of guessing.

This module also holds the strict value parsers the CSV parser uses (:func:`make_amount_parser`,
:func:`make_date_parser`): no floats, no locale, no silent rounding.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Sequence

from cio_desktop.domain.money import CURRENCY_EXPONENTS
from cio_desktop.errors import ValidationError

__all__ = [
    "BUILTIN_PROFILES", "COLUMN_FIELDS", "CsvAmbiguityError", "CsvProfile", "DATE_FORMATS",
    "HeaderMatch", "SIGNS", "detect_encoding", "detect_profile", "find_header", "get_profile",
    "make_amount_parser", "make_date_parser", "match_header", "normalise_header",
]

ColumnRef = str | int
"""A header name or a 0-based column index."""

SIGN_AS_IS = "as_is"            # negative amount = debit
SIGN_INVERTED = "inverted"      # positive amount = debit (e.g. credit-card exports)
SIGN_INDICATOR = "indicator"    # unsigned amount + a D/C (Soll/Haben, Af/Bij...) column
SIGNS = (SIGN_AS_IS, SIGN_INVERTED, SIGN_INDICATOR)

ENCODING_AUTO = "auto"
"""UTF-8, except that bytes which are not valid UTF-8 are read as Windows-1252 (cp1252)."""

#: Compared with the stripped, upper-cased cell.
DEFAULT_DEBIT_MARKERS = ("D", "DR", "DB", "DEB", "DEBIT", "S", "SOLL", "AF", "-", "DÉBIT",
                         "DEBE", "CARGO")
DEFAULT_CREDIT_MARKERS = ("C", "CR", "CRED", "CREDIT", "H", "HABEN", "BIJ", "+", "CRÉDIT",
                          "HABER", "ABONO")

#: Column fields of a profile → the field name used in error messages.
COLUMN_FIELDS: dict[str, str] = {
    "booking_date": "booking date",
    "value_date": "value date",
    "amount": "amount",
    "debit": "debit",
    "credit": "credit",
    "indicator": "debit/credit indicator",
    "currency_column": "currency",
    "counterparty": "counterparty",
    "counterparty_account": "counterparty account",
    "reference": "reference",
    "end_to_end_id": "end-to-end id",
    "description": "description",
    "bank_code": "bank code",
    "account_column": "account",
    "balance": "balance",
}

#: Date formats tried by detection, in this order.
DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d", "%d.%m.%Y", "%d.%m.%y", "%d/%m/%Y", "%m/%d/%Y", "%d/%m/%y", "%m/%d/%y",
    "%d-%m-%Y", "%m-%d-%Y", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%d %b %Y", "%d-%b-%Y",
    "%d-%b-%y", "%d %B %Y", "%b %d, %Y", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
)

_THOUSANDS_CHOICES = ("", ".", ",", " ", "'", "\u00a0", "\u202f")
_PROFILE_VERSION = 1
MAX_HEADER_SEARCH = 40          # lines searched for the header row
MAX_SAMPLE_ROWS = 2000          # data rows used to infer decimal mark and date format
MAX_INTEGER_DIGITS = 18         # larger amounts are refused (and arithmetic stays exact)


class CsvAmbiguityError(ValidationError):
    """Detection found more than one reading; ``choices`` lists them (e.g. date formats)."""

    def __init__(self, message: str, *, choices: Sequence[str], source: str | None = None,
                 line: int | None = None, field: str | None = None) -> None:
        self.choices = tuple(choices)
        super().__init__(message, source=source, line=line, field=field)


def _show(value: str, limit: int = 40) -> str:
    """A cell value quoted for a message, shortened so binary junk cannot flood it."""
    text = value if len(value) <= limit else value[: limit - 3] + "..."
    return f"'{text}'" if text.isprintable() else repr(text)


# ------------------------------------------------------------------------------------------
# The profile
# ------------------------------------------------------------------------------------------
def _is_ref(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and value.strip() != ""


@dataclass(frozen=True)
class CsvProfile:
    """How to read one bank's CSV export. Immutable; use ``dataclasses.replace`` to edit."""

    name: str
    bank: str = ""                       # free text for the user: which bank/export this is
    # -- dialect ------------------------------------------------------------------------
    delimiter: str = ","
    quotechar: str = '"'                 # '' = no quoting
    encoding: str = ENCODING_AUTO        # auto, utf-8, utf-8-sig, cp1252, latin-1, utf-16...
    # -- numbers and dates --------------------------------------------------------------
    decimal: str = "."                   # '.' or ','
    thousands: str = ""                  # '', '.', ',', ' ', "'", NBSP, narrow NBSP
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)   # strptime formats, tried in order
    # -- layout -------------------------------------------------------------------------
    skip_lines: int | None = 0           # physical lines before the header; None = search for it
    has_header: bool = True
    footer_markers: tuple[str, ...] = () # rows whose first cell starts with one are skipped
    # -- column mapping -----------------------------------------------------------------
    booking_date: ColumnRef | None = None
    value_date: ColumnRef | None = None
    amount: ColumnRef | None = None      # either amount ...
    debit: ColumnRef | None = None       # ... or debit + credit columns (unsigned amounts)
    credit: ColumnRef | None = None
    sign: str = SIGN_AS_IS               # for the amount column: as_is, inverted, indicator
    indicator: ColumnRef | None = None   # the D/C column when sign == 'indicator'
    debit_markers: tuple[str, ...] = DEFAULT_DEBIT_MARKERS
    credit_markers: tuple[str, ...] = DEFAULT_CREDIT_MARKERS
    currency_column: ColumnRef | None = None
    currency: str | None = None          # fixed currency when there is no column (or it is empty)
    counterparty: ColumnRef | None = None
    counterparty_account: ColumnRef | None = None
    reference: ColumnRef | None = None
    end_to_end_id: ColumnRef | None = None
    description: tuple[ColumnRef, ...] = ()   # joined with description_separator, empties skipped
    description_separator: str = " "
    bank_code: ColumnRef | None = None
    account_column: ColumnRef | None = None
    account: str | None = None           # fixed account when there is no column (or it is empty)
    balance: ColumnRef | None = None     # running balance after each line

    def __post_init__(self) -> None:
        for name in ("date_formats", "footer_markers", "debit_markers", "credit_markers",
                     "description"):
            value = getattr(self, name)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                value = (value,)
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, name, tuple(value))
        if isinstance(self.currency, str):
            object.__setattr__(self, "currency", self.currency.strip().upper() or None)
        self.validate()

    # -- validation ----------------------------------------------------------------------
    def _bad(self, message: str, field: str) -> ValidationError:
        return ValidationError(message, source=f"CSV profile '{self.name}'", field=field)

    def validate(self) -> None:
        """Raise :class:`ValidationError` (field = the profile attribute) if inconsistent."""
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValidationError("a CSV profile needs a name", field="name")
        if not isinstance(self.bank, str):
            raise self._bad("must be text", "bank")
        if not isinstance(self.delimiter, str) or len(self.delimiter) != 1 \
                or not (self.delimiter.isprintable() or self.delimiter == "\t") \
                or self.delimiter.isalnum() or self.delimiter == self.quotechar:
            raise self._bad(f"the delimiter must be one punctuation character, space or tab "
                            f"other than the quote character, not {self.delimiter!r}",
                            "delimiter")
        if not isinstance(self.quotechar, str) or len(self.quotechar) > 1 \
                or (self.quotechar and (not self.quotechar.isprintable()
                                        or self.quotechar.isalnum())):
            raise self._bad(f"the quote character must be one character or empty, not "
                            f"{self.quotechar!r}", "quotechar")
        if not isinstance(self.encoding, str):
            raise self._bad("must be text", "encoding")
        if self.encoding != ENCODING_AUTO:
            try:
                info = codecs.lookup(self.encoding)
            except LookupError:
                raise self._bad(f"unknown encoding '{self.encoding}'", "encoding") from None
            if not getattr(info, "_is_text_encoding", True):
                raise self._bad(f"'{self.encoding}' is not a text encoding", "encoding")
        if self.decimal not in (".", ","):
            raise self._bad(f"the decimal mark must be '.' or ',', not {self.decimal!r}",
                            "decimal")
        if self.thousands not in _THOUSANDS_CHOICES or self.thousands == self.decimal:
            raise self._bad(f"the thousands separator must be one of "
                            f"{', '.join(repr(c) for c in _THOUSANDS_CHOICES)} and differ from "
                            f"the decimal mark, not {self.thousands!r}", "thousands")
        if not self.date_formats or not all(isinstance(f, str) for f in self.date_formats):
            raise self._bad("at least one date format is needed", "date_formats")
        for fmt in self.date_formats:
            if not _format_is_usable(fmt):
                raise self._bad(f"'{fmt}' is not a date format with day, month and year "
                                f"(e.g. %d.%m.%Y)", "date_formats")
        if self.skip_lines is not None and (isinstance(self.skip_lines, bool)
                                            or not isinstance(self.skip_lines, int)
                                            or self.skip_lines < 0):
            raise self._bad("the number of lines before the header must be 0 or more",
                            "skip_lines")
        if not isinstance(self.has_header, bool):
            raise self._bad("must be true or false", "has_header")
        for name, label in COLUMN_FIELDS.items():
            refs = getattr(self, name)
            refs = refs if name == "description" else (() if refs is None else (refs,))
            for ref in refs:
                if not _is_ref(ref):
                    raise self._bad(f"the {label} column must be a header name or a column "
                                    f"number (0 = first), not {ref!r}", name)
                if isinstance(ref, str) and not self.has_header:
                    raise self._bad(f"the {label} column is named '{ref}' but the profile has "
                                    f"no header row: use a column number", name)
        if self.skip_lines is None and (not self.has_header or not any(
                isinstance(r, str) for r in self._refs())):
            raise self._bad("searching for the header needs a header with named columns",
                            "skip_lines")
        if self.booking_date is None:
            raise self._bad("the booking date column is required", "booking_date")
        if self.amount is not None:
            if self.debit is not None or self.credit is not None:
                raise self._bad("map either an amount column or debit and credit columns, "
                                "not both", "amount")
        elif self.debit is None or self.credit is None:
            raise self._bad("map an amount column, or both a debit and a credit column",
                            "amount")
        if self.sign not in SIGNS:
            raise self._bad(f"the sign convention must be one of {', '.join(SIGNS)}, not "
                            f"{self.sign!r}", "sign")
        if self.sign == SIGN_INDICATOR and (self.indicator is None or self.amount is None):
            raise self._bad("the 'indicator' sign convention needs an amount column and a "
                            "debit/credit indicator column", "indicator")
        if self.indicator is not None and self.sign != SIGN_INDICATOR:
            raise self._bad("an indicator column is only used with sign = 'indicator'",
                            "indicator")
        for name in ("debit_markers", "credit_markers", "footer_markers"):
            markers = getattr(self, name)
            if not all(isinstance(m, str) and m.strip() for m in markers):
                raise self._bad("markers must be non-empty text", name)
        if self.sign == SIGN_INDICATOR:
            if not self.debit_markers or not self.credit_markers:
                raise self._bad("debit and credit markers are needed", "debit_markers")
            both = {m.strip().upper() for m in self.debit_markers} & \
                {m.strip().upper() for m in self.credit_markers}
            if both:
                raise self._bad(f"{', '.join(sorted(both))} cannot mean both debit and credit",
                                "credit_markers")
        if self.currency is not None:
            if not isinstance(self.currency, str) or len(self.currency) != 3 \
                    or not self.currency.isascii() or not self.currency.isalpha():
                raise self._bad(f"'{self.currency}' is not an ISO 4217 currency code",
                                "currency")
        if self.account is not None and not isinstance(self.account, str):
            raise self._bad("must be text", "account")
        if not isinstance(self.description_separator, str):
            raise self._bad("must be text", "description_separator")

    def _refs(self) -> Iterable[ColumnRef]:
        for name in COLUMN_FIELDS:
            value = getattr(self, name)
            if name == "description":
                yield from value
            elif value is not None:
                yield value

    def columns(self) -> dict[str, ColumnRef | tuple[ColumnRef, ...]]:
        """The mapped columns: profile attribute → reference (description: a tuple)."""
        out: dict[str, Any] = {}
        for name in COLUMN_FIELDS:
            value = getattr(self, name)
            if value not in (None, ()):
                out[name] = value
        return out

    # -- (de)serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (``json.dumps`` works on it); ``from_dict`` reads it back."""
        out: dict[str, Any] = {"version": _PROFILE_VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CsvProfile":
        if not isinstance(data, Mapping):
            raise ValidationError("a saved CSV profile must be a JSON object", field="profile")
        values = dict(data)
        version = values.pop("version", _PROFILE_VERSION)
        if version != _PROFILE_VERSION:
            raise ValidationError(f"CSV profile version {version!r} is not supported "
                                  f"(expected {_PROFILE_VERSION})", field="version")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValidationError(f"unknown CSV profile setting(s): {', '.join(unknown)}",
                                  source=f"CSV profile '{values.get('name', '?')}'",
                                  field=unknown[0])
        if "name" not in values:
            raise ValidationError("a CSV profile needs a name", field="name")
        for key, value in list(values.items()):
            if isinstance(value, list):
                values[key] = tuple(value)
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "CsvProfile":
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"a saved CSV profile is not valid JSON: {exc}",
                                  field="profile") from None
        return cls.from_dict(data)


def _format_is_usable(fmt: str) -> bool:
    """True if ``fmt`` writes and reads back a date (it has day, month and year)."""
    try:
        for probe in (date(2026, 1, 31), date(1999, 12, 5)):
            text = probe.strftime(fmt)
            if datetime.strptime(text, fmt).date() != probe:
                return False
    except (ValueError, TypeError):
        return False
    return True


# ------------------------------------------------------------------------------------------
# Built-in profiles: realistic export shapes
# ------------------------------------------------------------------------------------------
BUILTIN_PROFILES: dict[str, CsvProfile] = {p.name: p for p in (
    CsvProfile(
        name="de_semicolon_signed",
        bank="German savings-bank style (CSV-CAMT): ';', decimal comma, signed Betrag",
        delimiter=";", decimal=",", thousands=".", date_formats=("%d.%m.%y", "%d.%m.%Y"),
        account_column="Auftragskonto", booking_date="Buchungstag", value_date="Valutadatum",
        bank_code="Buchungstext", description=("Verwendungszweck",),
        end_to_end_id="Kundenreferenz (End-to-End)",
        counterparty="Beguenstigter/Zahlungspflichtiger", counterparty_account="Kontonummer/IBAN",
        amount="Betrag", currency_column="Waehrung"),
    CsvProfile(
        name="de_soll_haben_columns",
        bank="German bank style: preamble lines, ';', separate Soll and Haben columns",
        delimiter=";", decimal=",", thousands=".", date_formats=("%d.%m.%Y",), skip_lines=None,
        footer_markers=("Kontostand", "Saldo"),
        booking_date="Buchungstag", value_date="Wert", bank_code="Umsatzart",
        counterparty="Begünstigter / Auftraggeber", description=("Verwendungszweck",),
        counterparty_account="IBAN", end_to_end_id="Kundenreferenz", debit="Soll",
        credit="Haben", currency_column="Währung"),
    CsvProfile(
        name="de_betrag_soll_haben",
        bank="German bank style: ';', unsigned Betrag with an S/H (Soll/Haben) column",
        delimiter=";", decimal=",", thousands=".", date_formats=("%d.%m.%Y",),
        booking_date="Buchungstag", value_date="Valuta", counterparty="Empfänger/Auftraggeber",
        counterparty_account="IBAN", description=("Verwendungszweck",), amount="Betrag",
        sign=SIGN_INDICATOR, indicator="Soll/Haben", currency_column="Währung"),
    CsvProfile(
        name="uk_debit_credit",
        bank="UK bank style: ',', dd/mm/yyyy, Paid out / Paid in columns, running balance",
        delimiter=",", decimal=".", thousands=",", date_formats=("%d/%m/%Y",),
        booking_date="Date", bank_code="Type", description=("Description",), debit="Paid out",
        credit="Paid in", balance="Balance", currency="GBP"),
    CsvProfile(
        name="us_signed",
        bank="US bank style: ',', mm/dd/yyyy, signed Amount, running balance",
        delimiter=",", decimal=".", thousands=",", date_formats=("%m/%d/%Y",),
        booking_date="Posting Date", description=("Description",), amount="Amount",
        bank_code="Type", balance="Balance", reference="Check or Slip #", currency="USD"),
    CsvProfile(
        name="nl_af_bij",
        bank="Dutch bank style: ',', quoted, yyyymmdd, unsigned Bedrag with Af/Bij",
        delimiter=",", decimal=",", thousands=".", date_formats=("%Y%m%d",),
        booking_date="Datum", counterparty="Naam / Omschrijving", account_column="Rekening",
        counterparty_account="Tegenrekening", bank_code="Code", amount="Bedrag (EUR)",
        sign=SIGN_INDICATOR, indicator="Af Bij", description=("Mededelingen",), currency="EUR"),
    CsvProfile(
        name="iso_generic",
        bank="Generic ISO style: ',', UTF-8, yyyy-mm-dd, canonical column names",
        delimiter=",", decimal=".", date_formats=("%Y-%m-%d",),
        account_column="account", booking_date="booking_date", value_date="value_date",
        amount="amount", currency_column="currency", counterparty="counterparty",
        counterparty_account="counterparty_account", reference="reference",
        end_to_end_id="end_to_end_id", description=("description",), bank_code="bank_code",
        balance="balance"),
)}


def get_profile(name: str) -> CsvProfile:
    try:
        return BUILTIN_PROFILES[name]
    except KeyError:
        raise ValidationError(f"no built-in CSV profile named '{name}'; choose one of "
                              f"{', '.join(BUILTIN_PROFILES)}", field="profile") from None


# ------------------------------------------------------------------------------------------
# Header synonyms (English, German, French, Dutch, Spanish, a little Italian)
# ------------------------------------------------------------------------------------------
# field → (strong names, weak names). A field takes the column with the strongest name
# (then the leftmost); "description" takes every matching column, in column order.
_SYNONYMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "booking_date": ((
        "booking date", "booking_date", "Buchungstag", "Buchungsdatum", "Buchung",
        "Posting Date", "Posted Date", "Post Date", "Transaction Date", "Trans Date",
        "Date opération", "Date d'opération", "Date de l'opération", "Date comptable",
        "Date de comptabilisation", "Boekdatum", "Boekingsdatum", "Transactiedatum",
        "Fecha operación", "Fecha de operación", "Fecha contable", "Data operazione",
        "Data contabile"),
        ("Date", "Datum", "Fecha", "Data", "Tag")),
    "value_date": ((
        "value date", "value_date", "Valuta", "Valutadatum", "Wertstellung",
        "Wertstellungsdatum", "Wert", "Valuedate", "Date de valeur", "Date valeur", "Valeur",
        "Rentedatum", "Fecha valor", "Fecha de valor", "Data valuta"), ()),
    "amount": ((
        "amount", "Betrag", "Umsatz", "Buchungsbetrag", "Transaction amount", "Montant",
        "Montant de l'opération", "Bedrag", "Transactiebedrag", "Importe", "Importo"),
        ("Value", "Sum", "Summe")),
    "debit": ((
        "debit", "Soll", "Debits", "Debit amount", "Withdrawal", "Withdrawals", "Paid out",
        "Money out", "Montant débit", "Ausgang", "Ausgaben", "Belastung", "Uitgaven", "Cargo",
        "Cargos", "Addebiti", "Dare"), ("Out",)),
    "credit": ((
        "credit", "Haben", "Credits", "Credit amount", "Deposit", "Deposits", "Paid in",
        "Money in", "Montant crédit", "Eingang", "Einnahmen", "Gutschrift", "Inkomsten",
        "Abono", "Abonos", "Accrediti", "Avere"), ("In",)),
    "indicator": ((
        "Soll/Haben", "S/H", "Soll-Haben-Kennzeichen", "Soll Haben Kennzeichen", "SH",
        "Debit/Credit", "D/C", "DC", "Dr/Cr", "Cr/Dr", "Credit/Debit", "C/D", "CD",
        "Debit Credit indicator", "Af Bij", "Af/Bij", "Sens", "Débit/Crédit", "Debe/Haber",
        "D/H", "Cargo/Abono"), ()),
    "currency_column": ((
        "currency", "Währung", "Waehrung", "Whg", "Ccy", "Cur", "Curr", "Devise", "Monnaie",
        "Munt", "Moneda", "Divisa"), ()),
    "counterparty": ((
        "counterparty", "Auftraggeber/Empfänger", "Empfänger/Auftraggeber",
        "Beguenstigter/Zahlungspflichtiger", "Begünstigter/Zahlungspflichtiger",
        "Begünstigter / Auftraggeber", "Auftraggeber / Begünstigter", "Zahlungsempfänger",
        "Name Zahlungsbeteiligter", "Zahlungsbeteiligter", "Empfänger", "Auftraggeber",
        "Payee", "Payer", "Payee/Payer", "Payer/Payee", "Counterparty name", "Beneficiary",
        "Beneficiary name", "Merchant", "Naam / Omschrijving", "Naam tegenpartij", "Tegenpartij",
        "Tiers", "Bénéficiaire", "Bénéficiaire / Donneur d'ordre", "Donneur d'ordre",
        "Contrepartie", "Beneficiario", "Ordenante", "Beneficiario/Ordenante", "Contraparte"),
        ("Name", "Naam", "Nom", "Nombre")),
    "counterparty_account": ((
        "counterparty account", "counterparty_account", "Kontonummer/IBAN",
        "IBAN Zahlungsbeteiligter", "IBAN Auftraggeber/Empfänger", "Gegenkonto",
        "Counterparty IBAN", "Payee account", "Beneficiary account", "Tegenrekening",
        "Tegenrekening IBAN/BBAN", "Compte contrepartie", "IBAN contrepartie",
        "Cuenta contrapartida", "Cuenta beneficiario"),
        ("IBAN", "Kontonummer")),
    "reference": ((
        "reference", "Referenz", "Bankreferenz", "Bank reference", "Transaction reference",
        "Transaction ID", "Transaction number", "Référence", "Référence opération",
        "Referentie", "Referencia", "Riferimento", "Check or Slip #", "Check number"),
        ("Ref", "Volgnr", "ID")),
    "end_to_end_id": ((
        "end to end id", "end_to_end_id", "End-to-End-Referenz", "EndToEndId",
        "End to end reference", "End-to-end ID", "E2E reference", "Kundenreferenz",
        "Référence de bout en bout", "Referencia de extremo a extremo"), ()),
    "description": ((
        "description", "Verwendungszweck", "Vorgang/Verwendungszweck", "Buchungsdetails",
        "Transaction description", "Transaction details", "Memo", "Narrative", "Purpose",
        "Remittance information", "Libellé", "Libellé opération", "Détail", "Détails",
        "Informations complémentaires", "Omschrijving", "Mededelingen", "Concepto",
        "Descripción", "Observaciones", "Descrizione", "Causale"),
        ("Details", "Text", "Notes")),
    "bank_code": ((
        "bank code", "bank_code", "Buchungstext", "Umsatzart", "Transaction type",
        "Transaction code", "Mutatiesoort", "Type d'opération", "Nature de l'opération",
        "Tipo de operación", "GVC"), ("Type", "Code", "Vorgang", "Tipo")),
    "account_column": ((
        "account", "Auftragskonto", "Mein Konto", "Eigenes Konto", "Account number",
        "Account no", "Account IBAN", "Own account", "Numéro de compte", "N° de compte",
        "Rekening", "Rekeningnummer", "Eigen rekening", "IBAN/BBAN", "Número de cuenta"),
        ("Konto", "Compte", "Cuenta", "Conto")),
    "balance": ((
        "balance", "Saldo", "Kontostand", "Saldo nach Buchung", "Running balance",
        "Running Bal", "Solde", "Saldo na trn", "Saldo na mutatie", "Saldo contable"), ()),
}

_CURRENCY_SUFFIX = re.compile(r"[\s(\[]+([A-Za-z]{3})[)\]]?\s*$")


def normalise_header(text: str) -> str:
    """Lower-case ASCII words: accents, punctuation, a parenthesised suffix and a trailing
    line number dropped (``Betrag (EUR)`` → ``betrag``, ``Omschrijving-2`` → ``omschrijving``)."""
    t = unicodedata.normalize("NFKD", text.replace("\ufeff", ""))
    t = "".join(c for c in t if not unicodedata.combining(c)).casefold()
    t = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", t)
    t = re.sub(r"[^0-9a-z]+", " ", t).strip()
    return re.sub(r"(?: \d+)+$", "", t)


def _build_lookup() -> dict[str, tuple[str, int]]:
    lookup: dict[str, tuple[str, int]] = {}
    for fld, tiers in _SYNONYMS.items():
        for tier, names in enumerate(tiers):
            for name in names:
                key = normalise_header(name)
                if key in lookup and lookup[key][0] != fld:
                    raise AssertionError(f"synonym '{name}' is listed for both "
                                         f"{lookup[key][0]} and {fld}")
                lookup.setdefault(key, (fld, tier))
    return lookup


_LOOKUP = _build_lookup()


def _header_currency(text: str) -> str | None:
    m = _CURRENCY_SUFFIX.search(text)
    if m and m.group(1).upper() in CURRENCY_EXPONENTS:
        return m.group(1).upper()
    return None


@dataclass
class HeaderMatch:
    """What :func:`match_header` recognised in one header row."""

    columns: dict[str, int]              # profile attribute → column index (not description)
    description: list[int]
    currency_hint: str | None            # from a header such as 'Betrag (EUR)'

    @property
    def score(self) -> int:
        return len(self.columns) + (1 if self.description else 0)

    @property
    def has_date(self) -> bool:
        return "booking_date" in self.columns or "value_date" in self.columns

    @property
    def has_money(self) -> bool:
        c = self.columns
        return "amount" in c or ("debit" in c and "credit" in c)


def match_header(cells: Sequence[str]) -> HeaderMatch:
    """Map header cells to profile fields with the synonym table."""
    best: dict[str, tuple[int, int]] = {}          # field → (tier, index)
    description: list[int] = []
    hint = None
    for index, cell in enumerate(cells):
        if len(cell) > 80:
            continue
        key = normalise_header(cell)
        found = _LOOKUP.get(key)
        if found is None and _header_currency(cell):       # 'Betrag EUR', 'Amount [USD]'
            found = _LOOKUP.get(normalise_header(_CURRENCY_SUFFIX.sub("", cell)))
        if found is None:
            continue
        fld, tier = found
        if fld in ("amount", "debit", "credit", "balance"):
            hint = hint or _header_currency(cell)
        if fld == "description":
            description.append(index)
        elif fld not in best or tier < best[fld][0]:
            best[fld] = (tier, index)
    columns = {fld: index for fld, (_tier, index) in best.items()}
    if "booking_date" not in columns and "value_date" in columns:
        columns["booking_date"] = columns.pop("value_date")
    return HeaderMatch(columns, description, hint)


# ------------------------------------------------------------------------------------------
# Value parsers
# ------------------------------------------------------------------------------------------
def make_amount_parser(decimal_mark: str, thousands: str) -> Callable[[str, int], Decimal]:
    """Return ``parse(text, exponent) -> Decimal`` for stripped cell text.

    Accepts an optional sign (leading ``+``/``-``, trailing ``-`` or parentheses), digits with
    correctly placed thousands separators (groups of three) and at most ``exponent`` decimals.
    Raises ``ValueError`` with a message for anything else: ``1.234,56`` under a '.' decimal
    profile is an error, never 1.234.
    """
    dec = decimal_mark
    dot = dec == "."

    def slow(text: str, exponent: int) -> Decimal:
        if not text:
            raise ValueError("the amount is empty")
        first = text[0]
        neg = False
        if first == "-":
            neg, body = True, text[1:]
        elif first == "+":
            body = text[1:]
        elif first == "(" and text[-1] == ")":
            neg, body = True, text[1:-1]
        elif text[-1] == "-":
            neg, body = True, text[:-1]
        else:
            body = text
        whole, sep, frac = body.partition(dec)
        if frac:
            if not (frac.isdigit() and frac.isascii()):
                raise ValueError(f"{_show(text)} is not an amount with '{dec}' as decimal mark")
            if len(frac) > exponent:
                raise ValueError(f"{_show(text)} has {len(frac)} decimals; the currency allows "
                                 f"{exponent}")
        elif sep:
            raise ValueError(f"{_show(text)} is not an amount (nothing after the decimal mark)")
        if not (whole.isdigit() and whole.isascii()):
            if not whole and frac:
                whole = "0"
            elif thousands and thousands in whole:
                groups = whole.split(thousands)
                head = groups[0]
                if not (0 < len(head) <= 3 and head.isdigit() and head.isascii()) or not all(
                        len(g) == 3 and g.isdigit() and g.isascii() for g in groups[1:]):
                    raise ValueError(f"{_show(text)} is not an amount with '{dec}' as decimal "
                                     f"mark and '{thousands}' between thousands")
                whole = "".join(groups)
            else:
                raise ValueError(f"{_show(text)} is not an amount with '{dec}' as decimal mark"
                                 + (f" and '{thousands}' between thousands" if thousands else ""))
        if len(whole.lstrip("0")) > MAX_INTEGER_DIGITS:
            raise ValueError(f"{_show(text)} is too large for an amount (more than "
                             f"{MAX_INTEGER_DIGITS} digits before the decimal mark)")
        value = Decimal(whole + "." + frac if frac else whole)
        return -value if neg else value

    def parse(text: str, exponent: int) -> Decimal:
        # fast path: plain ASCII '-123.45' / '123,45' (isdigit is 0-9 only on ASCII text)
        if text.isascii():
            first = text[:1]
            whole, sep, frac = (text[1:] if first == "-" or first == "+" else text).partition(dec)
            if whole.isdigit() and len(whole) <= MAX_INTEGER_DIGITS and (
                    not sep or (frac.isdigit() and len(frac) <= exponent)):
                return Decimal(text if dot else text.replace(",", ".", 1))
        return slow(text, exponent)

    return parse


_FAST_TOKENS = {"%Y": 4, "%m": 2, "%d": 2}


def _fast_date(fmt: str) -> Callable[[str], date | None] | None:
    """A slicing parser for zero-padded %Y/%m/%d formats with literal separators, or None.

    It returns None when the text does not have the exact shape (the caller then tries
    strptime, which also accepts e.g. unpadded days) and raises ValueError for an impossible
    date such as 30 February.
    """
    tokens = re.findall(r"%.|[^%]", fmt)
    pos = 0
    slices: dict[str, int] = {}
    literals: list[tuple[int, str]] = []
    for tok in tokens:
        if tok in _FAST_TOKENS:
            if tok in slices:
                return None
            slices[tok] = pos
            pos += _FAST_TOKENS[tok]
        elif len(tok) == 1 and not tok.isalnum():
            literals.append((pos, tok))
            pos += 1
        else:
            return None
    if len(slices) != 3:
        return None
    length = pos
    y, m, d = slices["%Y"], slices["%m"], slices["%d"]
    lits = tuple(literals)

    def parse(text: str) -> date | None:
        if len(text) != length:
            return None
        for p, c in lits:
            if text[p] != c:
                return None
        ys, ms, ds = text[y:y + 4], text[m:m + 2], text[d:d + 2]
        digits = ys + ms + ds
        if not (digits.isdigit() and digits.isascii()):
            return None
        return date(int(ys), int(ms), int(ds))

    return parse


def make_date_parser(formats: Sequence[str]) -> Callable[[str], date]:
    """Return ``parse(text) -> date`` trying ``formats`` in order; ``ValueError`` otherwise."""
    steps: list[tuple[str, Callable[[str], date | None] | None]] = [
        (fmt, _fast_date(fmt)) for fmt in formats]
    shown = formats[0] if len(formats) == 1 else "any of " + ", ".join(formats)
    strptime = datetime.strptime

    def parse(text: str) -> date:
        for fmt, fast in steps:
            if fast is not None:
                try:
                    result = fast(text)
                except ValueError:
                    continue
                if result is not None:
                    return result
            try:
                return strptime(text, fmt).date()
            except ValueError:
                continue
        raise ValueError(f"{_show(text)} is not a date in format {shown}")

    return parse


# ------------------------------------------------------------------------------------------
# Encoding, lines, header
# ------------------------------------------------------------------------------------------
def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeDecodeError):
        return exc.object[exc.start:exc.end].decode("cp1252"), exc.end
    raise exc


FALLBACK_ERRORS = "cio-cp1252-fallback"
codecs.register_error(FALLBACK_ERRORS, _cp1252_fallback)


def codec_for(encoding: str) -> tuple[str, str]:
    """(codec, errors) for a profile encoding: 'auto' = UTF-8 with a cp1252 fallback."""
    if encoding == ENCODING_AUTO:
        return "utf-8", FALLBACK_ERRORS
    return encoding, "strict"


def is_ascii_compatible(encoding: str) -> bool:
    """Can lines be split on b'\\n' before decoding (true for UTF-8 and 8-bit code pages)?"""
    if encoding == ENCODING_AUTO:
        return True
    name = codecs.lookup(encoding).name
    if name in ("utf-8", "utf-8-sig"):
        return True
    if name.startswith(("utf-16", "utf-32")):
        return False
    probe = "\n\r;,\"'az09|\t"
    try:
        return probe.encode(name) == probe.encode("ascii")
    except (UnicodeError, LookupError):
        return False


_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF8, codecs.BOM_UTF16_LE,
         codecs.BOM_UTF16_BE)


def is_blank(head: bytes) -> bool:
    """Nothing but a byte-order mark and white space (in any of the encodings we read)?"""
    for bom in _BOMS:
        if head.startswith(bom):
            head = head[len(bom):]
            break
    return not head.strip(b" \t\r\n\x00")


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def detect_encoding(head: bytes, *, complete: bool = True, source: str | None = None) -> str:
    """'utf-8-sig', 'utf-16', 'utf-32', 'utf-16-le/be' (no BOM), 'utf-8', 'cp1252' or 'auto'.

    'auto' (UTF-8 with a per-sequence cp1252 fallback) is chosen when the head is plain ASCII,
    so that a cp1252 umlaut after the sample is still read correctly.
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    nul = head.find(b"\x00")
    if nul >= 0:
        sample = head[:4096]
        half = len(sample) // 2
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if half >= 4 and odd >= 0.7 * half and even == 0:
            return "utf-16-le"
        if half >= 4 and even >= 0.7 * half and odd == 0:
            return "utf-16-be"
        raise ValidationError("the file contains binary data (NUL bytes); it is not a CSV "
                              "text file", source=source, line=_line_of(head, nul))
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        return "cp1252"
    return ENCODING_AUTO if head.isascii() else "utf-8"


def decode_head(head: bytes, encoding: str, *, complete: bool, source: str | None = None
                ) -> str:
    """Decode the sample strictly; an undecodable byte is a ValidationError naming its line."""
    codec, errors = codec_for(encoding)
    try:
        return codecs.getincrementaldecoder(codec)(errors).decode(head, final=complete)
    except UnicodeDecodeError as exc:
        label = "UTF-8 or Windows-1252" if encoding == ENCODING_AUTO else encoding
        offset = exc.start
        if encoding == ENCODING_AUTO:        # position within the fallback slice is lost
            offset = _first_undecodable(head)
        line = _line_of(head, offset) if is_ascii_compatible(encoding) else None
        raise ValidationError(f"the file is not {label} text (byte 0x{head[offset]:02x}); "
                              f"choose its encoding in the profile", source=source,
                              line=line) from None


def _first_undecodable(head: bytes) -> int:
    for number, raw in enumerate(head.split(b"\n")):
        try:
            raw.decode("utf-8", FALLBACK_ERRORS)
        except UnicodeDecodeError:
            start = sum(len(x) + 1 for x in head.split(b"\n")[:number])
            for i in range(len(raw)):
                try:
                    raw[i:i + 1].decode("cp1252")
                except UnicodeDecodeError:
                    return start + i
            return start
    return 0


def split_lines(text: str, cr_only: bool) -> list[str]:
    """Physical lines (with their endings), split as the parser splits them: on '\\n', or on
    '\\r' too for a file with old Mac line endings."""
    if cr_only:
        return list(io.StringIO(text, newline=""))
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _cells(line: str, delimiter: str, quotechar: str) -> list[str] | None:
    try:
        return next(csv.reader([line], delimiter=delimiter, quotechar=quotechar or None,
                               quoting=csv.QUOTE_MINIMAL if quotechar else csv.QUOTE_NONE,
                               strict=True), None)
    except csv.Error:
        return None


@dataclass
class _Header:
    index: int                  # 0-based physical line of the header
    delimiter: str
    quotechar: str
    cells: list[str]
    match: HeaderMatch


def _sniffed_dialect(lines: Sequence[str]) -> tuple[str | None, str]:
    sample = "".join(lines[:60])[:16384]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=";,\t|")
    except Exception:                      # a heuristic hint only: any failure → fall back
        return None, '"'
    quote = dialect.quotechar if dialect.quotechar in ('"', "'") else '"'
    return dialect.delimiter, quote


def find_header(lines: Sequence[str], *, need_money: bool = True) -> _Header | None:
    """The best header row in the first lines: most recognised fields, earliest on a tie.

    With ``need_money`` the row must also name a date and an amount (or debit and credit).
    Returns None when no row recognises at least two fields.
    """
    sniffed, quote = _sniffed_dialect(lines)
    candidates = [d for d in dict.fromkeys([sniffed, ";", ",", "\t", "|"]) if d]
    best: _Header | None = None
    best_key: tuple[int, int] | None = None
    for index, line in enumerate(lines[:MAX_HEADER_SEARCH]):
        if not line.strip() or len(line) > 8192:
            continue
        for delim in candidates:
            if delim not in line:
                continue
            q = quote if delim == sniffed else '"'
            cells = _cells(line, delim, q)
            if not cells or len(cells) < 2:
                continue
            match = match_header(cells)
            if match.score < 2 or (need_money and not (match.has_date and match.has_money)):
                continue
            key = (match.score + (5 if match.has_date and match.has_money else 0), -index)
            if best_key is None or key > best_key:
                best, best_key = _Header(index, delim, q, cells, match), key
    return best


# ------------------------------------------------------------------------------------------
# Inference from sample rows
# ------------------------------------------------------------------------------------------
_SPACES = (" ", "\u00a0", "\u202f", "'")


def infer_decimal(values: Sequence[tuple[int, str]], delimiter: str, *, source: str | None = None
                  ) -> tuple[str, str]:
    """(decimal mark, thousands separator) from sample amounts ``(line, text)``."""
    seen: dict[str, tuple[int, str]] = {}
    spaced: str | None = None
    for line, raw in values:
        s = raw.strip().strip("+-()").strip()
        if not s:
            continue
        for sp in _SPACES:
            if sp in s and spaced is None:
                i = s.index(sp)
                if 0 < i < len(s) - 1 and s[i - 1].isdigit() and s[i + 1].isdigit():
                    spaced = sp
        dots, commas = s.count("."), s.count(",")
        mark = None
        if dots and commas:
            mark = "." if s.rfind(".") > s.rfind(",") else ","
        elif dots == 1 or commas == 1:
            sep = "." if dots else ","
            if len(s) - s.rfind(sep) - 1 != 3:
                mark = sep
        elif dots > 1:
            mark = ","
        elif commas > 1:
            mark = "."
        if mark is not None and mark not in seen:
            seen[mark] = (line, raw)
    if len(seen) == 2:
        (l1, v1), (l2, v2) = seen["."], seen[","]
        raise ValidationError(f"the amounts use both '.' ({_show(v1)} on line {l1}) and ',' "
                              f"({_show(v2)} on line {l2}) as decimal mark; choose a profile",
                              source=source, line=max(l1, l2), field="amount")
    if seen:
        dec = next(iter(seen))
    else:
        dec = "," if delimiter == ";" else "."
    thousands = spaced if spaced is not None else ("." if dec == "," else ",")
    return dec, thousands


def infer_date_format(values: Sequence[tuple[int, str]], *, complete: bool,
                      preferred: Sequence[str] = (), source: str | None = None,
                      field: str = "booking date") -> str:
    """The one date format that reads every sample value, or an error.

    Refuses (``CsvAmbiguityError``) when two formats read the sample differently, or could
    read rows after the sample differently (dd/mm vs mm/dd with every day ≤ 12) — unless the
    sample is the whole file and every candidate gives the same dates.
    """
    values = [(line, v) for line, v in values if v]
    if not values:
        raise ValidationError("no dates in the sample rows", source=source, field=field)
    order = list(dict.fromkeys([*preferred, *DATE_FORMATS]))
    fits: list[tuple[str, list[date]]] = []
    first_failure: tuple[int, str] | None = None
    for fmt in order:
        parse = make_date_parser([fmt])
        parsed: list[date] = []
        cache: dict[str, date] = {}
        for line, v in values:
            d = cache.get(v)
            if d is None:
                try:
                    d = cache[v] = parse(v)
                except ValueError:
                    if first_failure is None or line > first_failure[0]:
                        first_failure = (line, v)
                    parsed = []
                    break
            parsed.append(d)
        if parsed:
            fits.append((fmt, parsed))
    if not fits:
        line, v = first_failure or values[0]
        raise ValidationError(f"{_show(v)} is not a date in any format CIO Desktop recognises; "
                              f"set the date format in the profile", source=source, line=line,
                              field=field)
    if len(fits) == 1:
        return fits[0][0]
    readings = {tuple(parsed) for _fmt, parsed in fits}
    if complete and len(readings) == 1:
        return fits[0][0]
    chosen = [fmt for fmt, _ in fits]
    example = next((v for _line, v in values if _is_ambiguous_example(v, fits)), values[0][1])
    raise CsvAmbiguityError(
        f"the dates (e.g. {_show(example)}) fit {' and '.join(chosen)}; choose the date format "
        f"in the profile", choices=chosen, source=source, line=values[0][0], field=field)


def _is_ambiguous_example(value: str, fits: list[tuple[str, list[date]]]) -> bool:
    results = set()
    for fmt, _ in fits:
        try:
            results.add(make_date_parser([fmt])(value))
        except ValueError:
            return False
    return len(results) > 1


def _looks_like_currency(values: Iterable[str]) -> bool:
    vals = [v.strip() for v in values if v.strip()]
    return bool(vals) and all(len(v) == 3 and v.isascii() and v.isalpha() for v in vals)


def detect_profile(head: bytes, filename: str = "", *, complete: bool = False,
                   date_format: str | None = None, decimal: str | None = None) -> CsvProfile:
    """Build a profile for an unknown CSV export from its first bytes.

    ``complete`` says ``head`` is the whole file (then its last line is not cut off, and a
    date sample that reads the same in several formats is not ambiguous). ``date_format`` and
    ``decimal`` settle what detection would otherwise infer (or refuse as ambiguous).
    A built-in profile whose columns are all in the header and whose formats read the sample
    is returned (renamed ``auto:<name>``) before falling back to synonym-based inference.
    """
    source = filename or None
    if is_blank(head):
        raise ValidationError("the file is empty", source=source, line=1)
    encoding = detect_encoding(head, complete=complete, source=source)
    text = decode_head(head, encoding, complete=complete, source=source)
    cr_only = "\n" not in text and "\r" in text
    if "\n" not in text and "\r" not in text and not complete:
        raise ValidationError("no line break in the first part of the file; it is not a CSV "
                              "file", source=source, line=1)
    lines = split_lines(text, cr_only)
    if not complete and len(lines) > 1:
        lines = lines[:-1]                  # the last line may be cut off by the sample
    header = find_header(lines)
    if header is None:
        partial = find_header(lines, need_money=False)
        if partial is not None:
            m = partial.match
            missing = "date column" if not m.has_date else \
                "amount column (nor debit and credit columns)"
            raise ValidationError(f"the header row has no {missing} that CIO Desktop "
                                  f"recognises; choose or create a CSV profile", source=source,
                                  line=partial.index + 1)
        raise ValidationError("no header row with recognisable column names (date, amount, "
                              "...) in the first lines; choose or create a CSV profile",
                              source=source, line=1)
    rows, footers = _split_footers(_sample_rows(lines, header), header)
    if not rows:
        raise ValidationError("the file has a header but no transactions", source=source,
                              line=header.index + 1)
    for builtin in BUILTIN_PROFILES.values():
        found = _try_builtin(builtin, header, rows, encoding, complete, source, date_format,
                             decimal)
        if found is not None:
            extra = tuple(f for f in footers if not f.startswith(found.footer_markers))
            return dataclasses.replace(found, footer_markers=found.footer_markers + extra) \
                if extra else found
    found = _infer_profile(header, rows, encoding, complete, source, date_format, decimal)
    return dataclasses.replace(found, footer_markers=footers) if footers else found


#: first cells of summary rows some banks put after the transactions
KNOWN_FOOTERS = ("Kontostand", "Endsaldo", "Anfangssaldo", "Saldo", "Summe", "Umsatzsumme",
                 "Closing balance", "Opening balance", "Balance", "Totals", "Total", "Solde",
                 "Eindsaldo", "Beginsaldo", "Totaal")


def _split_footers(rows: list[tuple[int, list[str]]], header: _Header
                   ) -> tuple[list[tuple[int, list[str]]], tuple[str, ...]]:
    """Separate summary rows (first cell 'Kontostand', 'Total'... and no date) from data."""
    date_index = header.match.columns.get("booking_date")
    kept: list[tuple[int, list[str]]] = []
    footers: list[str] = []
    for line, row in rows:
        first = row[0].strip() if row else ""
        folded = first.casefold()
        word = next((w for w in KNOWN_FOOTERS if folded.startswith(w.casefold())), None)
        cell = row[date_index].strip() if date_index is not None and date_index < len(row) \
            else ""
        if word is not None and not cell[:1].isdigit():
            footers.append(first[:len(word)])
        else:
            kept.append((line, row))
    return kept, tuple(dict.fromkeys(footers))


def _sample_rows(lines: Sequence[str], header: _Header) -> list[tuple[int, list[str]]]:
    reader = csv.reader(lines[header.index + 1:], delimiter=header.delimiter,
                        quotechar=header.quotechar or None, strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 0
    try:
        for row in reader:
            line = header.index + 2 + start
            start = reader.line_num
            if any(c.strip() for c in row):
                rows.append((line, row))
                if len(rows) >= MAX_SAMPLE_ROWS:
                    break
    except csv.Error:
        pass
    return rows


def _column(rows: Sequence[tuple[int, list[str]]], index: int | None) -> list[tuple[int, str]]:
    if index is None:
        return []
    return [(line, row[index].strip()) for line, row in rows if index < len(row)]


def _resolve_name(ref: ColumnRef, cells: Sequence[str]) -> int | None:
    if isinstance(ref, int):
        return ref if ref < len(cells) else None
    stripped = [c.replace("\ufeff", "").strip() for c in cells]
    for pass_ in (lambda c: c, str.casefold, normalise_header):
        want = pass_(ref.strip())
        for i, c in enumerate(stripped):
            if pass_(c) == want:
                return i
    return None


def _try_builtin(profile: CsvProfile, header: _Header, rows: list[tuple[int, list[str]]],
                 encoding: str, complete: bool, source: str | None, date_format: str | None,
                 decimal: str | None) -> CsvProfile | None:
    if profile.delimiter != header.delimiter or (profile.skip_lines not in (None, header.index)):
        return None
    idx: dict[str, int] = {}
    for name, ref in profile.columns().items():
        for r in (ref if name == "description" else (ref,)):
            i = _resolve_name(r, header.cells)
            if i is None:
                return None
            idx[name if name != "description" else f"description{i}"] = i
    if decimal is not None and decimal != profile.decimal:
        return None
    parse_amount = make_amount_parser(profile.decimal, profile.thousands)
    for name in ("amount", "debit", "credit", "balance"):
        for _line, v in _column(rows, idx.get(name)):
            if v:
                try:
                    parse_amount(v, 3)
                except ValueError:
                    return None
    dates = _column(rows, idx["booking_date"]) + _column(rows, idx.get("value_date"))
    formats = (date_format,) if date_format else profile.date_formats
    parse_date = make_date_parser(formats)
    for _line, v in dates:
        if v:
            try:
                parse_date(v)
            except ValueError:
                return None
    if not date_format and len(formats) == 1:
        # the same ambiguity rule as inference: the header alone does not settle dd/mm vs mm/dd
        chosen = infer_date_format(dates, complete=complete, preferred=formats, source=source)
        if chosen != formats[0]:
            return None
    return dataclasses.replace(profile, name=f"auto:{profile.name}", encoding=encoding,
                               skip_lines=header.index, date_formats=formats)


def _infer_profile(header: _Header, rows: list[tuple[int, list[str]]], encoding: str,
                   complete: bool, source: str | None, date_format: str | None,
                   decimal: str | None) -> CsvProfile:
    cols = dict(header.match.columns)
    description = list(header.match.description)
    # Dutch 'Valuta' is the currency, German 'Valuta' the value date: look at the data
    if "value_date" in cols and _looks_like_currency(
            v for _l, v in _column(rows, cols["value_date"])):
        vd = cols.pop("value_date")
        cols.setdefault("currency_column", vd)
    # an amount column left empty next to Soll/Haben columns
    if "amount" in cols and "debit" in cols and "credit" in cols and not any(
            v for _l, v in _column(rows, cols["amount"])):
        del cols["amount"]
    if "amount" in cols:
        cols.pop("debit", None)
        cols.pop("credit", None)
    money_cols = [cols.get(n) for n in ("amount", "debit", "credit", "balance")]
    money = [item for i in money_cols if i is not None for item in _column(rows, i)]
    if decimal is not None:
        if decimal not in (".", ","):
            raise ValidationError(f"the decimal mark must be '.' or ',', not {decimal!r}",
                                  field="decimal")
        dec, thousands = decimal, ("." if decimal == "," else ",")
        for sp in _SPACES:
            if any(sp in v for _l, v in money):
                thousands = sp
                break
    else:
        dec, thousands = infer_decimal(money, header.delimiter, source=source)
    booking = _column(rows, cols["booking_date"])
    dates = booking + _column(rows, cols.get("value_date"))
    try:
        fmt = date_format or infer_date_format(dates, complete=complete, source=source)
    except CsvAmbiguityError:
        raise
    except ValidationError as exc:
        if len(dates) == len(booking):
            raise
        try:            # do the booking dates alone read? then the value dates are the culprit
            infer_date_format(booking, complete=complete, source=source)
        except ValidationError:
            raise exc from None
        raise ValidationError(exc.reason, source=source, line=exc.line,
                              field="value date") from None
    sign = SIGN_INDICATOR if ("indicator" in cols and "amount" in cols) else SIGN_AS_IS
    if sign != SIGN_INDICATOR:
        cols.pop("indicator", None)
    names = {k: header.cells[i].replace("\ufeff", "").strip() or i for k, i in cols.items()}
    refs: dict[str, Any] = {}
    for k, name in names.items():
        # a name that appears twice in the header would resolve to the first: use the index
        dup = sum(1 for c in header.cells if isinstance(name, str) and
                  c.replace("\ufeff", "").strip() == name) > 1
        refs[k] = cols[k] if dup else name
    desc_refs = tuple(header.cells[i].replace("\ufeff", "").strip() or i for i in description)
    if len(set(desc_refs)) != len(desc_refs) or any(
            sum(1 for c in header.cells if c.replace("\ufeff", "").strip() == r) > 1
            for r in desc_refs if isinstance(r, str)):
        desc_refs = tuple(description)
    return CsvProfile(
        name="auto", bank="detected from the file", delimiter=header.delimiter,
        quotechar=header.quotechar, encoding=encoding, decimal=dec, thousands=thousands,
        date_formats=(fmt,), skip_lines=header.index, sign=sign,
        currency=header.match.currency_hint if "currency_column" not in refs else None,
        description=desc_refs, **refs)
