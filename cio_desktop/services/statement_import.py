"""Importing statement files into the ledger.

One file = one transaction = one audit entry: every record is validated (date, amount in the
currency's precision, currency known and the account's, account known or created from the
statement), statements with opening and closing balances must reconcile, and any error refuses
the whole file with a message naming file, line and field. Re-importing a file, or a file that
overlaps an earlier one, adds only the lines not already there.

De-duplication key (the ``uq_transactions_natural_key`` constraint): account + bank reference +
booking date + amount. Where the bank gives no usable reference, the reference is a hash of
booking date, amount, counterparty and description plus the occurrence number of that same
line within the file — so two identical coffees on one day stay two lines, and importing the
file again still adds nothing.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cio_desktop.domain.masking import compact, mask_account_number
from cio_desktop.domain.money import Money, is_currency
from cio_desktop.domain.statements import Statement
from cio_desktop.errors import CioError, NotFound, ValidationError
from cio_desktop.integrations.statements import detect_format, parser_module
from cio_desktop.security.permissions import Permission
from cio_desktop.services.accounts import NUMBER_CONTEXT, add_account
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.services.context import ServiceContext
from cio_desktop.services.parse_worker import WorkerFeeds
from cio_desktop.services.statement_rows import (LINE_COLUMNS, StatementFeed, check_currencies,
                                                  local_feeds)
from cio_desktop.storage.bulk_load import indexes_deferred
from cio_desktop.storage.models import Account, ImportBatch, Transaction

log = logging.getLogger(__name__)

IMPORT_CACHE_KIB = 256 * 1024  # page cache for an import's connection (reset when it returns to the pool)
#: An import defers the ledger's query indexes (``storage.bulk_load``) when the file is at least
#: this big and its estimated line count is at least the number of lines already stored: then
#: rebuilding the indexes once costs less than maintaining them per row (bench/import.py).
BULK_LOAD_MIN_BYTES = 16 * 1024 * 1024
BULK_LOAD_BYTES_PER_LINE = 100  # a conservative estimate over CSV, MT940, camt and BAI2 files
#: A file at least this big on SQLite is parsed by a worker process while this one inserts
#: (``parse_worker``); below it, starting the worker costs more than the overlap saves.
PARALLEL_MIN_BYTES = 8 * 1024 * 1024
Progress = Callable[[int], None]


@dataclass
class FileImportResult:
    file: str
    format: str
    new: int = 0
    duplicates: int = 0
    statements: int = 0
    warnings: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)        # masked numbers touched
    created_accounts: list[str] = field(default_factory=list)
    batch_id: int | None = None

    def summary(self) -> str:
        text = (f"{self.file}: {self.new} new, {self.duplicates} duplicate lines "
                f"({self.statements} statement{'s' if self.statements != 1 else ''}, {self.format})")
        if self.created_accounts:
            text += f"; new accounts {', '.join(self.created_accounts)}"
        return text


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class StatementImportService(Service):
    @action(Permission.LEDGER_IMPORT, description="import statement files")
    def import_file(self, path: str | Path, *, fmt: str = "auto", account_id: int | None = None,
                    profile: Any = None, progress: Progress | None = None) -> FileImportResult:
        path = Path(path)
        name = path.name
        if not path.is_file():
            raise ValidationError("no such file", source=str(path))
        fmt = detect_format(path) if fmt == "auto" else fmt
        module = parser_module(fmt)
        options: dict[str, Any] = {}
        if profile is not None:
            if fmt != "csv":
                raise ValidationError("a column profile only applies to CSV files", field="profile")
            options["profile"] = self._load_profile(profile)
        if fmt == "csv" and account_id is not None:
            # a CSV without account/currency columns takes them from the chosen account
            with self.ctx.db.unit_of_work(write=False) as uow:
                target = uow.get(Account, account_id)
                if target is None:
                    raise NotFound(f"no account with id {account_id}")
                options.setdefault("currency", target.currency)
        result = FileImportResult(file=name, format=fmt)
        sha = file_sha256(path)
        with self.ctx.db.unit_of_work() as uow:
            earlier = uow.execute(select(ImportBatch.imported_at).where(ImportBatch.sha256 == sha)
                                  .order_by(ImportBatch.id).limit(1)).scalar_one_or_none()
            if earlier is not None:
                result.warnings.append(f"this exact file was already imported on {earlier:%Y-%m-%d %H:%M} UTC")
            batch = ImportBatch(source=name[:255], kind="file", format=fmt, sha256=sha,
                                actor=self.ctx.actor, imported_at=self.ctx.now())
            uow.add(batch)
            uow.flush()
            result.batch_id = batch.id
            with _statement_feeds(uow, module, fmt, path, name, options) as feeds, _bulk_load(uow, path):
                try:
                    ingest_feeds(self.ctx, uow, feeds, batch, result, account_id=account_id, progress=progress)
                except (CioError, OSError) as exc:
                    if isinstance(exc, OSError):
                        raise ValidationError(f"cannot read the file: {exc.strerror}", source=name) from None
                    raise
                except UnicodeDecodeError as exc:
                    raise ValidationError(f"undecodable text ({exc.reason})", source=name) from None
            if result.statements == 0:
                raise ValidationError("the file holds no statement", source=name)
            audit_log(uow, actor=self.ctx.actor, action="ledger.imported", entity="import_batch",
                      entity_id=batch.id, after={"file": name, "format": fmt, "sha256": sha,
                                                 "new": result.new, "duplicates": result.duplicates,
                                                 "accounts": result.accounts}, at=self.ctx.now())
        log.info("imported %s", result.summary())
        self.ctx.bus.publish("ledger.changed", batch_id=result.batch_id, new=result.new)
        if result.created_accounts:
            self.ctx.bus.publish("accounts.changed", created=result.created_accounts)
        return result

    def _load_profile(self, profile: Any) -> Any:
        if not isinstance(profile, str):
            return profile
        from cio_desktop.storage.models import CsvProfileRow

        with self.ctx.db.unit_of_work(write=False) as uow:
            row = uow.execute(select(CsvProfileRow).where(CsvProfileRow.name == profile)).scalar_one_or_none()
        if row is None:
            return profile  # a built-in profile name; the CSV parser resolves or refuses it
        import json

        from cio_desktop.integrations.statements.csv_profiles import CsvProfile

        return CsvProfile.from_dict(json.loads(row.definition))


def _bulk_load(uow: Session, path: Path) -> Any:
    """The ledger's query indexes deferred for a file large compared with the ledger (SQLite)."""
    size = path.stat().st_size
    if uow.get_bind().dialect.name != "sqlite" or size < BULK_LOAD_MIN_BYTES:
        return nullcontext()
    stored = uow.execute(select(func.max(Transaction.id))).scalar_one() or 0
    if size // BULK_LOAD_BYTES_PER_LINE < stored:
        return nullcontext()
    return indexes_deferred(uow.connection().connection.driver_connection.cursor(), "transactions")


def _statement_feeds(uow: Session, module: Any, fmt: str, path: Path, name: str,
                     options: dict[str, Any]) -> Any:
    """Feeds of the file's statements: from a parse worker process for a large file on SQLite
    (``parse_worker``: parsing overlaps the inserts), else parsed in this process."""
    sqlite = uow.get_bind().dialect.name == "sqlite"
    if sqlite and path.stat().st_size >= PARALLEL_MIN_BYTES:
        return WorkerFeeds(fmt, path, name, options)
    return _LocalFile(module, path, name, options, iso_dates=sqlite)


class _LocalFile:
    """A file parsed in this process, open for the length of the import."""

    def __init__(self, module: Any, path: Path, name: str, options: dict[str, Any], *, iso_dates: bool) -> None:
        self.module, self.path, self.name, self.options, self.iso_dates = module, path, name, options, iso_dates

    def __enter__(self) -> Iterator[StatementFeed]:
        self.stream = self.path.open("rb")
        return local_feeds(self.module.parse(self.stream, self.name, **self.options), self.name,
                           iso_dates=self.iso_dates)

    def __exit__(self, *exc: object) -> None:
        self.stream.close()


def ingest(ctx: ServiceContext, uow: Session, statements: Iterable[Statement], batch: ImportBatch,
           result: FileImportResult, *, account_id: int | None = None,
           progress: Progress | None = None) -> None:
    """Validate, de-duplicate and store statements inside the caller's transaction (shared by
    file import and API synchronisation); fills ``result`` and the batch counters."""
    feeds = local_feeds(statements, result.file, iso_dates=ctx.db.kind == "sqlite")
    ingest_feeds(ctx, uow, feeds, batch, result, account_id=account_id, progress=progress)


def ingest_feeds(ctx: ServiceContext, uow: Session, feeds: Iterable[StatementFeed], batch: ImportBatch,
                 result: FileImportResult, *, account_id: int | None = None,
                 progress: Progress | None = None) -> None:
    for feed in feeds:
        _import_statement(ctx, uow, feed, batch.id, account_id, result, progress)
    batch.lines_new, batch.lines_duplicate, batch.statements = result.new, result.duplicates, result.statements


def _resolve_account(ctx: ServiceContext, uow: Session, statement: Statement, account_id: int | None,
                     result: FileImportResult) -> Account:
    if account_id is not None:
        account = uow.get(Account, account_id)
        if account is None:
            raise NotFound(f"no account with id {account_id}")
        return account
    number = compact(statement.account)
    if not number:
        raise ValidationError("the statement names no account: choose the account to book it to",
                              source=statement.source, line=statement.line, field="account")
    index = ctx.cipher.blind_index(number, NUMBER_CONTEXT)
    account = uow.execute(select(Account).where(Account.number_index == index)).scalar_one_or_none()
    if account is not None:
        return account
    currency = (statement.currency or "").upper()
    if not is_currency(currency):
        raise ValidationError(f"account {mask_account_number(number)} is new and the statement does "
                              "not say its currency: create the account first or choose the account to book it to",
                              source=statement.source, line=statement.line, field="currency")
    ctx.authorize(Permission.ACCOUNTS_WRITE, "create an account from a statement")
    account = add_account(uow, ctx, name=f"{statement.bic or 'Imported'} {mask_account_number(number)}",
                          institution=statement.bic or "Imported from statement", number=number,
                          currency=currency, bic=statement.bic[:11], account_type="current",
                          min_balance="0", opening_balance="0", opening_date=None,
                          actor=ctx.actor)
    result.created_accounts.append(account.number_masked)
    return account

def _import_statement(ctx: ServiceContext, uow: Session, feed: StatementFeed, batch_id: int,
                      account_id: int | None, result: FileImportResult,
                      progress: Progress | None) -> None:
    statement = feed.statement
    account = _resolve_account(ctx, uow, statement, account_id, result)
    if statement.currency and is_currency(statement.currency) and \
            statement.currency.upper() != account.currency:
        raise ValidationError(f"statement currency {statement.currency} differs from account "
                              f"{account.number_masked} in {account.currency}",
                              source=statement.source, line=statement.line, field="currency")
    if account.number_masked not in result.accounts:
        result.accounts.append(account.number_masked)
    writer = _RowWriter(uow, ctx.db.kind, ctx.now(), account.id, account.currency, result.format, batch_id)
    source = statement.source or result.file
    for chunk in feed.chunks:
        check_currencies(chunk.currencies, account.currency, source)
        if chunk.error is not None:
            raise chunk.error
        writer.write(chunk.rows, result, progress)
    _check_reconciles(statement, feed.total_minor, account.currency, result.file)
    result.statements += 1


class _RowWriter:
    """Writes row chunks (``statement_rows.LINE_COLUMNS``) with INSERT … ON CONFLICT DO NOTHING,
    counting what was new. On SQLite the rows go as plain tuples through the driver's
    ``executemany`` inside the session's transaction (SQLAlchemy's per-row parameter processing
    would cost more than the insert itself), with the statement's constant columns written into
    the SQL once instead of bound for every row; PostgreSQL takes the portable Core statement."""

    def __init__(self, uow: Session, dialect: str, now: Any, account_id: int, currency: str, fmt: str,
                 batch_id: int) -> None:
        self.uow, self.sqlite = uow, dialect == "sqlite"
        self._cache_raised = False
        if self.sqlite:
            created = now.astimezone(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
            constants = {"account_id": int(account_id), "currency": _sql_text(currency), "category": "''",
                         "source": _sql_text(fmt), "import_batch_id": int(batch_id),
                         "created_at": _sql_text(created)}
            self.sql = (f"INSERT INTO transactions ({', '.join([*constants, *LINE_COLUMNS])}) VALUES "
                        f"({', '.join([*map(str, constants.values()), *'?' * len(LINE_COLUMNS)])}) "
                        "ON CONFLICT DO NOTHING")
        else:
            self.constants = {"account_id": account_id, "currency": currency, "category": "", "source": fmt,
                              "import_batch_id": batch_id, "created_at": now}
            self.stmt = _insert_ignoring_duplicates(dialect)

    def write(self, rows: list[tuple], result: FileImportResult, progress: Progress | None) -> None:
        if not rows:
            return
        if self.sqlite:
            cursor = self.uow.connection().connection.driver_connection.cursor()
            if not self._cache_raised:
                # a large import touches every index page many times: a bigger page cache for
                # this transaction turns SQLCipher's decrypt/encrypt per page visit into one each
                cursor.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
                self._cache_raised = True
            before = cursor.connection.total_changes
            cursor.executemany(self.sql, rows)
            inserted = cursor.connection.total_changes - before
            cursor.close()
        else:
            # executemany's rowcount is -1 on psycopg: count the ids the insert returns instead
            params = [{**dict(zip(LINE_COLUMNS, row)), **self.constants} for row in rows]
            inserted = len(self.uow.connection().execute(self.stmt, params).all())
        result.new += inserted
        result.duplicates += len(rows) - inserted
        if progress:
            progress(result.new + result.duplicates)


def _sql_text(value: str) -> str:
    """A SQL string literal (the writer's constants: a currency code, a format name, a time)."""
    return "'" + str(value).replace("'", "''") + "'"


def _insert_ignoring_duplicates(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(Transaction).on_conflict_do_nothing(
            constraint="uq_transactions_natural_key").returning(Transaction.id)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(Transaction).on_conflict_do_nothing()


def _check_reconciles(statement: Statement, total_minor: int, currency: str, source: str) -> None:
    if statement.opening_balance is None or statement.closing_balance is None:
        return
    opening = Money(statement.opening_balance, currency)
    closing = Money(statement.closing_balance, currency)
    lines = Money.from_minor(total_minor, currency)
    expected = opening + lines
    if expected.amount != closing.amount:
        raise ValidationError(
            f"the statement does not reconcile: opening {opening.format()} + lines {lines.format()} = "
            f"{expected.format()}, but the closing balance is {closing.format()}",
            source=statement.source or source, line=statement.line, field="closing balance")
