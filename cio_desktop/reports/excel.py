"""Excel renderer (openpyxl, write-only so 100,000-row ledgers stream): one sheet per section.

Layout: a first sheet "Report" with the title, period, who generated it and when, the
confidentiality label, and each section's text; then one sheet per section. On a section sheet
each table is a title row, a bold header row and its data (number and date formats per column
kind, UTC date-times), tables one below the other with a blank row between; the first table's
header is frozen; column widths come from the content. Charts become native Excel charts
placed to the right, drawn from a small data block beside them.

Every table's range (header + rows) is a workbook defined name ``cio_tNNN`` whose comment holds
the column kinds, so :func:`read_tables` reads the tables back with their types
(``ValidationError``-free round trip: property 29). Text cells are always written as text,
never as formulas.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, LineChart, PieChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.utils.datetime import to_excel
from openpyxl.workbook.defined_name import DefinedName

from cio_desktop.reports.document import Chart, Column, ReportDocument, Table, format_cell

FORMATS = {"int": "#,##0", "float": "#,##0.0000", "percent": "0.00%", "date": "yyyy-mm-dd",
           "datetime": "yyyy-mm-dd hh:mm:ss"}
_CODES = {"text": "t", "int": "i", "decimal": "d", "float": "f", "percent": "p", "date": "D",
          "datetime": "T", "bool": "b"}
_KINDS = {v: k for k, v in _CODES.items()}
_BAD_SHEET = re.compile(r"[\[\]:*?/\\]")
_TITLE_FONT = Font(bold=True, size=13)
_HEAD_FONT = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="E8EEF9")
_WRAP = Alignment(wrap_text=True, vertical="top")
_TOP = Alignment(vertical="top")
NUMBERS = frozenset({"int", "decimal", "float", "percent"})
CHART_ROWS = 18   # rows one chart occupies (at the default row height)


def number_format(col: Column) -> str | None:
    if col.kind == "decimal":
        # A distinct format for 0 places keeps decimals apart from ints when read by eye.
        return "#,##0." + "0" * col.places if col.places else "#,##0;-#,##0"
    return FORMATS.get(col.kind)


def sheet_title(name: str, taken: set[str]) -> str:
    base = _BAD_SHEET.sub(" ", name).strip().strip("'")[:31].strip() or "Section"
    if base.lower() == "history":  # reserved by Excel
        base = "History (1)"
    title, n = base, 2
    while title.lower() in taken:
        suffix = f" ({n})"
        title, n = base[:31 - len(suffix)] + suffix, n + 1
    taken.add(title.lower())
    return title


def _excel_value(value: Any, col: Column) -> Any:
    if value is None:
        return None
    if col.kind == "datetime":
        return value.astimezone(timezone.utc).replace(tzinfo=None)  # Excel has no time zones: UTC
    return value


def _number_text(value: Any, kind: str) -> str:
    """The number as written in the XML. openpyxl would print every number with ``%.16g``
    (losing the 17th digit of a double and digits of large ints); we give it the exact text."""
    if kind in ("float", "percent"):
        return repr(float(value))
    if kind == "decimal":
        return format(value, "f")
    return str(int(value))


class _SheetWriter:
    """Builds one section sheet row by row (write-only worksheets cannot go back)."""

    def __init__(self, wb: Workbook, ws: Any) -> None:
        self.wb, self.ws = wb, ws
        self.row = 0
        self._cells: dict[tuple[int, int], Any] = {}

    def cell(self, value: Any, *, fmt: str | None = None, font: Font | None = None,
             fill: PatternFill | None = None, text: bool = False, wrap: bool = False) -> Any:
        c = WriteOnlyCell(self.ws, value)
        if text and isinstance(value, str):
            c.data_type = "s"  # never a formula, whatever the text starts with
        if fmt:
            c.number_format = fmt
        if font:
            c.font = font
        if fill:
            c.fill = fill
        if wrap:
            c.alignment = _WRAP
        return c


def _widths(tables: list[Table], extra: dict[int, float]) -> dict[int, float]:
    widths: dict[int, float] = {}
    for t in tables:
        for i, col in enumerate(t.columns):
            if col.width:
                w = float(col.width)
            else:
                w = max([len(col.heading)] + [len(format_cell(r[i], col)) for r in t.rows[:200]])
            widths[i] = max(widths.get(i, 8.0), min(w + 2, 60.0))
    for i, w in extra.items():
        widths[i] = max(widths.get(i, 8.0), w)
    return widths


def _chart_block(chart: Chart) -> list[list[Any]]:
    rows: list[list[Any]] = [[chart.title], ["Category"] + [s.name or f"Series {i + 1}"
                                                           for i, s in enumerate(chart.series)]]
    for j, cat in enumerate(chart.categories):
        rows.append([cat] + [s.values[j] for s in chart.series])
    return rows


def _native_chart(chart: Chart, ws: Any, col0: int, row0: int) -> Any:
    """A native chart over the data block written at (row0, col0) (1-based, title row)."""
    n, m = len(chart.categories), len(chart.series)
    header, first, last = row0 + 1, row0 + 2, row0 + 1 + n
    cats = Reference(ws, min_col=col0, min_row=first, max_row=last)
    if chart.kind == "pie":
        c = PieChart()
        c.add_data(Reference(ws, min_col=col0 + 1, min_row=header, max_row=last), titles_from_data=True)
    else:
        c = BarChart() if chart.kind == "bar" else LineChart()
        if chart.kind == "bar":
            c.type = "col"
        c.add_data(Reference(ws, min_col=col0 + 1, max_col=col0 + m, min_row=header, max_row=last),
                   titles_from_data=True)
        if chart.y_title:
            c.y_axis.title = chart.y_title
        c.y_axis.majorGridlines = c.y_axis.majorGridlines  # keep openpyxl's default grid
        # openpyxl ≥ 3.1 hides axes unless told otherwise; Excel then draws no labels at all.
        c.x_axis.delete = False
        c.y_axis.delete = False
    c.set_categories(cats)
    c.title = chart.title
    c.height, c.width = 8.5, 16
    if m == 1 and chart.kind != "pie":
        c.legend = None
    return c


def render_xlsx(document: ReportDocument, path: str | Path) -> None:
    wb = Workbook(write_only=True)
    taken: set[str] = {"report"}
    cover = wb.create_sheet("Report")
    cover.column_dimensions["A"].width = 110
    big = Font(bold=True, size=16)
    w = _SheetWriter(wb, cover)
    cover.append([w.cell(document.title, font=big, text=True)])
    for line in (document.subtitle, f"Period: {document.period.label}",
                 f"Prepared for: {document.audience}" if document.audience else "",
                 document.footer_text(), document.confidentiality.upper() if document.confidentiality else "",
                 "Account numbers are masked in this document." if document.masked else ""):
        if line:
            cover.append([w.cell(line, text=True)])
    names: list[str] = []
    for section in document.sections:
        names.append(sheet_title(section.title, taken))
    cover.append([])
    cover.append([w.cell("Contents", font=_HEAD_FONT)])
    for section, name in zip(document.sections, names):
        cover.append([w.cell(f"{section.title} — sheet '{name}'", text=True)])
    for section in document.sections:
        texts = [b for b in section.blocks if hasattr(b, "style") and hasattr(b, "text")]
        if texts or section.no_data:
            cover.append([])
            cover.append([w.cell(section.title, font=_HEAD_FONT, text=True)])
            if section.no_data:
                cover.append([w.cell(f"No data: {section.no_data}", text=True)])
            for t in texts:
                cover.append([w.cell(t.text, text=True, wrap=True)])

    counter = 0
    sheets: list[_SheetPlan] = []
    for section, name in zip(document.sections, names):
        ws = wb.create_sheet(name)
        tables = [] if section.no_data else section.tables
        charts = [] if section.no_data else [c for c in section.charts if not c.empty]
        table_cols = max([len(t.columns) for t in tables] + [0])
        chart_col = table_cols + 2  # 1-based column of the chart data blocks
        extra = {chart_col - 1: 14.0} if charts else {}
        for i, wdt in _widths(tables, extra).items():
            ws.column_dimensions[get_column_letter(i + 1)].width = wdt
        plan = _SheetPlan(len(wb.worksheets), section.no_data, chart_col, _Styles(ws))
        row = 1
        for chart in charts:
            block = _chart_block(chart)
            for k, cells in enumerate(block):
                plan.right[row + k] = cells
            ws.add_chart(_native_chart(chart, ws, chart_col, row),
                         f"{get_column_letter(chart_col + len(chart.series) + 2)}{row}")
            row += max(CHART_ROWS + 2, len(block) + 1)
        if tables:
            ws.freeze_panes = "A3"
        r = 1 if section.no_data else 0
        for t in tables:
            counter += 1
            top = r + 2    # title row, then the header row
            kinds = ",".join(_CODES[c.kind] + (str(c.places) if c.kind == "decimal" else "") for c in t.columns)
            ref = f"{quote_sheetname(name)}!$A${top}:${get_column_letter(len(t.columns))}${top + len(t.rows)}"
            key = f"cio_t{counter:03d}"
            wb.defined_names[key] = DefinedName(key, attr_text=ref, comment=kinds)
            plan.tables.append((t, section.title))
            # register the styles now: styles.xml is written when the frame is saved
            plan.styles.title(), plan.styles.head(), [plan.styles.column(c) for c in t.columns]
            r = top + len(t.rows) + (1 if t.note else 0) + 1
        sheets.append(plan)
    # openpyxl writes the frame (styles, widths, panes, charts, names); the rows of the section
    # sheets are streamed into the file afterwards (openpyxl's per-cell writer is ~5× slower).
    frame = Path(str(path) + ".frame")
    try:
        wb.save(str(frame))
        _fill_sheets(frame, Path(path), sheets)
    finally:
        frame.unlink(missing_ok=True)


# -- fast sheet rows -----------------------------------------------------------------------------
class _Styles:
    """Style ids (the ``s`` attribute) registered through openpyxl for the raw rows we write."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._cache: dict[Any, int] = {}

    def _sid(self, key: Any, **style: Any) -> int:
        if key not in self._cache:
            c = WriteOnlyCell(self.ws, None)
            for attr, value in style.items():
                setattr(c, attr, value)
            self._cache[key] = c.style_id
        return self._cache[key]

    def column(self, col: Column) -> int:
        fmt = number_format(col)
        return self._sid(("col", fmt), number_format=fmt) if fmt else 0

    def title(self) -> int:
        return self._sid("title", font=_TITLE_FONT)

    def head(self) -> int:
        return self._sid("head", font=_HEAD_FONT, fill=_HEAD_FILL)


@dataclass
class _SheetPlan:
    index: int                    # 1-based sheet number in the package (sheetN.xml)
    no_data: str
    chart_col: int
    styles: _Styles
    tables: list[tuple[Table, str]] = field(default_factory=list)
    right: dict[int, list[Any]] = field(default_factory=dict)


_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _text_xml(ref: str, value: str, sid: int = 0) -> str:
    s = f' s="{sid}"' if sid else ""
    return f'<c r="{ref}"{s} t="inlineStr"><is><t xml:space="preserve">{value.translate(_ESC)}</t></is></c>'


def _plain_xml(ref: str, value: Any) -> str:
    """A cell of a chart data block: text, number or empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _text_xml(ref, value)
    return f'<c r="{ref}"><v>{repr(float(value))}</v></c>'


def _encoder(col: Column) -> Callable[[Any], tuple[str, str]]:
    """value → (type attribute, inner XML) for one column kind."""
    kind = col.kind
    if kind == "text":
        return lambda v: (' t="inlineStr"', f'<is><t xml:space="preserve">{v.translate(_ESC)}</t></is>')
    if kind == "bool":
        return lambda v: (' t="b"', f"<v>{int(v)}</v>")
    if kind in ("date", "datetime"):
        return lambda v: ("", f"<v>{repr(to_excel(_excel_value(v, col)))}</v>")
    return lambda v: ("", f"<v>{_number_text(v, kind)}</v>")


def _rows_xml(plan: _SheetPlan) -> Iterator[str]:
    letters = [get_column_letter(i) for i in range(1, 200)]
    rownum = 0

    def emit(cells: list[str]) -> str:
        extra = plan.right.pop(rownum, None)
        if extra is not None:
            cells = cells + [_plain_xml(f"{letters[plan.chart_col - 1 + k]}{rownum}", v) for k, v in enumerate(extra)]
        return f'<row r="{rownum}">{"".join(cells)}</row>'

    st = plan.styles
    if plan.no_data:
        rownum += 1
        yield emit([_text_xml(f"A{rownum}", f"No data: {plan.no_data}")])
    for t, section_title in plan.tables:
        rownum += 1
        yield emit([_text_xml(f"A{rownum}", t.title or section_title, st.title())])
        rownum += 1
        yield emit([_text_xml(f"{letters[i]}{rownum}", c.heading, st.head()) for i, c in enumerate(t.columns)])
        spec = [(letters[i], st.column(c), _encoder(c)) for i, c in enumerate(t.columns)]
        for data in t.rows:
            rownum += 1
            n = str(rownum)
            cells = []
            for v, (letter, sid, enc) in zip(data, spec):
                if v is None:
                    continue
                typ, inner = enc(v)
                cells.append(f'<c r="{letter}{n}" s="{sid}"{typ}>{inner}</c>' if sid
                             else f'<c r="{letter}{n}"{typ}>{inner}</c>')
            yield emit(cells) if plan.right else f'<row r="{n}">{"".join(cells)}</row>'
        if t.note:
            rownum += 1
            yield emit([_text_xml(f"A{rownum}", t.note)])
        rownum += 1
        yield emit([])
    for k in sorted(plan.right):  # chart blocks below the last table row
        rownum = k
        yield emit([])


def _fill_sheets(frame: Path, target: Path, plans: list[_SheetPlan]) -> None:
    by_name = {f"xl/worksheets/sheet{p.index}.xml": p for p in plans}
    with zipfile.ZipFile(frame) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            plan = by_name.get(info.filename)
            if plan is None:
                dst.writestr(info, data)
                continue
            xml = data.decode("utf-8")
            head, sep, tail = xml.partition("<sheetData></sheetData>")
            if not sep:
                head, sep, tail = xml.partition("<sheetData/>")
            if not sep:
                raise ValueError(f"unexpected sheet layout in {info.filename}")
            with dst.open(info.filename, "w", force_zip64=True) as out:
                out.write((head + "<sheetData>").encode("utf-8"))
                buf: list[str] = []
                for row in _rows_xml(plan):
                    buf.append(row)
                    if len(buf) >= 2000:
                        out.write("".join(buf).encode("utf-8"))
                        buf.clear()
                out.write(("".join(buf) + "</sheetData>" + tail).encode("utf-8"))


# -- reading back (tests, re-import) -------------------------------------------------------------
def _decode(value: Any, code: str) -> Any:
    kind = _KINDS[code[0]]
    if value is None:
        return "" if kind == "text" else None
    if kind == "text":
        return str(value)
    if kind == "int":
        return int(value)
    if kind == "decimal":
        places = int(code[1:] or 2)
        d = value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else str(value))
        return d.quantize(Decimal(1).scaleb(-places))
    if kind in ("float", "percent"):
        return float(value)
    if kind == "date":
        return value.date() if isinstance(value, datetime) else value
    if kind == "datetime":
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        rounded = value.replace(microsecond=0, tzinfo=timezone.utc)
        return rounded + timedelta(seconds=1) if value.microsecond >= 500000 else rounded
    if kind == "bool":
        return bool(value)
    return value


def read_tables(path: str | Path) -> list[tuple[list[str], list[tuple[Any, ...]]]]:
    """Every table written by :func:`render_xlsx`, in document order: (headings, typed rows)."""
    wb = load_workbook(str(path), read_only=False, data_only=False)
    out = []
    try:
        for key in sorted(n for n in wb.defined_names if n.startswith("cio_t")):
            dn = wb.defined_names[key]
            codes = (dn.comment or "").split(",")
            (sheet, ref), = list(dn.destinations)
            cells = wb[sheet][ref.replace("$", "")]
            if not isinstance(cells[0], tuple):
                cells = (cells,)
            headings = [str(c.value) for c in cells[0]]
            rows = [tuple(_decode(c.value, code) for c, code in zip(r, codes)) for r in cells[1:]]
            out.append((headings, rows))
    finally:
        wb.close()
    return out
