"""Apply Alembic migrations on open, in one transaction.

Refuses a database whose schema is newer than this program (it would be half-understood) and a
non-empty database that was never ours.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from cio_desktop.errors import DatabaseOpenError
from cio_desktop.storage.database import NOT_OURS, Database

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database) -> tuple[str | None, str]:
    """Bring the schema to head; returns (revision before, revision after)."""
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    with db.engine.connect() as conn:
        with conn.begin():
            if db.kind == "postgresql":  # team mode: two workstations starting at once migrate one by one
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7270301213)")
            before = MigrationContext.configure(conn).get_current_revision()
            if before is None:
                tables = set(inspect(conn).get_table_names())
                if tables - {"alembic_version"}:
                    raise DatabaseOpenError(NOT_OURS.format(target=db.target))
            elif before not in {rev.revision for rev in script.walk_revisions()}:
                raise DatabaseOpenError(
                    f"{db.target} has schema version {before}, newer than this CIO Desktop "
                    f"understands ({script.get_current_head()}): install the newer application")
            head = script.get_current_head()
            if before != head:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                log.info("database schema upgraded from %s to %s", before, head)
    return before, head or ""
