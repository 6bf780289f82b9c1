"""Board-pack export speed (issue 11): prints measured figures against the targets.

* a 20-page PDF pack with 10 charts (target < 5 s)
* an Excel ledger export of 100,000 rows (target < 10 s), and the same as CSV zip
* peak memory of each step (tracemalloc peak of Python allocations, and the process RSS high-water)

Run: ``python bench/boardpack.py [--rows 100000]``. Synthetic documents (no database), so the
figures are the renderers' own.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cio_desktop.reports import (Chart, Column, Period, ReportDocument, Section, Series, Table, Text,  # noqa: E402
                                 export_report)

PERIOD = Period(date(2026, 10, 1), date(2026, 10, 31), "October 2026")
NOW = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)


def pack(pages: int = 20, charts: int = 10) -> ReportDocument:
    doc = ReportDocument("Bench — Board pack", PERIOD, generated_at=NOW, generated_by="bench",
                         audience="Board of directors")
    for c in range(charts):
        s = doc.add(Section(f"Section {c + 1}"))
        s.add(Text("Commentary for the board. " * 6))
        kind = ("line", "bar", "pie")[c % 3]
        cats = [f"W{i}" for i in range(13)] if kind != "pie" else ["Equity", "Bonds", "Cash", "Other"]
        s.add(Chart(f"Chart {c + 1}", kind, cats,
                    [Series(f"S{j}", [float((i + 1) * (j + 2) * 1000) for i in range(len(cats))])
                     for j in range(1 if kind == "pie" else 3)]))
        # ≈ 48 rows per page: enough rows that the whole pack reaches the page target
        s.add(Table(f"Detail {c + 1}", [Column("Date", "date"), Column("Counterparty"),
                                        Column("Amount", "decimal", currency="EUR"), Column("Share", "percent")],
                    [(date(2026, 10, 1) + timedelta(days=i % 31), f"Counterparty {i}", Decimal(i * 137) / 10,
                      (i % 100) / 100) for i in range(pages * 48 // charts)]))
    return doc


def ledger(rows: int) -> ReportDocument:
    doc = ReportDocument("Bench — Ledger", PERIOD, generated_at=NOW, generated_by="bench")
    s = doc.add(Section("Ledger"))
    s.add(Table("Ledger", [Column("Booking date", "date"), Column("Account"), Column("Counterparty"),
                           Column("Reference"), Column("Amount", "decimal"), Column("Currency"),
                           Column("Category"), Column("Booked at", "datetime")],
                [(date(2026, 1, 1) + timedelta(days=i % 300), f"ACC-{i % 8}", f"Counterparty {i % 977}",
                  f"REF{i:08d}", Decimal((i * 7919) % 2_000_000 - 1_000_000) / 100, "EUR", "operations",
                  NOW - timedelta(minutes=i)) for i in range(rows)]))
    return doc


def measure(label: str, fn, target: float | None = None, trace: bool = False) -> float:  # noqa: ANN001
    """Wall time without tracing (tracemalloc slows allocation-heavy code several-fold); with
    ``--trace`` a second run reports the Python-allocation peak."""
    t0 = time.perf_counter()
    fn()
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    verdict = "" if target is None else (" OK" if secs < target else " SLOW")
    tgt = "" if target is None else f" (target < {target:.0f} s){verdict}"
    extra = ""
    if trace:
        tracemalloc.start()
        fn()
        _cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        extra = f"; Python allocation peak {peak / 2**20:.1f} MiB"
    print(f"{label:<44} {secs:7.2f} s{tgt}; process RSS high-water {rss:7.1f} MiB{extra}")
    return secs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--trace", action="store_true", help="also report tracemalloc peaks (slow)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        out = Path(d)
        doc = pack()
        measure("PDF pack, 10 charts (build+render)", lambda: export_report(doc, "pdf", out / "pack.pdf"), 5,
                args.trace)
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(str(out / "pack.pdf"))
        print(f"  → {len(pdf)} pages, {(out / 'pack.pdf').stat().st_size / 1024:.0f} KiB")
        pdf.close()
        holder: dict = {}
        measure(f"build the {args.rows:,}-row ledger document", lambda: holder.setdefault("doc", ledger(args.rows)))
        big = holder["doc"]
        measure(f"Excel ledger export, {args.rows:,} rows", lambda: export_report(big, "xlsx", out / "ledger.xlsx"), 10,
                args.trace)
        print(f"  → {(out / 'ledger.xlsx').stat().st_size / 2**20:.1f} MiB")
        measure(f"CSV (zip) ledger export, {args.rows:,} rows", lambda: export_report(big, "csv", out / "ledger.zip"),
                trace=args.trace)
        print(f"  → {(out / 'ledger.zip').stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
