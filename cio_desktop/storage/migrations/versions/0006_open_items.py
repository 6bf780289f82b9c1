"""open payables and receivables from accounting systems

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 09:30:00
"""
from alembic import op
import sqlalchemy as sa
import cio_desktop.storage.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'open_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('external_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('counterparty', sa.String(length=140), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('due_date', sa.Date(), nullable=False),
        sa.Column('issue_date', sa.Date(), nullable=True),
        sa.Column('document_no', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('updated_at', cio_desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['connection_id'], ['connections.id'],
                                name=op.f('fk_open_items_connection_id_connections')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_open_items')),
        sa.UniqueConstraint('connection_id', 'external_id', name='uq_open_items_connection_external'),
    )
    op.create_index('ix_open_items_due', 'open_items', ['status', 'due_date'])


def downgrade() -> None:
    op.drop_index('ix_open_items_due', table_name='open_items')
    op.drop_table('open_items')
