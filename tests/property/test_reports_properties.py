"""Property 29: every table exported to Excel or CSV reads back equal (values and types), and every
table value appears in the PDF's extracted text."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import given

from cio_desktop.reports import export_report, format_cell
from cio_desktop.reports import csv as rcsv
from cio_desktop.reports import excel
from tests.reports_fixtures import documents, pdf_pages

_WS = re.compile(r"\s+")


def _source(doc):  # noqa: ANN001, ANN202
    return [([c.heading for c in t.columns], list(t.rows)) for _s, t in doc.tables()]


def _typed(tables):  # noqa: ANN001, ANN202
    return [(h, [tuple((type(v), v) for v in r) for r in rows]) for h, rows in tables]


@given(doc=documents())
def test_property_29_excel_round_trip(doc) -> None:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as d:
        path = export_report(doc, "xlsx", Path(d) / "pack.xlsx")
        back = excel.read_tables(path)
    assert _typed(back) == _typed(_source(doc))


@given(doc=documents())
def test_property_29_csv_round_trip(doc) -> None:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as d:
        path = export_report(doc, "csv", Path(d) / "pack.zip")
        back = rcsv.read_tables(path)
    assert _typed(back) == _typed(_source(doc))


@given(doc=documents())
def test_property_29_pdf_holds_every_value(doc) -> None:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as d:
        text = "".join(pdf_pages(export_report(doc, "pdf", Path(d) / "pack.pdf")))
    # pdfium reports a hyphen that ends a line as U+FFFE (its "generated hyphen" mark)
    flat = _WS.sub("", text.replace("\ufffe", "-"))
    for _s, table in doc.tables():
        for row in table.rows:
            for value, col in zip(row, table.columns):
                shown = _WS.sub("", format_cell(value, col))
                assert shown in flat, f"{shown!r} ({col.kind}) missing from the PDF text"
