"""LedgerService over a real SQLCipher file (the demo company): filters, sorting, paging
(offset and keyset), the full-text narrowing on SQLite, and authentication."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import delete, insert, select, text, update

from cio_desktop.errors import NotAuthenticated, ValidationError
from cio_desktop.services.ledger import SORTABLE, LedgerQuery, LedgerRow, QueryCancelled, search_text_for
from cio_desktop.storage.models import Transaction
from tests.conftest import login


@pytest.fixture
def ledger_ws(demo_ws):  # noqa: ANN001, ANN201
    login(demo_ws, "treasurer")
    return demo_ws


def all_lines(ws) -> list[dict]:  # noqa: ANN001
    """Every ledger line straight from the table (the ground truth the service is checked against)."""
    with ws.db.unit_of_work(write=False) as uow:
        rows = uow.execute(select(Transaction.id, Transaction.booking_date, Transaction.value_date,
                                  Transaction.account_id, Transaction.amount_minor, Transaction.currency,
                                  Transaction.counterparty, Transaction.bank_reference,
                                  Transaction.category, Transaction.search_text)).all()
    return [r._asdict() for r in rows]


def read_all(ledger, q: LedgerQuery, size: int, *, keyset: bool) -> list[LedgerRow]:  # noqa: ANN001
    out: list[LedgerRow] = []
    while True:
        page = ledger.page(q, len(out), size, after=out[-1] if (keyset and out) else None)
        out.extend(page)
        if len(page) < size:
            return out


KEY_OF = {"booking_date": "booking_date", "value_date": "value_date", "account": "account_id",
          "amount": "amount_minor", "counterparty": "counterparty", "reference": "bank_reference",
          "category": "category", "currency": "currency"}


def expected_ids(lines: list[dict], sort: str, descending: bool) -> list[int]:
    """The service's documented order, computed in Python (SQLite: NULLs sort first ascending)."""
    def key(r: dict) -> tuple:
        v = r[KEY_OF[sort]]
        then = (r["booking_date"],) if sort == "account" else ()
        return ((v is not None), v if v is not None else 0, *then, r["id"])

    return [r["id"] for r in sorted(lines, key=key, reverse=descending)]


def test_unauthenticated_calls_are_refused(demo_ws):
    with pytest.raises(NotAuthenticated):
        demo_ws.ledger.count(LedgerQuery())
    with pytest.raises(NotAuthenticated):
        demo_ws.ledger.page(LedgerQuery(), 0, 10)
    with pytest.raises(NotAuthenticated):
        demo_ws.ledger.account_names()


def test_count_and_default_order(ledger_ws):
    lines = all_lines(ledger_ws)
    assert len(lines) > 5000
    assert ledger_ws.ledger.count(LedgerQuery()) == len(lines)
    first = ledger_ws.ledger.page(LedgerQuery(), 0, 50)
    assert [r.id for r in first] == expected_ids(lines, "booking_date", True)[:50]


@pytest.mark.parametrize("sort", sorted(SORTABLE))
@pytest.mark.parametrize("descending", [False, True])
def test_every_sort_order_pages_consistently(ledger_ws, sort, descending):
    """Pages concatenated (by offset and by keyset) are the whole ordered ledger: no gap, no repeat."""
    lines = all_lines(ledger_ws)
    q = LedgerQuery(sort=sort, descending=descending)
    by_offset = read_all(ledger_ws.ledger, q, 997, keyset=False)
    by_keyset = read_all(ledger_ws.ledger, q, 997, keyset=True)
    want = expected_ids(lines, sort, descending)
    if sort in ("counterparty", "reference", "category", "currency", "value_date"):
        # text order is the database's collation (and NULL placement its own): check the
        # order with the database's own comparison instead of Python's
        assert sorted(r.id for r in by_offset) == sorted(want)
    else:
        assert [r.id for r in by_offset] == want
    assert [r.id for r in by_keyset] == [r.id for r in by_offset]
    assert len({r.id for r in by_keyset}) == len(lines)


def test_text_order_is_monotonic(ledger_ws):
    rows = read_all(ledger_ws.ledger, LedgerQuery(sort="counterparty", descending=False), 2000, keyset=True)
    values = [r.counterparty for r in rows]
    assert values == sorted(values)


def test_unknown_sort_and_negative_paging_are_refused(ledger_ws):
    with pytest.raises(ValidationError):
        ledger_ws.ledger.page(LedgerQuery(sort="search_text"), 0, 10)
    with pytest.raises(ValidationError):
        ledger_ws.ledger.page(LedgerQuery(), -1, 10)


def _words_match(line: dict, text: str) -> bool:
    return all(w in line["search_text"] for w in text.lower().split())


def _some_words(lines: list[dict]) -> dict[str, str]:
    common = max(("payroll", "invoice", "payment", "fee", "transfer", "salary", "interest", "tax"),
                 key=lambda w: sum(w in r["search_text"] for r in lines))
    rare_ref = lines[len(lines) // 3]["bank_reference"].lower()
    cp = next(r["counterparty"] for r in lines if r["counterparty"])
    return {"common": common, "rare": rare_ref, "counterparty": cp.lower().split()[0],
            "two words": f"{common} {cp.lower().split()[0]}", "short": "a", "absent": "zzqqxxj"}


@pytest.mark.parametrize("fts", [True, False], ids=["fts", "like-only"])
def test_text_filter_matches_every_word_as_substring(ledger_ws, fts):
    lines = all_lines(ledger_ws)
    ledger = ledger_ws.ledger
    if not fts:
        ledger._fts_present = False  # the portable LIKE path (what PostgreSQL runs)
    for label, text in _some_words(lines).items():
        q = LedgerQuery(text=text)
        want = {r["id"] for r in lines if _words_match(r, text)}
        got = read_all(ledger, q, 1500, keyset=True)
        assert {r.id for r in got} == want, label
        assert ledger.count(q) == len(want), label
        assert [r.id for r in got] == [i for i in expected_ids(lines, "booking_date", True) if i in want]


@pytest.mark.sqlcipher_only  # the SQLCipher file/FTS itself; PostgreSQL has its own tests
def test_fts_index_is_present_and_used_for_selective_words(ledger_ws):
    lines = all_lines(ledger_ws)
    ledger = ledger_ws.ledger
    rare = lines[10]["bank_reference"].lower()
    with ledger_ws.db.unit_of_work(write=False) as uow:
        assert ledger._has_fts(uow)
        assert ledger._fts_words(uow, LedgerQuery(text=rare)) == (rare,)
        assert ledger._fts_words(uow, LedgerQuery(text="ab")) == ()  # too short for trigrams


def test_like_wildcards_in_search_are_literal(ledger_ws):
    lines = all_lines(ledger_ws)
    for text in ("%", "_", "100%", "a_b", "\\"):
        want = {r["id"] for r in lines if _words_match(r, text)}
        assert ledger_ws.ledger.count(LedgerQuery(text=text)) == len(want), text


def test_full_text_index_follows_inserts_updates_and_deletes(ledger_ws):
    ledger = ledger_ws.ledger
    account_id = next(iter(ledger.account_names()))
    text = search_text_for("Quixotic Widgets Ltd", "QW-777", "one-off", "misc")
    with ledger_ws.db.unit_of_work() as uow:
        uow.execute(insert(Transaction).values(
            account_id=account_id, booking_date=date(2026, 11, 1), value_date=None, amount_minor=-1234,
            currency="EUR", counterparty="Quixotic Widgets Ltd", bank_reference="QW-777",
            description="one-off", category="misc", bank_code="", source="test", search_text=text,
            created_at=datetime.now(timezone.utc)))
    assert [r.reference for r in ledger.page(LedgerQuery(text="quixotic"), 0, 10)] == ["QW-777"]
    with ledger_ws.db.unit_of_work() as uow:
        uow.execute(update(Transaction).where(Transaction.bank_reference == "QW-777")
                    .values(search_text="renamed widgets qw-777"))
    assert ledger.count(LedgerQuery(text="quixotic")) == 0
    assert ledger.count(LedgerQuery(text="renamed widgets")) == 1
    with ledger_ws.db.unit_of_work() as uow:
        uow.execute(delete(Transaction).where(Transaction.bank_reference == "QW-777"))
    assert ledger.count(LedgerQuery(text="renamed widgets")) == 0


def test_account_date_and_amount_filters(ledger_ws):
    lines = all_lines(ledger_ws)
    ledger = ledger_ws.ledger
    ids = sorted(ledger.account_names())[:2]
    days = sorted({r["booking_date"] for r in lines})
    d_from, d_to = days[len(days) // 4], days[len(days) // 2]
    q = LedgerQuery(account_ids=tuple(ids), date_from=d_from, date_to=d_to,
                    amount_min=Decimal("-5000"), amount_max=Decimal("20000.50"))
    want = {r["id"] for r in lines if r["account_id"] in ids and d_from <= r["booking_date"] <= d_to
            and -500000 <= r["amount_minor"] <= 2000050}
    assert want, "the filter should keep some lines"
    got = read_all(ledger, q, 400, keyset=True)
    assert {r.id for r in got} == want
    assert ledger.count(q) == len(want)
    for r in got:
        assert r.account_id in ids and d_from <= r.booking_date <= d_to
        assert Decimal("-5000") <= r.amount.amount <= Decimal("20000.50")


def test_rows_carry_money_and_account_names(ledger_ws):
    names = ledger_ws.ledger.account_names()
    for r in ledger_ws.ledger.page(LedgerQuery(), 0, 200):
        assert r.account_id in names
        assert r.amount.currency in ("EUR", "USD", "GBP")


@pytest.mark.sqlcipher_only  # the SQLCipher file/FTS itself; PostgreSQL has its own tests
def test_a_cancelled_query_stops_and_leaves_the_connection_clean(ledger_ws):
    ledger = ledger_ws.ledger
    q = LedgerQuery(text="e")  # one letter: a scan of every line (no index can help)
    want = ledger.count(q)
    with pytest.raises(QueryCancelled):
        ledger.count(q, cancelled=lambda: True)
    with pytest.raises(QueryCancelled):
        ledger.page(q.with_(sort="reference"), 0, 50, cancelled=lambda: True)
    assert ledger.count(q, cancelled=lambda: False) == want
    for _ in range(10):  # every pooled connection works without a leftover handler
        assert ledger.count(q) == want


def test_export_is_permissioned_and_audited(demo_ws, tmp_path):
    import pytest
    from sqlalchemy import select

    from cio_desktop.errors import PermissionDenied
    from cio_desktop.services.ledger import LedgerQuery
    from cio_desktop.storage.models import AuditEntry

    login(demo_ws, "viewer")
    with pytest.raises(PermissionDenied, match="reports.export"):
        demo_ws.ledger.export_csv(LedgerQuery(text="salary"), tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()
    login(demo_ws, "analyst")
    n = demo_ws.ledger.export_csv(LedgerQuery(text="salary"), tmp_path / "x.csv")
    assert n == demo_ws.ledger.count(LedgerQuery(text="salary")) > 0
    with demo_ws.db.unit_of_work(write=False) as uow:
        last = uow.execute(select(AuditEntry).order_by(AuditEntry.id.desc())).scalars().first()
    assert last.action == "ledger.exported" and f'"rows":{n}' in last.summary


@pytest.mark.sqlcipher_only  # the SQLCipher file/FTS itself; PostgreSQL has its own tests
def test_search_is_exact_while_the_index_catches_up(demo_ws):
    """Lines not yet in the full-text index are still found; catch_up indexes them."""
    from cio_desktop.services.ledger import LedgerQuery
    from cio_desktop.storage import search_index

    login(demo_ws, "treasurer")
    account = demo_ws.accounts.list_accounts()[0]
    assert search_index.pending(demo_ws.db) == 0  # the demo builder indexed its ledger
    with demo_ws.db.unit_of_work() as uow:
        uow.execute(insert(Transaction), [{
            "account_id": account.id, "booking_date": date(2026, 1, 5), "amount_minor": -100 * i,
            "currency": account.currency, "counterparty": "Zyxwvut Rare GmbH", "bank_reference": f"ZZ{i}",
            "description": "unique marker qqxq", "search_text": search_text_for("Zyxwvut Rare GmbH", f"ZZ{i}",
                                                                               "unique marker qqxq", ""),
            "created_at": datetime(2026, 1, 5, tzinfo=timezone.utc)} for i in range(1, 4)])
    assert search_index.pending(demo_ws.db) == 3
    q = LedgerQuery(text="qqxq zyxwvut")
    assert demo_ws.ledger.count(q) == 3 and len(demo_ws.ledger.page(q, 0, 50)) == 3
    assert search_index.catch_up(demo_ws.db) == 3 and search_index.pending(demo_ws.db) == 0
    assert demo_ws.ledger.count(q) == 3
    with demo_ws.db.unit_of_work(write=False) as uow:  # the index itself now answers
        hits = uow.execute(text("SELECT count(*) FROM transactions_fts WHERE search_text LIKE '%qqxq%'")).scalar_one()
    assert hits == 3
