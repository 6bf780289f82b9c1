"""Crash safety on PostgreSQL (team mode): the same three scenarios as test_crash_safety
(crash_scenarios), each killed with SIGKILL at 20 random moments, each run on its own clone of
a golden database on the throwaway test server (tests/postgres_fixtures.py; skipped where the
server binaries are not installed). After every kill: ``amcheck`` finds every table and B-tree
index consistent (``verify_heapam``, ``bt_index_parent_check`` with ``heapallindexed``), every
foreign key holds, the workspace opens, the audit chain verifies, every batch is wholly present
or wholly absent, and finishing the work gives exactly the full result.

Smaller than the SQLCipher case, since a clone per kill costs more here: the import is 4
statements × 600 lines, the sync 12 pages of 3 lines (the same), the payment run 2 batches of
4 and 3 single payments.

A killed client cannot damage PostgreSQL's files (the server survives and rolls the transaction
back), so what this proves is the application's side: one batch = one transaction, and no
connection state that outlives the client keeps a half-written batch visible."""

from __future__ import annotations

import pytest

from tests.reliability.conftest import SYNC_PAGE
from tests.reliability.crash_harness import PostgresBackend, campaign
from tests.reliability.crash_scenarios import ImportScenario, PaymentsScenario, SyncScenario


@pytest.fixture(scope="module")
def postgres(pg_cluster) -> PostgresBackend:  # noqa: ANN001
    return PostgresBackend(pg_cluster)


def test_import_killed_at_20_points_on_postgres(tmp_path, postgres, pg_golden_empty):
    result = campaign(postgres, pg_golden_empty, ImportScenario(tmp_path, 4, 600), tmp_path)
    assert "absent" in result.outcomes


def test_sync_killed_at_20_points_on_postgres(tmp_path, postgres, pg_golden_empty, sync_server, pki):
    scenario = SyncScenario(sync_server, pki.ca_cert, SYNC_PAGE)
    campaign(postgres, pg_golden_empty, scenario, tmp_path)


def test_payment_run_killed_at_20_points_on_postgres(tmp_path, postgres, pg_golden_empty):
    scenario = PaymentsScenario(batches=2, per_batch=4, singles=3)
    campaign(postgres, pg_golden_empty, scenario, tmp_path)
