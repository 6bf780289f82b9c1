"""An investment analysis: data quality, technical and fundamental sections, and a summary.

Property 26: every analysis has every section, and every reading in a section has a value or
``not available: <reason>``. The section layouts are fixed (``SECTIONS``), so an asset with
two closes and no fundamentals yields the same rows as one with five years and a full overview.

Fundamental signals (plain thresholds, stated so a reviewer can argue with them): P/E below 15
is value (bullish), above 30 expensive (bearish); dividend yield above 3 % bullish; debt/equity
above 2 bearish, below 0.5 bullish; margins above 15 % bullish, below 0 bearish.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from cio_desktop.domain.technical import (BEARISH, BULLISH, NEUTRAL, TECHNICAL_KEYS, Reading, technical_readings,
                                          unavailable)

STALE_DAYS = 5  # calendar days after which the last close is called stale
GAP_DAYS = 5  # calendar days between two closes that count as a gap (more than a long weekend)

FUNDAMENTAL_KEYS = ("pe_ratio", "dividend_yield", "debt_to_equity", "profit_margin", "operating_margin")
_FUND_LABELS = {"pe_ratio": "P/E ratio", "dividend_yield": "Dividend yield", "debt_to_equity": "Debt / equity",
                "profit_margin": "Profit margin", "operating_margin": "Operating margin"}
DATA_KEYS = ("observations", "last_close", "age_days", "gaps")
SECTIONS = {"data": DATA_KEYS, "technical": TECHNICAL_KEYS, "fundamental": FUNDAMENTAL_KEYS,
            "summary": ("overall",)}


@dataclass(frozen=True)
class InvestmentAnalysis:
    identifier: str
    name: str
    as_of: date
    sections: Mapping[str, tuple[Reading, ...]]

    def reading(self, section: str, key: str) -> Reading:
        for r in self.sections[section]:
            if r.key == key:
                return r
        raise KeyError(f"{section}.{key}")

    def value(self, section: str, key: str) -> float | None:
        return self.reading(section, key).value

    @property
    def overall(self) -> Reading:
        return self.sections["summary"][0]


def _signal_fundamental(key: str, v: float) -> str:
    if key == "pe_ratio":
        return BEARISH if v <= 0 or v > 30 else BULLISH if v < 15 else NEUTRAL
    if key == "dividend_yield":
        return BULLISH if v > 0.03 else NEUTRAL
    if key == "debt_to_equity":
        return BEARISH if v > 2 else BULLISH if v < 0.5 else NEUTRAL
    return BULLISH if v > 0.15 else BEARISH if v < 0 else NEUTRAL


def fundamental_readings(figures: Mapping[str, Decimal | float | None] | None, as_of: date | None,
                         missing_reason: str) -> tuple[Reading, ...]:
    """One reading per FUNDAMENTAL_KEYS; ``missing_reason`` explains an absent overview."""
    out = []
    for key in FUNDAMENTAL_KEYS:
        label = _FUND_LABELS[key]
        if figures is None:
            out.append(unavailable(key, label, missing_reason, as_of))
            continue
        raw = figures.get(key)
        if raw is None:
            out.append(unavailable(key, label, "the provider's overview does not give this figure", as_of))
            continue
        v = float(raw)
        shown = f"{v:.2%}" if key in ("dividend_yield", "profit_margin", "operating_margin") else f"{v:.2f}"
        out.append(Reading(key, label, v, _signal_fundamental(key, v), as_of, detail=shown))
    return tuple(out)


def data_readings(dates: Sequence[date], closes: Sequence[float], today: date) -> tuple[Reading, ...]:
    n = len(dates)
    if n == 0:
        why = "no closes are stored for this asset"
        return tuple(unavailable(k, k.replace("_", " ").capitalize(), why) for k in DATA_KEYS)
    last = dates[-1]
    age = (today - last).days
    gaps = [(a, b) for a, b in zip(dates, dates[1:]) if (b - a).days > GAP_DAYS]
    longest = max(((b - a).days for a, b in gaps), default=0)
    return (
        Reading("observations", "Observations", float(n), NEUTRAL, last, detail=f"{n} closes {dates[0]} – {last}"),
        Reading("last_close", "Last close", float(closes[-1]), NEUTRAL, last, detail=f"{float(closes[-1]):.4g} on {last}"),
        Reading("age_days", "Data age (days)", float(age), BEARISH if age > STALE_DAYS else NEUTRAL, last,
                detail=f"{age} day(s) old" + (" — stale" if age > STALE_DAYS else "")),
        Reading("gaps", "Gaps in the history", float(len(gaps)), BEARISH if gaps else NEUTRAL, last,
                detail=(f"{len(gaps)} gap(s) longer than {GAP_DAYS} days, longest {longest} days"
                        if gaps else "no gaps")),
    )


def summary_reading(technical: Sequence[Reading], fundamental: Sequence[Reading], as_of: date | None) -> Reading:
    """Net signal: (bullish − bearish) ÷ available readings, in [−1, 1]."""
    avail = [r for r in (*technical, *fundamental) if r.available]
    if not avail:
        return unavailable("overall", "Overall signal", "no reading could be computed", as_of)
    score = (sum(r.signal == BULLISH for r in avail) - sum(r.signal == BEARISH for r in avail)) / len(avail)
    sig = BULLISH if score > 0.2 else BEARISH if score < -0.2 else NEUTRAL
    return Reading("overall", "Overall signal", score, sig, as_of,
                   detail=f"{sig} ({score:+.2f} from {len(avail)} readings)")


def analyze(identifier: str, name: str, dates: Sequence[date], closes: Sequence[float], today: date, *,
            fundamentals: Mapping[str, Decimal | float | None] | None = None,
            fundamentals_as_of: date | None = None,
            fundamentals_missing: str = "no fundamentals are cached for this asset") -> InvestmentAnalysis:
    """The full analysis; pure. ``dates`` ascending and unique, ``closes`` positive."""
    if len(dates) != len(closes):
        raise ValueError("dates and closes differ in length")
    tech = technical_readings(dates, closes) if len(dates) else tuple(
        unavailable(k, k.replace("_", " "), "no closes are stored for this asset") for k in TECHNICAL_KEYS)
    # a figure without a provider date is dated by the analysis (callers pass the fetch date instead)
    fund = fundamental_readings(fundamentals, fundamentals_as_of or today, fundamentals_missing)
    last = dates[-1] if len(dates) else (fundamentals_as_of or today)
    return InvestmentAnalysis(identifier, name, today, {
        "data": data_readings(dates, closes, today), "technical": tech, "fundamental": fund,
        "summary": (summary_reading(tech, fund, last),)})
