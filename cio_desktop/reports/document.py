"""The one report model every export format renders (board pack, compliance report, daily summary).

A :class:`ReportDocument` is plain data: a title, a :class:`Period`, and :class:`Section` s whose
``blocks`` are :class:`Text` paragraphs, :class:`Table` s and :class:`Chart` s. Services build it;
``cio_desktop.reports.export_report(document, fmt, path)`` writes it as PDF, Excel or CSV, so
every format carries the same content.

Tables have typed columns (:class:`Column` with ``kind`` one of ``KINDS``). The table normalises
its cells once, on construction, to exactly what every format can carry and read back:

===========  =====================================================================================
kind         cell value after normalisation
===========  =====================================================================================
text         ``str`` (``None`` → ``""``; control characters other than tab/newline removed)
int          ``int`` or ``None``
decimal      ``Decimal`` quantised to the column's ``places`` (2 by default), or ``None``;
             ``Money`` is accepted and gives its amount (put the currency in the column title
             or in ``Column.currency``)
float        ``float`` (NaN/±inf → ``None``)
percent      ``float`` fraction (0.125 shows as 12.50 %), NaN/±inf → ``None``
date         ``datetime.date`` or ``None``
datetime     timezone-aware UTC ``datetime`` to the second, or ``None`` (naive values are taken as UTC)
bool         ``bool`` or ``None``
===========  =====================================================================================

Decimals are exact to 15 significant digits in Excel (a double): keep money below 10^13.
A value that cannot be converted raises ``ValidationError`` naming the table, row and column.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Iterator, Sequence

from cio_desktop.errors import ValidationError

KINDS = ("text", "int", "decimal", "float", "percent", "date", "datetime", "bool")
NUMERIC_KINDS = frozenset({"int", "decimal", "float", "percent"})
CHART_KINDS = ("bar", "line", "pie")

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Period:
    """The reporting period (inclusive); ``label`` is what the cover page shows."""

    start: date
    end: date
    label: str = ""

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValidationError(f"the period ends ({self.end}) before it starts ({self.start})",
                                  field="period")
        if not self.label:
            object.__setattr__(self, "label", f"{self.start.isoformat()} – {self.end.isoformat()}")


@dataclass(frozen=True)
class Column:
    title: str
    kind: str = "text"
    places: int = 2          # decimal kind: digits after the point
    currency: str = ""       # decimal kind: shown next to the title ("Balance (EUR)")
    width: float | None = None  # relative width hint (characters); None: from the content

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValidationError(f"unknown column kind '{self.kind}'; use one of {', '.join(KINDS)}",
                                  field=self.title)
        if not 0 <= self.places <= 8:
            raise ValidationError("decimal places must be between 0 and 8", field=self.title)

    @property
    def heading(self) -> str:
        return f"{self.title} ({self.currency})" if self.currency else self.title


def clean_text(value: Any) -> str:
    return _CONTROL.sub("", "" if value is None else str(value))


def normalise_cell(value: Any, col: Column) -> Any:
    """One cell as the table holds it (see the module doc). Raises ValueError/TypeError."""
    kind = col.kind
    if kind == "text":
        return clean_text(value)
    if value is None or value == "":
        return None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise TypeError("expected true/false")
    if isinstance(value, bool):
        raise TypeError("a true/false value in a numeric or date column")
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        if isinstance(value, Decimal) and value != value.to_integral_value():
            raise ValueError(f"{value} is not a whole number")
        return int(value)
    if kind == "decimal":
        amount = getattr(value, "amount", value)  # Money
        if isinstance(amount, float):
            if not math.isfinite(amount):
                return None
            amount = repr(amount)
        try:
            d = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
            if not d.is_finite():
                return None
            return d.quantize(Decimal(1).scaleb(-col.places))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    if kind in ("float", "percent"):
        f = float(value)
        return f if math.isfinite(f) else None
    if kind == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            return date.fromisoformat(value)
        raise TypeError("expected a date")
    if kind == "datetime":
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise TypeError("expected a date and time")
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return value.replace(microsecond=0)
    raise TypeError(f"unknown kind {kind}")


@dataclass
class Table:
    """A titled table; ``rows`` are normalised on construction (see the module doc)."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Any]] = ()
    note: str = ""           # a line under the table (source, caveat)

    def __post_init__(self) -> None:
        self.title = clean_text(self.title)
        self.columns = tuple(self.columns)
        if not self.columns:
            raise ValidationError("a table needs at least one column", source=self.title)
        headings = [c.heading for c in self.columns]
        dupes = {h for h in headings if headings.count(h) > 1}
        if dupes:
            raise ValidationError(f"duplicate column title(s): {', '.join(sorted(dupes))}", source=self.title)
        out = []
        width = len(self.columns)
        for i, row in enumerate(self.rows, start=1):
            row = tuple(row)
            if len(row) != width:
                raise ValidationError(f"has {len(row)} cells, the table has {width} columns",
                                      source=self.title, line=i)
            cells = []
            for value, col in zip(row, self.columns):
                try:
                    cells.append(normalise_cell(value, col))
                except (TypeError, ValueError) as exc:
                    raise ValidationError(f"{value!r} does not fit a {col.kind} column: {exc}",
                                          source=self.title, line=i, field=col.title) from None
            out.append(tuple(cells))
        self.rows = out


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


@dataclass
class Chart:
    """A chart drawn from its own data: bar (grouped), line, or pie (first series only).

    ``categories`` label the x axis (bar/line) or the slices (pie); every series has one value
    per category (``None``: a gap)."""

    title: str
    kind: str
    categories: Sequence[str]
    series: Sequence[Series]
    y_title: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in CHART_KINDS:
            raise ValidationError(f"unknown chart kind '{self.kind}'; use one of {', '.join(CHART_KINDS)}",
                                  source=self.title)
        self.categories = [clean_text(c) for c in self.categories]
        fixed = []
        for s in self.series:
            if len(s.values) != len(self.categories):
                raise ValidationError(f"series '{s.name}' has {len(s.values)} values for "
                                      f"{len(self.categories)} categories", source=self.title)
            fixed.append(Series(clean_text(s.name), [None if v is None or not math.isfinite(float(v))
                                                     else float(v) for v in s.values]))
        self.series = fixed

    @property
    def empty(self) -> bool:
        return not self.categories or all(v is None for s in self.series for v in s.values)


@dataclass(frozen=True)
class Text:
    text: str
    style: str = "body"      # body | note | warning


Block = Text | Table | Chart


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    #: set when the section's data is missing: renderers print this instead of the blocks
    no_data: str = ""

    def add(self, block: Block) -> Block:
        self.blocks.append(block)
        return block

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]

    @property
    def charts(self) -> list[Chart]:
        return [b for b in self.blocks if isinstance(b, Chart)]


@dataclass
class ReportDocument:
    title: str
    period: Period
    sections: list[Section] = field(default_factory=list)
    subtitle: str = ""
    generated_at: datetime | None = None
    generated_by: str = ""
    audience: str = ""               # e.g. "Board of directors"
    confidentiality: str = "Confidential"
    masked: bool = True              # account numbers and other identifiers masked

    def add(self, section: Section) -> Section:
        self.sections.append(section)
        return section

    def tables(self) -> Iterator[tuple[Section, Table]]:
        for s in self.sections:
            for t in s.tables:
                yield s, t

    def footer_text(self) -> str:
        when = self.generated_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if self.generated_at else ""
        parts = [p for p in (f"Generated {when}" if when else "",
                             f"by {self.generated_by}" if self.generated_by else "") if p]
        return " ".join(parts)


# -- display text shared by the PDF renderer and the screens ------------------------------------
def format_cell(value: Any, col: Column) -> str:
    """How a normalised cell is printed (PDF, screen): stable, so tests can look for it."""
    if value is None:
        return "" if col.kind == "text" else "–"
    kind = col.kind
    if kind == "text":
        return value
    if kind == "int":
        return f"{value:,}"
    if kind == "decimal":
        return f"{value:,.{col.places}f}"
    if kind == "float":
        return f"{value:,.4f}" if abs(value) < 1e15 else f"{value:.6g}"
    if kind == "percent":
        return f"{value * 100:,.2f} %" if abs(value) < 1e13 else f"{value * 100:.6g} %"
    if kind == "date":
        return value.isoformat()
    if kind == "datetime":
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if kind == "bool":
        return "yes" if value else "no"
    return str(value)


def iter_formatted(table: Table) -> Iterable[list[str]]:
    for row in table.rows:
        yield [format_cell(v, c) for v, c in zip(row, table.columns)]
