"""connections and their sync runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 09:25:00
"""
from alembic import op
import sqlalchemy as sa
import cio_desktop.storage.types

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

TS = cio_desktop.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'connections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('base_url', sa.String(length=500), nullable=False),
        sa.Column('auth_kind', sa.String(length=16), nullable=False),
        sa.Column('settings_json', sa.Text(), nullable=False),
        sa.Column('credentials_enc', sa.Text(), nullable=True),
        sa.Column('interval_minutes', sa.Integer(), nullable=False),
        sa.Column('paused', sa.Boolean(), nullable=False),
        sa.Column('cursor_json', sa.Text(), nullable=False),
        sa.Column('last_started_at', TS, nullable=True),
        sa.Column('last_success_at', TS, nullable=True),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_connections')),
        sa.UniqueConstraint('name', name=op.f('uq_connections_name')),
    )
    op.create_table(
        'sync_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('started_at', TS, nullable=False),
        sa.Column('finished_at', TS, nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('lines_new', sa.Integer(), nullable=False),
        sa.Column('lines_duplicate', sa.Integer(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['connection_id'], ['connections.id'],
                                name=op.f('fk_sync_runs_connection_id_connections')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_runs')),
    )
    op.create_index('ix_sync_runs_connection_started', 'sync_runs', ['connection_id', 'started_at'])


def downgrade() -> None:
    op.drop_index('ix_sync_runs_connection_started', table_name='sync_runs')
    op.drop_table('sync_runs')
    op.drop_table('connections')
