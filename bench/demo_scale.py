"""Build the demo company at a given scale into a temporary encrypted database and print the
ledger size, the elapsed time (total and per step) and the process's peak RSS.

    python bench/demo_scale.py --scale 50          # ~1,000,000 ledger lines
    python bench/demo_scale.py --scale 1 --keep    # keep the database and print its path

Target (demo builder brief): scale 50 in under ~2–3 minutes.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ["CIO_KEYRING"] = "memory"  # never touch the real keyring from a benchmark


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    args = parser.parse_args(argv)

    from cio_desktop.config import load_settings
    from cio_desktop.security.dbkey import DbKey
    from cio_desktop.services.demo import build_demo
    from cio_desktop.services.workspace import open_workspace

    root = Path(tempfile.mkdtemp(prefix="cio-demo-bench-"))
    settings = load_settings({"db": str(root / "demo.db"), "data_dir": root / "data", "log_dir": root / "logs",
                              "cache_dir": root / "cache", "config_dir": root / "config"}, environ={})
    key = DbKey(raw=os.urandom(32), origin="bench")
    fixed_now = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    steps: list[tuple[str, float]] = []
    t0 = time.perf_counter()

    def progress(step: str, fraction: float) -> None:
        if not step.startswith("ledger "):
            steps.append((step, time.perf_counter() - t0))

    ws = open_workspace(settings, create=True, key=key, clock=lambda: fixed_now)
    try:
        result = build_demo(ws.ctx, seed=args.seed, scale=args.scale, password="Bench-Password-2026!",
                            progress=progress)
        elapsed = time.perf_counter() - t0
    finally:
        ws.close()
    size_mib = sum(p.stat().st_size for p in root.glob("demo.db*")) / (1024 * 1024)
    print(f"scale            {args.scale}")
    print(f"ledger lines     {result.transactions:,}")
    print(f"accounts         {result.accounts}  portfolios {result.portfolios}  assets {result.assets}  "
          f"prices {result.prices:,}  fx rates {result.fx_rates:,}")
    print(f"elapsed          {elapsed:.1f} s  ({result.transactions / elapsed:,.0f} lines/s overall)")
    for (name, start), (_, end) in zip(steps, steps[1:] + [("end", elapsed)]):
        print(f"  {name:18} {end - start:6.1f} s")
    print(f"peak RSS         {peak_rss_mib():.0f} MiB")
    print(f"database size    {size_mib:.0f} MiB (incl. WAL)")
    if args.keep:
        print(f"database         {root / 'demo.db'}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
