"""The core entities. Money columns are ``*_minor`` integers beside a currency column;
timestamps are aware UTC; account numbers and secrets are stored only field-encrypted."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (BigInteger, Boolean, Date, ForeignKey, Index, Integer, MetaData, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from cio_desktop.storage.types import ScaledDecimal, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class AppMeta(Base):
    """Key/value facts about this database (schema owner, wrapped field key, salts)."""

    __tablename__ = "app_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    mfa_secret_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    mfa_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RolePermission(Base):
    __tablename__ = "role_permissions"
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    permission: Mapped[str] = mapped_column(String(64), primary_key=True)


class Account(Base):
    """A bank or cash account. The number is kept only encrypted (``number_enc``), with a blind
    index for look-ups and a masked form for display."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    institution: Mapped[str] = mapped_column(String(128))
    bic: Mapped[str] = mapped_column(String(11), default="")
    number_enc: Mapped[str] = mapped_column(Text)
    number_index: Mapped[str] = mapped_column(String(64), unique=True)
    number_masked: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    account_type: Mapped[str] = mapped_column(String(32), default="current")
    min_balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    opening_balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    opening_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Transaction(Base):
    """A booked statement line or an executed payment. Natural key: account + bank reference +
    booking date + amount — the same line imported twice is the same row."""

    __tablename__ = "transactions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    booking_date: Mapped[date] = mapped_column(Date)
    value_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    counterparty: Mapped[str] = mapped_column(String(140), default="")
    bank_reference: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500), default="")
    category: Mapped[str] = mapped_column(String(64), default="")
    bank_code: Mapped[str] = mapped_column(String(32), default="")
    source: Mapped[str] = mapped_column(String(64), default="manual")
    #: the payment's end-to-end id as the bank reports it (pain.001 → camt.053 round trip, 0008)
    end_to_end_id: Mapped[str | None] = mapped_column(String(35), nullable=True)
    import_batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # → import_batches.id
    #: lower-cased counterparty, reference, description and category: one column to search.
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("account_id", "bank_reference", "booking_date", "amount_minor",
                         name="uq_transactions_natural_key"),
        Index("ix_transactions_booking", "booking_date", "id"),
        # covering: balances and balance history read amounts from the index alone (0002)
        Index("ix_transactions_account_booking_amount", "account_id", "booking_date", "id",
              "amount_minor"),
        Index("ix_transactions_amount", "amount_minor", "id"),
        Index("ix_transactions_counterparty", "counterparty", "id"),
    )


class ImportBatch(Base):
    """One imported file (or one sync batch): what came in, from where, and what it added."""

    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(255))       # file name or connection name
    kind: Mapped[str] = mapped_column(String(16))          # file | sync
    format: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64), default="")
    lines_new: Mapped[int] = mapped_column(Integer, default=0)
    lines_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    statements: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_import_batches_sha256", "sha256"),)


class CsvProfileRow(Base):
    """A saved CSV column-mapping profile (JSON), usually one per bank export shape."""

    __tablename__ = "csv_profiles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    definition: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApprovalRequest(Base):
    """Four-eyes control on any entity (payments first): who asked, how many distinct approvals
    it needs, and where it stands. ``version`` guards against two approvers racing."""

    __tablename__ = "approval_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    requested_by: Mapped[str] = mapped_column(String(64))
    required_approvals: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending/approved/rejected/withdrawn
    summary: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (Index("ix_approval_requests_entity", "entity", "entity_id"),
                      Index("ix_approval_requests_status", "status"))


class ApprovalDecision(Base):
    __tablename__ = "approval_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("approval_requests.id"))
    approver: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))  # approve / reject
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("request_id", "approver", name="uq_approval_decisions_request_approver"),)


class Connection(Base):
    """A banking, accounting or investment-platform API this workstation synchronises with.
    Secrets (client secret, API key, key passphrase) live only in ``credentials_enc``."""

    __tablename__ = "connections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))            # banking | accounting | investment
    base_url: Mapped[str] = mapped_column(String(500))
    auth_kind: Mapped[str] = mapped_column(String(16))       # oauth2 | api_key | client_cert | none
    settings_json: Mapped[str] = mapped_column(Text, default="{}")  # token_url, client_id, scope, paths...
    credentials_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    interval_minutes: Mapped[int] = mapped_column(Integer, default=15)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    cursor_json: Mapped[str] = mapped_column(Text, default="{}")
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: 0014: who last changed what a user configures (URL, settings, secrets, interval) and when.
    #: ``version`` moves on every sync, so it cannot tell an edit dialog whether another user
    #: saved meanwhile; these only move on a configuration change (team mode, issue 12).
    settings_updated_by: Mapped[str] = mapped_column(String(64), default="system")
    settings_updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}


class SyncRun(Base):
    __tablename__ = "sync_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16))          # running | ok | failed
    lines_new: Mapped[int] = mapped_column(Integer, default=0)
    lines_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_sync_runs_connection_started", "connection_id", "started_at"),)


class OpenItem(Base):
    """An open payable or receivable from an accounting system (feeds the cash forecast)."""

    __tablename__ = "open_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))            # payable | receivable
    counterparty: Mapped[str] = mapped_column(String(140), default="")
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    due_date: Mapped[date] = mapped_column(Date)
    issue_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    document_no: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("connection_id", "external_id", name="uq_open_items_connection_external"),
                      Index("ix_open_items_due", "status", "due_date"))


class Portfolio(Base):
    __tablename__ = "portfolios"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    base_currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    holdings: Mapped[list["Holding"]] = relationship(back_populates="portfolio")


class Asset(Base):
    __tablename__ = "assets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(32), unique=True)  # ISIN or ticker
    name: Mapped[str] = mapped_column(String(200))
    asset_class: Mapped[str] = mapped_column(String(32))  # equity, bond, money_market, cash, ...
    sector: Mapped[str] = mapped_column(String(64), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    currency: Mapped[str] = mapped_column(String(3))
    issuer: Mapped[str] = mapped_column(String(128), default="")
    rating: Mapped[str] = mapped_column(String(8), default="")


class Holding(Base):
    __tablename__ = "holdings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"))
    quantity: Mapped[Decimal] = mapped_column(ScaledDecimal(6))
    cost_minor: Mapped[int] = mapped_column(BigInteger)  # total cost in the asset's currency
    portfolio: Mapped[Portfolio] = relationship(back_populates="holdings")
    asset: Mapped[Asset] = relationship()

    __table_args__ = (UniqueConstraint("portfolio_id", "asset_id", name="uq_holdings_portfolio_asset"),)


class Price(Base):
    __tablename__ = "prices"
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), primary_key=True)
    price_date: Mapped[date] = mapped_column(Date, primary_key=True)
    close: Mapped[Decimal] = mapped_column(ScaledDecimal(6))


class FxRate(Base):
    """``rate`` = units of ``quote`` per one unit of ``base`` on ``rate_date``."""

    __tablename__ = "fx_rates"
    rate_date: Mapped[date] = mapped_column(Date, primary_key=True)
    base: Mapped[str] = mapped_column(String(3), primary_key=True)
    quote: Mapped[str] = mapped_column(String(3), primary_key=True)
    rate: Mapped[Decimal] = mapped_column(ScaledDecimal(8))


class AuditEntry(Base):
    """Append-only. ``hash`` = SHA-256 over this entry's content and ``prev_hash``."""

    __tablename__ = "audit_entries"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64), default="")
    summary: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_entries_entity", "entity", "entity_id"),)


class AuditHead(Base):
    """One row: the last entry's id and hash. Appends lock it, which serialises writers and
    makes deleting the newest entries detectable."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


# -- payments (0008) ------------------------------------------------------------------------------
class ApprovalPolicyRule(Base):
    """Approval policy as data: from ``min_amount_minor`` (inclusive) a payment in ``currency``
    of ``payment_kind`` ("any", "external", "internal") needs ``required_approvals`` distinct
    approvers; the row with the highest threshold not above the amount applies."""

    __tablename__ = "approval_policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    payment_kind: Mapped[str] = mapped_column(String(16), default="any")
    min_amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    required_approvals: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)  # 0013: two editors never overwrite

    __table_args__ = (UniqueConstraint("currency", "payment_kind", "min_amount_minor",
                                       name="uq_approval_policies_rule"),)
    __mapper_args__ = {"version_id_col": version}


class PaymentDailyLimit(Base):
    """Per-user daily limit per currency: above it a payment needs one extra approval."""

    __tablename__ = "payment_daily_limits"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    limit_minor: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)  # 0013: two editors never overwrite

    __mapper_args__ = {"version_id_col": version}


class BlockedCountry(Base):
    """Payments to (IBAN, BIC or stated) countries listed here are refused."""

    __tablename__ = "blocked_countries"
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(64), default="")
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Beneficiary(Base):
    """A payee, found again by the blind index of its account. ``first_used_on`` is the date of
    the first executed payment to it; until then it is new (one extra approval)."""

    __tablename__ = "beneficiaries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(140))
    account_enc: Mapped[str] = mapped_column(Text)
    account_index: Mapped[str] = mapped_column(String(64), unique=True)
    account_masked: Mapped[str] = mapped_column(String(64))
    bic: Mapped[str] = mapped_column(String(11), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    first_used_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payment(Base):
    """An outgoing payment (``kind`` external) or a transfer between own accounts (internal,
    ``credit_account_id`` set). The beneficiary account is kept only encrypted, with a blind
    index and a masked form. ``status`` changes only through ``services.payments`` by a
    compare-and-set on ``status`` and ``version``."""

    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="external")
    status: Mapped[str] = mapped_column(String(20), default="draft")
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    credit_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiaries.id"), nullable=True)
    beneficiary_name: Mapped[str] = mapped_column(String(140))
    account_enc: Mapped[str] = mapped_column(Text)
    account_index: Mapped[str] = mapped_column(String(64))
    account_masked: Mapped[str] = mapped_column(String(64))
    account_is_iban: Mapped[bool] = mapped_column(Boolean, default=True)
    bic: Mapped[str] = mapped_column(String(11), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    execution_date: Mapped[date] = mapped_column(Date)
    purpose: Mapped[str] = mapped_column(String(140), default="")
    end_to_end_id: Mapped[str] = mapped_column(String(35), unique=True)
    batch: Mapped[str] = mapped_column(String(35), default="")
    requested_by: Mapped[str] = mapped_column(String(64))
    required_approvals: Mapped[int] = mapped_column(Integer, default=0)
    approval_reasons: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of plain words
    approval_request_id: Mapped[int | None] = mapped_column(ForeignKey("approval_requests.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    booked_transaction_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("transactions.id"), nullable=True)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    file_path: Mapped[str] = mapped_column(String(500), default="")
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_payments_status_date", "status", "execution_date"),
        Index("ix_payments_debit_status", "debit_account_id", "status"),
        Index("ix_payments_account_index", "account_index"),
        Index("ix_payments_batch", "batch"),
        Index("ix_payments_requested", "requested_by", "created_at"),
    )


class PaymentEvent(Base):
    """The payment's history: every status change (and export / booking notes, where
    ``from_status`` equals ``to_status``) with who, when and why. Append-only."""

    __tablename__ = "payment_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    from_status: Mapped[str] = mapped_column(String(20), default="")
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_payment_events_payment", "payment_id", "id"),)


class PaymentReversal(Base):
    """The record that offsets a reversed payment in the funds check; when the bank had already
    booked the payment, ``transaction_id`` is the reversing ledger line (source "reversal")."""

    __tablename__ = "payment_reversals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    was_booked: Mapped[bool] = mapped_column(Boolean, default=False)
    transaction_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("transactions.id"), nullable=True)
    reversed_by: Mapped[str] = mapped_column(String(64))
    reversed_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Domain modules with their own tables (imported last: they need ``Base``).
from cio_desktop.storage import models_compliance  # noqa: E402,F401
from cio_desktop.storage import models_planning  # noqa: E402,F401
from cio_desktop.storage import models_alerts  # noqa: E402,F401
from cio_desktop.storage import models_market  # noqa: E402,F401
