"""Alembic environment: always run on a connection handed in by ``storage.migrate``, inside
the caller's transaction, so a failing migration leaves the database as it was."""

from alembic import context

from cio_desktop.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through 'cio-desktop db upgrade', not the alembic CLI")

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite",
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
