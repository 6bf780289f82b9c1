"""Start-up time: ``python -m cio_desktop --demo --exit-after-start``, N times.

A first run builds the demo database (not timed). Each timed run reports two figures:

- *to window*: from just before the process is spawned to the moment the main window is shown
  (the app prints ``window shown at <epoch>`` once the window is up, signed in as the demo
  treasurer, and its first panel has requested its data);
- *process*: the whole process, including shutdown.

Usage: ``python bench/startup.py [-n 10] [--keep DIR]``. Uses a temporary data dir, the
in-memory keyring (so the demo database uses the published demo key) and the offscreen Qt
platform unless QT_QPA_PLATFORM is already set.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHOWN = re.compile(r"window shown at (\d+\.\d+)")


def run_once(env: dict[str, str], cwd: Path) -> tuple[float, float]:
    start = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cio_desktop", "--demo", "--exit-after-start"],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stderr}")
    match = SHOWN.search(proc.stdout)
    if not match:
        raise SystemExit(f"no 'window shown' line in the output:\n{proc.stdout}")
    return float(match.group(1)) - start, total


def summary(label: str, values: list[float]) -> str:
    return (f"{label:10} median {statistics.median(values):6.3f} s   min {min(values):6.3f} s   "
            f"max {max(values):6.3f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="timed runs (default 10)")
    parser.add_argument("--keep", metavar="DIR", help="use (and keep) this data dir")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cio-bench-"))
    env = dict(os.environ)
    for name in ("DATA", "LOG", "CACHE", "CONFIG"):
        env[f"CIO_{name}_DIR"] = str(root / name.lower())
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["CIO_KEYRING"] = "memory"
    env.pop("CIO_DB_PASSPHRASE", None)

    t0 = time.perf_counter()
    run_once(env, root)
    print(f"first run (builds the demo database): {time.perf_counter() - t0:.2f} s")
    to_window, process = [], []
    for i in range(args.n):
        w, p = run_once(env, root)
        to_window.append(w)
        process.append(p)
        print(f"  run {i + 1:2}: window {w:.3f} s, process {p:.3f} s")
    print(f"\n{args.n} starts of an existing demo database ({sys.platform}, "
          f"QT_QPA_PLATFORM={env['QT_QPA_PLATFORM']}):")
    print(summary("to window", to_window))
    print(summary("process", process))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
