"""CSV statement parser throughput: lines/s and peak RSS on a generated 1,000,000-line file.

Target (issue): the end-to-end import (parse + validate + DB insert) must reach 200,000
lines/s, so the parser alone should stay well above that (aim: 400,000 lines/s on a simple
profile).

Each case writes one CSV file into a temporary directory, then parses it in a fresh child
process (so the child's peak RSS is the parser's, not the generator's) and consumes every
line of every statement. Reported per case: lines, wall seconds, lines/s by wall clock and by
process CPU time (CPU time is the fairer figure on a busy machine), peak RSS of the child and
its RSS right after imports (the difference is what parsing added).

Cases:

- ``simple``   ISO style, ',', '.', %Y-%m-%d, fixed currency, 6 columns (auto-detected)
- ``german``   savings-bank shape: ';', everything quoted, decimal comma, dd.mm.yy, account
               and currency columns, 17 columns (auto-detected as ``de_semicolon_signed``)
- ``balance``  UK shape: debit/credit columns + running balance (``uk_debit_credit``)
- ``multi``    ISO shape, 4 accounts interleaved row by row, consumed one statement after
               the other: 3/4 of the lines are queued (spilled to a temp file) meanwhile

Usage: ``python bench/csv_parse.py [--lines 1000000] [--case simple|german|balance|all]
[--keep DIR]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

CASES = ("simple", "german", "balance", "multi")


def generate(case: str, path: Path, lines: int) -> None:
    rnd = random.Random(20260401)
    start = date(2025, 1, 1)
    per_day = max(1, lines // 365)
    if case == "simple":
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["Date", "Amount", "Payee", "Reference", "Description", "Type"])
            for i in range(lines):
                d = start + timedelta(days=i // per_day)
                cents = rnd.randint(-500_000, 500_000)
                w.writerow([d.isoformat(), _fmt(cents, "."),
                            f"Counterparty {i % 977}", f"REF{i:08d}",
                            f"Invoice {i} payment", "TRF"])
    elif case == "german":
        with path.open("w", newline="", encoding="cp1252") as fh:
            w = csv.writer(fh, delimiter=";", quoting=csv.QUOTE_ALL)
            w.writerow(["Auftragskonto", "Buchungstag", "Valutadatum", "Buchungstext",
                        "Verwendungszweck", "Glaeubiger ID", "Mandatsreferenz",
                        "Kundenreferenz (End-to-End)", "Sammlerreferenz",
                        "Lastschrift Ursprungsbetrag", "Auslagenersatz Ruecklastschrift",
                        "Beguenstigter/Zahlungspflichtiger", "Kontonummer/IBAN",
                        "BIC (SWIFT-Code)", "Betrag", "Waehrung", "Info"])
            for i in range(lines):
                d = start + timedelta(days=i // per_day)
                cents = rnd.randint(-500_000, 500_000)
                ds = d.strftime("%d.%m.%y")
                w.writerow(["DE44500105175407324931", ds, ds, "GUTSCHR. UEBERWEISUNG",
                            f"Rechnung {i} Büro Köln", "", "", f"E2E-{i}", "", "", "",
                            f"Müller & Söhne {i % 977}", "DE02120300000000202051",
                            "BYLADEM1001", _fmt(cents, ","), "EUR", "Umsatz gebucht"])
    elif case == "balance":
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["Date", "Type", "Description", "Paid out", "Paid in", "Balance"])
            balance = 10_000_000
            for i in range(lines):
                d = start + timedelta(days=i // per_day)
                cents = rnd.randint(-50_000, 50_000)
                balance += cents
                out = _fmt(-cents, ".") if cents < 0 else ""
                paid_in = _fmt(cents, ".") if cents >= 0 else ""
                w.writerow([d.strftime("%d/%m/%Y"), "FPI", f"PAYMENT {i}", out, paid_in,
                            _fmt(balance, ".")])
    elif case == "multi":
        accounts = ["DE89370400440532013000", "FR7630006000011234567890189",
                    "GB29NWBK60161331926819", "NL91ABNA0417164300"]
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["account", "booking_date", "value_date", "amount", "currency",
                        "counterparty", "reference", "description"])
            for i in range(lines):
                d = (start + timedelta(days=i // per_day)).isoformat()
                w.writerow([accounts[i % 4], d, d, _fmt(rnd.randint(-500_000, 500_000), "."),
                            "EUR", f"Counterparty {i % 977}", f"REF{i:08d}", f"Invoice {i}"])
    else:
        raise SystemExit(f"unknown case {case}")


def _fmt(cents: int, mark: str) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}{mark}{cents % 100:02d}"


def child(case: str, path: str) -> None:
    """Runs in a fresh interpreter: parse the file, print one JSON line of figures."""
    from cio_desktop.integrations.statements import csv_parser

    rss_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    profile = "uk_debit_credit" if case == "balance" else None
    currency = "EUR" if case == "simple" else None      # the simple file has no currency column
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    statements = 0
    with open(path, "rb") as fh:
        for st in csv_parser.parse(fh, os.path.basename(path), profile, currency=currency):
            statements += 1
            for _line in st.lines:
                n += 1
            profile_name = st.extra.get("profile")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"case": case, "lines": n, "statements": statements,
                      "profile": profile_name, "wall": wall, "cpu": cpu,
                      "rss_imports_mb": rss_imports / 1024, "peak_rss_mb": peak / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--case", choices=(*CASES, "all"), default="all")
    ap.add_argument("--keep", type=Path, help="write the CSV files here and keep them")
    ap.add_argument("--child", nargs=2, metavar=("CASE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    cases = CASES if args.case == "all" else (args.case,)
    with tempfile.TemporaryDirectory(prefix="cio-csv-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"{'case':8} {'lines':>9} {'MB':>6} {'wall s':>7} {'lines/s wall':>13} "
              f"{'lines/s CPU':>12} {'peak RSS':>9} {'after imports':>14}  profile", flush=True)
        for case in cases:
            path = folder / f"{case}.csv"
            generate(case, path, args.lines)
            proc = subprocess.run([sys.executable, __file__, "--child", case, str(path)],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"{case} failed:\n{proc.stderr}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            size = path.stat().st_size / 1e6
            print(f"{case:8} {r['lines']:>9} {size:>6.0f} {r['wall']:>7.2f} "
                  f"{r['lines'] / r['wall']:>13,.0f} {r['lines'] / r['cpu']:>12,.0f} "
                  f"{r['peak_rss_mb']:>7.1f}MB {r['rss_imports_mb']:>12.1f}MB  {r['profile']}",
                  flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(load average {load:.1f} on {os.cpu_count()} CPUs while measuring)")


if __name__ == "__main__":
    main()
