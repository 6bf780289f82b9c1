"""Build the demo company into an empty database: users (one per role), Northwind Industrial
Holdings' bank accounts, two years of statement lines, two investment portfolios with five years
of prices, and five years of EURUSD/EURGBP rates.

Deterministic for a seed (only the anchor date, ``ctx.now()``, and the user passwords, which
come from ``secrets``, are not). The compliance rules are seeded first, so every payment is checked
against them; the payments step then adds beneficiaries and one or more payments in
every status (draft … reversed), made through the real payments service acting as the demo
treasurer, approver and admin, so their history, approvals and audit entries are the real thing. Each step is one transaction with its audit entries inside it;
the ledger — up to a million lines at ``scale=50`` — is generated day by day and written with
SQLAlchemy Core ``executemany`` in chunks inside one transaction, so no ORM object is built per
line and memory stays flat.
"""

from __future__ import annotations

import logging
import secrets
import string
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Iterator

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from cio_desktop.domain.demo_data import (COMPANY_NAME, business_days, float_to_decimal, iban,
                                          years_before)
from cio_desktop.domain.demo_ledger import ACCOUNTS, BANK_OF, DemoAccount, LedgerSimulator
from cio_desktop.domain.demo_market import (FX_PAIRS, FX_PLACES, PORTFOLIOS, AssetSpec,
                                            asset_universe, fx_paths, holdings_plan, price_paths)
from cio_desktop.domain.money import Money
from cio_desktop.errors import PasswordPolicyError, ValidationError
from cio_desktop.security import passwords
from cio_desktop.security.permissions import Role
from cio_desktop.services.accounts import add_account
from cio_desktop.services.audit import audit_log
from cio_desktop.services.context import ServiceContext
from cio_desktop.storage import search_index
from cio_desktop.services.ledger import search_text_for
from cio_desktop.services.users import provision_user
from cio_desktop.storage.models import (Asset, FxRate, Holding, ImportBatch, Portfolio, Price, Transaction,
                                        User)

log = logging.getLogger(__name__)

ACTOR = "demo"
CHUNK = 10_000
LEDGER_CACHE_KIB = 131_072  # SQLite page cache (128 MiB) while the ledger is written
MAX_SCALE = 500
PASSWORD_LENGTH = 20
_PASSWORD_ALPHABET = string.ascii_letters + string.digits + "-_.!@#%+="

DISPLAY_NAMES = {
    Role.ADMIN: "System Administrator",
    Role.TREASURER: "Group Treasurer",
    Role.APPROVER: "Payments Approver (CFO)",
    Role.ANALYST: "Treasury Analyst",
    Role.AUDITOR: "Internal Auditor",
    Role.VIEWER: "Read-only Viewer",
}

Progress = Callable[[str, float], None]


@dataclass
class DemoResult:
    users: dict[str, str]  # username -> password (the generated or given password)
    accounts: int
    transactions: int
    portfolios: int
    assets: int
    prices: int
    fx_rates: int
    payments: int = 0


def build_demo(ctx: ServiceContext, *, seed: int = 42, scale: int = 1, password: str | None = None,
               totp_secret: str | None = None, progress: Progress | None = None) -> DemoResult:
    """Fill an empty database with the demo company; refuses a database that has any user.

    ``scale`` multiplies the ledger's volume (≈ 20,000 lines × scale) and the account balances;
    ``password`` is given to every user, otherwise each gets its own random one (returned once);
    ``totp_secret`` enrols every user in TOTP MFA. ``progress(step, fraction)`` is called at
    each step and during the ledger.
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= MAX_SCALE:
        raise ValidationError(f"use a whole number from 1 to {MAX_SCALE}", field="scale")
    report = progress or (lambda step, fraction: None)
    started = time.perf_counter()
    _refuse_if_not_empty(ctx)

    today = ctx.now().date()
    ledger_start = years_before(today, 2)
    market_days = business_days(years_before(today, 5), today)
    # One independent stream per part, so changing one part never shifts the others.
    rng_accounts, rng_fx, rng_market, rng_ledger = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))

    report("users", 0.0)
    users = _create_users(ctx, password, totp_secret)

    report("bank accounts", 0.05)
    ledger_days = business_days(ledger_start, today)
    account_ids = _create_accounts(ctx, rng_accounts, scale, ledger_days[0])

    report("FX rates", 0.08)
    fx = fx_paths(rng_fx, len(market_days))
    fx_count = _load_fx(ctx, market_days, fx)

    report("assets and prices", 0.11)
    specs = asset_universe(rng_market, today)
    closes = price_paths(rng_market, specs, len(market_days))
    asset_ids, decimal_closes, price_count = _load_market(ctx, specs, market_days, closes)

    report("portfolios", 0.17)
    plans = holdings_plan(rng_market, specs, decimal_closes, market_days, fx)
    _create_portfolios(ctx, specs, asset_ids, plans)

    report("ledger", 0.2)
    fx_by_day = {d: {q: float(fx[q][i]) for q, _, _ in FX_PAIRS} for i, d in enumerate(market_days)}
    calendar = business_days(ledger_start, today + timedelta(days=14))  # room for value dates
    simulator = LedgerSimulator(rng_ledger, calendar, today, fx_by_day, scale)
    lines, batch_id = _load_ledger(ctx, simulator, account_ids, seed=seed, scale=scale,
                                   report=lambda f, step: report(step, 0.2 + 0.79 * f))

    report("compliance rules", 0.992)
    _seed_compliance(ctx)

    report("payments", 0.993)
    payment_count = _create_payments(ctx, account_ids)

    report("budgets", 0.9945)
    _seed_planning(ctx)

    report("indexing the ledger for text search", 0.995)
    search_index.catch_up(ctx.db)
    result = DemoResult(users=users, accounts=len(account_ids), transactions=lines,
                        portfolios=len(PORTFOLIOS), assets=len(specs), prices=price_count,
                        fx_rates=fx_count, payments=payment_count)
    report("done", 1.0)
    log.info("demo company built (seed %s, scale %s): %s ledger lines in %.1f s", seed, scale, lines,
             time.perf_counter() - started)
    ctx.bus.publish("accounts.changed", ids=list(account_ids.values()))
    ctx.bus.publish("ledger.changed", batch_id=batch_id, new=lines)
    ctx.bus.publish("demo.built", accounts=result.accounts, transactions=lines, portfolios=result.portfolios)
    return result


# -- steps ------------------------------------------------------------------------------------
def _seed_compliance(ctx: ServiceContext) -> None:
    """The default compliance rule set (issue 6), before the demo payments: every payment's
    checks then evaluate the rules in force, as they would for a real company."""
    from cio_desktop.services.compliance import seed_default_rules

    with ctx.db.unit_of_work() as uow:
        seed_default_rules(uow, ctx, actor=ACTOR)


def _seed_planning(ctx: ServiceContext) -> None:
    """Demo budgets for recent and coming months (issue 8), from the ledger just built."""
    from cio_desktop.services.budget import seed_demo_budget

    with ctx.db.unit_of_work() as uow:
        seed_demo_budget(uow, ctx, actor=ACTOR)


def _refuse_if_not_empty(ctx: ServiceContext) -> None:
    with ctx.db.unit_of_work(write=False) as uow:
        _check_empty(uow)


def _check_empty(uow: Session) -> None:
    if uow.execute(select(func.count()).select_from(User)).scalar_one():
        raise ValidationError("this database already has users: the demo company can only be built "
                              "into a new, empty database", field="database")


def random_password(username: str = "") -> str:
    """A strong random password (``PASSWORD_LENGTH`` characters) that passes the policy."""
    while True:
        candidate = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        try:
            passwords.check_policy(candidate, username)
        except PasswordPolicyError:
            continue
        if any(c.isdigit() for c in candidate) and any(c.isupper() for c in candidate):
            return candidate


def _create_users(ctx: ServiceContext, password: str | None, totp_secret: str | None) -> dict[str, str]:
    users: dict[str, str] = {}
    with ctx.db.unit_of_work() as uow:
        _check_empty(uow)
        for role in Role:
            secret = password if password is not None else random_password(role.value)
            provision_user(uow, ctx, username=role.value, role=role.value, password=secret,
                           display_name=DISPLAY_NAMES.get(role, ""), actor=ACTOR, totp_secret=totp_secret)
            users[role.value] = secret
    return users


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, n))


def account_number(rng: np.random.Generator, account: DemoAccount) -> str:
    """A checksum-valid IBAN in the account's bank's national format (DE, NL or GB)."""
    bank = BANK_OF[account.key]
    if bank.country == "DE":  # 8-digit bank code + 10-digit account
        return iban("DE", bank.bank_code + _digits(rng, 10))
    if bank.country == "NL":  # 4-letter bank code + 10-digit account
        return iban("NL", bank.bank_code + _digits(rng, 10))
    if bank.country == "GB":  # 4-letter bank code + 6-digit sort code + 8-digit account
        return iban("GB", bank.bank_code + "40" + _digits(rng, 4) + _digits(rng, 8))
    raise ValueError(f"no IBAN format for {bank.country}")


def _create_accounts(ctx: ServiceContext, rng: np.random.Generator, scale: int,
                     opening_date: date) -> dict[str, int]:
    ids: dict[str, int] = {}
    with ctx.db.unit_of_work() as uow:
        for spec in ACCOUNTS:
            bank = BANK_OF[spec.key]
            account = add_account(
                uow, ctx, name=spec.name, institution=bank.name, number=account_number(rng, spec),
                currency=spec.currency, bic=bank.bic, account_type=spec.account_type,
                min_balance=Money.from_minor(spec.minimum * 100 * scale, spec.currency).amount,
                opening_balance=Money.from_minor(spec.opening * 100 * scale, spec.currency).amount,
                opening_date=opening_date, actor=ACTOR)
            ids[spec.key] = account.id
    return ids


def _load_fx(ctx: ServiceContext, days: list[date], fx: dict[str, np.ndarray]) -> int:
    rows = [{"rate_date": d, "base": "EUR", "quote": quote, "rate": float_to_decimal(float(fx[quote][i]), FX_PLACES)}
            for quote, _, _ in FX_PAIRS for i, d in enumerate(days)]
    with ctx.db.unit_of_work() as uow:
        uow.connection().execute(insert(FxRate), rows)
        audit_log(uow, actor=ACTOR, action="fx.loaded", entity="import_batch", entity_id="demo-fx",
                  after={"rates": len(rows), "pairs": [f"EUR/{q}" for q, _, _ in FX_PAIRS],
                         "from": days[0], "to": days[-1]}, at=ctx.now())
    return len(rows)


def _load_market(ctx: ServiceContext, specs: list[AssetSpec], days: list[date],
                 closes: np.ndarray) -> tuple[list[int], list[list], int]:
    """Insert the instruments and their closes; returns their ids, the closes as Decimals
    (row per day, column per spec) and the number of price rows."""
    decimal_closes = [[float_to_decimal(float(closes[t, j]), spec.places) for j, spec in enumerate(specs)]
                      for t in range(len(days))]
    with ctx.db.unit_of_work() as uow:
        assets = [Asset(identifier=s.identifier, name=s.name, asset_class=s.asset_class, sector=s.sector,
                        country=s.country, currency=s.currency, issuer=s.issuer, rating=s.rating)
                  for s in specs]
        uow.add_all(assets)
        uow.flush()
        ids = [a.id for a in assets]
        classes: dict[str, int] = {}
        for s in specs:
            classes[s.asset_class] = classes.get(s.asset_class, 0) + 1
        audit_log(uow, actor=ACTOR, action="assets.loaded", entity="import_batch", entity_id="demo-assets",
                  after={"assets": len(ids), "classes": classes}, at=ctx.now())
        conn, count = uow.connection(), 0
        for t0 in range(0, len(days), 500):
            rows = [{"asset_id": ids[j], "price_date": days[t], "close": decimal_closes[t][j]}
                    for t in range(t0, min(t0 + 500, len(days))) for j in range(len(specs))]
            conn.execute(insert(Price), rows)
            count += len(rows)
        audit_log(uow, actor=ACTOR, action="prices.loaded", entity="import_batch", entity_id="demo-prices",
                  after={"prices": count, "assets": len(ids), "from": days[0], "to": days[-1]}, at=ctx.now())
    return ids, decimal_closes, count


def _create_portfolios(ctx: ServiceContext, specs: list[AssetSpec], asset_ids: list[int], plans: list) -> None:
    for name, base, description, _target in PORTFOLIOS:
        with ctx.db.unit_of_work() as uow:
            portfolio = Portfolio(name=name, base_currency=base, description=description, created_at=ctx.now())
            uow.add(portfolio)
            uow.flush()
            audit_log(uow, actor=ACTOR, action="portfolio.created", entity="portfolio", entity_id=portfolio.id,
                      after={"name": name, "base_currency": base}, at=ctx.now())
            mine = [p for p in plans if p.portfolio == name]
            uow.add_all([Holding(portfolio_id=portfolio.id, asset_id=asset_ids[p.asset], quantity=p.quantity,
                                 cost_minor=p.cost_minor) for p in mine])
            uow.flush()
            audit_log(uow, actor=ACTOR, action="holdings.loaded", entity="portfolio", entity_id=portfolio.id,
                      after={"holdings": len(mine),
                             "identifiers": [specs[p.asset].identifier for p in mine]}, at=ctx.now())


@contextmanager
def _big_page_cache(uow: Session, kind: str) -> Iterator[None]:
    """SQLite only: a larger page cache while the ledger's indexes grow (the default 2 MiB makes
    SQLCipher re-read and decrypt index pages over and over), restored afterwards because the
    connection goes back to the pool."""
    if kind != "sqlite":
        yield
        return
    conn = uow.connection()
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{LEDGER_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def _load_ledger(ctx: ServiceContext, simulator: LedgerSimulator, account_ids: dict[str, int], *,
                 seed: int, scale: int, report: Callable[[float, str], None]) -> tuple[int, int]:
    currency = {a.key: a.currency for a in ACCOUNTS}
    created = ctx.now()
    total_days = len(simulator.ledger_days)
    count, done, month = 0, 0, None
    first = last = None
    with ctx.db.unit_of_work() as uow, _big_page_cache(uow, ctx.db.kind):
        batch = ImportBatch(source=f"demo: {COMPANY_NAME} (seed {seed}, scale {scale})", kind="demo",
                            format="demo", actor=ACTOR, imported_at=created)
        uow.add(batch)
        uow.flush()
        conn = uow.connection()
        chunk: list[dict] = []
        for day, lines in simulator.run():
            done += 1
            first = first or day
            last = day
            for ln in lines:
                chunk.append({
                    "account_id": account_ids[ln.account], "booking_date": ln.booking_date,
                    "value_date": ln.value_date, "amount_minor": ln.amount_minor,
                    "currency": currency[ln.account], "counterparty": ln.counterparty,
                    "bank_reference": ln.bank_reference, "description": ln.description,
                    "category": ln.category, "bank_code": ln.bank_code, "source": "demo",
                    "import_batch_id": batch.id,
                    "search_text": search_text_for(ln.counterparty, ln.bank_reference, ln.description,
                                                   ln.category),
                    "created_at": created})
            if len(chunk) >= CHUNK:
                conn.execute(insert(Transaction), chunk)
                count += len(chunk)
                chunk = []
            if (day.year, day.month) != month:
                month = (day.year, day.month)
                report(done / total_days, f"ledger {day:%Y-%m}")
        if chunk:
            conn.execute(insert(Transaction), chunk)
            count += len(chunk)
        batch.lines_new, batch.statements = count, len(account_ids)
        audit_log(uow, actor=ACTOR, action="ledger.imported", entity="import_batch", entity_id=batch.id,
                  after={"source": "demo", "lines": count, "accounts": len(account_ids), "from": first,
                         "to": last, "company": COMPANY_NAME, "seed": seed, "scale": scale}, at=ctx.now())
    return count, batch.id


# -- payments ----------------------------------------------------------------------------------------
#: Suppliers already paid in the ledger's history (so not "new"), plus one new beneficiary.
DEMO_BENEFICIARIES = (
    # key, name, country, BBAN (IBAN built from it) or plain account, BIC, known supplier
    ("rhenus", "Rhenus Logistik GmbH", "DE", "500105175407324931", "COBADEFFXXX", True),
    ("vdberg", "Van der Berg Verpakkingen B.V.", "NL", "INGB0007356212", "INGBNL2A", True),
    ("lyon", "Lyon Acier SA", "FR", "30006000011234567890189", "BNPAFRPP", True),
    ("bristol", "Bristol Components Ltd", "GB", "NWBK60161331926819", "NWBKGB2L", True),
    ("milano", "Milano Meccanica S.p.A.", "IT", "X0542811101000000123456", "BCITITMM", True),
    ("atlantic", "Atlantic Freight Inc", "US", "000123456789", "BOFAUS3N", True),   # not an IBAN country
    ("minsk", "Minsk Tractor Parts OAO", "BY", "NBRB3600900000002Z00AB00", "BPSBBY2X", True),
    ("nordic", "Nordic Sensors AB", "SE", "50000000058398257466", "ESSESESS", False),
)
DEMO_DAILY_LIMIT_EUR = "750000"


def _acting(ctx: ServiceContext, username: str) -> ServiceContext:
    """A copy of ``ctx`` with a session for a demo user (fresh MFA): the builder acts on their
    behalf through the real services, so every check and audit entry is the ordinary one."""
    import dataclasses

    from cio_desktop.services.auth import role_permissions
    from cio_desktop.services.session import AuthSession

    with ctx.db.unit_of_work(write=False) as uow:
        user = uow.execute(select(User).where(User.username == username)).scalar_one()
        perms = role_permissions(uow, user.role)
    now = ctx.now()
    session = AuthSession(user_id=user.id, username=user.username, role=user.role, permissions=perms,
                          started_at=now, last_activity=now, mfa_enabled=True, mfa_verified_at=now,
                          extra={"demo_builder": True})
    return dataclasses.replace(ctx, session=session)


def _embargo(ctx: ServiceContext, country: str, note: str) -> None:
    """Add ``country`` to the "Embargoed countries" rule as the demo admin (compliance officer),
    through the real service: a new rule version with its audit entry, in force for the next check."""
    from cio_desktop.services.compliance import ComplianceService, RuleChange

    compliance = ComplianceService(_acting(ctx, Role.ADMIN.value))
    rule = next(r for r in compliance.rules() if r.rule_type == "country_block")
    countries = list(rule.parameters.get("countries", []))
    if country not in countries:
        compliance.update_rules([RuleChange(rule_id=rule.id, parameters={**rule.parameters,
                                                                         "countries": [*countries, country]},
                                            note=note)])


def _create_payments(ctx: ServiceContext, account_ids: dict[str, int]) -> int:
    from cio_desktop.services.payments import PaymentsService, add_beneficiary
    from cio_desktop.storage.models import AppMeta

    today = ctx.now().date()
    accounts = {key: iban(country, bban) if country != "US" else bban
                for key, _, country, bban, _, _ in DEMO_BENEFICIARIES}
    with ctx.db.unit_of_work() as uow:
        uow.merge(AppMeta(key="company.name", value=COMPANY_NAME))
        for key, name, country, _, bic, known in DEMO_BENEFICIARIES:
            add_beneficiary(uow, ctx, name=name, account=accounts[key], bic=bic, country=country,
                            first_used_on=years_before(today, 1) if known else None, actor=ACTOR)
        audit_log(uow, actor=ACTOR, action="payments.demo_setup", entity="app_meta", entity_id="company.name",
                  after={"company": COMPANY_NAME, "beneficiaries": len(DEMO_BENEFICIARIES)}, at=ctx.now())
    admin = PaymentsService(_acting(ctx, Role.ADMIN.value))
    treasurer = PaymentsService(_acting(ctx, Role.TREASURER.value))
    approver = PaymentsService(_acting(ctx, Role.APPROVER.value))
    admin.set_daily_limit(Role.TREASURER.value, "EUR", DEMO_DAILY_LIMIT_EUR)
    eur, gbp, usd = account_ids["eur_main"], account_ids["gbp_main"], account_ids["usd_main"]
    days = lambda n: today + timedelta(days=n)  # noqa: E731

    def pay(account: int, key: str, amount: str, when: date, purpose: str, **kw) -> int:  # noqa: ANN003
        name = next(n for k, n, *_ in DEMO_BENEFICIARIES if k == key)
        bic = next(b for k, _, _, _, b, _ in DEMO_BENEFICIARIES if k == key)
        country = next(c for k, _, c, *_ in DEMO_BENEFICIARIES if k == key)
        return treasurer.schedule_transaction(account_id=account, beneficiary_name=name,
                                              beneficiary_account=accounts[key], beneficiary_bic=bic,
                                              country=country, amount=amount, execution_date=when,
                                              purpose=purpose, **kw).payment.id

    # failed: checked and approved while Belarus was not on the embargo list; then compliance
    # added it (a new version of the rule) and the payments desk blocked the country before the
    # due-payment tick, which fails the payment with the reason
    failed = pay(eur, "minsk", "4100.00", today, "Spare parts order 88-114")
    approver.approve(failed, "ok")
    _embargo(ctx, "BY", "sanctions screening: Belarus added to the embargo (demo)")
    admin.block_country("BY", "sanctions screening: no new payments (demo)")
    treasurer.execute_due()
    # draft, pending approval (1 of 2 and 0 of 2), rejected, cancelled
    pay(eur, "rhenus", "18450.00", days(7), "Invoice 2026-1187 freight October", submit=False)
    big = pay(eur, "lyon", "245000.00", days(3), "Steel coils contract SC-2026-07 instalment 3")
    approver.approve(big, "contract checked; second approval needed")
    pay(eur, "nordic", "12300.00", days(2), "Sensor modules PO 4471 (first order)")
    rejected = pay(eur, "lyon", "5600.00", days(2), "Invoice FA-20931")
    approver.reject(rejected, "duplicate of invoice FA-20913 paid last week")
    cancelled = pay(gbp, "bristol", "2340.00", days(4), "Invoice BC-5521")
    treasurer.cancel_transaction(cancelled, "the supplier sent a credit note")
    # executed (not yet on a statement) and reversed
    executed = pay(eur, "rhenus", "9875.00", today, "Invoice 2026-1102 freight September")
    approver.approve(executed, "ok")
    treasurer.execute_transaction(executed)
    reversed_ = pay(eur, "vdberg", "1250.00", today, "Invoice VB-7781 packaging samples")
    approver.approve(reversed_, "ok")
    treasurer.execute_transaction(reversed_)
    treasurer.rollback_transaction(reversed_, "paid against the wrong invoice; the supplier refunds it")
    # approved (due today: ready for a payment file) and scheduled (future dates)
    for account, key, amount, purpose in ((eur, "vdberg", "8920.50", "Invoice VB-7790 cartons"),
                                          (gbp, "bristol", "14200.00", "Invoice BC-5530 housings"),
                                          (usd, "atlantic", "23750.00", "Ocean freight B/L 7781203")):
        approver.approve(pay(account, key, amount, today, purpose), "ok")
    approver.approve(pay(eur, "milano", "31000.00", days(5), "Gearboxes order MM-2026-311"), "ok")
    transfer = treasurer.schedule_transfer(account_id=account_ids["eur_collect"], to_account_id=eur,
                                           amount="75000.00", execution_date=days(1),
                                           purpose="Cash pooling: collections to operating").payment.id
    approver.approve(transfer, "ok")
    with ctx.db.unit_of_work(write=False) as uow:
        from cio_desktop.storage.models import Payment

        return uow.execute(select(func.count()).select_from(Payment)).scalar_one()
