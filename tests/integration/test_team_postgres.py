"""Team mode on a real PostgreSQL server (throwaway cluster, TLS verify-full): workstations as
separate Workspaces (own engines) racing to approve and execute the same payments, concurrent
audit writers, lost updates, the change feed (LISTEN/NOTIFY), and bad URLs / keys.

These run on PostgreSQL whatever ``--backend`` says; they skip where no server is installed.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import func, select

from cio_desktop.errors import CioError, ConcurrentUpdate, DatabaseOpenError
from cio_desktop.events import Event
from cio_desktop.security.dbkey import DbKey
from cio_desktop.services.audit import audit_log, verify_chain
from cio_desktop.services.team import ChangeFeed
from cio_desktop.services.workspace import open_workspace
from cio_desktop.storage.models import (ApprovalDecision, AuditEntry, Payment, PaymentDailyLimit,
                                        PaymentEvent)
from tests.conftest import TEST_KEY, make_settings
from tests.integration.test_payments import (OTHER_IBAN, grant_approvers, known_beneficiary, open_account,
                                             schedule)
from tests.postgres_fixtures import clone_url, discard, reopen
from tests.property.helpers import make_session

APPROVERS = ("approver", "admin", "auditor")
PAYMENTS = 10


def _run_threads(n: int, target) -> list[BaseException]:  # noqa: ANN001
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def wrapped(i: int) -> None:
        try:
            target(i, barrier)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return errors


def _payments(ws, count: int = PAYMENTS) -> list[int]:  # noqa: ANN001
    account = open_account(ws, opening="100000", minimum="0")
    known_beneficiary(ws)
    known_beneficiary(ws, OTHER_IBAN, "Lyon Acier SA")
    ids = []
    for i in range(count):
        iban, name = (OTHER_IBAN, "Lyon Acier SA") if i % 2 else ("DE89370400440532013000", "ACME GmbH")
        ids.append(schedule(ws, account.id, f"{100 + i}.00", iban=iban, name=name).payment.id)
    return ids


def test_workspace_runs_on_postgres_over_verified_tls(pg_ws):
    assert pg_ws.db.kind == "postgresql"
    with pg_ws.db.engine.connect() as conn:
        ssl_on = conn.exec_driver_sql("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").one()
    assert ssl_on[0] is True and ssl_on[1] in ("TLSv1.2", "TLSv1.3")
    assert pg_ws.db.engine.dialect.name == "postgresql"
    make_session(pg_ws, "auditor")
    assert pg_ws.audit.verify().ok


def test_approvers_at_different_workstations_never_double_approve(pg_ws, clock):
    ids = _payments(pg_ws)
    grant_approvers(pg_ws, "admin", "auditor")
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def worker(i: int, barrier: threading.Barrier) -> None:
        other = reopen(pg_ws, clock)
        try:
            make_session(other, APPROVERS[i % len(APPROVERS)])
            order = ids[:]
            random.Random(i).shuffle(order)
            barrier.wait()
            for pid in order:
                try:
                    other.payments.approve(pid, f"ok from {i}")
                    key = "approved"
                except ConcurrentUpdate:
                    key = "lost the race"
                except CioError as exc:
                    key = type(exc).__name__
                with lock:
                    outcomes[key] += 1
        finally:
            other.close()

    assert not _run_threads(6, worker)
    assert outcomes["approved"] >= 1
    with pg_ws.db.unit_of_work(write=False) as uow:
        approved_events = Counter(uow.execute(select(PaymentEvent.payment_id)
                                              .where(PaymentEvent.to_status == "approved")).scalars())
        per_user = uow.execute(select(ApprovalDecision.request_id, ApprovalDecision.approver,
                                      func.count()).group_by(ApprovalDecision.request_id,
                                                             ApprovalDecision.approver)).all()
        statuses = dict(uow.execute(select(Payment.id, Payment.status)).all())
        assert verify_chain(uow).ok
    assert approved_events == Counter(ids)                 # each became approved exactly once
    assert all(n == 1 for *_, n in per_user)               # nobody counted twice
    assert all(statuses[i] == "approved" for i in ids)


def test_executors_at_different_workstations_execute_each_payment_once(pg_ws, clock):
    ids = _payments(pg_ws)
    for pid in ids:
        make_session(pg_ws, "approver")
        pg_ws.payments.approve(pid, "ok")
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def worker(i: int, barrier: threading.Barrier) -> None:
        other = reopen(pg_ws, clock)
        try:
            make_session(other, "treasurer")
            order = ids[::-1] if i % 2 else ids[:]
            barrier.wait()
            for pid in order:
                try:
                    if pid % 3 == i % 3:
                        other.payments.execute_due()
                    else:
                        other.payments.execute_transaction(pid)
                    key = "ok"
                except ConcurrentUpdate:
                    key = "lost the race"
                except CioError as exc:
                    key = type(exc).__name__
                with lock:
                    outcomes[key] += 1
        finally:
            other.close()

    assert not _run_threads(6, worker)
    with pg_ws.db.unit_of_work(write=False) as uow:
        executed = Counter(uow.execute(select(PaymentEvent.payment_id)
                                       .where(PaymentEvent.to_status == "executed")).scalars())
        audited = Counter(int(e) for e in uow.execute(select(AuditEntry.entity_id)
                                                      .where(AuditEntry.action == "payment.executed")).scalars())
        assert verify_chain(uow).ok
    assert executed == Counter(ids) and audited == Counter(ids)


def test_concurrent_audit_writers_keep_one_valid_chain(pg_ws):
    per_thread = 25

    def worker(i: int, barrier: threading.Barrier) -> None:
        other = reopen(pg_ws)
        try:
            barrier.wait()
            for n in range(per_thread):
                with other.db.unit_of_work() as uow:
                    audit_log(uow, actor=f"ws{i}", action="test.write", entity="test", entity_id=n)
        finally:
            other.close()

    before = _audit_count(pg_ws)
    assert not _run_threads(8, worker)
    assert _audit_count(pg_ws) == before + 8 * per_thread
    with pg_ws.db.unit_of_work(write=False) as uow:
        result = verify_chain(uow)
    assert result.ok, result.message()


def _audit_count(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def _limit(ws, clock) -> None:  # noqa: ANN001
    with ws.db.unit_of_work() as uow:
        uow.add(PaymentDailyLimit(username="treasurer", currency="EUR", limit_minor=100_000,
                                  updated_by="admin", updated_at=clock()))


def test_two_editors_at_once_the_second_gets_who_and_when(pg_ws, clock):
    _limit(pg_ws, clock)
    other = reopen(pg_ws, clock)
    try:
        with pytest.raises(ConcurrentUpdate) as info:
            with pg_ws.db.unit_of_work() as uow:                  # A opens the row for editing…
                mine = uow.get(PaymentDailyLimit, ("treasurer", "EUR"))
                with other.db.unit_of_work() as uow2:             # …B saves first…
                    theirs = uow2.get(PaymentDailyLimit, ("treasurer", "EUR"))
                    theirs.limit_minor, theirs.updated_by = 250_000, "approver"
                mine.limit_minor, mine.updated_by = 50_000, "treasurer"   # …A must not overwrite B
        msg = str(info.value)
        assert "payment daily limit ('treasurer', 'EUR') was changed by approver at 2026-11-02 09:00:00 UTC" in msg
        assert "reload" in msg
        with pg_ws.db.unit_of_work(write=False) as uow:
            assert uow.get(PaymentDailyLimit, ("treasurer", "EUR")).limit_minor == 250_000
    finally:
        other.close()


def test_edit_of_a_stale_screen_is_refused_with_who_and_when(pg_ws, clock):
    from cio_desktop.storage.concurrency import expect_version

    _limit(pg_ws, clock)
    with pg_ws.db.unit_of_work(write=False) as uow:
        seen_version = uow.get(PaymentDailyLimit, ("treasurer", "EUR")).version
    other = reopen(pg_ws, clock)
    try:
        with other.db.unit_of_work() as uow:
            row = uow.get(PaymentDailyLimit, ("treasurer", "EUR"))
            row.limit_minor, row.updated_by = 1, "admin"
    finally:
        other.close()
    with pytest.raises(ConcurrentUpdate) as info:
        with pg_ws.db.unit_of_work() as uow:
            row = uow.get(PaymentDailyLimit, ("treasurer", "EUR"))
            expect_version(pg_ws.db, uow, row, seen_version)
            row.limit_minor = 99
    assert "changed by admin at" in str(info.value)


def test_change_feed_brings_another_workstations_change_onto_the_bus(pg_ws, clock):
    seen: list[Event] = []
    got = threading.Event()

    def on_change(event: Event) -> None:
        seen.append(event)
        if event.topic == "payments.changed":
            got.set()

    feed = ChangeFeed(pg_ws.db, pg_ws.ctx.bus, poll_seconds=30)  # 30 s: only NOTIFY can wake it in time
    pg_ws.ctx.bus.subscribe("*", on_change)
    feed.start()
    other = reopen(pg_ws, clock)
    try:
        time.sleep(0.3)  # let LISTEN take effect (a notification before it is caught by the first poll)
        account = open_account(other, opening="1000", minimum="0")
        known_beneficiary(other)
        pid = schedule(other, account.id, "10.00").payment.id
        assert got.wait(20), [e.topic for e in seen]
    finally:
        feed.stop()
        other.close()
    payment_events = [e for e in seen if e.topic == "payments.changed"]
    assert any(pid in e.data["ids"] and e.data["remote"] for e in payment_events)
    assert any(e.topic == "team.changed" and "treasurer" in e.data["actors"] for e in seen)


# -- bad input: nothing changed, a clear message ----------------------------------------------

def _settings(tmp_path, url: str, **kw):  # noqa: ANN001, ANN003, ANN202
    return make_settings(tmp_path, db=url, **kw)


def test_unreachable_server_is_a_clear_message(tmp_path, pg_cluster):
    url = pg_cluster.url("postgres").replace(f":{pg_cluster.port}/", ":1/")
    with pytest.raises(DatabaseOpenError) as info:
        open_workspace(_settings(tmp_path, url), key=TEST_KEY)
    assert "not reachable" in str(info.value) and "pg-test-Secret" not in str(info.value)


def test_wrong_password_and_unknown_database(tmp_path, pg_cluster):
    with pytest.raises(DatabaseOpenError) as info:
        open_workspace(_settings(tmp_path, pg_cluster.url("postgres", password="nope")), key=TEST_KEY)
    assert "password was not accepted" in str(info.value) and "nope" not in str(info.value)
    with pytest.raises(DatabaseOpenError) as info:
        open_workspace(_settings(tmp_path, pg_cluster.url("no_such_db")), key=TEST_KEY)
    assert "does not exist" in str(info.value)


def test_server_certificate_that_does_not_verify_is_refused(tmp_path, pg_cluster):
    untrusted = pg_cluster.certs.self_signed_cert       # a CA file that did not sign the server
    with pytest.raises(DatabaseOpenError) as info:
        open_workspace(_settings(tmp_path, pg_cluster.url("postgres", rootcert=untrusted)), key=TEST_KEY)
    assert "could not be verified" in str(info.value)


def test_wrong_host_name_is_refused(tmp_path, pg_cluster):
    # connect to the test server's address, but under a name its certificate does not carry
    url = pg_cluster.url("postgres", host="bank.example.org") + "&hostaddr=127.0.0.1"
    with pytest.raises(DatabaseOpenError) as info:
        open_workspace(_settings(tmp_path, url), key=TEST_KEY)
    assert "another host name" in str(info.value)


@pytest.mark.parametrize("mode", ["disable", "prefer", "require", "verify-ca"])
def test_weaker_sslmode_refused_unless_host_allowed(tmp_path, pg_cluster, pg_golden_empty, mode):
    url = pg_cluster.url(pg_golden_empty.name, sslmode=mode)
    with pytest.raises(DatabaseOpenError) as info:
        open_workspace(_settings(tmp_path, url), key=TEST_KEY)
    assert f"refusing sslmode={mode} for localhost" in str(info.value)
    assert "allow_insecure_hosts" in str(info.value)


def test_allowed_insecure_host_is_audited(tmp_path, pg_cluster, pg_golden_empty):
    url = clone_url(pg_golden_empty).replace("sslmode=verify-full", "sslmode=require")
    ws = open_workspace(_settings(tmp_path, url, allow_insecure_hosts="localhost"), key=TEST_KEY)
    try:
        with ws.db.unit_of_work(write=False) as uow:
            entries = list(uow.execute(select(AuditEntry).where(AuditEntry.action == "tls.insecure_allowed"))
                           .scalars())
        assert [e.entity_id for e in entries] == ["localhost"]
    finally:
        ws.close()
        discard(ws.db)


def test_plain_text_is_refused_by_the_server_even_when_allowed(tmp_path, pg_cluster, pg_golden_empty):
    url = pg_cluster.url(pg_golden_empty.name, sslmode="disable")
    with pytest.raises(DatabaseOpenError) as info:
        open_workspace(_settings(tmp_path, url, allow_insecure_hosts="localhost"), key=TEST_KEY)
    assert "cannot connect" in str(info.value)


def test_wrong_team_key_is_refused_and_nothing_changes(tmp_path, pg_ws):
    before = _audit_count(pg_ws)
    with pytest.raises(DatabaseOpenError) as info:
        open_workspace(pg_ws.ctx.settings, key=DbKey(passphrase="not the team key", origin="test"))
    assert "cannot be unlocked" in str(info.value)
    assert _audit_count(pg_ws) == before


def test_team_key_comes_from_the_passphrase_not_a_new_random_key(tmp_path, pg_ws, monkeypatch):
    monkeypatch.delenv("CIO_DB_PASSPHRASE", raising=False)
    with pytest.raises(DatabaseOpenError) as info:
        open_workspace(pg_ws.ctx.settings)                 # no key anywhere: refuse, never invent one
    assert "CIO_DB_PASSPHRASE" in str(info.value) and "pg-test-Secret" not in str(info.value)


def test_schema_newer_than_the_app_is_refused(tmp_path, pg_ws):
    with pg_ws.db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(DatabaseOpenError) as info:
        reopen(pg_ws)
    assert "newer than this CIO Desktop" in str(info.value)


def test_beneficiary_dates_roundtrip(pg_ws):
    # DATE and timezone-aware timestamps survive PostgreSQL exactly as on SQLCipher
    known_beneficiary(pg_ws)
    from cio_desktop.storage.models import Beneficiary
    with pg_ws.db.unit_of_work(write=False) as uow:
        b = uow.execute(select(Beneficiary)).scalars().first()
    assert b.first_used_on == date(2025, 1, 2) and b.created_at.tzinfo is not None


def test_workstations_starting_at_once_on_a_new_database_migrate_once(tmp_path, pg_cluster):
    from cio_desktop.storage import migrate

    url = pg_cluster.create_database("fresh_team_db")
    opened, errors = [], []

    def start(i: int, barrier: threading.Barrier) -> None:
        barrier.wait()
        opened.append(open_workspace(make_settings(tmp_path / f"w{i}", db=url), create=True, key=TEST_KEY))

    errors = _run_threads(4, start)
    try:
        assert not errors, errors
        assert len(opened) == 4
        assert migrate.current_revision(opened[0].db) == migrate.head_revision()
    finally:
        for w in opened:
            w.close()
        pg_cluster.drop_database("fresh_team_db")
