"""Roles, permissions and the default role→permission matrix (kept as data).

The matrix below is what migrations seed into the ``role_permissions`` table; at run time the
table is the authority (an admin may edit it, audited). ``SENSITIVE`` lists the permissions
whose use needs a fresh TOTP verification.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    TREASURER = "treasurer"
    APPROVER = "approver"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    VIEWER = "viewer"


class Permission(StrEnum):
    ACCOUNTS_READ = "accounts.read"
    ACCOUNTS_WRITE = "accounts.write"
    ACCOUNT_NUMBER_REVEAL = "accounts.reveal_number"
    LEDGER_READ = "ledger.read"
    LEDGER_IMPORT = "ledger.import"
    CONNECTIONS_MANAGE = "connections.manage"
    SYNC_RUN = "sync.run"
    PAYMENTS_READ = "payments.read"
    PAYMENTS_CREATE = "payments.create"
    PAYMENTS_APPROVE = "payments.approve"
    PAYMENTS_EXECUTE = "payments.execute"
    PAYMENTS_CANCEL = "payments.cancel"
    COMPLIANCE_READ = "compliance.read"
    COMPLIANCE_MANAGE = "compliance.manage"
    PORTFOLIO_READ = "portfolio.read"
    PORTFOLIO_MANAGE = "portfolio.manage"
    RISK_READ = "risk.read"
    FORECAST_READ = "forecast.read"
    BUDGET_MANAGE = "budget.manage"
    MARKET_READ = "market.read"
    ADVISORY_READ = "advisory.read"
    ALERTS_READ = "alerts.read"
    ALERTS_MANAGE = "alerts.manage"
    REPORTS_EXPORT = "reports.export"
    EXPORT_UNMASKED = "reports.export_unmasked"
    AUDIT_READ = "audit.read"
    USERS_READ = "users.read"
    USERS_MANAGE = "users.manage"
    ROLES_MANAGE = "roles.manage"
    JOBS_MANAGE = "jobs.manage"
    SETTINGS_MANAGE = "settings.manage"


#: Using any of these needs a TOTP verification younger than ``mfa_fresh_minutes``.
SENSITIVE: frozenset[Permission] = frozenset({
    Permission.PAYMENTS_APPROVE,
    Permission.PAYMENTS_EXECUTE,
    Permission.COMPLIANCE_MANAGE,
    Permission.USERS_MANAGE,
    Permission.ROLES_MANAGE,
    Permission.CONNECTIONS_MANAGE,
    Permission.ACCOUNT_NUMBER_REVEAL,
    Permission.EXPORT_UNMASKED,
})

_READ_BUSINESS = {
    Permission.ACCOUNTS_READ, Permission.LEDGER_READ, Permission.PAYMENTS_READ,
    Permission.COMPLIANCE_READ, Permission.PORTFOLIO_READ, Permission.RISK_READ,
    Permission.FORECAST_READ, Permission.MARKET_READ, Permission.ADVISORY_READ,
    Permission.ALERTS_READ,
}

#: Segregation of duties: the administrator runs the system but moves no money; the auditor
#: reads everything and changes nothing; the approver approves what a treasurer requested.
DEFAULT_MATRIX: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(_READ_BUSINESS | {
        Permission.ACCOUNTS_WRITE, Permission.CONNECTIONS_MANAGE, Permission.SYNC_RUN,
        Permission.COMPLIANCE_MANAGE, Permission.AUDIT_READ, Permission.USERS_READ,
        Permission.USERS_MANAGE, Permission.ROLES_MANAGE, Permission.JOBS_MANAGE,
        Permission.SETTINGS_MANAGE, Permission.ALERTS_MANAGE, Permission.REPORTS_EXPORT,
    }),
    Role.TREASURER: frozenset(_READ_BUSINESS | {
        Permission.ACCOUNTS_WRITE, Permission.ACCOUNT_NUMBER_REVEAL, Permission.LEDGER_IMPORT,
        Permission.CONNECTIONS_MANAGE, Permission.SYNC_RUN, Permission.PAYMENTS_CREATE,
        Permission.PAYMENTS_EXECUTE, Permission.PAYMENTS_CANCEL, Permission.PORTFOLIO_MANAGE,
        Permission.BUDGET_MANAGE, Permission.ALERTS_MANAGE, Permission.REPORTS_EXPORT,
        Permission.EXPORT_UNMASKED, Permission.JOBS_MANAGE,
    }),
    Role.APPROVER: frozenset(_READ_BUSINESS | {
        Permission.PAYMENTS_APPROVE, Permission.ACCOUNT_NUMBER_REVEAL, Permission.REPORTS_EXPORT,
    }),
    Role.ANALYST: frozenset(_READ_BUSINESS | {
        Permission.BUDGET_MANAGE, Permission.REPORTS_EXPORT,
    }),
    Role.AUDITOR: frozenset(_READ_BUSINESS | {
        Permission.AUDIT_READ, Permission.USERS_READ, Permission.REPORTS_EXPORT,
    }),
    Role.VIEWER: frozenset({
        Permission.ACCOUNTS_READ, Permission.LEDGER_READ, Permission.PORTFOLIO_READ,
        Permission.ALERTS_READ,
    }),
}


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise ValueError(f"unknown role '{value}'; roles are {', '.join(r.value for r in Role)}") from None
