"""Opening a database into a ready-to-use set of services (used by app.py, cli.py and tests).

Order matters: resolve the key → open and verify → migrate in one transaction → unlock the
field-encryption key. Any failure is a DatabaseOpenError with a plain message and leaves the
file as it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from cio_desktop.config import Settings
from cio_desktop.events import EventBus
from cio_desktop.security.dbkey import DbKey, resolve_db_key
from cio_desktop.security.keystore import open_secret_store
from cio_desktop.services.accounts import AccountsService
from cio_desktop.services.compliance import ComplianceService
from cio_desktop.services.forecasting import ForecastService
from cio_desktop.services.budget import BudgetService
from cio_desktop.services.analytics import AnalyticsService
from cio_desktop.services.alerts import AlertsService
from cio_desktop.services.notifications import NotificationsService
from cio_desktop.services.market import MarketService
from cio_desktop.services.advisory import AdvisoryService
from cio_desktop.services.dashboard import DashboardService
from cio_desktop.services.reporting import ReportingService
from cio_desktop.services.approvals import ApprovalsService
from cio_desktop.services.audit import AuditService
from cio_desktop.services.backup import BackupService
from cio_desktop.services.auth import AuthService
from cio_desktop.services.context import Clock, ServiceContext, system_clock
from cio_desktop.services.keys import load_field_cipher
from cio_desktop.services.ledger import LedgerService
from cio_desktop.services.payments import PaymentsService
from cio_desktop.services.portfolio import PortfolioService
from cio_desktop.services.risk import RiskService
from cio_desktop.services.settings_admin import SettingsAdminService
from cio_desktop.services.statement_import import StatementImportService
from cio_desktop.services.sync import SyncService
from cio_desktop.services.users import UsersService
from cio_desktop.storage import migrate
from cio_desktop.storage.database import Database, connect

log = logging.getLogger(__name__)


@dataclass
class Workspace:
    """One open database with its services, bound to one (possibly not yet logged-in) user."""

    ctx: ServiceContext
    auth: AuthService = field(init=False)
    users: UsersService = field(init=False)
    accounts: AccountsService = field(init=False)
    ledger: LedgerService = field(init=False)
    audit: AuditService = field(init=False)
    imports: StatementImportService = field(init=False)
    approvals: ApprovalsService = field(init=False)
    sync: SyncService = field(init=False)
    payments: PaymentsService = field(init=False)
    portfolio: PortfolioService = field(init=False)
    risk: RiskService = field(init=False)
    compliance: ComplianceService = field(init=False)
    forecasts: ForecastService = field(init=False)
    budget: BudgetService = field(init=False)
    analytics: AnalyticsService = field(init=False)
    alerts: AlertsService = field(init=False)
    notifications: NotificationsService = field(init=False)
    market: MarketService = field(init=False)
    advisory: AdvisoryService = field(init=False)
    dashboard: DashboardService = field(init=False)
    reporting: ReportingService = field(init=False)
    backup: BackupService = field(init=False)

    def __post_init__(self) -> None:
        self.auth = AuthService(self.ctx)
        self.users = UsersService(self.ctx)
        self.accounts = AccountsService(self.ctx)
        self.ledger = LedgerService(self.ctx)
        self.audit = AuditService(self.ctx)
        self.imports = StatementImportService(self.ctx)
        self.approvals = ApprovalsService(self.ctx)
        self.sync = SyncService(self.ctx)
        self.payments = PaymentsService(self.ctx)
        self.portfolio = PortfolioService(self.ctx)
        self.risk = RiskService(self.ctx)
        self.compliance = ComplianceService(self.ctx)
        self.forecasts = ForecastService(self.ctx)
        self.budget = BudgetService(self.ctx)
        self.analytics = AnalyticsService(self.ctx)
        self.alerts = AlertsService(self.ctx)
        self.notifications = NotificationsService(self.ctx)
        self.market = MarketService(self.ctx)
        self.advisory = AdvisoryService(self.ctx)
        self.dashboard = DashboardService(self.ctx)
        self.reporting = ReportingService(self.ctx)
        self.backup = BackupService(self.ctx)
        self.settings_admin = SettingsAdminService(self.ctx)

    @property
    def db(self) -> Database:
        return self.ctx.db

    def close(self) -> None:
        self.ctx.db.dispose()


def open_database(settings: Settings, *, create: bool = False, key: DbKey | None = None,
                  prompt: Callable[[str], str] | None = None) -> Database:
    target = settings.db_target
    if key is None and not settings.is_postgres:
        store = open_secret_store(settings.data_dir)
        key = resolve_db_key(target, store, create=create, prompt=prompt)
    elif key is None:  # team mode: every member needs the same key, so none is invented here
        from cio_desktop.storage.team import team_key_target

        store = open_secret_store(settings.data_dir)
        key = resolve_db_key(team_key_target(target), store, create=False, prompt=prompt)
    db = connect(target, key, create=create, ca_file=settings.pg_ca_file or None,
                 insecure_hosts=settings.insecure_hosts)
    try:
        migrate.upgrade(db)
        if db.insecure_host:
            from cio_desktop.services.team import record_insecure_use

            record_insecure_use(db, db.insecure_host, "database")
    except Exception:
        db.dispose()
        raise
    return db


def open_workspace(settings: Settings, *, create: bool = False, key: DbKey | None = None,
                   prompt: Callable[[str], str] | None = None, clock: Clock = system_clock,
                   bus: EventBus | None = None) -> Workspace:
    db = open_database(settings, create=create, key=key, prompt=prompt)
    try:
        cipher = load_field_cipher(db)
    except Exception:
        db.dispose()
        raise
    ctx = ServiceContext(db=db, settings=settings, cipher=cipher, bus=bus or EventBus(), clock=clock)
    return Workspace(ctx)
