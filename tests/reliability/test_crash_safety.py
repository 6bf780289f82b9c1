"""Crash safety on the SQLCipher file: a statement import (8 statements × 1,500 lines), an API
sync (12 pages of 3 lines) and a payment-execution run (3 batches of 5 and 4 single payments),
each killed with SIGKILL at 20 random moments (see crash_harness; the scenarios and their checks
are crash_scenarios, shared with the PostgreSQL variant). After every kill the database opens,
passes SQLite's and SQLCipher's integrity checks and the audit chain verifies, and every batch
is wholly present or wholly absent; finishing the work afterwards gives exactly the full result.

Set ``CIO_CRASH_SEED`` to explore other kill moments (the default seed keeps CI repeatable).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.conftest import SYNC_PAGE
from tests.reliability.crash_harness import SqlcipherBackend, campaign
from tests.reliability.crash_scenarios import ImportScenario, PaymentsScenario, SyncScenario

BACKEND = SqlcipherBackend()


@pytest.fixture(scope="module")
def golden_file(golden_empty) -> Path:  # noqa: ANN001
    """The golden database as a file (these tests kill a writer of the SQLCipher file; on
    ``--backend postgres`` the golden databases are server templates instead)."""
    if not isinstance(golden_empty, Path):
        pytest.skip("about the SQLCipher file (the PostgreSQL variant is test_crash_safety_postgres)")
    return golden_empty


def test_import_killed_at_20_points_is_all_or_nothing(tmp_path, golden_file):
    result = campaign(BACKEND, golden_file, ImportScenario(tmp_path, 8, 1500, parse_worker=True), tmp_path)
    assert "absent" in result.outcomes


def test_sync_killed_at_20_points_keeps_whole_pages_and_resumes(tmp_path, golden_file, sync_server, pki):
    scenario = SyncScenario(sync_server, pki.ca_cert, SYNC_PAGE)
    campaign(BACKEND, golden_file, scenario, tmp_path)


def test_payment_run_killed_at_20_points_executes_batches_whole(tmp_path, golden_file):
    scenario = PaymentsScenario(batches=3, per_batch=5, singles=4)
    campaign(BACKEND, golden_file, scenario, tmp_path)
