"""Concurrent execution: several threads — and several processes — each with its own Workspace
(own engine, own sessions) on the same SQLCipher file execute the same payments at once.
Each payment executes exactly once: one ``executed`` event, one audit entry, and the funds
arithmetic still holds."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from cio_desktop.errors import CioError, ConcurrentUpdate
from cio_desktop.services.audit import verify_chain
from cio_desktop.services.workspace import open_workspace
from cio_desktop.storage.models import AuditEntry, Payment, PaymentEvent
from tests.conftest import TEST_KEY
from tests.integration.test_payments import (OTHER_IBAN, approve, known_beneficiary, open_account,
                                             schedule)
from tests.property.helpers import make_session

THREADS = 6
PAYMENTS = 12


def _prepare(ws, clock):  # noqa: ANN001, ANN202
    account = open_account(ws, opening="100000", minimum="0")
    known_beneficiary(ws)
    known_beneficiary(ws, OTHER_IBAN, "Lyon Acier SA")
    ids = []
    for i in range(PAYMENTS):
        iban, name = (OTHER_IBAN, "Lyon Acier SA") if i % 2 else ("DE89370400440532013000", "ACME GmbH")
        p = schedule(ws, account.id, f"{1000 + i}.00", iban=iban, name=name, batch="" if i < 8 else "RUN-C").payment
        approve(ws, p.id)
        ids.append(p.id)
    return account, ids


def _assert_each_executed_once(ws, ids: list[int]) -> None:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        executed = Counter(uow.execute(select(PaymentEvent.payment_id).where(
            PaymentEvent.to_status == "executed")).scalars())
        audited = Counter(int(e) for e in uow.execute(select(AuditEntry.entity_id).where(
            AuditEntry.action == "payment.executed")).scalars())
        statuses = dict(uow.execute(select(Payment.id, Payment.status)).all())
        assert verify_chain(uow).ok
    assert executed == Counter(ids) and audited == Counter(ids)
    assert all(statuses[i] == "executed" for i in ids)


def test_threads_with_separate_workspaces_execute_each_payment_once(ws, clock, tmp_path):
    account, ids = _prepare(ws, clock)
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def worker(n: int) -> None:
        other = open_workspace(ws.ctx.settings, key=TEST_KEY, clock=clock)  # SQLCipher file or PostgreSQL
        try:
            make_session(other, "treasurer")
            order = ids[:]
            random.Random(n).shuffle(order)
            barrier.wait()
            for pid in order:
                try:
                    if pid % 3 == n % 3:
                        other.payments.execute_due()
                    elif pid in ids[8:] and n % 2:
                        other.payments.execute_batch("RUN-C")
                    else:
                        other.payments.execute_transaction(pid)
                    with lock:
                        outcomes["ok"] += 1
                except ConcurrentUpdate:
                    with lock:
                        outcomes["lost the race"] += 1
                except CioError as exc:  # e.g. the batch has nothing left to execute
                    with lock:
                        outcomes[type(exc).__name__] += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            other.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert outcomes["ok"] > 0
    _assert_each_executed_once(ws, ids)
    make_session(ws, "treasurer")
    funds = ws.payments.verify_funds(account.id)
    assert funds.executed_unbooked.amount == sum(1000 + i for i in range(PAYMENTS))
    assert funds.available.amount == 100000 - sum(1000 + i for i in range(PAYMENTS))


CHILD = r"""
import json, sys
from datetime import datetime, timezone
sys.path.insert(0, {root!r})
from cio_desktop.services.workspace import open_workspace
from tests.conftest import TEST_KEY, make_settings
from tests.property.helpers import make_session
from pathlib import Path
ws = open_workspace(make_settings(Path({tmp!r}), db={db!r}), key=TEST_KEY,
                    clock=lambda: datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc))
make_session(ws, "treasurer")
done = []
for pid in {ids!r}:
    try:
        done.append(ws.payments.execute_transaction(pid).status)
    except Exception as exc:
        done.append(type(exc).__name__)
report = ws.payments.execute_due()
ws.close()
print(json.dumps({{"statuses": done, "executed_by_tick": report.executed}}))
"""


def test_processes_execute_each_payment_once(ws, clock, tmp_path):
    _, ids = _prepare(ws, clock)
    root = str(Path(__file__).resolve().parents[2])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")}
    env["CIO_KEYRING"] = "memory"
    procs = []
    for n in range(3):
        order = ids[:] if n % 2 == 0 else ids[::-1]
        script = CHILD.format(root=root, db=ws.ctx.settings.db_target, tmp=str(tmp_path / f"p{n}"), ids=order)
        procs.append(subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env, cwd=root))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert all(set(r["statuses"]) == {"executed"} for r in results)  # idempotent: all see it executed
    assert all(r["executed_by_tick"] == [] for r in results)
    _assert_each_executed_once(ws, ids)
