"""Cash forecast speed and accuracy: 50 accounts × 5 years of daily history, a 13-week forecast
with P10/P50/P90 bands, and the rolling-origin backtest against the seasonal-naive baseline.

    python bench/forecast.py                       # 50 accounts × 5 years, 5 timed runs
    python bench/forecast.py --accounts 10 --years 2 --runs 3
    python bench/forecast.py --demo                # also the demo company through the service

The synthetic ledger per account (seeded): daily customer receipts with weekday and
month-of-year seasonality, a weekly supplier run on Thursdays, monthly salaries to 20 employees
on the last business day (recurring), rent on the 1st (recurring), a quarterly tax payment, and
noise — about 9 lines per business day per account (≈ 590k lines at the default size).

Timed: ``domain.cashflow.compute_forecast`` (recurring detection, one multi-output ridge fit for
all accounts, bands, per-account and consolidated rows) on lines already in memory — the
forecast itself. Loading the lines from an encrypted database is a separate cost (``--demo``
shows it for the demo company's 21.6k lines via ``ForecastService.forecast_cashflow``).
Target: < 2 s. Accuracy: consolidated weekly net flow, 6 origins 4 weeks apart, 13 weeks each;
MAE of the model vs seasonal-naive (the same weekday 52 weeks earlier) and the share of
actuals inside the P10–P90 band, before calibration and after it (band scale estimated on the
three older origins, coverage measured on the three newer ones: an out-of-sample check).
Wall-clock figures depend on what else the machine is doing.
"""

from __future__ import annotations

import argparse
import calendar
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cio_desktop.domain import cashflow  # noqa: E402
from cio_desktop.domain import forecasting as fc  # noqa: E402
from cio_desktop.domain.recurring import FlowLine  # noqa: E402

TARGET_S = 2.0
SEASON = np.array([0.90, 0.95, 1.05, 0.97, 1.00, 1.04, 0.93, 0.72, 1.02, 1.10, 1.22, 1.30])


def synthetic(accounts: int, years: int, start: date, seed: int = 1) -> tuple[list[cashflow.AccountInfo], list[FlowLine]]:
    rng = np.random.default_rng(seed)
    first = start - timedelta(days=365 * years)
    days = [first + timedelta(days=i) for i in range((start - first).days)]
    infos, lines = [], []
    nid = 0
    for a in range(accounts):
        acc_id = a + 1
        cur = ("EUR", "USD", "GBP")[a % 3]
        size = float(rng.lognormal(np.log(20000), 0.5))
        infos.append(cashflow.AccountInfo(acc_id, f"Account {acc_id}", cur, size * 60))
        staff = rng.lognormal(np.log(size / 8), 0.2, 20)
        for d in days:
            if d.weekday() >= 5:
                continue
            month_days = [x for x in range(1, calendar.monthrange(d.year, d.month)[1] + 1)
                          if date(d.year, d.month, x).weekday() < 5]
            growth = 1.0 + 0.04 * (d - first).days / 365
            demand = SEASON[d.month - 1] * growth * (1.25 if d.weekday() == 0 else 1.0)
            for k in range(int(rng.poisson(4))):
                nid += 1
                lines.append(FlowLine(nid, acc_id, d, float(round(rng.lognormal(np.log(size * demand / 4), 0.6), 2)),
                                      f"Customer {int(rng.integers(0, 60))}", "customers"))
            if d.weekday() == 3:
                for k in range(int(rng.poisson(8))):
                    nid += 1
                    lines.append(FlowLine(nid, acc_id, d, -float(round(rng.lognormal(np.log(size / 2.2), 0.7), 2)),
                                          f"Supplier {int(rng.integers(0, 40))}", "suppliers"))
            if d.day == month_days[-1]:
                for e, pay in enumerate(staff):
                    nid += 1
                    lines.append(FlowLine(nid, acc_id, d, -float(round(pay * growth, 2)), f"Employee {a}-{e}", "salaries"))
            if d.day == month_days[0]:
                nid += 1
                lines.append(FlowLine(nid, acc_id, d, -round(size * 1.5, 2), f"Landlord {a}", "rent"))
            if d.month in (1, 4, 7, 10) and d.day == month_days[9]:
                nid += 1
                lines.append(FlowLine(nid, acc_id, d, -float(round(size * 6 * rng.uniform(0.8, 1.2), 2)), "Tax office",
                                      "taxes"))
    return infos, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=50)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--demo", action="store_true", help="also time the demo company through the service")
    args = ap.parse_args(argv)
    start = date(2026, 11, 2)
    t0 = time.perf_counter()
    accounts, lines = synthetic(args.accounts, args.years, start)
    fx = {"EUR": 1.0, "USD": 0.92, "GBP": 1.17}
    print(f"synthetic ledger: {args.accounts} accounts × {args.years} years, {len(lines):,} lines "
          f"(generated in {time.perf_counter() - t0:.1f} s)")
    times = []
    res = None
    for _ in range(args.runs):
        t = time.perf_counter()
        res = cashflow.compute_forecast(accounts, lines, (), fx, "EUR", start, 13, "week")
        times.append(time.perf_counter() - t)
    assert res is not None
    print(f"13-week forecast with bands: min {min(times):.2f} s, median {statistics.median(times):.2f} s "
          f"(target < {TARGET_S:.0f} s: {'met' if statistics.median(times) < TARGET_S else 'NOT met'}); "
          f"{len(res.recurring)} recurring series, {len(res.rows)} consolidated rows, "
          f"{sum(len(r) for r in res.by_account.values())} account rows")
    t = time.perf_counter()
    acc = cashflow.backtest(accounts, lines, fx, "EUR", horizon=13, granularity="week", origins=6, step_days=28)
    print(f"backtest ({acc.origins} origins × 13 weeks, {time.perf_counter() - t:.1f} s): model MAE "
          f"{acc.mae_model:,.0f} vs seasonal-naive {acc.mae_baseline:,.0f} → skill {acc.skill:+.1%} "
          f"({'beats' if acc.beats_baseline else 'does NOT beat'} the baseline); P10–P90 coverage "
          f"{acc.coverage_80:.0%} uncalibrated")
    half = len(acc.z) // 2
    older = fc.Accuracy(0, 0, 0.0, 0.0, 0.0, 0.0, acc.z[half:])
    newer = fc.Accuracy(0, 0, 0.0, 0.0, 0.0, 0.0, acc.z[:half])
    scale = older.band_scale(0.8)
    print(f"calibration (what `analytics train forecast` stores): band scale {scale:.2f} estimated on the 3 older "
          f"origins puts {newer.coverage_at(scale):.0%} of the 3 newer origins' actuals inside P10–P90 (target 80 %)")
    if args.demo:
        _demo()
    return 0


def _demo() -> None:
    import os
    import tempfile

    os.environ.setdefault("CIO_KEYRING", "memory")
    from cio_desktop.config import load_settings
    from cio_desktop.security.dbkey import DbKey
    from cio_desktop.services.demo import build_demo
    from cio_desktop.services.workspace import open_workspace

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = load_settings({"db": str(root / "demo.db"), "data_dir": root / "d", "log_dir": root / "l",
                                  "cache_dir": root / "c", "config_dir": root / "k"}, environ={})
        ws = open_workspace(settings, create=True, key=DbKey(raw=bytes(range(32)), origin="bench"))
        try:
            build_demo(ws.ctx, seed=7, password="Bench-Demo-Passw0rd-1")
            ws.auth.login("analyst", "Bench-Demo-Passw0rd-1")
            times = []
            for _ in range(3):
                t = time.perf_counter()
                ws.forecasts.forecast_cashflow(13, "week")
                times.append(time.perf_counter() - t)
            acc = ws.forecasts.backtest(13, "week", 6)
            print(f"demo company through the service (load + forecast): median {statistics.median(times):.2f} s; "
                  f"backtest skill {acc.skill:+.1%} vs seasonal-naive, P10–P90 coverage {acc.coverage_80:.0%}")
        finally:
            ws.close()


if __name__ == "__main__":
    raise SystemExit(main())
