"""Fixtures and strategies for the dashboard and board-pack tests (issue 11)."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from hypothesis import strategies as st
from sqlalchemy import delete

from cio_desktop.reports import Chart, Column, Period, ReportDocument, Section, Series, Table, Text

def pdf_pages(pdf: Path | str | bytes) -> list[str]:
    """The text of each page of a PDF (a file or its bytes), as pdfium extracts it: how the tests
    read back what an export wrote."""
    import pypdfium2

    doc = pypdfium2.PdfDocument(str(pdf) if isinstance(pdf, Path) else pdf)
    try:
        return [page.get_textpage().get_text_range() for page in doc]
    finally:
        doc.close()


# -- report documents ------------------------------------------------------------------------------
#: printable text incl. formula starters, quotes, separators, accents and the euro sign (the PDF
#: font covers them; control characters are removed by the model itself and tested separately)
#: (Latin-1 and Latin Extended-A: what every PDF font we may fall back to can show)
TEXT_ALPHABET = st.one_of(st.characters(whitelist_categories=("Lu", "Ll", "Nd", "Po", "Pd", "Sm", "Sc", "Zs"),
                                        max_codepoint=0x17F, blacklist_characters="\x85\xa0"),
                          st.sampled_from("€=+-@'\"\n,;"))

KIND_VALUES = {
    "text": st.text(TEXT_ALPHABET, max_size=30),
    "int": st.integers(-10**12, 10**12),
    "decimal": st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2,
                           allow_nan=False, allow_infinity=False),
    "float": st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
    "percent": st.floats(-10, 10, allow_nan=False, allow_infinity=False),
    "date": st.dates(date(1990, 1, 1), date(2100, 12, 31)),
    "datetime": st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1), timezones=st.just(timezone.utc)),
    "bool": st.booleans(),
}


@st.composite
def tables(draw: st.DrawFn, max_rows: int = 8) -> Table:
    kinds = draw(st.lists(st.sampled_from(sorted(KIND_VALUES)), min_size=1, max_size=6))
    cols = [Column(f"C{i} {k}", k) for i, k in enumerate(kinds)]
    n = draw(st.integers(0, max_rows))
    rows = []
    for _ in range(n):
        rows.append(tuple(draw(st.one_of(st.none(), KIND_VALUES[k])) if k != "text" else draw(KIND_VALUES[k])
                          for k in kinds))
    title = draw(st.text(TEXT_ALPHABET, min_size=1, max_size=20))
    return Table(title, cols, rows)


@st.composite
def documents(draw: st.DrawFn) -> ReportDocument:
    doc = ReportDocument("Property pack", Period(date(2026, 10, 1), date(2026, 10, 31)),
                         generated_at=datetime(2026, 11, 2, 9, tzinfo=timezone.utc), generated_by="tester")
    for i in range(draw(st.integers(1, 3))):
        s = doc.add(Section(draw(st.sampled_from(["Cash", "Risk", "History", "A/B: [x]*?", "Cash"]))
                            + f" {i}" * draw(st.booleans())))
        for t in draw(st.lists(tables(), min_size=0, max_size=2)):
            s.add(t)
        if draw(st.booleans()):
            s.add(Text(draw(st.text(TEXT_ALPHABET, max_size=40))))
        if draw(st.booleans()):
            s.add(Chart("Chart", draw(st.sampled_from(["bar", "line", "pie"])), ["a", "b", "c"],
                        [Series("s", [1.0, None, 3.0])]))
    return doc


def sample_document(rows: int = 40) -> ReportDocument:
    doc = ReportDocument("Sample pack", Period(date(2026, 10, 1), date(2026, 10, 31), "October 2026"),
                         generated_at=datetime(2026, 11, 2, 9, tzinfo=timezone.utc), generated_by="treasurer",
                         audience="Board of directors")
    s = doc.add(Section("Cash"))
    s.add(Text("Cash is sufficient."))
    s.add(Table("Ledger", [Column("Date", "date"), Column("Counterparty"), Column("Amount", "decimal", currency="EUR"),
                           Column("Count", "int"), Column("Share", "percent"), Column("Booked at", "datetime"),
                           Column("Cleared", "bool")],
                [(date(2026, 10, 1) + timedelta(days=i % 30), f"=Counterparty {i}", Decimal(i) * Decimal("1.25") - 20,
                  i, i / 100, datetime(2026, 10, 1, 8, tzinfo=timezone.utc) + timedelta(hours=i), i % 2 == 0)
                 for i in range(rows)]))
    s.add(Chart("Balance", "line", [f"W{i}" for i in range(13)], [Series("P50", [float(i) for i in range(13)]),
                                                                    Series("P10", [i - 1.0 for i in range(13)])]))
    r = doc.add(Section("Risk"))
    r.add(Chart("Mix", "pie", ["Equity", "Bonds"], [Series("Weight", [60.0, 40.0])]))
    r.add(Chart("Limits", "bar", ["A", "B"], [Series("Used", [1.0, 2.0])]))
    doc.add(Section("Budget", no_data="the budget service has no data"))
    return doc


# -- data states for the dashboard ---------------------------------------------------------------
CURRENCIES = ("EUR", "USD", "GBP", "CHF")
WIPE = ("payments", "holdings", "prices", "assets", "portfolios", "fx_rates", "transactions", "accounts")


def copy_db(src: Path, dst: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if Path(str(src) + suffix).exists():
            shutil.copyfile(str(src) + suffix, str(dst) + suffix)


@st.composite
def data_states(draw: st.DrawFn) -> dict:
    accounts = draw(st.lists(st.tuples(st.sampled_from(CURRENCIES), st.integers(-10**9, 10**10),
                                       st.integers(0, 10**9)), max_size=4))
    return {
        "accounts": accounts,
        "fx": draw(st.sets(st.sampled_from(CURRENCIES[1:]))),
        "transactions": draw(st.lists(st.tuples(st.integers(0, 3), st.integers(-10**8, 10**8),
                                                st.integers(0, 400)), max_size=6)),
        "payments": draw(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(
            ["pending_approval", "approved", "scheduled", "executed", "draft"]), st.integers(1, 10**8),
            st.integers(-5, 20)), max_size=4)),
        "portfolio": draw(st.lists(st.tuples(st.sampled_from(CURRENCIES), st.integers(1, 10**6),
                                             st.lists(st.integers(1, 10**5), max_size=4)), max_size=3)),
    }


def load_state(ws, state: dict) -> None:  # noqa: ANN001
    """Replace the business data of ``ws`` with ``state`` (direct rows: fast, any shape)."""
    from cio_desktop.storage.models import (Account, Asset, FxRate, Holding, Payment, Portfolio, Price,
                                            Transaction)

    today = ws.ctx.now().date()
    with ws.db.unit_of_work(write=True) as uow:
        for name in WIPE:
            table = next(t for t in Account.metadata.sorted_tables if t.name == name)
            uow.execute(delete(table))
        ids = []
        for i, (cur, opening, minimum) in enumerate(state["accounts"]):
            a = Account(name=f"Acc {i}", institution="Bank", number_enc="x", number_index=f"idx{i}",
                        number_masked=f"**** {i:04d}", currency=cur, min_balance_minor=minimum,
                        opening_balance_minor=opening)
            uow.add(a)
            uow.flush()
            ids.append((a.id, cur))
        for cur in state["fx"]:
            uow.add(FxRate(rate_date=today, base="EUR", quote=cur, rate=Decimal("1.1")))
        for n, (k, amount, age) in enumerate(state["transactions"]):
            if ids:
                acc, cur = ids[k % len(ids)]
                uow.add(Transaction(account_id=acc, booking_date=today - timedelta(days=age), amount_minor=amount,
                                    currency=cur, bank_reference=f"r{n}"))
        for n, (k, status, amount, days) in enumerate(state["payments"]):
            if ids:
                acc, cur = ids[k % len(ids)]
                uow.add(Payment(status=status, debit_account_id=acc, beneficiary_name=f"Payee {n}",
                                account_enc="x", account_index=f"p{n}", account_masked="**** 0000",
                                amount_minor=amount, currency=cur, execution_date=today + timedelta(days=days),
                                end_to_end_id=f"E2E{n}", requested_by="treasurer"))
        for n, (cur, price, quantities) in enumerate(state["portfolio"]):
            p = Portfolio(name=f"P{n}", base_currency=cur)
            uow.add(p)
            uow.flush()
            for j, q in enumerate(quantities):
                asset = Asset(identifier=f"A{n}_{j}", name=f"Asset {j}", asset_class="equity", currency=cur)
                uow.add(asset)
                uow.flush()
                uow.add(Holding(portfolio_id=p.id, asset_id=asset.id, quantity=Decimal(q), cost_minor=q * 100))
                for d in range(j + 1):
                    uow.add(Price(asset_id=asset.id, price_date=today - timedelta(days=d),
                                  close=Decimal(price + d) / 100))
