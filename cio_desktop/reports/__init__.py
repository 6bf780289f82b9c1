"""ReportDocument and its PDF, Excel and CSV renderers: the one way anything is exported.

Build a document, then export it::

    from cio_desktop.reports import (Chart, Column, Period, ReportDocument, Section, Series, Table,
                                     Text, export_report)

    doc = ReportDocument("Compliance report", Period(date(2026, 10, 1), date(2026, 10, 31)),
                         generated_at=ctx.now(), generated_by=ctx.actor, audience="Risk committee")
    s = doc.add(Section("Limits"))
    s.add(Text("All limits were respected in October."))
    s.add(Table("Limit standing", [Column("Rule"), Column("Limit", "decimal", currency="EUR"),
                                   Column("Used", "percent")], rows=[("Counterparty", 1_000_000, 0.42)]))
    s.add(Chart("Usage", "bar", ["Counterparty"], [Series("Used", [42.0])]))
    export_report(doc, "pdf", "/path/report.pdf")   # or "xlsx", "csv" (a .zip of CSV files)

``export_report`` writes to a temporary file beside the target and renames it over the target
only when complete, so a failure never leaves a half-written file under the final name; errors
are :class:`ExportFailed` (unwritable folder, file open elsewhere) or ``ValidationError``
(bad document). A section whose data is missing sets ``Section.no_data = "reason"`` and every
format prints "No data: reason". ``excel.read_tables`` and ``csv.read_tables`` read the tables
back with their types. Renderers are imported lazily (reportlab/openpyxl load only when used).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from cio_desktop.reports.document import (KINDS, Chart, Column, Period, ReportDocument, Section, Series,
                                          Table, Text, format_cell)
from cio_desktop.reports.output import ExportFailed, atomic_output, check_target

FORMATS = ("pdf", "xlsx", "csv")
EXTENSIONS = {"pdf": ".pdf", "xlsx": ".xlsx", "csv": ".zip"}


def normalise_format(fmt: str) -> str:
    f = fmt.strip().lower().lstrip(".")
    f = {"excel": "xlsx", "xls": "xlsx", "zip": "csv"}.get(f, f)
    if f not in FORMATS:
        raise ExportFailed(f"unknown export format '{fmt}'; use pdf, xlsx or csv")
    return f


def _renderer(fmt: str) -> Callable[[ReportDocument, Path], None]:
    if fmt == "pdf":
        from cio_desktop.reports.pdf import render_pdf
        return render_pdf
    if fmt == "xlsx":
        from cio_desktop.reports.excel import render_xlsx
        return render_xlsx
    from cio_desktop.reports.csv import render_csv_zip
    return render_csv_zip


def export_report(document: ReportDocument, fmt: str, path: str | os.PathLike[str]) -> Path:
    """Render ``document`` as ``fmt`` (pdf | xlsx | csv) to ``path``; returns the final path."""
    fmt = normalise_format(fmt)
    if not isinstance(document, ReportDocument):
        raise ExportFailed("nothing to export: not a report document")
    target = check_target(path)
    render = _renderer(fmt)
    with atomic_output(target) as tmp:
        render(document, tmp)
    return target


__all__ = ["EXTENSIONS", "FORMATS", "KINDS", "Chart", "Column", "ExportFailed", "Period", "ReportDocument",
           "Section", "Series", "Table", "Text", "atomic_output", "export_report", "format_cell",
           "normalise_format"]
