"""ledger search index maintained after imports instead of per inserted row (SQLite)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 09:55:00

Why: the per-row insert trigger of 0002 made every ledger insert tokenise trigrams inside the
import transaction — about 4× slower imports (measured by the demo builder and bench/import.py).
Now new lines are indexed in bulk by ``storage.search_index.catch_up`` right after an import
commits (and by the background scheduler); ``app_meta['fts_upto']`` is the highest indexed
transaction id, and searches treat every line above it as a candidate, so results stay exact
while the index catches up. Delete/update triggers only touch rows the index already holds.
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

UPTO = "(SELECT CAST(value AS INTEGER) FROM app_meta WHERE key = 'fts_upto')"


def upgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    op.execute("DROP TRIGGER IF EXISTS transactions_fts_ai")
    op.execute("DROP TRIGGER IF EXISTS transactions_fts_ad")
    op.execute("DROP TRIGGER IF EXISTS transactions_fts_au")
    op.execute("INSERT OR REPLACE INTO app_meta (key, value) "
               "SELECT 'fts_upto', CAST(coalesce(max(id), 0) AS TEXT) FROM transactions")
    op.execute(f"CREATE TRIGGER transactions_fts_ad AFTER DELETE ON transactions WHEN old.id <= {UPTO} BEGIN "
               "INSERT INTO transactions_fts(transactions_fts, rowid, search_text) "
               "VALUES ('delete', old.id, old.search_text); END")
    op.execute(f"CREATE TRIGGER transactions_fts_au AFTER UPDATE OF search_text ON transactions "
               f"WHEN old.id <= {UPTO} BEGIN "
               "INSERT INTO transactions_fts(transactions_fts, rowid, search_text) "
               "VALUES ('delete', old.id, old.search_text); "
               "INSERT INTO transactions_fts(rowid, search_text) VALUES (new.id, new.search_text); END")


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    op.execute("DROP TRIGGER IF EXISTS transactions_fts_ad")
    op.execute("DROP TRIGGER IF EXISTS transactions_fts_au")
    op.execute("INSERT INTO transactions_fts(transactions_fts) VALUES ('rebuild')")
    op.execute("CREATE TRIGGER transactions_fts_ai AFTER INSERT ON transactions BEGIN "
               "INSERT INTO transactions_fts(rowid, search_text) VALUES (new.id, new.search_text); END")
    op.execute("CREATE TRIGGER transactions_fts_ad AFTER DELETE ON transactions BEGIN "
               "INSERT INTO transactions_fts(transactions_fts, rowid, search_text) "
               "VALUES ('delete', old.id, old.search_text); END")
    op.execute("CREATE TRIGGER transactions_fts_au AFTER UPDATE OF search_text ON transactions BEGIN "
               "INSERT INTO transactions_fts(transactions_fts, rowid, search_text) "
               "VALUES ('delete', old.id, old.search_text); "
               "INSERT INTO transactions_fts(rowid, search_text) VALUES (new.id, new.search_text); END")
    op.execute("DELETE FROM app_meta WHERE key = 'fts_upto'")
