"""import batches, saved CSV profiles, transactions.import_batch_id

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:20:00
"""
from alembic import op
import sqlalchemy as sa
import cio_desktop.storage.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'import_batches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=255), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('format', sa.String(length=16), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('lines_new', sa.Integer(), nullable=False),
        sa.Column('lines_duplicate', sa.Integer(), nullable=False),
        sa.Column('statements', sa.Integer(), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('imported_at', cio_desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batches')),
    )
    op.create_index('ix_import_batches_sha256', 'import_batches', ['sha256'], unique=False)
    op.create_table(
        'csv_profiles',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('definition', sa.Text(), nullable=False),
        sa.Column('updated_at', cio_desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_csv_profiles')),
        sa.UniqueConstraint('name', name=op.f('uq_csv_profiles_name')),
    )
    # A plain nullable column: no table rebuild on SQLite (the FTS triggers stay untouched).
    op.add_column('transactions', sa.Column('import_batch_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('transactions') as batch_op:
        batch_op.drop_column('import_batch_id')
    op.drop_table('csv_profiles')
    op.drop_index('ix_import_batches_sha256', table_name='import_batches')
    op.drop_table('import_batches')
