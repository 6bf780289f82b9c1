"""Team mode and backups, measured (run by hand: ``python bench/team.py``; not in CI).

Prints: demo-database backup and restore times on SQLCipher and on a throwaway PostgreSQL
server (TLS verify-full), and how long N workstations take to approve+execute M payments on
PostgreSQL with exactly-once execution checked.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("CIO_KEYRING", "memory")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import TEST_KEY, TEST_PASSWORD, TEST_TOTP_SECRET, FakeClock, make_settings  # noqa: E402
from tests.pg_cluster import PgCluster  # noqa: E402


def _timed(label: str, fn):  # noqa: ANN001, ANN202
    t0 = time.perf_counter()
    out = fn()
    print(f"{label:48s} {time.perf_counter() - t0:8.2f} s")
    return out


def main() -> int:
    from cio_desktop.services.demo import build_demo
    from cio_desktop.services.workspace import open_workspace
    from tests.property.helpers import make_session

    root = Path(tempfile.mkdtemp(prefix="cio-bench-team-"))
    cluster = _timed("start throwaway PostgreSQL (initdb + TLS)", lambda: PgCluster().start())
    try:
        targets = {"sqlcipher": None, "postgres": cluster.create_database("bench_demo")}
        for kind, url in targets.items():
            settings = make_settings(root / kind, db=url) if url else make_settings(root / kind)
            ws = _timed(f"[{kind}] open + migrate", lambda: open_workspace(settings, create=True, key=TEST_KEY))
            _timed(f"[{kind}] build demo (seed 7)", lambda: build_demo(ws.ctx, seed=7, scale=1, password=TEST_PASSWORD,
                                                                      totp_secret=TEST_TOTP_SECRET))
            make_session(ws, "admin")
            out = root / f"{kind}.backup"
            res = _timed(f"[{kind}] backup", lambda: ws.backup.backup(out))
            print(f"{'':48s} {res.size / 1e6:8.2f} MB")
            _timed(f"[{kind}] restore (checks + replace)", lambda: ws.backup.restore(out))
            ws.close()

        from tests.integration.test_payments import known_beneficiary, open_account, schedule

        url = cluster.create_database("bench_race")
        clock = FakeClock()
        ws = open_workspace(make_settings(root / "race", db=url), create=True, key=TEST_KEY, clock=clock)
        from cio_desktop.security.permissions import Role
        from cio_desktop.services.users import provision_user
        with ws.db.unit_of_work() as uow:
            for role in Role:
                provision_user(uow, ws.ctx, username=role.value, role=role.value, password=TEST_PASSWORD,
                               actor="bench", totp_secret=TEST_TOTP_SECRET)
        account = open_account(ws, opening="10000000", minimum="0")
        known_beneficiary(ws)
        ids = [schedule(ws, account.id, f"{10 + i}.00").payment.id for i in range(200)]
        for pid in ids:
            make_session(ws, "approver")
            ws.payments.approve(pid, "ok")

        def worker() -> None:
            other = open_workspace(ws.ctx.settings, key=TEST_KEY, clock=clock)
            make_session(other, "treasurer")
            for pid in ids:
                try:
                    other.payments.execute_transaction(pid)
                except Exception:  # noqa: BLE001
                    pass
            other.close()

        def race() -> None:
            threads = [threading.Thread(target=worker) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        _timed("[postgres] 4 workstations race on 200 payments", race)
        from sqlalchemy import func, select

        from cio_desktop.storage.models import PaymentEvent
        with ws.db.unit_of_work(write=False) as uow:
            n = uow.execute(select(func.count()).select_from(PaymentEvent)
                            .where(PaymentEvent.to_status == "executed")).scalar_one()
        print(f"{'executed events (must be 200)':48s} {n:8d}")
        ws.close()
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
