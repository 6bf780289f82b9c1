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
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cio_desktop.domain.masking import compact, mask_account_number
from cio_desktop.domain.money import Money, currency_exponent, is_currency
from cio_desktop.domain.statements import Statement, StatementLine
from cio_desktop.errors import CioError, NotFound, ValidationError
from cio_desktop.integrations.statements import detect_format, parser_module
from cio_desktop.security.permissions import Permission
from cio_desktop.services.accounts import NUMBER_CONTEXT, add_account
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.services.context import ServiceContext
from cio_desktop.services.ledger import search_text_for
from cio_desktop.storage.bulk_load import indexes_deferred
from cio_desktop.storage.models import Account, ImportBatch, Transaction

log = logging.getLogger(__name__)

CHUNK = 10_000
IMPORT_CACHE_KIB = 256 * 1024  # page cache for an import's connection (reset when it returns to the pool)
#: An import defers the ledger's query indexes (``storage.bulk_load``) when the file is at least
#: this big and its estimated line count is at least the number of lines already stored: then
#: rebuilding the indexes once costs less than maintaining them per row (bench/import.py).
BULK_LOAD_MIN_BYTES = 16 * 1024 * 1024
BULK_LOAD_BYTES_PER_LINE = 100  # a conservative estimate over CSV, MT940, camt and BAI2 files
NO_REFERENCE = {"", "NONREF", "NOTPROVIDED", "NONE", "N/A", "NA", "-"}
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


def dedup_reference(line: StatementLine, amount_minor: int, occurrences: Counter) -> str:
    ref = (line.reference or "").strip()
    if ref.upper() not in NO_REFERENCE:
        return ref[:64]
    basis = "\x1f".join((line.booking_date.isoformat(), str(amount_minor), line.counterparty.strip(),
                         line.description.strip(), line.end_to_end_id.strip()))
    digest = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:40]
    occurrences[digest] += 1
    return f"h:{digest}#{occurrences[digest]}"


class LineValidator:
    """Validates a statement's lines for one account: the line's amount in minor units, or a
    ValidationError naming file, line and field. Per-account facts (currency, exponent) are
    worked out once per statement, not per line — this runs for every imported line."""

    def __init__(self, account_currency: str, source: str) -> None:
        self.currency, self.source = account_currency, source
        self.exponent = currency_exponent(account_currency)

    def __call__(self, line: StatementLine) -> int:
        currency = self.currency
        if not isinstance(line.booking_date, date):
            self._refuse(line, "booking date is missing or not a date", "booking date")
        if line.value_date is not None and not isinstance(line.value_date, date):
            self._refuse(line, "value date is not a date", "value date")
        if line.currency != currency:
            if not is_currency(line.currency):
                self._refuse(line, f"'{line.currency}' is not an ISO 4217 currency", "currency")
            if line.currency.upper() != currency:
                self._refuse(line, f"line currency {line.currency} differs from the account currency "
                                   f"{currency}", "currency")
        amount = line.amount
        if not isinstance(amount, Decimal) or not amount.is_finite():
            self._refuse(line, f"'{amount}' is not an amount", "amount")
        scaled = amount.scaleb(self.exponent)
        if scaled != scaled.to_integral_value():
            self._refuse(line, f"{amount} has more than {self.exponent} decimals for {currency}", "amount")
        minor = int(scaled)
        if abs(minor) >= 10**17:
            self._refuse(line, f"{amount} is beyond any plausible amount", "amount")
        return minor

    def _refuse(self, line: StatementLine, message: str, field_name: str) -> None:
        raise ValidationError(message, source=self.source, line=line.line, field=field_name)


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
            with path.open("rb") as stream, _bulk_load(uow, path):
                try:
                    ingest(self.ctx, uow, module.parse(stream, name, **options), batch, result,
                           account_id=account_id, progress=progress)
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


def ingest(ctx: ServiceContext, uow: Session, statements: Iterable[Statement], batch: ImportBatch,
           result: FileImportResult, *, account_id: int | None = None,
           progress: Progress | None = None) -> None:
    """Validate, de-duplicate and store statements inside the caller's transaction (shared by
    file import and API synchronisation); fills ``result`` and the batch counters."""
    for statement in statements:
        _import_statement(ctx, uow, statement, batch.id, account_id, result, progress)
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

def _import_statement(ctx: ServiceContext, uow: Session, statement: Statement, batch_id: int,
                      account_id: int | None, result: FileImportResult,
                      progress: Progress | None) -> None:
    account = _resolve_account(ctx, uow, statement, account_id, result)
    if statement.currency and is_currency(statement.currency) and \
            statement.currency.upper() != account.currency:
        raise ValidationError(f"statement currency {statement.currency} differs from account "
                              f"{account.number_masked} in {account.currency}",
                              source=statement.source, line=statement.line, field="currency")
    if account.number_masked not in result.accounts:
        result.accounts.append(account.number_masked)
    writer = _RowWriter(uow, ctx.db.kind, ctx.now(), account.id, account.currency, result.format, batch_id)
    occurrences: Counter = Counter()
    total_minor = 0
    validate_line = LineValidator(account.currency, statement.source or result.file)
    for line in statement.lines:
        minor = validate_line(line)
        total_minor += minor
        writer.add(line, minor, dedup_reference(line, minor, occurrences))
        if writer.full:
            writer.flush(result, progress)
    writer.flush(result, progress)
    _check_reconciles(statement, total_minor, account.currency, result.file)
    result.statements += 1


class _RowWriter:
    """Buffers ledger rows and writes them with INSERT … ON CONFLICT DO NOTHING, counting what
    was new. On SQLite the rows go as plain tuples through the driver's ``executemany`` inside
    the session's transaction (SQLAlchemy's per-row parameter processing would cost more than
    the insert itself); PostgreSQL takes the portable Core statement."""

    COLUMNS = ("account_id", "booking_date", "value_date", "amount_minor", "currency", "counterparty",
               "bank_reference", "description", "category", "bank_code", "source", "import_batch_id",
               "created_at", "search_text", "end_to_end_id")

    def __init__(self, uow: Session, dialect: str, now: Any, account_id: int, currency: str, fmt: str,
                 batch_id: int) -> None:
        self.uow, self.sqlite = uow, dialect == "sqlite"
        self.fixed = (account_id, currency, fmt, batch_id)
        self.now = now.astimezone(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") \
            if self.sqlite else now
        self.rows: list = []
        self._cache_raised = False
        if self.sqlite:
            self.sql = (f"INSERT INTO transactions ({', '.join(self.COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(self.COLUMNS))}) ON CONFLICT DO NOTHING")
        else:
            self.stmt = _insert_ignoring_duplicates(dialect)

    @property
    def full(self) -> bool:
        return len(self.rows) >= CHUNK

    def add(self, line: StatementLine, minor: int, reference: str) -> None:
        account_id, currency, fmt, batch_id = self.fixed
        counterparty, description = line.counterparty[:140], line.description[:500]
        search = search_text_for(line.counterparty, line.reference, line.description, "")
        e2e = (line.end_to_end_id or "").strip()[:35] or None  # matches executed payments (0008)
        if self.sqlite:
            self.rows.append((account_id, line.booking_date.isoformat(),
                              line.value_date.isoformat() if line.value_date else None, minor, currency,
                              counterparty, reference, description, "", line.bank_code[:32], fmt, batch_id,
                              self.now, search, e2e))
        else:
            self.rows.append(dict(zip(self.COLUMNS, (
                account_id, line.booking_date, line.value_date, minor, currency, counterparty, reference,
                description, "", line.bank_code[:32], fmt, batch_id, self.now, search, e2e))))

    def flush(self, result: FileImportResult, progress: Progress | None) -> None:
        if not self.rows:
            return
        if self.sqlite:
            cursor = self.uow.connection().connection.driver_connection.cursor()
            if not self._cache_raised:
                # a large import touches every index page many times: a bigger page cache for
                # this transaction turns SQLCipher's decrypt/encrypt per page visit into one each
                cursor.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
                self._cache_raised = True
            before = cursor.connection.total_changes
            cursor.executemany(self.sql, self.rows)
            inserted = cursor.connection.total_changes - before
            cursor.close()
        else:
            # executemany's rowcount is -1 on psycopg: count the ids the insert returns instead
            inserted = len(self.uow.connection().execute(self.stmt, self.rows).all())
        result.new += inserted
        result.duplicates += len(self.rows) - inserted
        self.rows.clear()
        if progress:
            progress(result.new + result.duplicates)


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
