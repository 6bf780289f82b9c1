"""The one explicit list of panels, in sidebar order.

Sidebar entries, View-menu entries and shortcuts all come from here; a panel whose
``PERMISSION`` the session lacks is not shown. Shortcuts: Accounts Ctrl+1, Ledger Ctrl+2, …;
Connections Ctrl+3; Portfolio Ctrl+4; Risk Ctrl+5; Payments Ctrl+6; Users & Roles Ctrl+8 and My security Ctrl+9 stay last, leaving Ctrl+7
for panels to come.
"""

from __future__ import annotations

from cio_desktop.ui.panels.accounts import AccountsPanel
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.panels.connections import ConnectionsPanel
from cio_desktop.ui.panels.ledger import LedgerPanel
from cio_desktop.ui.panels.payments import PaymentsPanel
from cio_desktop.ui.panels.portfolio import PortfolioPanel
from cio_desktop.ui.panels.risk import RiskPanel
from cio_desktop.ui.panels.security import SecurityPanel
from cio_desktop.ui.panels.users import UsersPanel

PANELS: tuple[type[Panel], ...] = (
    AccountsPanel,
    LedgerPanel,
    PaymentsPanel,
    ConnectionsPanel,
    PortfolioPanel,
    RiskPanel,
    UsersPanel,
    SecurityPanel,
)
