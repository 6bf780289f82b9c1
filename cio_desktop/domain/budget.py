"""Budget lines, their validation, and variance detection with a one-sentence explanation.

Conventions:

* A budget amount is a **magnitude** in the base currency for one category and one month
  (``YYYY-MM``): the income a revenue category should bring, or what an expense category may
  spend. The actual is the magnitude of the category's net ledger flow in that month.
* ``deviation = actual − budget``; ``pct = deviation / budget`` (undefined for a zero budget).
* **Flagged** (property 20) iff ``|deviation| > abs_threshold`` **and** (``budget == 0`` or
  ``|deviation| > pct_threshold × budget``): strictly above both thresholds. Exactly-at is not
  flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Iterable, Mapping, Sequence

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class BudgetInput:
    category: str
    period: str          # YYYY-MM
    amount: Decimal      # magnitude, base currency
    line: int = 0        # the file line it came from (0: entered by hand)


@dataclass(frozen=True)
class Driver:
    """A counterparty that moved the category: its actual and what it typically is."""

    counterparty: str
    actual: Decimal
    typical: Decimal
    lines: int

    @property
    def delta(self) -> Decimal:
        return self.actual - self.typical


@dataclass(frozen=True)
class Variance:
    category: str
    period: str
    kind: str              # "income" | "expense" | "transfer"
    budget: Decimal
    actual: Decimal
    flagged: bool
    explanation: str
    drivers: tuple[Driver, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def deviation(self) -> Decimal:
        return self.actual - self.budget

    @property
    def pct(self) -> float | None:
        return float(self.deviation / self.budget) if self.budget else None


def normalise_period(value: str) -> str:
    text = str(value).strip()
    m = re.match(r"^(\d{4})[-/.](\d{1,2})(?:[-/.]\d{1,2})?(?:[ T].*)?$", text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"'{value}' is not a month: write it as YYYY-MM (e.g. 2026-10)")
    return f"{int(m.group(1)):04d}-{int(m.group(2)):02d}"


#: like the ledger's bound on amounts: a budget line at or above this is a typo or a hostile
#: file, and bigger numbers would not fit the integer minor units of the database
MAX_BUDGET_AMOUNT = Decimal(10) ** 15


def parse_amount(value: object) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"'{value}' is not a number")
    if isinstance(value, float):
        value = repr(value)
    text = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if text.count(",") and text.count("."):
        text = text.replace(",", "")          # 1,234.56
    elif text.count(",") == 1 and len(text.split(",")[1]) <= 2:
        text = text.replace(",", ".")         # 1234,56
    else:
        text = text.replace(",", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"'{value}' is not a number") from None
    if not amount.is_finite():
        raise ValueError(f"'{value}' is not a number")
    if amount < 0:
        raise ValueError(f"'{value}' is negative: budget amounts are magnitudes (income or spending)")
    if amount >= MAX_BUDGET_AMOUNT:
        raise ValueError(f"'{text[:24]}{'…' if len(text) > 24 else ''}' is beyond any plausible budget "
                         f"(at most {MAX_BUDGET_AMOUNT:,.0f})")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"'{value}' has more than two decimal places")
    return amount.quantize(Decimal("0.01"))


def is_flagged(budget: Decimal, actual: Decimal, abs_threshold: Decimal, pct_threshold: Decimal) -> bool:
    """Property 20's rule (see the module doc)."""
    dev = abs(actual - budget)
    if dev <= abs_threshold:
        return False
    return budget == 0 or dev > pct_threshold * abs(budget)


def _money(x: Decimal, currency: str) -> str:
    return f"{x:,.2f} {currency}"


def explain(category: str, period: str, budget: Decimal, actual: Decimal, currency: str,
            drivers: Sequence[Driver], missing: Sequence[str], kind: str = "expense") -> str:
    """One sentence: how far off, and what drives it (counterparties and missing items)."""
    dev = actual - budget
    word = "above" if dev > 0 else "below"
    pct = f" ({dev / budget:+.1%})" if budget else ""
    head = (f"{category} {period}: actual {_money(actual, currency)} vs budget {_money(budget, currency)}, "
            f"{_money(abs(dev), currency)}{pct} {word} budget")
    parts: list[str] = []
    relevant = [d for d in drivers if (d.delta > 0) == (dev > 0) and d.delta != 0]
    if relevant:
        shown = ", ".join(f"{d.counterparty} {d.delta:+,.2f} (" + (
            f"{d.lines} line{'s' if d.lines != 1 else ''}" if d.lines else "nothing this month")
            + f", typically {d.typical:,.2f})" for d in relevant[:3])
        parts.append(f"driven by {shown}")
    if missing:
        parts.append("missing: " + "; ".join(missing[:3]))
    if not parts:
        parts.append("no single counterparty stands out" if actual else "no transactions in this category")
    return head + "; " + "; ".join(parts) + "."


def detect(rows: Iterable[tuple[str, str, str, Decimal, Decimal, Sequence[Driver], Sequence[str]]],
           *, abs_threshold: Decimal, pct_threshold: Decimal, currency: str) -> list[Variance]:
    """``rows``: (category, period, kind, budget, actual, drivers, missing) → every variance,
    flagged or not, each with its explanation."""
    out: list[Variance] = []
    for category, period, kind, budget, actual, drivers, missing in rows:
        flagged = is_flagged(budget, actual, abs_threshold, pct_threshold)
        text = explain(category, period, budget, actual, currency, drivers, missing, kind) if flagged else (
            f"{category} {period}: actual {_money(actual, currency)} vs budget {_money(budget, currency)}, "
            "within the thresholds.")
        out.append(Variance(category, period, kind, budget, actual, flagged, text, tuple(drivers), tuple(missing)))
    return out


def validate_rows(rows: Iterable[Mapping[str, object]], known_categories: Iterable[str],
                  source: str) -> list[BudgetInput]:
    """Validate budget file rows (dicts with category, period, amount; ``_line`` = file line).
    Raises ``cio_desktop.errors.ValidationError`` naming the file, line and column of the
    first bad cell; returns the inputs otherwise."""
    from cio_desktop.errors import ValidationError

    known = {c.lower(): c for c in known_categories}
    out: list[BudgetInput] = []
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        raw_line = row.get("_line")
        line = int(raw_line) if raw_line else None
        raw_cat = str(row.get("category") or "").strip()
        if not raw_cat:
            raise ValidationError("the category is empty", source=source, line=line, field="category")
        cat = known.get(raw_cat.lower())
        if cat is None:
            raise ValidationError(f"unknown category '{raw_cat}' (known: {', '.join(sorted(known.values()))})",
                                  source=source, line=line, field="category")
        try:
            period = normalise_period(str(row.get("period") or ""))
        except ValueError as exc:
            raise ValidationError(str(exc), source=source, line=line, field="period") from None
        try:
            amount = parse_amount(row.get("amount") if row.get("amount") is not None else "")
        except ValueError as exc:
            raise ValidationError(str(exc), source=source, line=line, field="amount") from None
        if (cat, period) in seen:
            raise ValidationError(f"{cat} {period} is already on line {seen[(cat, period)]}",
                                  source=source, line=line, field="category")
        seen[(cat, period)] = line or 0
        out.append(BudgetInput(cat, period, amount, line or 0))
    if not out:
        raise ValidationError("the file has no budget lines", source=source)
    return out
