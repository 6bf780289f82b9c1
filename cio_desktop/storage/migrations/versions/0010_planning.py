"""budgets, forecasts, categories, analytics models

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 12:00:00
"""
from alembic import op
import sqlalchemy as sa
import cio_desktop.storage.types

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TS = cio_desktop.storage.types.UTCDateTime(timezone=True)

CATEGORIES = [
    ("customers", "income", "receipts from customers (invoices, card settlements)"),
    ("interest", "income", "interest received or paid"),
    ("suppliers", "expense", "supplier payment runs and urgent payments"),
    ("salaries", "expense", "net salaries and payroll services"),
    ("rent", "expense", "rent and service charges"),
    ("utilities", "expense", "energy, telecoms and other direct debits"),
    ("taxes", "expense", "VAT, payroll tax, social security and corporate tax"),
    ("fees", "expense", "bank and acquiring fees"),
    ("other", "expense", "anything not otherwise categorised"),
    ("intercompany", "transfer", "transfers between the group's own accounts"),
    ("fx", "transfer", "currency conversions"),
]

RULES = [
    ("salary", "salaries", 10), ("payroll", "salaries", 20), ("rent ", "rent", 30),
    ("vat ", "taxes", 40), ("tax", "taxes", 50), ("interest", "interest", 60),
    ("fees", "fees", 70), ("fx spot", "fx", 80), ("direct debit", "utilities", 90),
]


def upgrade() -> None:
    cats = op.create_table(
        'planning_categories',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_planning_categories')),
    )
    rules = op.create_table(
        'category_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('pattern', sa.String(length=140), nullable=False),
        sa.Column('category', sa.String(length=64), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_category_rules')),
    )
    op.create_table(
        'category_corrections',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('transaction_id', BIGID, nullable=True),
        sa.Column('text_key', sa.String(length=400), nullable=False),
        sa.Column('old_category', sa.String(length=64), nullable=False),
        sa.Column('category', sa.String(length=64), nullable=False),
        sa.Column('corrected_by', sa.String(length=64), nullable=False),
        sa.Column('corrected_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_category_corrections')),
    )
    op.create_index('ix_category_corrections_text_key', 'category_corrections', ['text_key'])
    op.create_table(
        'budget_lines',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('category', sa.String(length=64), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_budget_lines')),
        sa.UniqueConstraint('category', 'period', name='uq_budget_lines_category_period'),
    )
    op.create_index('ix_budget_lines_period', 'budget_lines', ['period'])
    op.create_table(
        'analytics_models',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('samples', sa.Integer(), nullable=False),
        sa.Column('corrections', sa.Integer(), nullable=False),
        sa.Column('metrics_json', sa.Text(), nullable=False),
        sa.Column('params_json', sa.Text(), nullable=False),
        sa.Column('payload', sa.LargeBinary(), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('is_active', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_models')),
        sa.UniqueConstraint('kind', 'version', name='uq_analytics_models_kind_version'),
    )
    op.create_table(
        'forecast_snapshots',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('start_date', sa.Date(), nullable=False),
        sa.Column('end_date', sa.Date(), nullable=False),
        sa.Column('granularity', sa.String(length=8), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('model_version', sa.Integer(), nullable=True),
        sa.Column('rows_json', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_forecast_snapshots')),
    )
    op.create_index('ix_forecast_snapshots_end', 'forecast_snapshots', ['end_date'])
    op.create_table(
        'analytics_feedback',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('item_id', sa.String(length=64), nullable=False),
        sa.Column('accepted', sa.Boolean(), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('detail_json', sa.Text(), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_feedback')),
    )
    op.create_index('ix_analytics_feedback_kind_item', 'analytics_feedback', ['kind', 'item_id'])

    op.bulk_insert(cats, [{"name": n, "kind": k, "description": d} for n, k, d in CATEGORIES])
    from datetime import datetime, timezone
    now = datetime(2026, 11, 27, tzinfo=timezone.utc)
    op.bulk_insert(rules, [{"pattern": p, "category": c, "priority": pr, "created_by": "migration",
                            "created_at": now} for p, c, pr in RULES])


def downgrade() -> None:
    op.drop_index('ix_analytics_feedback_kind_item', table_name='analytics_feedback')
    op.drop_table('analytics_feedback')
    op.drop_index('ix_forecast_snapshots_end', table_name='forecast_snapshots')
    op.drop_table('forecast_snapshots')
    op.drop_table('analytics_models')
    op.drop_index('ix_budget_lines_period', table_name='budget_lines')
    op.drop_table('budget_lines')
    op.drop_index('ix_category_corrections_text_key', table_name='category_corrections')
    op.drop_table('category_corrections')
    op.drop_table('category_rules')
    op.drop_table('planning_categories')
