"""ledger: covering balance index and (SQLite only) a trigram full-text index for search

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:30:00

Why (measured at 1,000,000 ledger lines on SQLCipher, see bench/ledger.py):

* ``balance_history`` and ``list_accounts`` read ``amount_minor`` for every line of an account;
  with the old ``(account_id, booking_date)`` index each line cost a random table lookup
  (1.6 s for one account's history). ``(account_id, booking_date, id, amount_minor)`` answers
  both from the index alone and still serves every query the old index served, so it replaces
  it; ``id`` comes before ``amount_minor`` so that "these accounts, newest first" (the ledger's
  order, id breaking ties) still reads each account's lines in index order and stops early.
* A text search for a rare word (a reference, a counterparty) had to visit every line in the
  display order: 9-12 s for the first page. ``transactions_fts`` is an external-content FTS5
  table with the ``trigram`` tokenizer over ``search_text``: ``search_text LIKE '%word%'`` on it
  finds candidate rows from the index (substring semantics, exactly the ledger's ``LIKE``
  filter). Triggers keep it in the same transaction as every insert, update and delete, so it
  can never disagree with the ledger. PostgreSQL keeps the portable ``LIKE`` path (a pg_trgm
  GIN index is the server-side equivalent and is a DBA's choice).
"""
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

FTS_DDL = [
    "CREATE VIRTUAL TABLE transactions_fts USING fts5(search_text, content='transactions', "
    "content_rowid='id', tokenize='trigram', detail='none')",
    "CREATE TRIGGER transactions_fts_ai AFTER INSERT ON transactions BEGIN "
    "INSERT INTO transactions_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER transactions_fts_ad AFTER DELETE ON transactions BEGIN "
    "INSERT INTO transactions_fts(transactions_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER transactions_fts_au AFTER UPDATE OF search_text ON transactions BEGIN "
    "INSERT INTO transactions_fts(transactions_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO transactions_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO transactions_fts(transactions_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    op.create_index('ix_transactions_account_booking_amount', 'transactions',
                    ['account_id', 'booking_date', 'id', 'amount_minor'], unique=False)
    op.drop_index('ix_transactions_account_booking', table_name='transactions')
    if op.get_bind().dialect.name == 'sqlite':
        for statement in FTS_DDL:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for name in ('transactions_fts_au', 'transactions_fts_ad', 'transactions_fts_ai'):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS transactions_fts")
    op.create_index('ix_transactions_account_booking', 'transactions',
                    ['account_id', 'booking_date'], unique=False)
    op.drop_index('ix_transactions_account_booking_amount', table_name='transactions')
