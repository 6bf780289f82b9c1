"""CSV cells that are safe to open in a spreadsheet.

A text cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab/carriage return) would be run as
a formula by Excel or LibreOffice (CSV injection); it gets a leading apostrophe. Plain numbers
such as ``-12.50`` cannot be formulas and stay numbers, so amounts remain numeric.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def safe_cell(value: str) -> str:
    if value and value[0] in "=+-@\t\r" and not _NUMBER.match(value):
        return "'" + value
    return value
