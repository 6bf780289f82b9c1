"""payments: payments, their history and reversals, beneficiaries, the approval policy (seeded),
per-user daily limits, blocked countries (empty); transactions.end_to_end_id

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 10:00:00

``transactions.end_to_end_id`` is a plain nullable column (no table rebuild on SQLite, so the
full-text triggers of 0007 stay as they are) and unindexed: bookings are matched per account
over recent booking dates, which the covering index of 0002 already serves. The approval policy
is seeded with the defaults (EUR, USD, GBP: from 0 one approval, from 100,000 two) and the
payment control settings with theirs (approval requests expire after 5 days; the duplicate
window is 7 days), all editable as data.
"""
from alembic import op
import sqlalchemy as sa
import cio_desktop.storage.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

TS = cio_desktop.storage.types.UTCDateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

POLICY_SEED = [(cur, 0, 1) for cur in ("EUR", "USD", "GBP")] + \
              [(cur, 100_000_00, 2) for cur in ("EUR", "USD", "GBP")]
SETTINGS_SEED = {"payments.approval_expiry_days": "5", "payments.duplicate_window_days": "7"}


def upgrade() -> None:
    op.add_column('transactions', sa.Column('end_to_end_id', sa.String(length=35), nullable=True))
    op.create_table(
        'approval_policies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('payment_kind', sa.String(length=16), nullable=False),
        sa.Column('min_amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('required_approvals', sa.Integer(), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_policies')),
        sa.UniqueConstraint('currency', 'payment_kind', 'min_amount_minor', name='uq_approval_policies_rule'),
    )
    op.create_table(
        'payment_daily_limits',
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('limit_minor', sa.BigInteger(), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('username', 'currency', name=op.f('pk_payment_daily_limits')),
    )
    op.create_table(
        'blocked_countries',
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('added_by', sa.String(length=64), nullable=False),
        sa.Column('added_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('country', name=op.f('pk_blocked_countries')),
    )
    op.create_table(
        'beneficiaries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=140), nullable=False),
        sa.Column('account_enc', sa.Text(), nullable=False),
        sa.Column('account_index', sa.String(length=64), nullable=False),
        sa.Column('account_masked', sa.String(length=64), nullable=False),
        sa.Column('bic', sa.String(length=11), nullable=False),
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('first_used_on', sa.Date(), nullable=True),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_beneficiaries')),
        sa.UniqueConstraint('account_index', name=op.f('uq_beneficiaries_account_index')),
    )
    op.create_table(
        'payments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('debit_account_id', sa.Integer(), nullable=False),
        sa.Column('credit_account_id', sa.Integer(), nullable=True),
        sa.Column('beneficiary_id', sa.Integer(), nullable=True),
        sa.Column('beneficiary_name', sa.String(length=140), nullable=False),
        sa.Column('account_enc', sa.Text(), nullable=False),
        sa.Column('account_index', sa.String(length=64), nullable=False),
        sa.Column('account_masked', sa.String(length=64), nullable=False),
        sa.Column('account_is_iban', sa.Boolean(), nullable=False),
        sa.Column('bic', sa.String(length=11), nullable=False),
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('execution_date', sa.Date(), nullable=False),
        sa.Column('purpose', sa.String(length=140), nullable=False),
        sa.Column('end_to_end_id', sa.String(length=35), nullable=False),
        sa.Column('batch', sa.String(length=35), nullable=False),
        sa.Column('requested_by', sa.String(length=64), nullable=False),
        sa.Column('required_approvals', sa.Integer(), nullable=False),
        sa.Column('approval_reasons', sa.Text(), nullable=False),
        sa.Column('approval_request_id', sa.Integer(), nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.Column('executed_at', TS, nullable=True),
        sa.Column('booked_transaction_id', BIGID, nullable=True),
        sa.Column('exported_at', TS, nullable=True),
        sa.Column('file_path', sa.String(length=500), nullable=False),
        sa.Column('failure_reason', sa.Text(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['debit_account_id'], ['accounts.id'],
                                name=op.f('fk_payments_debit_account_id_accounts')),
        sa.ForeignKeyConstraint(['credit_account_id'], ['accounts.id'],
                                name=op.f('fk_payments_credit_account_id_accounts')),
        sa.ForeignKeyConstraint(['beneficiary_id'], ['beneficiaries.id'],
                                name=op.f('fk_payments_beneficiary_id_beneficiaries')),
        sa.ForeignKeyConstraint(['approval_request_id'], ['approval_requests.id'],
                                name=op.f('fk_payments_approval_request_id_approval_requests')),
        sa.ForeignKeyConstraint(['booked_transaction_id'], ['transactions.id'],
                                name=op.f('fk_payments_booked_transaction_id_transactions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
        sa.UniqueConstraint('end_to_end_id', name=op.f('uq_payments_end_to_end_id')),
    )
    op.create_index('ix_payments_status_date', 'payments', ['status', 'execution_date'])
    op.create_index('ix_payments_debit_status', 'payments', ['debit_account_id', 'status'])
    op.create_index('ix_payments_account_index', 'payments', ['account_index'])
    op.create_index('ix_payments_batch', 'payments', ['batch'])
    op.create_index('ix_payments_requested', 'payments', ['requested_by', 'created_at'])
    op.create_table(
        'payment_events',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('payment_id', sa.Integer(), nullable=False),
        sa.Column('from_status', sa.String(length=20), nullable=False),
        sa.Column('to_status', sa.String(length=20), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('at', TS, nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['payment_id'], ['payments.id'],
                                name=op.f('fk_payment_events_payment_id_payments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_events')),
    )
    op.create_index('ix_payment_events_payment', 'payment_events', ['payment_id', 'id'])
    op.create_table(
        'payment_reversals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('payment_id', sa.Integer(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('was_booked', sa.Boolean(), nullable=False),
        sa.Column('transaction_id', BIGID, nullable=True),
        sa.Column('reversed_by', sa.String(length=64), nullable=False),
        sa.Column('reversed_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['payment_id'], ['payments.id'],
                                name=op.f('fk_payment_reversals_payment_id_payments')),
        sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'],
                                name=op.f('fk_payment_reversals_transaction_id_transactions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_reversals')),
        sa.UniqueConstraint('payment_id', name=op.f('uq_payment_reversals_payment_id')),
    )

    import datetime as _dt

    seeded_at = _dt.datetime(2026, 11, 28, 10, 0, tzinfo=_dt.timezone.utc)
    policies = sa.table('approval_policies', sa.column('currency', sa.String), sa.column('payment_kind', sa.String),
                        sa.column('min_amount_minor', sa.BigInteger), sa.column('required_approvals', sa.Integer),
                        sa.column('updated_by', sa.String), sa.column('updated_at', TS))
    op.bulk_insert(policies, [{"currency": cur, "payment_kind": "any", "min_amount_minor": minimum,
                               "required_approvals": required, "updated_by": "migration 0008",
                               "updated_at": seeded_at} for cur, minimum, required in POLICY_SEED])
    meta = sa.table('app_meta', sa.column('key', sa.String), sa.column('value', sa.Text))
    existing = {row[0] for row in op.get_bind().execute(
        sa.text("SELECT key FROM app_meta WHERE key LIKE 'payments.%'"))}
    op.bulk_insert(meta, [{"key": k, "value": v} for k, v in SETTINGS_SEED.items() if k not in existing])


def downgrade() -> None:
    op.execute("DELETE FROM app_meta WHERE key LIKE 'payments.%'")
    op.drop_table('payment_reversals')
    op.drop_index('ix_payment_events_payment', table_name='payment_events')
    op.drop_table('payment_events')
    for name in ('ix_payments_requested', 'ix_payments_batch', 'ix_payments_account_index',
                 'ix_payments_debit_status', 'ix_payments_status_date'):
        op.drop_index(name, table_name='payments')
    op.drop_table('payments')
    op.drop_table('beneficiaries')
    op.drop_table('blocked_countries')
    op.drop_table('payment_daily_limits')
    op.drop_table('approval_policies')
    with op.batch_alter_table('transactions') as batch_op:
        batch_op.drop_column('end_to_end_id')
