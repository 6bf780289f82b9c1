"""MT940 parsing throughput and memory.

Generates an MT940 file of about 100,000 physical lines in a temporary directory (German-style
``:86:`` with ``?``-subfields, two physical lines per ``:86:``, so three lines per entry), then
parses it in a fresh child process — so peak RSS belongs to the parse alone — consuming every
statement line, and prints physical lines/s, entries/s and peak RSS (absolute and above the
process's RSS before the parse).

Two shapes: ``--shape daily`` (default: one statement per business day, 40 entries each, as a
year of statements arrives) and ``--shape single`` (one statement holding every entry — the case
where a parser that buffers a statement's lines would grow with the file).

``--library`` also runs the ``mt-940`` package (``mt940.parse_statements``) on the same file for
comparison, if it is installed; it reads the whole file into memory.

Usage: ``python bench/mt940_parse.py [--lines 100000] [--shape daily|single] [--library]
[--keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

NAMES = ["Stadtwerke München GmbH", "Müller & Söhne KG", "ACME Industries plc",
         "Deutsche Telekom AG", "Finanzamt Köln-Mitte", "Globex B.V."]


def generate(path: Path, target_lines: int, shape: str, seed: int = 7) -> tuple[int, int]:
    """Write the file; returns (physical lines, entries)."""
    rng = random.Random(seed)
    balance = Decimal("1000000.00")
    day = date(2025, 1, 2)
    lines = entries = statement = 0
    per_statement = 40 if shape == "daily" else 10**9
    with path.open("w", encoding="cp1252", newline="\r\n") as out:
        def write(text: str) -> None:
            nonlocal lines
            out.write(text + "\n")
            lines += 1

        while lines < target_lines:
            statement += 1
            write(f":20:STMT{statement:08d}")
            write(":25:10050000/0123456789")
            write(f":28C:{statement % 100000:05d}/001")
            mark = "C" if balance >= 0 else "D"
            write(f":60F:{mark}{day:%y%m%d}EUR{abs(balance):.2f}".replace(".", ","))
            n = 0
            while n < per_statement and lines < target_lines - 3:
                amount = Decimal(rng.randint(1, 2_000_000)) / 100
                credit = rng.random() < 0.45
                balance += amount if credit else -amount
                entries += 1
                n += 1
                write(f":61:{day:%y%m%d}{day:%m%d}{'C' if credit else 'D'}"
                      f"{str(amount).replace('.', ',')}NTRFNONREF//B{entries:010d}")
                name = rng.choice(NAMES)
                body = (f"166?00SEPA-UEBERWEISUNG?10931?20EREF+E2E{entries:012d}?21SVWZ+"
                        f"Rechnung {entries} vom {day:%d.%m.%Y}?30COBADEFFXXX?31DE8937040044053201"
                        f"3000?32{name[:27]}")
                write(":86:" + body[:65])
                write(body[65:130])
            mark = "C" if balance >= 0 else "D"
            write(f":62F:{mark}{day:%y%m%d}EUR{abs(balance):.2f}".replace(".", ","))
            day += timedelta(days=1)
            if shape == "single":
                break
    return lines, entries


def worker(which: str, path: str) -> None:
    if which == "ours":
        from cio_desktop.integrations.statements.mt940 import parse
    else:
        import mt940
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # after the imports
    t0 = time.perf_counter()
    statements = entries = 0
    if which == "ours":
        with open(path, "rb") as fh:
            for st in parse(fh, Path(path).name):
                statements += 1
                for _line in st.lines:   # the parser checks opening + lines = closing itself
                    entries += 1
    else:
        for transactions in mt940.parse_statements(path, encoding="cp1252"):
            statements += 1
            entries += len(transactions)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": elapsed, "statements": statements, "entries": entries,
                      "rss_before_kb": before, "peak_rss_kb": peak}))


def measure(which: str, path: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", which, str(path)],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{which} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--shape", choices=["daily", "single"], default="daily")
    parser.add_argument("--library", action="store_true", help="also time the mt-940 package")
    parser.add_argument("--keep", metavar="DIR", help="write the file here and keep it")
    parser.add_argument("--worker", nargs=2, metavar=("WHICH", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cio-mt940-"))
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"bench_{args.shape}.sta"
    t0 = time.perf_counter()
    lines, entries = generate(path, args.lines, args.shape)
    size = path.stat().st_size
    print(f"file     {path}  {lines:,} lines, {entries:,} entries, {size / 1e6:.1f} MB "
          f"(generated in {time.perf_counter() - t0:.1f} s)")
    runs = [("cio mt940", "ours")]
    if args.library:
        runs.append(("mt-940 lib", "library"))
    for label, which in runs:
        r = measure(which, path)
        secs = r["seconds"]
        print(f"{label:10} {secs:6.2f} s  {lines / secs:10,.0f} lines/s  {r['entries'] / secs:9,.0f} "
              f"entries/s  {r['statements']:,} statements  peak RSS {r['peak_rss_kb'] / 1024:6.1f} MB "
              f"(+{(r['peak_rss_kb'] - r['rss_before_kb']) / 1024:.1f} MB during the parse)")
    if not args.keep:
        path.unlink()
        os.rmdir(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
