"""IBAN and BIC validation for payment files and account forms.

The country rules (which countries issue IBANs, each one's length and BBAN format, which are in
the SEPA scheme) come from the ``schwifty`` package, which ships the SWIFT IBAN registry in its
wheel and needs no network. This module is the only place that imports it: the rest of the
application calls :func:`validate_iban` / :func:`validate_bic` and gets either the normalised
identifier or a :class:`~cio_desktop.errors.ValidationError` written for a treasurer.

What an IBAN must pass (ISO 13616): letters and digits only (spaces are removed, letters upper-
cased), a country that issues IBANs, that country's exact length and BBAN format, and the two
mod-97 check digits. Country-specific *national* check digits inside the BBAN are deliberately
not checked: mod-97 already catches every single-character error and every swap of neighbours,
and schwifty's national algorithms depend on bank-directory data that goes stale, so a correct
account at a new bank could be refused.

A BIC (ISO 9362:2014) has 8 or 11 characters: a 4-character party prefix (letters or digits
since 2014), a 2-letter ISO 3166 country, a 2-character location and an optional 3-character
branch. Whether the BIC exists in a directory is not checked (no directory ships offline).

Messages never contain a full account number: IBANs are shown masked (``DE89 **** **** **** 3001``),
as everywhere else in the application. BICs identify banks, not customers, and are shown as typed.
"""

from __future__ import annotations

import re

from schwifty import BIC, IBAN
from schwifty import exceptions as sw
from schwifty import registry as sw_registry

from cio_desktop.domain.masking import mask_account_number
from cio_desktop.errors import ValidationError

__all__ = [
    "validate_iban", "validate_bic", "iban_country", "is_valid_iban", "is_valid_bic",
    "is_sepa_country", "iban_in_sepa_zone", "format_iban", "normalise_identifier",
]

_WS = re.compile(r"\s+")
_ALNUM = re.compile(r"[A-Z0-9]+")
_BIC_SHAPE = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")


def normalise_identifier(text: str | None) -> str:
    """Remove every kind of white space (including non-breaking spaces) and upper-case."""
    return _WS.sub("", text or "").upper()


def _country_name(code: str) -> str:
    try:
        import pycountry  # a dependency of schwifty
        country = pycountry.countries.get(alpha_2=code)
    except Exception:  # pragma: no cover - pycountry always ships with schwifty
        country = None
    name = getattr(country, "common_name", None) or getattr(country, "name", None)
    return f"{name} ({code})" if name else code


def _spec(country: str):
    try:
        return sw_registry.get_iban_spec(country)
    except (KeyError, sw.SchwiftyException):
        return None


def validate_iban(text: str | None, *, field: str = "iban", source: str | None = None) -> str:
    """The IBAN in compact upper-case form (``DE89370400440532013000``), or ValidationError.

    ``field`` and ``source`` locate the error (e.g. ``field="creditor_iban"``,
    ``source=<end-to-end id>``); the message shows the number masked only.
    """
    iban = normalise_identifier(text)

    def fail(message: str) -> ValidationError:
        return ValidationError(message, source=source, field=field)

    if not iban:
        raise fail("an IBAN is required")
    shown = f"IBAN {mask_account_number(iban)}"
    if not _ALNUM.fullmatch(iban):
        raise fail(f"{shown} contains characters other than letters and digits")
    country = iban[:2]
    if len(iban) < 5 or not country.isalpha() or not iban[2:4].isdigit():
        raise fail(f"{shown} does not start with a 2-letter country code and 2 check digits")
    spec = _spec(country)
    if spec is None:
        raise fail(f"{shown}: '{country}' is not a country that issues IBANs")
    if len(iban) != spec.iban_length:
        raise fail(f"{shown} has {len(iban)} characters; IBANs from {_country_name(country)} "
                   f"have {spec.iban_length}")
    try:
        IBAN(iban)
    except sw.InvalidChecksumDigits:
        raise fail(f"{shown} fails its check digits") from None
    except sw.InvalidLength:  # pragma: no cover - length checked above
        raise fail(f"{shown} has the wrong length for {_country_name(country)}") from None
    except sw.InvalidStructure:
        raise fail(f"{shown} does not have the account format used in "
                   f"{_country_name(country)}") from None
    except sw.SchwiftyException:
        raise fail(f"{shown} is not a valid IBAN") from None
    return iban


def validate_bic(text: str | None, *, field: str = "bic", source: str | None = None) -> str:
    """The BIC upper-cased without spaces (8 or 11 characters, as given), or ValidationError."""
    bic = normalise_identifier(text)

    def fail(message: str) -> ValidationError:
        return ValidationError(message, source=source, field=field)

    if not bic:
        raise fail("a BIC is required")
    if len(bic) not in (8, 11):
        raise fail(f"BIC '{bic}' has {len(bic)} characters; a BIC has 8 or 11")
    if not _BIC_SHAPE.fullmatch(bic):
        raise fail(f"BIC '{bic}' is not shaped like a BIC: 4 letters or digits for the bank, "
                   "a 2-letter country code, 2 letters or digits for the location and "
                   "optionally 3 for the branch")
    try:
        BIC(bic)
    except sw.InvalidCountryCode:
        raise fail(f"BIC '{bic}': '{bic[4:6]}' is not a country code") from None
    except sw.SchwiftyException:  # pragma: no cover - shape checked above
        raise fail(f"BIC '{bic}' is not a valid BIC") from None
    return bic


def is_valid_iban(text: str | None) -> bool:
    try:
        validate_iban(text)
    except ValidationError:
        return False
    return True


def is_valid_bic(text: str | None) -> bool:
    try:
        validate_bic(text)
    except ValidationError:
        return False
    return True


def iban_country(iban: str) -> str:
    """ISO 3166 alpha-2 country of a valid IBAN (``"DE"``); ValidationError if it is not valid."""
    return validate_iban(iban)[:2]


def is_sepa_country(country: str) -> bool:
    """True when IBANs of ``country`` belong to the SEPA schemes' geographical scope (EEA, plus
    CH, GB, SM, VA, MC, AD and the territories the EPC lists), per schwifty's registry."""
    spec = _spec((country or "").strip().upper())
    return bool(spec is not None and spec.in_sepa_zone)


def iban_in_sepa_zone(iban: str) -> bool:
    return is_sepa_country(normalise_identifier(iban)[:2])


def format_iban(iban: str) -> str:
    """Groups of four for display (``DE89 3704 0044 0532 0130 00``); no validation."""
    n = normalise_identifier(iban)
    return " ".join(n[i:i + 4] for i in range(0, len(n), 4))
