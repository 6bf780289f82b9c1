"""The one explicit list of panels, in sidebar order.

Sidebar entries, View-menu entries and shortcuts all come from here; a panel whose
``PERMISSION`` the session lacks is not shown. The order follows a treasurer's day: the
overview (Dashboard Ctrl+0, Alerts Ctrl+Shift+N), cash (Accounts Ctrl+1, Ledger Ctrl+2,
Payments Ctrl+6, Cash Forecast Ctrl+Shift+F, Budget Ctrl+Shift+B), investments (Portfolio
Ctrl+4, Risk Ctrl+5, Market Ctrl+Shift+M, Opportunities Ctrl+Shift+O, Advisory Ctrl+Shift+V),
control (Compliance Ctrl+7, Analytics Ctrl+Shift+A) and administration (Connections Ctrl+3,
Jobs Ctrl+Shift+J, Users & Roles Ctrl+8, My security Ctrl+9).
"""

from __future__ import annotations

from cio_desktop.ui.panels.accounts import AccountsPanel
from cio_desktop.ui.panels.advisory import AdvisoryPanel
from cio_desktop.ui.panels.alerts import AlertsPanel
from cio_desktop.ui.panels.analytics import AnalyticsPanel
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.panels.budget import BudgetPanel
from cio_desktop.ui.panels.compliance import CompliancePanel
from cio_desktop.ui.panels.connections import ConnectionsPanel
from cio_desktop.ui.panels.dashboard import DashboardPanel
from cio_desktop.ui.panels.forecast import ForecastPanel
from cio_desktop.ui.panels.jobs import JobsPanel
from cio_desktop.ui.panels.ledger import LedgerPanel
from cio_desktop.ui.panels.market import MarketPanel
from cio_desktop.ui.panels.opportunities import OpportunitiesPanel
from cio_desktop.ui.panels.payments import PaymentsPanel
from cio_desktop.ui.panels.portfolio import PortfolioPanel
from cio_desktop.ui.panels.risk import RiskPanel
from cio_desktop.ui.panels.security import SecurityPanel
from cio_desktop.ui.panels.users import UsersPanel

PANELS: tuple[type[Panel], ...] = (
    DashboardPanel,
    AlertsPanel,
    AccountsPanel,
    LedgerPanel,
    PaymentsPanel,
    ForecastPanel,
    BudgetPanel,
    PortfolioPanel,
    RiskPanel,
    MarketPanel,
    OpportunitiesPanel,
    AdvisoryPanel,
    CompliancePanel,
    AnalyticsPanel,
    ConnectionsPanel,
    JobsPanel,
    UsersPanel,
    SecurityPanel,
)
