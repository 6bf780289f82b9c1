"""The migrations build exactly the schema the models describe (no drift)."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cio_desktop.storage.models import Base


def _ours(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
    return not (name or "").startswith("transactions_fts")  # SQLite-only FTS shadow tables


def test_migrated_schema_matches_models(ws):
    with ws.db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": _ours})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []
