"""CSV renderer: a zip with one CSV file per table, UTF-8 with a BOM so Excel opens it right.

Files are named ``NN-<section>-<table>.csv`` in document order; ``tables.json`` in the zip lists
each file with its title and column kinds, so :func:`read_tables` reads the values back with
their types (property 29). Cells: decimals in plain notation (``-1234.50``), floats as Python's
shortest round-tripping form, dates ISO 8601, date-times ISO 8601 in UTC (``+00:00``), booleans
``true``/``false``, missing values empty. Text that a spreadsheet would run as a formula gets a
leading apostrophe (``csv_cells.safe_cell``); text that itself begins with an apostrophe gets
one more, so reading back removes exactly one.
"""

from __future__ import annotations

import csv as _csv
import io
import json
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cio_desktop.reports.csv_cells import safe_cell
from cio_desktop.reports.document import Column, ReportDocument

_FORMULA = "=+-@\t\r"
_NAME = re.compile(r"[^A-Za-z0-9]+")


def encode_cell(value: Any, col: Column) -> str:
    if value is None:
        return ""
    kind = col.kind
    if kind == "text":
        text = "'" + value if value.startswith("'") else value
        return safe_cell(text)
    if kind == "decimal":
        return format(value, "f")
    if kind in ("float", "percent"):
        return repr(value)
    if kind in ("date", "datetime"):
        return value.isoformat()
    if kind == "bool":
        return "true" if value else "false"
    return str(value)


def decode_cell(text: str, kind: str) -> Any:
    if kind == "text":
        if text.startswith("'") and len(text) > 1 and (text[1] == "'" or text[1] in _FORMULA):
            return text[1:]
        return text
    if text == "":
        return None
    if kind == "int":
        return int(text)
    if kind == "decimal":
        return Decimal(text)
    if kind in ("float", "percent"):
        return float(text)
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "datetime":
        return datetime.fromisoformat(text)
    if kind == "bool":
        return text == "true"
    return text


def _slug(text: str, limit: int = 40) -> str:
    return _NAME.sub("-", text).strip("-").lower()[:limit] or "table"


def render_csv_zip(document: ReportDocument, path: str | Path) -> None:
    manifest = {"title": document.title, "period": [document.period.start.isoformat(),
                                                    document.period.end.isoformat()],
                "generated": document.footer_text(), "tables": []}
    with zipfile.ZipFile(str(path), "w", compression=zipfile.ZIP_DEFLATED) as zf:
        n = 0
        for section, table in document.tables():
            n += 1
            name = f"{n:02d}-{_slug(section.title, 30)}-{_slug(table.title or 'table')}.csv"
            buf = io.StringIO()
            buf.write("\ufeff")
            w = _csv.writer(buf, lineterminator="\r\n")
            w.writerow([safe_cell(c.heading) for c in table.columns])
            cols = table.columns
            for row in table.rows:
                w.writerow([encode_cell(v, c) for v, c in zip(row, cols)])
            zf.writestr(name, buf.getvalue().encode("utf-8"))
            manifest["tables"].append({"file": name, "section": section.title, "title": table.title,
                                       "columns": [{"title": c.heading, "kind": c.kind} for c in cols]})
        zf.writestr("tables.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))


def read_tables(path: str | Path) -> list[tuple[list[str], list[tuple[Any, ...]]]]:
    """Every table in the zip, in document order: (headings, typed rows)."""
    out = []
    with zipfile.ZipFile(str(path)) as zf:
        manifest = json.loads(zf.read("tables.json").decode("utf-8"))
        for entry in manifest["tables"]:
            kinds = [c["kind"] for c in entry["columns"]]
            text = zf.read(entry["file"]).decode("utf-8-sig")
            reader = _csv.reader(io.StringIO(text, newline=""))
            headings = next(reader)
            rows = [tuple(decode_cell(v, k) for v, k in zip(r, kinds)) for r in reader]
            out.append((headings, rows))
    return out
