"""Statement file parsers. Each module exposes:

- ``FORMAT``: its name (``csv``, ``ofx``, ``mt940``, ``camt053``, ``bai2``),
- ``sniff(head: bytes, filename: str) -> bool``: does this look like our format?
- ``parse(stream: BinaryIO, source: str, **options) -> Iterator[Statement]``: statements in
  file order; raises ``cio_desktop.errors.ValidationError(source=, line=, field=)`` on bad input.

Parsers never touch the database. ``detect_format`` tries them in a fixed order (the most
specific first) so auto-detection is deterministic.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from cio_desktop.errors import ValidationError

#: format name → module; order = detection order (specific formats before CSV).
PARSERS: dict[str, str] = {
    "camt053": "cio_desktop.integrations.statements.camt",
    "ofx": "cio_desktop.integrations.statements.ofx",
    "mt940": "cio_desktop.integrations.statements.mt940",
    "bai2": "cio_desktop.integrations.statements.bai2",
    "csv": "cio_desktop.integrations.statements.csv_parser",
}
SNIFF_BYTES = 64 * 1024


def parser_module(fmt: str) -> ModuleType:
    if fmt not in PARSERS:
        raise ValidationError(f"unknown format '{fmt}'; use one of {', '.join(PARSERS)} or auto",
                              field="format")
    return importlib.import_module(PARSERS[fmt])


def detect_format(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip():
        raise ValidationError("the file is empty", source=path.name, line=1)
    for fmt in PARSERS:
        try:
            if parser_module(fmt).sniff(head, path.name):
                return fmt
        except ModuleNotFoundError:
            continue
    raise ValidationError("not a statement format CIO Desktop reads (CSV, OFX, MT940, camt.053, BAI2)",
                          source=path.name, line=1)
