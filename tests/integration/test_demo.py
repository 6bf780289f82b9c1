"""The demo company builder (services.demo) over real SQLCipher files.

``golden_demo`` (seed 7, built once per session with the real clock) serves the read-only
checks; determinism, refusal, scaling and generated passwords build their own databases under
the fixed FakeClock (anchor 2026-11-02).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from cio_desktop.domain.demo_data import (business_days, iban, isin, isin_ok, target_holidays,
                                          years_before)
from cio_desktop.domain.masking import iban_checksum_ok
from cio_desktop.errors import ValidationError
from cio_desktop.security.permissions import Role
from cio_desktop.services.accounts import NUMBER_CONTEXT
from cio_desktop.services.demo import DemoResult, build_demo, random_password
from cio_desktop.services.ledger import LedgerQuery, search_text_for
from cio_desktop.storage.models import (Account, Asset, AuditEntry, FxRate, Holding, ImportBatch, Portfolio,
                                        Price, Transaction, User)
from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET, login

ANCHOR = date(2026, 11, 2)  # FakeClock's date


# -- helpers ---------------------------------------------------------------------------------------
def scalar(ws, stmt):  # noqa: ANN001, ANN201
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(stmt).scalar_one()


def rows(ws, stmt) -> list:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return list(uow.execute(stmt).all())


def fingerprint(ws) -> dict:  # noqa: ANN001
    """Everything seed-determined, keyed by natural names (not row ids)."""
    with ws.db.unit_of_work(write=False) as uow:
        sums = dict(uow.execute(select(Account.name, func.sum(Transaction.amount_minor))
                                .join(Transaction, Transaction.account_id == Account.id)
                                .group_by(Account.name)).all())
        counts = dict(uow.execute(select(Account.name, func.count())
                                  .join(Transaction, Transaction.account_id == Account.id)
                                  .group_by(Account.name)).all())
        numbers = {a.name: ws.ctx.cipher.decrypt(a.number_enc, NUMBER_CONTEXT)
                   for a in uow.execute(select(Account)).scalars()}
        openings = dict(uow.execute(select(Account.name, Account.opening_balance_minor)).all())
        prices = defaultdict(list)
        for ident, day, close in uow.execute(select(Asset.identifier, Price.price_date, Price.close)
                                             .join(Price, Price.asset_id == Asset.id)
                                             .order_by(Asset.identifier, Price.price_date)):
            prices[ident].append((day, close))
        fx = list(uow.execute(select(FxRate.rate_date, FxRate.quote, FxRate.rate)
                              .order_by(FxRate.rate_date, FxRate.quote)).all())
        holdings = sorted(uow.execute(select(Portfolio.name, Asset.identifier, Holding.quantity, Holding.cost_minor)
                                      .join(Holding, Holding.portfolio_id == Portfolio.id)
                                      .join(Asset, Asset.id == Holding.asset_id)).all())
        last_lines = list(uow.execute(select(Transaction.booking_date, Transaction.amount_minor,
                                             Transaction.counterparty, Transaction.description)
                                      .order_by(Transaction.id.desc()).limit(50)).all())
    return {"sums": sums, "counts": counts, "numbers": numbers, "openings": openings,
            "prices": dict(prices), "fx": fx, "holdings": holdings, "last_lines": last_lines}


@pytest.fixture(scope="module")
def golden_facts(golden_demo, tmp_path_factory):  # noqa: ANN001, ANN201
    """Read the golden demo once for the read-only tests (a copy, so the template stays pristine)."""
    from tests.conftest import WorkspaceFactory, FakeClock

    factory = WorkspaceFactory(tmp_path_factory.mktemp("demo_facts"), FakeClock())
    ws = factory.open(golden_demo)
    try:
        with ws.db.unit_of_work(write=False) as uow:
            lines = list(uow.execute(select(Transaction.account_id, Transaction.booking_date,
                                            Transaction.value_date, Transaction.amount_minor,
                                            Transaction.currency, Transaction.counterparty,
                                            Transaction.bank_reference, Transaction.description,
                                            Transaction.category, Transaction.bank_code,
                                            Transaction.source, Transaction.search_text,
                                            Transaction.import_batch_id)).all())
            accounts = list(uow.execute(select(Account)).scalars())
            numbers = {a.id: ws.ctx.cipher.decrypt(a.number_enc, NUMBER_CONTEXT) for a in accounts}
            created = uow.execute(select(func.min(AuditEntry.ts))).scalar_one()
        yield {"lines": lines, "accounts": {a.id: a for a in accounts}, "numbers": numbers,
               "today": created.date()}
    finally:
        ws.close()


# -- pure helpers ----------------------------------------------------------------------------------
def test_iban_and_isin_check_digits_match_published_examples():
    assert iban("DE", "370400440532013000") == "DE89370400440532013000"
    assert iban("GB", "NWBK60161331926819") == "GB29NWBK60161331926819"
    assert iban("NL", "ABNA0417164300") == "NL91ABNA0417164300"
    assert isin("US", "037833100") == "US0378331005"  # Apple
    assert isin("DE", "000716460") == "DE0007164600"  # SAP
    assert isin_ok("GB0002634946") and not isin_ok("GB0002634947")


def test_business_days_skip_weekends_and_target_holidays():
    days = business_days(date(2025, 12, 20), date(2026, 1, 10))
    assert date(2025, 12, 25) not in days and date(2025, 12, 26) not in days
    assert date(2026, 1, 1) not in days and all(d.weekday() < 5 for d in days)
    assert date(2026, 4, 3) in target_holidays(2026) and date(2026, 4, 6) in target_holidays(2026)  # Easter
    assert years_before(date(2028, 2, 29), 2) == date(2026, 2, 28)


def test_random_passwords_are_strong_and_distinct():
    made = {random_password("treasurer") for _ in range(20)}
    assert len(made) == 20
    assert all(len(p) >= 16 and "treasurer" not in p.lower() for p in made)


# -- the golden demo (seed 7) ----------------------------------------------------------------------
def test_users_one_per_role_all_mfa_enrolled(demo_ws):
    users = rows(demo_ws, select(User.username, User.role, User.mfa_enabled))
    assert sorted((u, r) for u, r, _ in users) == sorted((r.value, r.value) for r in Role)
    assert all(mfa for _, _, mfa in users)
    session = login(demo_ws, "admin", mfa=True)
    assert session.role == "admin" and session.mfa_verified_at is not None


def test_accounts_banks_currencies_and_ibans(golden_facts):
    accounts = golden_facts["accounts"].values()
    assert len(accounts) == 8
    assert len({a.institution for a in accounts}) == 3
    assert {a.currency for a in accounts} == {"EUR", "USD", "GBP"}
    assert {a.account_type for a in accounts} >= {"current", "payroll", "tax", "collection", "deposit"}
    for a in accounts:
        number = golden_facts["numbers"][a.id]
        assert iban_checksum_ok(number), number
        assert number[:2] in {"DE", "NL", "GB"} and a.bic[4:6] == number[:2]
        assert len(number) == {"DE": 22, "NL": 18, "GB": 22}[number[:2]]
        assert a.number_masked.startswith(number[:4]) and a.number_masked.endswith(number[-4:])
        assert len(a.bic) in (8, 11) and a.min_balance_minor > 0 and a.opening_balance_minor > 0


def test_ledger_size_period_and_row_shape(golden_facts):
    lines, today = golden_facts["lines"], golden_facts["today"]
    assert 17_000 <= len(lines) <= 25_000
    first = min(ln.booking_date for ln in lines)
    last = max(ln.booking_date for ln in lines)
    assert years_before(today, 2) <= first <= years_before(today, 2) + timedelta(days=4)
    assert today - timedelta(days=5) <= last < today
    currency = {a.id: a.currency for a in golden_facts["accounts"].values()}
    refs = set()
    for ln in lines:
        assert ln.currency == currency[ln.account_id]
        assert ln.booking_date <= ln.value_date <= ln.booking_date + timedelta(days=6)
        assert ln.amount_minor != 0 and isinstance(ln.amount_minor, int)
        assert ln.source == "demo" and ln.bank_code.startswith("N") and ln.counterparty
        assert ln.search_text == search_text_for(ln.counterparty, ln.bank_reference, ln.description, ln.category)
        refs.add((ln.account_id, ln.bank_reference))
    assert len(refs) == len(lines)  # bank references are unique per account
    assert len({ln.import_batch_id for ln in lines}) == 1
    assert {ln.category for ln in lines} >= {"salaries", "suppliers", "customers", "taxes", "rent", "utilities",
                                             "fees", "interest", "fx", "intercompany"}
    descriptions = " | ".join(ln.description for ln in lines)
    for text in ("SALARY ", "VAT Q", "PAYROLL TAX", "INVOICE", "PAYMENT RUN", "CASH POOL SWEEP", "FX SPOT"):
        assert text in descriptions
    assert len({ln.counterparty for ln in lines if ln.category == "suppliers"}) > 50


def test_flows_are_realistic(golden_facts):
    lines = golden_facts["lines"]
    accounts = golden_facts["accounts"]
    by_name = {a.name: a.id for a in accounts.values()}
    # salaries: one line per employee at each month end, all debits from payroll accounts
    salary = [ln for ln in lines if ln.category == "salaries" and ln.description.startswith("SALARY")]
    per_month = Counter((ln.account_id, ln.booking_date.strftime("%Y-%m")) for ln in salary)
    assert {accounts[a].account_type for a, _ in per_month} == {"payroll"}
    assert len(set(per_month.values())) <= 2  # same headcount every month (EUR and UK payrolls)
    assert all(ln.amount_minor < 0 for ln in salary)
    # customer receipts: credits, stronger in Q4 than in the summer
    receipts = defaultdict(int)
    for ln in lines:
        if ln.category == "customers" and ln.account_id == by_name["EUR Collections"]:
            assert ln.amount_minor > 0
            receipts[(ln.booking_date.year, ln.booking_date.month)] += ln.amount_minor
    q4 = [v for (y, m), v in receipts.items() if m in (10, 11, 12)]
    summer = [v for (y, m), v in receipts.items() if m in (7, 8)]
    assert sum(q4) / len(q4) > 1.2 * sum(summer) / len(summer)
    # supplier payments: debits, mostly in the weekly (Thursday) run
    suppliers = [ln for ln in lines if ln.category == "suppliers"]
    assert all(ln.amount_minor < 0 for ln in suppliers)
    assert Counter(ln.booking_date.weekday() for ln in suppliers).most_common(1)[0][0] == 3
    # transfers between own accounts in one currency net to zero; FX deals have both legs
    for cur in ("EUR", "GBP"):
        internal = [ln for ln in lines if ln.currency == cur and ln.category == "intercompany"
                    and not ln.description.startswith("MANAGEMENT FEE")]
        assert internal and sum(ln.amount_minor for ln in internal) == 0
    fx_descriptions = Counter(ln.description for ln in lines if ln.category == "fx")
    assert fx_descriptions and set(fx_descriptions.values()) == {2}
    # taxes and rent are debits; interest is a credit
    assert all(ln.amount_minor < 0 for ln in lines if ln.category in ("rent", "utilities"))
    assert all(ln.amount_minor > 0 for ln in lines if ln.category == "interest")


def test_balances_stay_plausible(demo_ws):
    login(demo_ws, "treasurer")
    views = demo_ws.accounts.list_accounts()
    assert len(views) == 8
    for v in views:
        assert v.balance >= v.min_balance, v.name  # the end-of-day treasury routine keeps the band
        history = demo_ws.accounts.balance_history(v.id)
        assert len(history) >= 24  # at least the monthly fees and interest
        assert all(m.amount > 0 for _, m in history), v.name
        below = sum(1 for _, m in history if m < v.min_balance)
        assert below <= 0.05 * len(history), v.name
    totals, grand = demo_ws.accounts.consolidated(views)
    assert {t.currency for t in totals} == {"EUR", "USD", "GBP"} and grand is not None
    assert all(t.rate is not None for t in totals)


def test_portfolios_assets_prices_and_fx(demo_ws, golden_facts):
    today = golden_facts["today"]
    portfolios = rows(demo_ws, select(Portfolio.name, Portfolio.base_currency))
    assert len(portfolios) == 2 and {b for _, b in portfolios} == {"EUR"}
    assets = rows(demo_ws, select(Asset.id, Asset.identifier, Asset.asset_class, Asset.sector, Asset.country,
                                  Asset.currency, Asset.rating))
    assert 35 <= len(assets) <= 45
    assert {a.asset_class for a in assets} == {"equity", "government_bond", "corporate_bond", "money_market"}
    assert all(isin_ok(a.identifier) for a in assets)
    assert all(a.rating for a in assets if a.asset_class != "equity")
    assert len({a.sector for a in assets if a.asset_class == "equity"}) >= 8
    assert {a.currency for a in assets} == {"EUR", "USD", "GBP"}
    holdings = rows(demo_ws, select(Holding.portfolio_id, Holding.quantity, Holding.cost_minor))
    assert len(holdings) == len(assets)
    assert all(q > 0 and isinstance(q, Decimal) and c > 0 for _, q, c in holdings)
    assert len({p for p, _, _ in holdings}) == 2

    per_asset = dict(rows(demo_ws, select(Price.asset_id, func.count()).group_by(Price.asset_id)))
    assert set(per_asset) == {a.id for a in assets}
    assert len(set(per_asset.values())) == 1
    n = next(iter(per_asset.values()))
    assert 5 * 250 <= n <= 5 * 262  # five years of business days
    first, last = rows(demo_ws, select(func.min(Price.price_date), func.max(Price.price_date)))[0]
    assert years_before(today, 5) <= first <= years_before(today, 5) + timedelta(days=4)
    assert today - timedelta(days=5) <= last < today
    closes = [c for (c,) in rows(demo_ws, select(Price.close))]
    assert all(c > 0 and c.as_tuple().exponent >= -6 for c in closes)

    # daily log-returns: equities far more volatile than money-market funds
    by_class = {a.id: a.asset_class for a in assets}
    series = defaultdict(list)
    for asset_id, close in rows(demo_ws, select(Price.asset_id, Price.close).order_by(Price.asset_id,
                                                                                       Price.price_date)):
        series[asset_id].append(float(close))
    import numpy as np

    def ann_vol(values: list[float]) -> float:
        return float(np.std(np.diff(np.log(values))) * np.sqrt(252))

    eq = [ann_vol(v) for k, v in series.items() if by_class[k] == "equity"]
    mm = [ann_vol(v) for k, v in series.items() if by_class[k] == "money_market"]
    bonds = [ann_vol(v) for k, v in series.items() if by_class[k].endswith("bond")]
    assert 0.12 < min(eq) and max(eq) < 0.35
    assert max(bonds) < 0.09 and max(mm) < 0.02

    fx = rows(demo_ws, select(FxRate.base, FxRate.quote, func.count(), func.min(FxRate.rate), func.max(FxRate.rate))
              .group_by(FxRate.base, FxRate.quote))
    assert {(b, q) for b, q, *_ in fx} == {("EUR", "USD"), ("EUR", "GBP")}
    for base, quote, count, low, high in fx:
        assert count == n
        assert {"USD": (Decimal("0.90"), Decimal("1.30")), "GBP": (Decimal("0.74"), Decimal("0.99"))}[quote][0] < low
        assert high < {"USD": Decimal("1.30"), "GBP": Decimal("0.99")}[quote]


def test_the_ledger_is_searchable_through_the_service(demo_ws):
    login(demo_ws, "analyst")
    assert demo_ws.ledger.count(LedgerQuery()) == scalar(demo_ws, select(func.count()).select_from(Transaction))
    assert demo_ws.ledger.count(LedgerQuery(text="salary")) > 1000
    assert 0 < demo_ws.ledger.count(LedgerQuery(text="vat q")) < 20


def test_every_step_is_audited_and_the_chain_verifies(demo_ws):
    actions = Counter(a for (a,) in rows(demo_ws, select(AuditEntry.action).where(AuditEntry.actor == "demo")))
    assert actions["user.created"] == 6
    assert actions["account.created"] == 8
    assert actions["ledger.imported"] == 1
    assert actions["fx.loaded"] == 1 and actions["assets.loaded"] == 1 and actions["prices.loaded"] == 1
    assert actions["portfolio.created"] == 2 and actions["holdings.loaded"] == 2
    batch = rows(demo_ws, select(ImportBatch.id, ImportBatch.lines_new, ImportBatch.kind))
    lines = scalar(demo_ws, select(func.count()).select_from(Transaction))
    assert [(b.lines_new, b.kind) for b in batch] == [(lines, "demo")]
    entry = rows(demo_ws, select(AuditEntry.entity, AuditEntry.entity_id, AuditEntry.summary)
                 .where(AuditEntry.action == "ledger.imported"))[0]
    assert entry.entity == "import_batch" and entry.entity_id == str(batch[0].id)
    assert f'"lines":{lines}' in entry.summary
    login(demo_ws, "auditor")
    result = demo_ws.audit.verify()
    assert result.ok, result.message()
    assert result.checked >= sum(actions.values())


# -- builds of our own (FakeClock) -----------------------------------------------------------------
def test_same_seed_same_company_other_seed_differs(workspaces):
    progress: list[tuple[str, float]] = []
    a = workspaces.open(None, "a.db")
    result_a = build_demo(a.ctx, seed=11, password=None, progress=lambda s, f: progress.append((s, f)))
    b = workspaces.open(None, "b.db")
    result_b = build_demo(b.ctx, seed=11, password=TEST_PASSWORD, totp_secret=TEST_TOTP_SECRET)
    c = workspaces.open(None, "c.db")
    result_c = build_demo(c.ctx, seed=12, password=TEST_PASSWORD)

    fa, fb, fc = fingerprint(a), fingerprint(b), fingerprint(c)
    assert fa == fb
    assert (result_a.transactions, result_a.prices, result_a.fx_rates) == \
           (result_b.transactions, result_b.prices, result_b.fx_rates)
    assert fa["sums"].keys() == fc["sums"].keys()
    assert fa["sums"] != fc["sums"] and fa["counts"] != fc["counts"]
    assert fa["prices"] != fc["prices"] and fa["fx"] != fc["fx"] and fa["numbers"] != fc["numbers"]
    assert len(fa["prices"]) == len(fc["prices"]) == result_a.assets == result_c.assets

    # anchored on ctx.now(): the 2 years / 5 years before 2026-11-02
    first, last = rows(a, select(func.min(Transaction.booking_date), func.max(Transaction.booking_date)))[0]
    assert first == date(2024, 11, 4) and last == date(2026, 10, 30)
    assert rows(a, select(func.max(Price.price_date)))[0][0] == date(2026, 10, 30)
    assert rows(a, select(func.min(FxRate.rate_date)))[0][0] == date(2021, 11, 2)

    # progress: from 0 to 1, never backwards, through every step
    fractions = [f for _, f in progress]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    steps = {s for s, _ in progress}
    assert {"users", "bank accounts", "FX rates", "assets and prices", "portfolios", "ledger", "done"} <= steps

    # generated passwords: one per user, strong, working; no MFA without a secret
    assert isinstance(result_a, DemoResult) and set(result_a.users) == {r.value for r in Role}
    assert len(set(result_a.users.values())) == 6 and all(len(p) >= 16 for p in result_a.users.values())
    session = a.auth.login("treasurer", result_a.users["treasurer"])
    assert session.role == "treasurer" and not session.mfa_enabled
    assert result_b.users == {r.value: TEST_PASSWORD for r in Role}
    assert all(m for (m,) in rows(b, select(User.mfa_enabled)))


def _assert_refused(target) -> None:  # noqa: ANN001
    before = (scalar(target, select(func.count()).select_from(AuditEntry)),
              scalar(target, select(func.count()).select_from(Transaction)),
              scalar(target, select(func.count()).select_from(Account)))
    with pytest.raises(ValidationError, match="already has users"):
        build_demo(target.ctx, seed=1, password=TEST_PASSWORD)
    after = (scalar(target, select(func.count()).select_from(AuditEntry)),
             scalar(target, select(func.count()).select_from(Transaction)),
             scalar(target, select(func.count()).select_from(Account)))
    assert after == before


def test_refuses_a_database_that_has_users(ws):
    _assert_refused(ws)


def test_refuses_a_second_build(demo_ws):
    _assert_refused(demo_ws)


@pytest.mark.parametrize("scale", [0, -1, 1.5, True])
def test_rejects_a_bad_scale(workspaces, scale):
    fresh = workspaces.open(None)
    with pytest.raises(ValidationError, match="scale"):
        build_demo(fresh.ctx, scale=scale, password=TEST_PASSWORD)
    assert scalar(fresh, select(func.count()).select_from(User)) == 0


def test_scale_two_roughly_doubles_the_ledger(workspaces, golden_facts):
    big = workspaces.open(None, "big.db")
    result = build_demo(big.ctx, seed=7, scale=2, password=TEST_PASSWORD)
    single = len(golden_facts["lines"])
    assert 1.8 <= result.transactions / single <= 2.2
    assert result.transactions == scalar(big, select(func.count()).select_from(Transaction))
    assert result.accounts == 8 and result.assets == 40
    minimums = dict(rows(big, select(Account.name, Account.min_balance_minor)))
    golden_minimums = {a.name: a.min_balance_minor for a in golden_facts["accounts"].values()}
    assert minimums == {k: 2 * v for k, v in golden_minimums.items()}
    login(big, "treasurer")
    assert all(v.balance >= v.min_balance for v in big.accounts.list_accounts())
