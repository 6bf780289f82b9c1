"""ISO 20022 customer credit transfer initiation (pain.001) writer.

``build_pain001`` turns :class:`~cio_desktop.domain.credit_transfer.CreditTransfer` values into
one pain.001.001.09 file (the current SEPA/CGI version) or pain.001.001.03 (for banks that have
not moved on), validates every input first and the finished file against the official XSD last,
and returns UTF-8 bytes. ``write_pain001`` does the same and then writes the file atomically.

Rules this writer applies (each one pinned by a test):

* **Grouping.** One ``PmtInf`` per (debtor IBAN, requested execution date, currency, SEPA or
  not). Account and date because a bank books one ``PmtInf`` as one debit order on one day;
  currency because ``PmtInf/CtrlSum`` is a single sum and the EPC SEPA guidelines (and most
  banks' CGI guides) accept one currency per ``PmtInf``; SEPA-ness because ``SvcLvl`` and
  ``ChrgBr`` are set per ``PmtInf``. Groups are ordered by date, debtor IBAN, currency (SEPA
  first); transfers keep their input order inside a group. ``PmtInfId`` is ``<MsgId>-<n>``
  (``n`` from 1; the message id is shortened if needed to stay within 35 characters).
* **SEPA.** A transfer is SEPA when its currency is EUR and both the debtor IBAN and the creditor
  account (which must be an IBAN) belong to SEPA-scheme countries (``bank_ids.is_sepa_country``).
  A SEPA ``PmtInf`` carries ``PmtTpInf/SvcLvl/Cd = SEPA`` and ``ChrgBr = SLEV`` and the EPC
  limits apply on top of the schema: names at most 70 characters, amount at most
  999,999,999.99 EUR. Any other group has no ``PmtTpInf`` (the bank picks its service level)
  and ``ChrgBr = SHAR`` (the PSD2 rule inside the EEA and the usual cross-border default).
* **Amounts** are exact: positive, no more decimals than the currency's ISO 4217 exponent, and
  written with exactly that many (``JPY 1500``, ``EUR 12.50``, ``BHD 1.250``); at most 18
  digits. ``CtrlSum`` is the exact sum (group header: over all currencies, written with the
  largest exponent in the file, as the ISO definition "irrespective of currencies" asks).
* **Text** (names, remittance): converted to the Latin character set that SEPA (EPC) and SWIFT
  channels accept — ``a-z A-Z 0-9 / - ? : ( ) . , ' +`` and space — in both versions.
  German/Nordic letters become digraphs (``ü → ue``, ``Ü → Ue``/``UE``, ``ß → ss``, ``æ → ae``,
  ``ø → oe``), other accented Latin letters lose their accent (``é → e``, ``ł → l``), some
  symbols are spelled out (``& → +``, ``@ → (at)``, ``€ → EUR``, ``% → pct``, ``# → No.``),
  quotes and dashes become ``'`` and ``-``, other punctuation becomes a space, and white space is
  collapsed. A letter or digit with no Latin equivalent (Greek, Cyrillic, CJK, …) is refused
  with a ValidationError rather than dropped. Lengths are checked *after* conversion and never
  truncated: names ≤ 140 (schema ``Max140Text`` in both versions; 70 in SEPA groups),
  remittance ≤ 140 (one ``Ustrd``).
* **Identifiers** (message id, end-to-end id, instruction id) are never altered: 1–35
  characters of that same set, not starting or ending with ``/`` or a space and without ``//``
  (EPC rule). End-to-end ids must be unique within the file; instruction ids may be empty
  (then ``InstrId`` is omitted).
* **Banks**: IBANs and BICs are checked by :mod:`cio_desktop.domain.bank_ids`. An empty debtor
  BIC is written as ``DbtrAgt/FinInstnId/Othr/Id = NOTPROVIDED`` (the EPC convention); an empty
  creditor BIC omits ``CdtrAgt``. pain.001.001.03 predates ISO 9362:2014, so a BIC with digits
  in its bank code (or a location code starting 0/1 or ending in O) is refused for version 03.
  A debtor IBAN must carry the same debtor name and BIC throughout one file.
* **Dates**: ``created_at`` must be timezone-aware (written as UTC, ``…Z``); an execution date
  may be at most one day before ``created_at``'s UTC date (one day of slack for time zones
  west of UTC) and at most 365 days after it.

Every error is a ValidationError whose ``source`` is the transfer's end-to-end id (or
``transfer <n>`` when the id itself is unusable) and whose ``field`` is the CreditTransfer
attribute (``amount``, ``creditor_iban``, …); errors about the file as a whole name
``message_id``, ``created_at``, ``initiating_party``, ``transfers`` or ``version``.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Sequence

from lxml import etree

from cio_desktop.domain import bank_ids
from cio_desktop.domain.credit_transfer import CreditTransfer
from cio_desktop.domain.masking import mask_account_number
from cio_desktop.domain.money import currency_exponent, normalise_currency, to_decimal
from cio_desktop.errors import ValidationError
from cio_desktop.integrations.payment_files.xsd import (message_name, namespace_for,
                                                        normalise_version, validate_pain001,
                                                        validate_tree)
from cio_desktop.integrations.statements.xml_safety import parse_document

__all__ = ["build_pain001", "write_pain001", "validate_pain001", "transliterate",
           "MAX_ID_LENGTH", "SEPA_MAX_AMOUNT"]

MAX_ID_LENGTH = 35
MAX_NAME_LENGTH = 140          # Max140Text in both schema versions
SEPA_MAX_NAME_LENGTH = 70      # EPC SCT implementation guidelines
MAX_REMITTANCE_LENGTH = 140    # one Ustrd, Max140Text
MAX_OTHER_ACCOUNT_LENGTH = 34  # Othr/Id, Max34Text
MAX_TOTAL_DIGITS = 18          # totalDigits of amounts and DecimalNumber
SEPA_MAX_AMOUNT = Decimal("999999999.99")
NOT_PROVIDED = "NOTPROVIDED"

# -- character set ------------------------------------------------------------------------

_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ ")

# Capital letters whose replacement is two letters: written 'Ue' in a mixed-case word and 'UE'
# next to another capital ('MÜLLER' → 'MUELLER', 'Müller' → 'Mueller').
_DIGRAPHS = {
    "Ä": "AE", "Ö": "OE", "Ü": "UE", "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ẞ": "SS",
    "Æ": "AE", "æ": "ae", "Ø": "OE", "ø": "oe", "Œ": "OE", "œ": "oe", "Þ": "TH", "þ": "th",
    "Ĳ": "IJ", "ĳ": "ij",
}
# Letters that Unicode does not decompose into a base letter plus accent.
_LETTERS = {
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Ħ": "H", "ħ": "h", "ı": "i",
    "Ŀ": "L", "ŀ": "l", "Ŧ": "T", "ŧ": "t", "ĸ": "k", "Ŋ": "N", "ŋ": "n", "ſ": "s",
}
_SYMBOLS = {
    "&": "+", "@": "(at)", "€": "EUR", "£": "GBP", "%": "pct", "#": "No.",
    '"': "'", "“": "'", "”": "'", "„": "'", "«": "'", "»": "'", "‹": "'", "›": "'",
    "‘": "'", "’": "'", "‚": "'", "`": "'", "´": "'", "′": "'", "″": "'",
    "–": "-", "—": "-", "‐": "-", "‑": "-", "‒": "-", "−": "-", "_": "-",
    ";": ",", "!": ".", "…": "...", "·": ".", "[": "(", "]": ")", "{": "(", "}": ")",
    "<": "(", ">": ")", "\\": "/", "|": "/", "⁄": "/", "×": "x",
}


class _Unrepresentable(ValueError):
    def __init__(self, char: str) -> None:
        self.char = char
        super().__init__(char)


def _convert_char(ch: str, prev: str, nxt: str) -> str:
    if ch in _ALLOWED:
        return ch
    if ch in _DIGRAPHS:
        out = _DIGRAPHS[ch]
        if ch.isupper() and (nxt.isupper() or (not nxt.isalpha() and prev.isupper())):
            return out
        return out[0] + out[1:].lower() if ch.isupper() else out
    if ch in _LETTERS:
        return _LETTERS[ch]
    if ch in _SYMBOLS:
        return _SYMBOLS[ch]
    cat = unicodedata.category(ch)
    if cat.startswith("M") or cat == "Cf":          # lone accents, zero-width and soft hyphens
        return ""
    decomposed = unicodedata.normalize("NFKD", ch)
    if decomposed != ch:
        parts = []
        for d in decomposed:
            if d in _ALLOWED:
                parts.append(d)
            elif unicodedata.category(d).startswith("M"):
                continue
            elif d in _SYMBOLS or d in _LETTERS:
                parts.append(_SYMBOLS.get(d) or _LETTERS[d])
            elif unicodedata.category(d)[0] in "LN":
                raise _Unrepresentable(ch)
            else:
                parts.append(" ")
        if any(p.strip() for p in parts) or cat[0] not in "LN":
            return "".join(parts)
        raise _Unrepresentable(ch)
    if cat[0] in "LN":
        raise _Unrepresentable(ch)
    return " "                                       # other punctuation, symbols, controls


def transliterate(text: str) -> str:
    """``text`` in the SEPA/SWIFT Latin character set (see the module doc for the rules).

    Raises ValueError naming the first letter or digit that has no Latin equivalent.
    """
    text = unicodedata.normalize("NFC", text or "")
    out = []
    for i, ch in enumerate(text):
        prev = text[i - 1] if i else ""
        nxt = text[i + 1] if i + 1 < len(text) else ""
        out.append(_convert_char(ch, prev, nxt))
    return " ".join("".join(out).split())


# -- validation -----------------------------------------------------------------------------

_ID_RE = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]{1,35}")
_BIC_V03 = re.compile(r"[A-Z]{6}[A-Z2-9][A-NP-Z0-9](?:[A-Z0-9]{3})?")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")


def _check_id(value, *, what: str, field: str, source: str | None, required: bool = True) -> str:
    def fail(message: str) -> ValidationError:
        return ValidationError(message, source=source, field=field)

    if value is None or value == "":
        if required:
            raise fail(f"the {what} is required")
        return ""
    if not isinstance(value, str):
        raise fail(f"the {what} must be text")
    if len(value) > MAX_ID_LENGTH:
        raise fail(f"the {what} has {len(value)} characters; at most {MAX_ID_LENGTH} are allowed")
    if not _ID_RE.fullmatch(value):
        bad = next(ch for ch in value if ch not in _ALLOWED)
        raise fail(f"the {what} contains '{bad}'; identifiers may use only letters a-z/A-Z, "
                   "digits, space and / - ? : ( ) . , ' +")
    if value != value.strip():
        raise fail(f"the {what} starts or ends with a space")
    if value.startswith("/") or value.endswith("/") or "//" in value:
        raise fail(f"the {what} may not start or end with '/' or contain '//'")
    return value


def _clean_text(value, *, what: str, field: str, source: str | None, max_len: int,
                required: bool, sepa: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"the {what} must be text", source=source, field=field)
    try:
        text = transliterate(value)
    except _Unrepresentable as exc:
        raise ValidationError(
            f"the {what} contains '{exc.char}' (U+{ord(exc.char):04X}), which has no equivalent in "
            "the Latin character set banks accept for SEPA and SWIFT payments; please write it "
            "in Latin letters", source=source, field=field) from None
    if required and not text:
        raise ValidationError(f"the {what} is required", source=source, field=field)
    if len(text) > max_len:
        where = " in a SEPA payment" if sepa else ""
        converted = " after conversion to the bank character set" if text != value.strip() else ""
        raise ValidationError(f"the {what} has {len(text)} characters{converted}; at most "
                              f"{max_len} are allowed{where}", source=source, field=field)
    return text


def _format_minor(minor: int, exp: int) -> str:
    if exp == 0:
        return str(minor)
    digits = str(minor).rjust(exp + 1, "0")
    return f"{digits[:-exp]}.{digits[-exp:]}"


@dataclass(frozen=True, slots=True)
class _Tx:
    end_to_end_id: str
    instruction_id: str
    minor: int
    exponent: int
    currency: str
    execution_date: date
    debtor_name: str
    debtor_iban: str
    debtor_bic: str
    creditor_name: str
    creditor_account: str
    creditor_is_iban: bool
    creditor_bic: str
    creditor_country: str
    remittance: str
    sepa: bool

    @property
    def amount_text(self) -> str:
        return _format_minor(self.minor, self.exponent)


def _check_bic(value, *, field: str, source: str, version: str, required: bool) -> str:
    if not value:
        if required:
            raise ValidationError("a BIC is required", source=source, field=field)
        return ""
    if not isinstance(value, str):
        raise ValidationError("the BIC must be text", source=source, field=field)
    bic = bank_ids.validate_bic(value, field=field, source=source)
    if version == "03" and not _BIC_V03.fullmatch(bic):
        raise ValidationError(
            f"BIC '{bic}' cannot be written in pain.001.001.03, whose schema predates the 2014 "
            "BIC format (digits in the bank code, a location code starting with 0 or 1 or "
            "ending in O); use version 09", source=source, field=field)
    return bic


def _validate_transfer(t: CreditTransfer, index: int, *, version: str, created: date) -> _Tx:
    raw_id = getattr(t, "end_to_end_id", None)
    source = raw_id if isinstance(raw_id, str) and raw_id.strip() else f"transfer {index + 1}"
    if len(source) > 40:
        source = source[:37] + "..."
    e2e = _check_id(raw_id, what="end-to-end id", field="end_to_end_id", source=source)
    instr = _check_id(t.instruction_id, what="instruction id", field="instruction_id",
                      source=source, required=False)

    # currency and amount
    try:
        currency = normalise_currency(t.currency if isinstance(t.currency, str) else "")
    except ValueError:
        raise ValidationError(f"'{t.currency}' is not an ISO 4217 currency code",
                              source=source, field="currency") from None
    exp = currency_exponent(currency)
    raw = t.amount
    if isinstance(raw, (bool, float)):
        raise ValidationError("the amount must be an exact Decimal, not a "
                              f"{type(raw).__name__}", source=source, field="amount")
    try:
        amount = to_decimal(raw)
    except (TypeError, ValueError):
        raise ValidationError(f"'{raw}' is not an amount", source=source, field="amount") from None
    if amount <= 0:
        raise ValidationError(f"the amount {amount} {currency} must be greater than zero",
                              source=source, field="amount")
    scaled = amount.scaleb(exp)
    if scaled != scaled.to_integral_value():
        raise ValidationError(
            f"the amount {amount} {currency} has more decimals than {currency} allows "
            f"({exp})", source=source, field="amount")
    minor = int(scaled)
    if len(str(minor)) > MAX_TOTAL_DIGITS:
        raise ValidationError(f"the amount {amount} {currency} has more than {MAX_TOTAL_DIGITS} "
                              "digits", source=source, field="amount")

    # execution date
    exec_date = t.execution_date
    if isinstance(exec_date, datetime) or not isinstance(exec_date, date):
        raise ValidationError("the execution date must be a calendar date (no time of day)",
                              source=source, field="execution_date")
    if exec_date < created - timedelta(days=1):
        raise ValidationError(f"the execution date {exec_date.isoformat()} is in the past "
                              f"(the file is created on {created.isoformat()})",
                              source=source, field="execution_date")
    if exec_date > created + timedelta(days=365):
        raise ValidationError(f"the execution date {exec_date.isoformat()} is more than a year "
                              "ahead", source=source, field="execution_date")

    # accounts and banks
    debtor_iban = bank_ids.validate_iban(t.debtor_iban, field="debtor_iban", source=source)
    debtor_bic = _check_bic(t.debtor_bic, field="debtor_bic", source=source, version=version,
                            required=False)
    creditor_is_iban = bool(t.creditor_account_is_iban)
    if creditor_is_iban:
        creditor_account = bank_ids.validate_iban(t.creditor_iban, field="creditor_iban",
                                                  source=source)
    else:
        creditor_account = _check_other_account(t.creditor_iban, source)
    creditor_bic = _check_bic(t.creditor_bic, field="creditor_bic", source=source,
                              version=version, required=False)
    country = (t.creditor_country or "").strip().upper() if isinstance(t.creditor_country, str) \
        else t.creditor_country
    if country:
        if not isinstance(country, str) or not _COUNTRY_RE.fullmatch(country) \
                or not _is_country(country):
            raise ValidationError(f"'{t.creditor_country}' is not an ISO 3166 country code",
                                  source=source, field="creditor_country")

    sepa = (currency == "EUR" and bank_ids.is_sepa_country(debtor_iban[:2])
            and creditor_is_iban and bank_ids.is_sepa_country(creditor_account[:2]))
    if sepa and amount > SEPA_MAX_AMOUNT:
        raise ValidationError(f"the amount {amount} EUR exceeds the SEPA maximum of "
                              f"{SEPA_MAX_AMOUNT:,} EUR", source=source, field="amount")

    name_max = SEPA_MAX_NAME_LENGTH if sepa else MAX_NAME_LENGTH
    debtor_name = _clean_text(t.debtor_name, what="debtor name", field="debtor_name",
                              source=source, max_len=name_max, required=True, sepa=sepa)
    creditor_name = _clean_text(t.creditor_name, what="creditor name", field="creditor_name",
                                source=source, max_len=name_max, required=True, sepa=sepa)
    remittance = _clean_text(t.remittance, what="remittance text", field="remittance",
                             source=source, max_len=MAX_REMITTANCE_LENGTH, required=False)
    return _Tx(e2e, instr, minor, exp, currency, exec_date, debtor_name, debtor_iban, debtor_bic,
               creditor_name, creditor_account, creditor_is_iban, creditor_bic, country or "",
               remittance, sepa)


def _check_other_account(value, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("the creditor account number is required", source=source,
                              field="creditor_iban")
    acct = value.strip()
    shown = mask_account_number(acct)
    if len(acct) > MAX_OTHER_ACCOUNT_LENGTH:
        raise ValidationError(f"the creditor account {shown} has {len(acct)} characters; at most "
                              f"{MAX_OTHER_ACCOUNT_LENGTH} are allowed", source=source,
                              field="creditor_iban")
    if any(ch not in _ALLOWED for ch in acct):
        raise ValidationError(f"the creditor account {shown} contains characters other than "
                              "letters, digits, space and / - ? : ( ) . , ' +", source=source,
                              field="creditor_iban")
    return acct


def _is_country(code: str) -> bool:
    try:
        import pycountry
    except ImportError:  # pragma: no cover - installed with schwifty
        return True
    return pycountry.countries.get(alpha_2=code) is not None


def _check_created_at(created_at) -> datetime:
    if not isinstance(created_at, datetime):
        raise ValidationError("the creation time must be a date and time", field="created_at")
    if created_at.tzinfo is None or created_at.utcoffset() is None:
        raise ValidationError("the creation time must be timezone-aware (UTC)", field="created_at")
    return created_at.astimezone(timezone.utc).replace(microsecond=0)


@dataclass
class _Group:
    key: tuple
    txs: list[_Tx]

    @property
    def first(self) -> _Tx:
        return self.txs[0]

    @property
    def total_minor(self) -> int:
        return sum(t.minor for t in self.txs)


def _validate_all(transfers, version: str, message_id, created_at, initiating_party,
                  batch_booking) -> tuple[str, datetime, str, list[_Group], int, int]:
    message_id = _check_id(message_id, what="message id", field="message_id", source=None)
    created = _check_created_at(created_at)
    if not isinstance(batch_booking, bool):
        raise ValidationError("batch booking must be true or false", field="batch_booking")
    if transfers is None or isinstance(transfers, (str, bytes)):
        raise ValidationError("a payment file needs a list of transfers", field="transfers")
    transfers = list(transfers)
    if not transfers:
        raise ValidationError("a payment file needs at least one transfer", field="transfers")

    txs: list[_Tx] = []
    seen_e2e: dict[str, int] = {}
    debtors: dict[str, _Tx] = {}
    for i, t in enumerate(transfers):
        tx = _validate_transfer(t, i, version=version, created=created.date())
        if tx.end_to_end_id in seen_e2e:
            raise ValidationError(
                f"end-to-end id '{tx.end_to_end_id}' is used by transfers {seen_e2e[tx.end_to_end_id] + 1} "
                f"and {i + 1}; each transfer in a file needs its own", source=tx.end_to_end_id,
                field="end_to_end_id")
        seen_e2e[tx.end_to_end_id] = i
        first = debtors.setdefault(tx.debtor_iban, tx)
        if first.debtor_name != tx.debtor_name:
            raise ValidationError(
                f"debtor account {mask_account_number(tx.debtor_iban)} has the name "
                f"'{first.debtor_name}' on transfer '{first.end_to_end_id}' and '{tx.debtor_name}' "
                "here; one account has one debtor name in a file", source=tx.end_to_end_id,
                field="debtor_name")
        if first.debtor_bic != tx.debtor_bic:
            raise ValidationError(
                f"debtor account {mask_account_number(tx.debtor_iban)} has BIC "
                f"'{first.debtor_bic or '(none)'}' on transfer '{first.end_to_end_id}' and "
                f"'{tx.debtor_bic or '(none)'}' here; one account has one bank",
                source=tx.end_to_end_id, field="debtor_bic")
        txs.append(tx)

    any_sepa = any(t.sepa for t in txs)
    initiating = _clean_text(initiating_party, what="initiating party name",
                             field="initiating_party", source=None,
                             max_len=SEPA_MAX_NAME_LENGTH if any_sepa else MAX_NAME_LENGTH,
                             required=True, sepa=any_sepa)

    groups: dict[tuple, _Group] = {}
    for tx in txs:
        key = (tx.execution_date, tx.debtor_iban, tx.currency, not tx.sepa)
        groups.setdefault(key, _Group(key, [])).txs.append(tx)
    ordered = [groups[k] for k in sorted(groups)]

    max_exp = max(t.exponent for t in txs)
    total = sum(t.minor * 10 ** (max_exp - t.exponent) for t in txs)
    for g in ordered:
        if len(str(g.total_minor)) > MAX_TOTAL_DIGITS:
            raise ValidationError(
                f"the transfers from {mask_account_number(g.first.debtor_iban)} in {g.first.currency} "
                f"on {g.first.execution_date.isoformat()} add up to more than {MAX_TOTAL_DIGITS} digits; "
                "split them over several files", field="transfers")
    if len(str(total)) > MAX_TOTAL_DIGITS:
        raise ValidationError(f"the file's control sum has more than {MAX_TOTAL_DIGITS} digits; "
                              "split the transfers over several files", field="transfers")
    return message_id, created, initiating, ordered, total, max_exp


# -- writing --------------------------------------------------------------------------------

def _payment_info_id(message_id: str, n: int) -> str:
    suffix = f"-{n}"
    return message_id[:MAX_ID_LENGTH - len(suffix)].rstrip("/ ") + suffix


class _Writer:
    def __init__(self, version: str) -> None:
        self.version = version
        self.ns = namespace_for(version)

    def el(self, parent, tag: str, text: str | None = None, **attrib: str):
        e = etree.SubElement(parent, f"{{{self.ns}}}{tag}", attrib) if parent is not None \
            else etree.Element(f"{{{self.ns}}}{tag}", attrib, nsmap={None: self.ns})
        if text is not None:
            e.text = text
        return e

    def agent(self, parent, tag: str, bic: str, *, not_provided: bool):
        agt = self.el(parent, tag)
        fin = self.el(agt, "FinInstnId")
        if bic:
            self.el(fin, "BICFI" if self.version == "09" else "BIC", bic)
        elif not_provided:
            self.el(self.el(fin, "Othr"), "Id", NOT_PROVIDED)
        return agt

    def account(self, parent, tag: str, number: str, is_iban: bool):
        ident = self.el(self.el(parent, tag), "Id")
        if is_iban:
            self.el(ident, "IBAN", number)
        else:
            self.el(self.el(ident, "Othr"), "Id", number)


def _build_tree(version: str, message_id: str, created: datetime, initiating: str,
                groups: list[_Group], total: int, max_exp: int, batch_booking: bool):
    w = _Writer(version)
    doc = w.el(None, "Document")
    root = w.el(doc, "CstmrCdtTrfInitn")
    hdr = w.el(root, "GrpHdr")
    w.el(hdr, "MsgId", message_id)
    w.el(hdr, "CreDtTm", created.strftime("%Y-%m-%dT%H:%M:%SZ"))
    w.el(hdr, "NbOfTxs", str(sum(len(g.txs) for g in groups)))
    w.el(hdr, "CtrlSum", _format_minor(total, max_exp))
    w.el(w.el(hdr, "InitgPty"), "Nm", initiating)

    for n, g in enumerate(groups, start=1):
        first = g.first
        pmt = w.el(root, "PmtInf")
        w.el(pmt, "PmtInfId", _payment_info_id(message_id, n))
        w.el(pmt, "PmtMtd", "TRF")
        w.el(pmt, "BtchBookg", "true" if batch_booking else "false")
        w.el(pmt, "NbOfTxs", str(len(g.txs)))
        w.el(pmt, "CtrlSum", _format_minor(g.total_minor, first.exponent))
        if first.sepa:
            w.el(w.el(w.el(pmt, "PmtTpInf"), "SvcLvl"), "Cd", "SEPA")
        if version == "09":
            w.el(w.el(pmt, "ReqdExctnDt"), "Dt", first.execution_date.isoformat())
        else:
            w.el(pmt, "ReqdExctnDt", first.execution_date.isoformat())
        w.el(w.el(pmt, "Dbtr"), "Nm", first.debtor_name)
        w.account(pmt, "DbtrAcct", first.debtor_iban, True)
        w.agent(pmt, "DbtrAgt", first.debtor_bic, not_provided=True)
        w.el(pmt, "ChrgBr", "SLEV" if first.sepa else "SHAR")
        for tx in g.txs:
            cti = w.el(pmt, "CdtTrfTxInf")
            pid = w.el(cti, "PmtId")
            if tx.instruction_id:
                w.el(pid, "InstrId", tx.instruction_id)
            w.el(pid, "EndToEndId", tx.end_to_end_id)
            w.el(w.el(cti, "Amt"), "InstdAmt", tx.amount_text, Ccy=tx.currency)
            if tx.creditor_bic:
                w.agent(cti, "CdtrAgt", tx.creditor_bic, not_provided=False)
            cdtr = w.el(cti, "Cdtr")
            w.el(cdtr, "Nm", tx.creditor_name)
            if tx.creditor_country:
                w.el(w.el(cdtr, "PstlAdr"), "Ctry", tx.creditor_country)
            w.account(cti, "CdtrAcct", tx.creditor_account, tx.creditor_is_iban)
            if tx.remittance:
                w.el(w.el(cti, "RmtInf"), "Ustrd", tx.remittance)
    return doc


def build_pain001(transfers: Sequence[CreditTransfer], *, version: str = "09", message_id: str,
                  created_at: datetime, initiating_party: str, batch_booking: bool = True) -> bytes:
    """A pain.001.001.``version`` file (UTF-8 bytes) for ``transfers``, XSD-validated.

    Raises ValidationError for any bad input (``source`` = end-to-end id, ``field`` = the
    CreditTransfer attribute) and, should the writer ever produce a file the official schema
    rejects, a ValidationError saying so rather than returning it.
    """
    version = normalise_version(version)
    message_id, created, initiating, groups, total, max_exp = _validate_all(
        transfers, version, message_id, created_at, initiating_party, batch_booking)
    doc = _build_tree(version, message_id, created, initiating, groups, total, max_exp,
                      batch_booking)
    data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(
        doc, encoding="UTF-8", xml_declaration=False, pretty_print=True)
    # validate exactly the bytes we hand out, re-parsed as a bank would read them
    etree.clear_error_log()
    root = parse_document(data, message_name(version))
    validate_tree(root, version, built_by_us=True)
    return data


def write_pain001(path: str | os.PathLike, transfers: Sequence[CreditTransfer], *,
                  version: str = "09", message_id: str, created_at: datetime,
                  initiating_party: str, batch_booking: bool = True) -> Path:
    """Build (and validate) the file, then write it to ``path`` atomically: a temporary file in
    the same folder (mode 0600), flushed to disk, then renamed over ``path``. Nothing is written
    when validation fails. Returns the path."""
    data = build_pain001(transfers, version=version, message_id=message_id,
                         created_at=created_at, initiating_party=initiating_party,
                         batch_booking=batch_booking)
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target
