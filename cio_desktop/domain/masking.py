"""Masking of account numbers for screens and logs.

An IBAN shows its country, check digits and last four characters (``DE89 **** **** **** 3000``);
any other account number shows only its last four. Masking is a display rule, so it lives in
the domain where both the UI and the log filter can reach it.
"""

from __future__ import annotations

import re

_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_LONG_DIGITS_RE = re.compile(r"(?<![\d.,])\d{9,34}(?![\d.,])")


def compact(number: str) -> str:
    return re.sub(r"\s+", "", number or "").upper()


def is_iban_shaped(number: str) -> bool:
    n = compact(number)
    return len(n) >= 15 and n[:2].isalpha() and n[2:4].isdigit() and n[4:].isalnum()


def iban_checksum_ok(number: str) -> bool:
    """ISO 13616 mod-97 check."""
    n = compact(number)
    if not is_iban_shaped(n):
        return False
    rearranged = n[4:] + n[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def mask_account_number(number: str) -> str:
    n = compact(number)
    if not n:
        return ""
    if is_iban_shaped(n):
        groups = max((len(n) - 8) // 4, 1)
        return f"{n[:4]} " + " ".join(["****"] * groups) + f" {n[-4:]}"
    if len(n) <= 4:
        return "*" * len(n)
    return "**** " + n[-4:]


def mask_account_numbers_in_text(text: str) -> str:
    """Mask anything that looks like an IBAN or a long account-number digit run."""
    text = _IBAN_RE.sub(lambda m: mask_account_number(m.group(0)), text)
    return _LONG_DIGITS_RE.sub(lambda m: mask_account_number(m.group(0)), text)
