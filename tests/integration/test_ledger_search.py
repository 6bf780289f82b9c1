"""Ledger text search after the full-text narrowing was rewritten (issue 13): a reference-shaped
term (one long alphanumeric token, the bench's 1.13 s case) and word searches return exactly the
rows of the plain ``LIKE`` filter — the result before the change — in every order, by keyset and
by offset, also while part of the ledger is not in the full-text index yet. Runs on SQLCipher and
(``--backend postgres``) on PostgreSQL, where the ``LIKE`` path is the only one."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from cio_desktop.services.ledger import LedgerQuery
from tests.conftest import login
from tests.integration.test_ledger_service import _words_match, all_lines, expected_ids, read_all


@pytest.fixture
def ledger_ws(demo_ws):  # noqa: ANN001, ANN201
    login(demo_ws, "treasurer")
    return demo_ws


def searches(lines: list[dict]) -> dict[str, str]:
    """A reference as the bench types it (lower case, one line), a piece of one, words, nothing."""
    reference = max((r["bank_reference"] for r in lines[len(lines) // 3:]), key=len).lower()
    word = max((r["counterparty"] for r in lines if r["counterparty"]), key=len).lower().split()[0]
    return {"reference": reference, "reference prefix": reference[:10], "reference upper": reference.upper(),
            "word": word, "common": "invoice", "two words": f"invoice {word}", "absent": "zzqqxxj"}


def check(ledger, lines: list[dict]) -> None:  # noqa: ANN001
    for label, term in searches(lines).items():
        want = {r["id"] for r in lines if _words_match(r, term)}
        assert ledger.count(LedgerQuery(text=term)) == len(want), label
        for sort, descending, keyset in (("booking_date", True, True), ("amount", False, True),
                                         ("reference", True, False)):
            q = LedgerQuery(text=term, sort=sort, descending=descending)
            order = [i for i in expected_ids(lines, sort, descending) if i in want]
            size = max(25, len(order) // 3)  # a few pages whatever the hit count
            assert [r.id for r in read_all(ledger, q, size, keyset=keyset)] == order, (label, sort)


def test_reference_and_word_searches_return_the_like_rows(ledger_ws):
    lines = all_lines(ledger_ws)
    reference = searches(lines)["reference"]
    assert len(reference) >= 10 and sum(_words_match(r, reference) for r in lines) >= 1
    check(ledger_ws.ledger, lines)


def test_the_like_only_path_gives_the_same_rows(ledger_ws):
    ledger_ws.ledger._fts_present = False  # what PostgreSQL runs; on SQLite the plain plan
    check(ledger_ws.ledger, all_lines(ledger_ws))


@pytest.mark.sqlcipher_only  # the SQLite full-text index
def test_lines_not_indexed_yet_are_still_candidates(ledger_ws):
    """Pretend the index stops a third of the way in: every later line must still be searched."""
    lines = all_lines(ledger_ws)
    cut = sorted(r["id"] for r in lines)[len(lines) // 3]
    with ledger_ws.db.unit_of_work() as uow:
        uow.execute(text("UPDATE app_meta SET value = :v WHERE key = 'fts_upto'"), {"v": str(cut)})
        uow.execute(text("DELETE FROM transactions_fts WHERE rowid > :cut"), {"cut": cut})
    check(ledger_ws.ledger, lines)


@pytest.mark.sqlcipher_only  # the SQLite query plan
def test_a_selective_search_reads_its_candidates_not_the_whole_ledger(ledger_ws):
    """The page query for a reference must look its candidates up by rowid; walking the sort
    index over every line (the old plan) is what took over a second at a million lines."""
    ledger = ledger_ws.ledger
    reference = searches(all_lines(ledger_ws))["reference"]
    seen: list[tuple[str, object]] = []
    engine = ledger_ws.db.engine

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        if "ORDER BY" in statement and "transactions_fts" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        rows = ledger.page(LedgerQuery(text=reference), 0, 500)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert rows and all(reference in f"{r.reference}".lower() or reference in r.description.lower() for r in rows)
    (statement, parameters), = seen
    with ledger_ws.db.unit_of_work(write=False) as uow:
        plan = [row[3] for row in uow.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    assert any("SCAN transactions_fts" in step for step in plan), plan
    assert any(step.startswith("SEARCH transactions USING INTEGER PRIMARY KEY") for step in plan), plan
    assert not any(step.startswith("SCAN transactions") and "fts" not in step for step in plan), plan
