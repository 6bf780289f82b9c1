"""team mode: who changed a connection's settings, and when

``connections.version`` moves on every sync (cursor, last error), so an edit dialog cannot use
it to tell whether another user saved the connection meanwhile. ``settings_updated_by`` /
``settings_updated_at`` move only when what a user configures changes (URL, settings, secrets,
interval); existing rows take their creation time and the creator from the audit trail.

SQLite cannot add a NOT NULL column without a constant default (nor drop one without
rebuilding a table other tables point to), so there the constant stays as the column's default;
every row is backfilled and the application always writes both columns.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 10:00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import cio_desktop.storage.types  # noqa: F401

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

TS = cio_desktop.storage.types.UTCDateTime(timezone=True)
EPOCH = {"sqlite": "1970-01-01 00:00:00.000000", "postgresql": "1970-01-01 00:00:00+00"}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table('connections') as batch:
        batch.add_column(sa.Column('settings_updated_by', sa.String(length=64), nullable=False,
                                   server_default='system'))
        batch.add_column(sa.Column('settings_updated_at', TS, nullable=False,
                                   server_default=EPOCH.get(dialect, EPOCH["postgresql"])))
    op.execute("UPDATE connections SET settings_updated_at = created_at, settings_updated_by = COALESCE(("
               "SELECT a.actor FROM audit_entries a WHERE a.entity = 'connection' "
               "AND a.action = 'connection.created' AND a.entity_id = CAST(connections.id AS VARCHAR(64)) "
               "ORDER BY a.id LIMIT 1), 'system')")
    if dialect == "postgresql":
        op.alter_column('connections', 'settings_updated_by', server_default=None)
        op.alter_column('connections', 'settings_updated_at', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('connections') as batch:
        batch.drop_column('settings_updated_at')
        batch.drop_column('settings_updated_by')
