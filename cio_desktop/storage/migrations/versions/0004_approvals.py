"""four-eyes approval requests and decisions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:15:00
"""
from alembic import op
import sqlalchemy as sa
import cio_desktop.storage.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'approval_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('entity', sa.String(length=32), nullable=False),
        sa.Column('entity_id', sa.String(length=64), nullable=False),
        sa.Column('requested_by', sa.String(length=64), nullable=False),
        sa.Column('required_approvals', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('created_at', cio_desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('decided_at', cio_desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_requests')),
    )
    op.create_index('ix_approval_requests_entity', 'approval_requests', ['entity', 'entity_id'])
    op.create_index('ix_approval_requests_status', 'approval_requests', ['status'])
    op.create_table(
        'approval_decisions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('approver', sa.String(length=64), nullable=False),
        sa.Column('decision', sa.String(length=16), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('decided_at', cio_desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['approval_requests.id'],
                                name=op.f('fk_approval_decisions_request_id_approval_requests')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_decisions')),
        sa.UniqueConstraint('request_id', 'approver', name='uq_approval_decisions_request_approver'),
    )


def downgrade() -> None:
    op.drop_table('approval_decisions')
    op.drop_index('ix_approval_requests_status', table_name='approval_requests')
    op.drop_index('ix_approval_requests_entity', table_name='approval_requests')
    op.drop_table('approval_requests')
