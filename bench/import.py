"""Import throughput into the encrypted store (issue 4 targets).

Cases (each in a fresh child process, so peak RSS is the import's own):
- ``csv``:   a 1,000,000-line CSV (ISO layout, auto-detected) → ``StatementImportService.import_file``
- ``mt940``: a 100,000-line MT940 (daily statements) → the same service
- ``raw``:   the baseline — the same 1,000,000 rows as prepared tuples, one ``executemany`` into
             the same migrated SQLCipher schema (unique natural-key index and the ledger's four
             query indexes, as the import must leave them), one transaction
- ``raw-unique``: the issue's own baseline — the same executemany into a table whose only index
             is the unique natural key (what "~1.8 s with a unique index" refers to)

A file of 8 MiB or more is parsed by a worker process while the importer inserts
(``services/parse_worker.py``): the CPU time of both is printed, and the worker's peak RSS.

Printed: lines, seconds, lines/s, peak RSS, and the import time ratio to both raw baselines.
Targets: ≥ 200,000 CSV lines/s, ≤ 2.5× the raw insert time, peak memory < 500 MB.
Search-index catch-up (done after the import commits) is timed separately.

Usage: ``python bench/import.py [--lines 1000000] [--mt940-lines 100000] [--case all|csv|mt940|raw]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
IBAN = "DE89370400440532013000"


def _workspace(root: Path):  # noqa: ANN202
    os.environ["CIO_KEYRING"] = "memory"
    from cio_desktop.config import load_settings
    from cio_desktop.security.dbkey import DbKey
    from cio_desktop.services.session import AuthSession
    from cio_desktop.services.users import provision_user
    from cio_desktop.services.workspace import open_workspace
    from cio_desktop.services.auth import role_permissions

    settings = load_settings({"db": str(root / "bench.db"), "data_dir": root, "log_dir": root,
                              "cache_dir": root, "config_dir": root}, environ={})
    ws = open_workspace(settings, create=True, key=DbKey(raw=bytes(range(32))))
    with ws.db.unit_of_work() as uow:
        user = provision_user(uow, ws.ctx, username="treasurer", role="treasurer",
                              password="Bench-Passw0rd-Long", actor="bench")
        perms = role_permissions(uow, "treasurer")
        uid = user.id
    now = datetime.now(timezone.utc)
    ws.ctx.session = AuthSession(uid, "treasurer", "treasurer", perms, now, now, True, now)
    return ws


def child(case: str, path: Path, root: Path) -> dict:
    ws = _workspace(root)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    from cio_desktop.storage import search_index

    if case in ("raw", "raw-unique"):
        return _raw(ws, path, base_rss, unique_only=case == "raw-unique")
    account = ws.accounts.create_account(name="Bench", institution="Bench Bank", number=IBAN, currency="EUR")
    watch = _ChildPeak()
    started, cpu = time.perf_counter(), time.process_time()
    result = ws.imports.import_file(path, account_id=account.id if case == "csv" else None)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    watch.stop()
    worker = resource.getrusage(resource.RUSAGE_CHILDREN)  # the parse worker, for a large file
    t = time.perf_counter()
    indexed = search_index.catch_up(ws.db)
    index_s = time.perf_counter() - t
    lines = result.new + result.duplicates
    return {"case": case, "lines": lines, "new": result.new, "seconds": elapsed, "lines_per_s": lines / elapsed,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_after_open_mb": base_rss / 1024, "index_seconds": index_s, "indexed": indexed,
            "cpu_seconds": cpu, "worker_cpu_seconds": worker.ru_utime + worker.ru_stime,
            "worker_peak_rss_mb": watch.peak_kib / 1024}


class _ChildPeak:
    """The parse worker's own peak RSS (VmHWM), polled from /proc while the import runs.
    ``RUSAGE_CHILDREN`` would report the importer's image as the child copied it at fork time,
    before the exec that replaced it."""

    def __init__(self) -> None:
        import threading

        self.peak_kib, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        me = Path(f"/proc/{os.getpid()}/task")
        while not self._stop.wait(0.02):
            for task in me.glob("*/children"):
                for pid in task.read_text().split():
                    try:
                        status = Path(f"/proc/{pid}/status").read_text()
                    except OSError:
                        continue
                    for line in status.splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_kib = max(self.peak_kib, int(line.split()[1]))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _raw(ws, path: Path, base_rss: int, *, unique_only: bool) -> dict:  # noqa: ANN001
    """Rows as the CSV parser would produce them, prepared before the clock starts."""
    import csv

    from cio_desktop.services.ledger import search_text_for

    account = ws.accounts.create_account(name="Bench", institution="Bench Bank", number=IBAN, currency="EUR")
    now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        for d, amount, payee, ref, desc, _type in reader:
            minor = int(round(float(amount) * 100))
            rows.append((account.id, d, None, minor, "EUR", payee, ref, desc, "", "TRF", "csv",
                         search_text_for(payee, ref, desc, ""), now))
    raw = ws.db.engine.raw_connection()
    try:
        cur = raw.cursor()
        from cio_desktop.services.statement_import import IMPORT_CACHE_KIB

        cur.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")  # the same page cache as the import
        if unique_only:
            from cio_desktop.storage.bulk_load import secondary_indexes

            for name, _sql in secondary_indexes(cur, "transactions"):
                cur.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        cur.execute("BEGIN IMMEDIATE")
        cur.executemany("INSERT INTO transactions (account_id, booking_date, value_date, amount_minor, currency, "
                        "counterparty, bank_reference, description, category, bank_code, source, search_text, "
                        "created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        cur.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        raw.close()
    return {"case": "raw-unique" if unique_only else "raw", "lines": len(rows), "seconds": elapsed, "lines_per_s": len(rows) / elapsed,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--mt940-lines", type=int, default=100_000)
    ap.add_argument("--case", default="all", choices=["all", "csv", "mt940", "raw", "raw-unique"])
    ap.add_argument("--child", nargs=3, metavar=("CASE", "FILE", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), Path(args.child[2]))))
        return
    sys.path.insert(0, str(HERE))
    import csv_parse  # noqa: E402 — bench helpers beside this file
    import mt940_parse  # noqa: E402

    cases = ["csv", "raw", "raw-unique", "mt940"] if args.case == "all" else [args.case]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        csv_file = tmp_path / "statement.csv"
        if {"csv", "raw", "raw-unique"} & set(cases):
            csv_parse.generate("simple", csv_file, args.lines)
        mt_file = tmp_path / "statement.sta"
        if "mt940" in cases:
            mt940_parse.generate(mt_file, args.mt940_lines, "daily")
        for case in cases:
            work = tmp_path / case
            work.mkdir()
            out = subprocess.run([sys.executable, __file__, "--child", case,
                                  str(mt_file if case == "mt940" else csv_file), str(work)],
                                 capture_output=True, text=True, check=True)
            results[case] = json.loads(out.stdout.strip().splitlines()[-1])
            r = results[case]
            extra = f", search index catch-up {r['index_seconds']:.1f} s" if "index_seconds" in r else ""
            if r.get("worker_cpu_seconds"):
                extra += (f"; CPU: importer {r['cpu_seconds']:.1f} s, parse worker {r['worker_cpu_seconds']:.1f} s "
                          f"(peak RSS {r['worker_peak_rss_mb']:.0f} MB)")
            print(f"{case:6} {r['lines']:>9,} lines  {r['seconds']:7.2f} s  {r['lines_per_s']:>9,.0f} lines/s  "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB{extra}")
    for baseline in ("raw", "raw-unique"):
        if "csv" in results and baseline in results:
            print(f"import/{baseline} time ratio: {results['csv']['seconds'] / results[baseline]['seconds']:.2f}× "
                  f"(target ≤ 2.5×)")


if __name__ == "__main__":
    main()
