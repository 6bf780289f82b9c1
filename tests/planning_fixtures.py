"""Helpers for the forecasting, budget and analytics tests (issue 8): synthetic ledgers written
into a real (copied golden) database, and synthetic daily series / categorised texts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Callable, Iterable

import numpy as np
from sqlalchemy import insert

from cio_desktop.services.accounts import add_account
from cio_desktop.storage.models import Transaction

IBANS = ["DE89370400440532013000", "GB29NWBK60161331926819", "NL91ABNA0417164300", "DE75512108001245126199"]


def add_accounts(ws, specs: Iterable[tuple[str, str]]) -> list[int]:  # noqa: ANN001
    """Accounts (name, currency) with zero opening balance; returns their ids."""
    ids = []
    with ws.db.unit_of_work() as uow:
        for i, (name, cur) in enumerate(specs):
            a = add_account(uow, ws.ctx, name=name, institution="Test Bank", number=IBANS[i], currency=cur,
                            bic="", account_type="current", min_balance=Decimal(0), opening_balance=Decimal(0),
                            opening_date=None, actor="tests")
            ids.append(a.id)
    return ids


def write_lines(ws, rows: Iterable[tuple[int, date, int, str, str, str]]) -> int:  # noqa: ANN001
    """Insert ledger lines (account_id, day, amount_minor, counterparty, description, category)."""
    batch = []
    for n, (acct, day, amount, cp, desc, cat) in enumerate(rows):
        batch.append(dict(account_id=acct, booking_date=day, value_date=day, amount_minor=int(amount),
                          currency="EUR", counterparty=cp, bank_reference=f"T{n:09d}", description=desc,
                          category=cat, source="tests", search_text=f"{cp} {desc}".lower()))
    if batch:
        with ws.db.engine.begin() as conn:
            conn.execute(insert(Transaction), batch)
    return len(batch)


def daily_ledger(account: int, first: date, days: int, amount_of: Callable[[date], float],
                 counterparty: str = "Customer", category: str = "customers") -> list[tuple]:
    """One line per day with a non-zero amount (major units → minor)."""
    out = []
    for i in range(days):
        d = first + timedelta(days=i)
        v = amount_of(d)
        if round(v * 100):
            out.append((account, d, int(round(v * 100)), counterparty, f"flow {d.isoformat()}", category))
    return out


def synthetic_texts(rng: np.random.Generator, n: int, k: int = 5, vocab: int = 8,
                    noise: float = 0.3) -> tuple[list[str], list[str]]:
    """Categorised texts: each category has its own words, plus shared words and (with
    probability ``noise``) one word of a random category."""
    cats = [f"cat{i}" for i in range(k)]
    words = {c: [f"{c}w{j}" for j in range(vocab)] for c in cats}
    shared = [f"shared{j}" for j in range(10)]
    texts, labels = [], []
    for _ in range(n):
        c = cats[int(rng.integers(k))]
        toks = list(rng.choice(words[c], 2)) + list(rng.choice(shared, 2))
        if rng.random() < noise:
            toks.append(str(rng.choice(words[cats[int(rng.integers(k))]])))
        texts.append("__out__ " + " ".join(toks))
        labels.append(c)
    return texts, labels
