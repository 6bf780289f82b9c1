"""team mode: version columns, allowed plain-text hosts

Version columns on the payment policy tables (two editors at different workstations can no
longer silently overwrite each other), and on PostgreSQL a trigger that announces every new
audit entry on the ``cio_changes`` channel (LISTEN/NOTIFY), so other workstations refresh.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 12:00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import cio_desktop.storage.types  # noqa: F401

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

VERSIONED = ("approval_policies", "payment_daily_limits")


def upgrade() -> None:
    for table in VERSIONED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE OR REPLACE FUNCTION cio_notify_change() RETURNS trigger AS $$
            BEGIN
                PERFORM pg_notify('cio_changes', NEW.id::text);
                RETURN NEW;
            END $$ LANGUAGE plpgsql""")
        op.execute("CREATE TRIGGER audit_entries_notify AFTER INSERT ON audit_entries "
                   "FOR EACH ROW EXECUTE FUNCTION cio_notify_change()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entries_notify ON audit_entries")
        op.execute("DROP FUNCTION IF EXISTS cio_notify_change()")
    for table in VERSIONED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('version')
