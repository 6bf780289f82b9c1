"""PDF renderer (reportlab platypus): cover, contents, sections, split tables, vector charts.

``render_pdf(document, path)`` writes the whole document: a cover page (title, period,
audience, confidentiality, who generated it and when), a table of contents, one heading per
section, tables that split across pages with their header row repeated, charts as vector
drawings (reportlab.graphics), and on every page after the cover a confidentiality footer with
the generation time, the user and "Page x of y". Text uses DejaVu Sans when installed (wide
Unicode coverage, embedded), otherwise Helvetica. Use ``cio_desktop.reports.export_report``
rather than calling this directly: it writes through a temporary file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.charts.piecharts import Pie
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (BaseDocTemplate, CondPageBreak, Frame, KeepTogether, NextPageTemplate,
                                PageBreak, PageTemplate, Paragraph, Spacer)
from reportlab.platypus import Table as RLTable
from reportlab.platypus import TableStyle
from reportlab.platypus.tableofcontents import TableOfContents

from cio_desktop.reports.document import (NUMERIC_KINDS, Chart, ReportDocument, Section, Table, Text,
                                          format_cell)

log = logging.getLogger(__name__)

PALETTE = [colors.HexColor(c) for c in ("#2563eb", "#12805c", "#d98e04", "#d92d20", "#7c3aed",
                                         "#0891b2", "#be185d", "#4b5563", "#65a30d", "#ea580c")]
INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#6b7280")
RULE = colors.HexColor("#d1d5db")
HEAD_BG = colors.HexColor("#e8eef9")

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/Library/Fonts",
              "C:/Windows/Fonts")
_fonts: tuple[str, str] | None = None


def fonts() -> tuple[str, str]:
    """(regular, bold) font names, registering DejaVu Sans once when it is installed."""
    global _fonts
    if _fonts is None:
        _fonts = ("Helvetica", "Helvetica-Bold")
        for folder in _FONT_DIRS:
            regular, bold = Path(folder, "DejaVuSans.ttf"), Path(folder, "DejaVuSans-Bold.ttf")
            if regular.exists() and bold.exists():
                try:
                    pdfmetrics.registerFont(TTFont("CioSans", str(regular)))
                    pdfmetrics.registerFont(TTFont("CioSans-Bold", str(bold)))
                    pdfmetrics.registerFontFamily("CioSans", normal="CioSans", bold="CioSans-Bold",
                                                  italic="CioSans", boldItalic="CioSans-Bold")
                    _fonts = ("CioSans", "CioSans-Bold")
                except Exception:  # a broken font file: fall back, never fail the export
                    log.warning("could not load %s; using Helvetica", regular, exc_info=True)
                break
    return _fonts


def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = fonts()
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("CoverTitle", parent=base["Title"], fontName=bold, fontSize=26,
                                leading=32, textColor=INK, spaceAfter=10),
        "subtitle": ParagraphStyle("CoverSub", parent=base["Normal"], fontName=regular, fontSize=14,
                                   leading=18, textColor=MUTED, alignment=TA_CENTER, spaceAfter=6),
        "cover": ParagraphStyle("CoverLine", parent=base["Normal"], fontName=regular, fontSize=11,
                                leading=15, alignment=TA_CENTER, textColor=INK),
        "h1": ParagraphStyle("Heading1", parent=base["Heading1"], fontName=bold, fontSize=16,
                             leading=20, textColor=INK, spaceBefore=6, spaceAfter=8),
        "h2": ParagraphStyle("Heading2", parent=base["Heading2"], fontName=bold, fontSize=11.5,
                             leading=14, textColor=INK, spaceBefore=8, spaceAfter=4),
        "body": ParagraphStyle("Body", parent=base["Normal"], fontName=regular, fontSize=9.5,
                               leading=13, textColor=INK, spaceAfter=5),
        "note": ParagraphStyle("Note", parent=base["Normal"], fontName=regular, fontSize=8,
                               leading=10, textColor=MUTED, spaceAfter=6),
        "warning": ParagraphStyle("Warn", parent=base["Normal"], fontName=bold, fontSize=9.5,
                                  leading=13, textColor=colors.HexColor("#b42318"), spaceAfter=5),
        "cell": ParagraphStyle("Cell", parent=base["Normal"], fontName=regular, fontSize=8, leading=9.6),
        "cellr": ParagraphStyle("CellR", parent=base["Normal"], fontName=regular, fontSize=8, leading=9.6,
                                alignment=TA_RIGHT),
        "head": ParagraphStyle("Head", parent=base["Normal"], fontName=bold, fontSize=8, leading=9.6),
        "headr": ParagraphStyle("HeadR", parent=base["Normal"], fontName=bold, fontSize=8, leading=9.6,
                                alignment=TA_RIGHT),
        "toc1": ParagraphStyle("TOC1", parent=base["Normal"], fontName=regular, fontSize=11, leading=16,
                               leftIndent=12, firstLineIndent=-12),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


class _Doc(BaseDocTemplate):
    def __init__(self, filename: str, document: ReportDocument, **kw: Any) -> None:
        super().__init__(filename, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm,
                         topMargin=20 * mm, bottomMargin=20 * mm, title=document.title,
                         author=document.generated_by or "CIO Desktop", subject=document.period.label,
                         creator="CIO Desktop", **kw)
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body")
        self.addPageTemplates([PageTemplate(id="cover", frames=[frame]),
                               PageTemplate(id="body", frames=[frame])])
        self._heading = 0

    def afterFlowable(self, flowable: Any) -> None:  # noqa: N802 - reportlab API
        if isinstance(flowable, Paragraph) and flowable.style.name == "Heading1":
            text = flowable.getPlainText()
            key = f"h{self.seq.nextf('heading')}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(text, key, level=0, closed=False)
            self.notify("TOCEntry", (0, text, self.page, key))


def _canvas_maker(document: ReportDocument):  # noqa: ANN202
    regular, bold = fonts()
    left = f"{document.confidentiality.upper()} — {document.title}" if document.confidentiality else document.title
    middle = document.footer_text()

    class NumberedCanvas(rl_canvas.Canvas):
        """Defers each page so the footer can say "Page x of y"."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved: list[dict] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab API
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                if self._pageNumber > 1:
                    self._footer(total)
                super().showPage()
            super().save()

        def _footer(self, total: int) -> None:
            w, _h = A4
            self.saveState()
            self.setStrokeColor(RULE)
            self.setLineWidth(0.5)
            self.line(18 * mm, 14 * mm, w - 18 * mm, 14 * mm)
            self.setFillColor(MUTED)
            self.setFont(bold, 7)
            self.drawString(18 * mm, 10 * mm, left[:110])
            self.setFont(regular, 6.5)
            self.drawString(18 * mm, 6.5 * mm, middle)
            self.setFont(regular, 7)
            self.drawRightString(w - 18 * mm, 10 * mm, f"Page {self._pageNumber} of {total}")
            self.restoreState()

    return NumberedCanvas


def _col_widths(table: Table, avail: float) -> list[float]:
    """Non-text columns get the width of their widest value (they never wrap); text columns
    share what is left by their natural width, each at least a little; sampled rows only."""
    regular, bold = fonts()
    sample = table.rows[:300]
    need, natural = [], []
    for i, col in enumerate(table.columns):
        words = col.heading.split() or [""]
        head = max(pdfmetrics.stringWidth(w, bold, 8) for w in words) + 8
        if col.width:
            need.append(0.0)
            natural.append(float(col.width) * 4.6)
            continue
        widest = max([0.0] + [pdfmetrics.stringWidth(format_cell(r[i], col), regular, 8) for r in sample]) + 8
        if col.kind == "text":
            need.append(0.0)
            natural.append(max(widest, head, 28.0))
        else:
            need.append(max(widest, head))
            natural.append(0.0)
    fixed = sum(need)
    text_total = sum(natural)
    if fixed + text_total <= avail:
        spare = avail - fixed - text_total
        share = [n + spare * n / text_total if text_total else n for n in natural]
        if not text_total:
            need = [n * avail / fixed for n in need] if fixed else need
    else:
        left = max(avail - fixed, 40.0 * sum(1 for n in natural if n))
        share = [max(40.0, left * n / text_total) if n else 0.0 for n in natural]
    widths = [a + b for a, b in zip(need, share)]
    total = sum(widths)
    return [w * avail / total for w in widths] if total > avail else widths


def _table_flowables(table: Table, st: dict[str, ParagraphStyle], avail: float) -> list[Any]:
    out: list[Any] = [_p(table.title, st["h2"])] if table.title else []
    cols = table.columns
    header = [_p(c.heading, st["headr"] if c.kind in NUMERIC_KINDS else st["head"]) for c in cols]
    widths = _col_widths(table, avail)
    data: list[list[Any]] = [header]
    for row in table.rows:
        cells = []
        for v, c, w in zip(row, cols, widths):
            s = format_cell(v, c)
            # Plain strings draw fast; wrap (Paragraph) only what may not fit its column.
            if c.kind == "text" and (len(s) * 4.6 > w - 6 or "\n" in s or "<" in s or "&" in s):
                cells.append(_p(s, st["cell"]))
            else:
                cells.append(s)
        data.append(cells)
    regular, bold = fonts()
    style = [
        ("FONT", (0, 0), (-1, -1), regular, 8),
        ("FONT", (0, 0), (-1, 0), bold, 8),
        ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    for i, c in enumerate(cols):
        if c.kind in NUMERIC_KINDS:
            style.append(("ALIGN", (i, 1), (i, -1), "RIGHT"))
    t = RLTable(data, colWidths=widths, repeatRows=1, style=TableStyle(style))
    out.append(t)
    if not table.rows:
        out.append(_p("No rows for this period.", st["note"]))
    if table.note:
        out.append(_p(table.note, st["note"]))
    out.append(Spacer(1, 6))
    return out


def _axis_label(v: float) -> str:
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.1f}bn"
    if a >= 1e6:
        return f"{v / 1e6:.1f}m"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    return f"{v:,.0f}" if a >= 10 else f"{v:.2g}"


def chart_drawing(chart: Chart, width: float, height: float = 190) -> Drawing:
    """The chart as a vector Drawing (usable in any reportlab story)."""
    regular, bold = fonts()
    d = Drawing(width, height)
    d.add(String(0, height - 12, chart.title, fontName=bold, fontSize=10, fillColor=INK))
    if chart.empty:
        d.add(String(width / 2, height / 2, "no data", fontName=regular, fontSize=9, fillColor=MUTED,
                     textAnchor="middle"))
        return d
    names = [s.name for s in chart.series]
    if chart.kind == "pie":
        pie = Pie()
        pie.x, pie.y, pie.width, pie.height = 20, 15, height - 50, height - 50
        vals = [max(v or 0.0, 0.0) for v in chart.series[0].values]
        pie.data = vals if sum(vals) > 0 else [1.0] * len(vals)
        pie.labels = None
        for i in range(len(vals)):
            pie.slices[i].fillColor = PALETTE[i % len(PALETTE)]
            pie.slices[i].strokeColor = colors.white
        d.add(pie)
        legend_items = [(PALETTE[i % len(PALETTE)], f"{c}: {_axis_label(v or 0.0)}")
                        for i, (c, v) in enumerate(zip(chart.categories, chart.series[0].values))]
        lx = height - 10
    else:
        plot = VerticalBarChart() if chart.kind == "bar" else HorizontalLineChart()
        plot.x, plot.y = 45, 40
        plot.width, plot.height = width - 60 - (110 if len(names) > 1 else 0), height - 70
        plot.data = [[(v if v is not None else 0.0) for v in s.values] for s in chart.series]
        cats = list(chart.categories)
        step = max(1, -(-len(cats) // 10))
        plot.categoryAxis.categoryNames = [c if i % step == 0 else "" for i, c in enumerate(cats)]
        plot.categoryAxis.labels.fontName = regular
        plot.categoryAxis.labels.fontSize = 6.5
        plot.categoryAxis.labels.angle = 30 if len(cats) > 6 else 0
        plot.categoryAxis.labels.boxAnchor = "ne" if len(cats) > 6 else "n"
        plot.valueAxis.labels.fontName = regular
        plot.valueAxis.labels.fontSize = 7
        plot.valueAxis.labelTextFormat = _axis_label
        plot.valueAxis.strokeColor = RULE
        plot.categoryAxis.strokeColor = RULE
        vals = [v for s in chart.series for v in s.values if v is not None]
        lo, hi = min(vals + [0.0]), max(vals + [0.0])
        if lo == hi:
            hi = lo + 1
        plot.valueAxis.valueMin, plot.valueAxis.valueMax = lo, hi + (hi - lo) * 0.05
        plot.valueAxis.gridStrokeColor = RULE
        plot.valueAxis.visibleGrid = True
        for i in range(len(names)):
            if chart.kind == "bar":
                plot.bars[i].fillColor = PALETTE[i % len(PALETTE)]
                plot.bars[i].strokeColor = None
            else:
                plot.lines[i].strokeColor = PALETTE[i % len(PALETTE)]
                plot.lines[i].strokeWidth = 1.6
        d.add(plot)
        legend_items = [(PALETTE[i % len(PALETTE)], n) for i, n in enumerate(names)] if len(names) > 1 else []
        lx = width - 105
    if legend_items:
        lg = Legend()
        lg.x, lg.y = lx, height - 30
        lg.fontName, lg.fontSize = regular, 7
        lg.alignment = "right"
        lg.columnMaximum = 12
        lg.colorNamePairs = legend_items
        d.add(lg)
    if chart.y_title and chart.kind != "pie":
        d.add(String(0, height - 24, chart.y_title, fontName=regular, fontSize=7, fillColor=MUTED))
    return d


def _section_flowables(section: Section, st: dict[str, ParagraphStyle], avail: float) -> list[Any]:
    out: list[Any] = [CondPageBreak(60 * mm), _p(section.title, st["h1"])]
    if section.no_data:
        out.append(_p(f"No data: {section.no_data}", st["note"]))
        return out
    for block in section.blocks:
        if isinstance(block, Text):
            out.append(_p(block.text, st.get(block.style, st["body"])))
        elif isinstance(block, Table):
            out.extend(_table_flowables(block, st, avail))
        elif isinstance(block, Chart):
            parts = [chart_drawing(block, avail)]
            if block.note:
                parts.append(_p(block.note, st["note"]))
            out.append(KeepTogether(parts + [Spacer(1, 6)]))
    return out


def render_pdf(document: ReportDocument, path: str | Path) -> None:
    st = _styles()
    doc = _Doc(str(path), document)
    story: list[Any] = [Spacer(1, 60 * mm), _p(document.title, st["title"])]
    if document.subtitle:
        story.append(_p(document.subtitle, st["subtitle"]))
    story.append(_p(document.period.label, st["subtitle"]))
    story.append(Spacer(1, 30 * mm))
    if document.audience:
        story.append(_p(f"Prepared for: {document.audience}", st["cover"]))
    if document.footer_text():
        story.append(_p(document.footer_text(), st["cover"]))
    if document.confidentiality:
        story.append(Spacer(1, 8 * mm))
        story.append(_p(document.confidentiality.upper(), ParagraphStyle(
            "Conf", parent=st["cover"], fontName=fonts()[1], textColor=colors.HexColor("#b42318"))))
    if document.masked:
        story.append(_p("Account numbers are masked in this document.", st["cover"]))
    story += [NextPageTemplate("body"), PageBreak()]
    toc = TableOfContents()
    toc.levelStyles = [st["toc1"]]
    story += [_p("Contents", st["h2"]), toc, PageBreak()]
    for section in document.sections:
        story.extend(_section_flowables(section, st, doc.width))
    if not document.sections:
        story.append(_p("This report has no sections.", st["body"]))
    doc.multiBuild(story, canvasmaker=_canvas_maker(document))
