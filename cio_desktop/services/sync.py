"""Connections to banking, accounting and investment APIs, and their synchronisation.

A run is started with a compare-and-set on ``last_started_at`` inside a write transaction, so
two scheduler ticks (or two workstations) never run the same connection twice in one interval
(property 3). Each page of data is one transaction — one import batch, its audit entry and the
advanced cursor together — so an interrupted sync resumes where it stopped and never
half-imports a page. Network failures are retried with exponential backoff inside the client;
when retries run out the run is recorded as failed and ``sync.failed`` is published (the alert
engine turns it into an alert).

Credentials are kept field-encrypted (AES-256-GCM) in the connection row rather than in one
workstation's keyring, because in team mode any workstation may run the sync; the data key that
protects them is itself held only under the database key (keyring or passphrase).

Team mode (issue 12): the row changes on every sync (cursor, last error, its ``version``), so
the token an edit screen passes back (``seen``) is ``settings_updated_at``, which only a change
of the configuration a user edits (URL, settings, secrets, interval) moves: a sync between
opening the dialog and saving it is not a conflict, another user's save is.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cio_desktop.domain.money import Money, normalise_currency
from cio_desktop.domain.retry import BackoffPolicy
from cio_desktop.domain.sync_schedule import ScheduleEntry, is_due, next_due
from cio_desktop.errors import CioError, ConcurrentUpdate, NotFound, ValidationError
from cio_desktop.integrations.adapters import adapter_for
from cio_desktop.integrations.http import ApiClient, ConnectionConfig, Credentials
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import UNCHECKED, Service, action
from cio_desktop.services.context import ServiceContext
from cio_desktop.services.statement_import import FileImportResult, ingest
from cio_desktop.storage.models import (Asset, Connection, Holding, ImportBatch, OpenItem, Portfolio,
                                        Price, SyncRun)

log = logging.getLogger(__name__)

CREDENTIALS_CONTEXT = "connection.credentials"
#: A run still "running" this long after it started was cut off (the process was killed or the
#: machine stopped: its pages are whole, but no result was recorded); the next run of the
#: connection closes it as failed so the history does not show it running for ever.
STALE_RUN_AFTER = timedelta(hours=1)
INTERRUPTED = "interrupted: the run stopped before it could record a result (pages already stored are kept)"
KINDS = ("banking", "accounting", "investment")
AUTH_KINDS = ("oauth2", "api_key", "client_cert", "none")
SETTING_KEYS = ("token_url", "client_id", "scope", "api_key_header", "client_cert_path",
                "client_key_path", "ca_bundle_path", "timeout", "page_size", "token_auth_method")


@dataclass(frozen=True)
class ConnectionView:
    id: int
    name: str
    kind: str
    base_url: str
    auth_kind: str
    settings: dict
    interval_minutes: int
    paused: bool
    last_started_at: datetime | None
    last_success_at: datetime | None
    last_error: str
    next_sync_at: datetime | None
    has_credentials: bool
    #: who last changed the configuration a user edits (URL, settings, secrets, interval) and
    #: when: the ``seen`` token of the edit dialog. A sync never moves it.
    settings_updated_by: str = ""
    settings_updated_at: datetime | None = None


@dataclass
class SyncResult:
    connection: str
    ok: bool = True
    new: int = 0
    duplicates: int = 0
    pages: int = 0
    accounts: list[str] = field(default_factory=list)
    error: str = ""
    skipped: bool = False

    def summary(self) -> str:
        if self.skipped:
            return f"{self.connection}: not due (ran less than one interval ago)"
        if not self.ok:
            return f"{self.connection}: FAILED — {self.error}"
        return f"{self.connection}: {self.new} new, {self.duplicates} duplicates in {self.pages} page(s)"


ClientFactory = Callable[[ConnectionConfig, Credentials], ApiClient]


def _view(c: Connection, has_credentials: bool) -> ConnectionView:
    interval = timedelta(minutes=c.interval_minutes)
    return ConnectionView(c.id, c.name, c.kind, c.base_url, c.auth_kind, json.loads(c.settings_json or "{}"),
                          c.interval_minutes, c.paused, c.last_started_at, c.last_success_at, c.last_error,
                          None if c.paused else next_due(c.last_started_at, interval, c.last_started_at
                                                         or datetime.min.replace(tzinfo=None))
                          if c.last_started_at else None, has_credentials, c.settings_updated_by,
                          c.settings_updated_at)


class SyncService(Service):
    def __init__(self, ctx: ServiceContext, *, client_factory: ClientFactory | None = None,
                 policy: BackoffPolicy | None = None, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        super().__init__(ctx)
        self.policy = policy or BackoffPolicy(base=2.0, cap=120.0, max_attempts=5, jitter=0.1)
        self._sleep, self._rng = sleep, rng or random.Random()
        self._client_factory = client_factory or self._default_client

    def _default_client(self, config: ConnectionConfig, credentials: Credentials) -> ApiClient:
        return ApiClient(config, credentials, policy=self.policy, sleep=self._sleep, rng=self._rng)

    # -- configuration ----------------------------------------------------------------------
    @action(Permission.CONNECTIONS_MANAGE, description="add a connection")
    def create_connection(self, *, name: str, kind: str, base_url: str, auth_kind: str,
                          settings: dict | None = None, credentials: Credentials | None = None,
                          interval_minutes: int = 15) -> ConnectionView:
        """A new connection. Its name is unique: when another workstation added one of that name
        first (even a moment ago, in a race), the error says who and when."""
        config = self._validated_config(name, kind, base_url, auth_kind, settings or {})
        if interval_minutes < 1:
            raise ValidationError("the sync interval is at least one minute", field="interval")
        now = self.ctx.now()
        try:
            with self.ctx.db.unit_of_work() as uow:
                self._refuse_duplicate(uow, config.name)
                row = Connection(name=config.name, kind=kind, base_url=config.base_url, auth_kind=auth_kind,
                                 settings_json=json.dumps(settings or {}, sort_keys=True),
                                 credentials_enc=self._encrypt(credentials), interval_minutes=interval_minutes,
                                 paused=False, cursor_json="{}", last_error="", created_at=now,
                                 settings_updated_by=self.ctx.actor, settings_updated_at=now)
                uow.add(row)
                uow.flush()
                audit_log(uow, actor=self.ctx.actor, action="connection.created", entity="connection",
                          entity_id=row.id, after={"name": row.name, "kind": kind, "base_url": row.base_url,
                                                   "auth": auth_kind,
                                                   "credentials": "set" if credentials else "none"},
                          at=now)
                view = _view(row, credentials is not None)
        except IntegrityError:
            # PostgreSQL: another workstation inserted the same name after our check found none
            with self.ctx.db.unit_of_work(write=False) as uow:
                try:
                    self._refuse_duplicate(uow, config.name)
                except ValidationError as exc:
                    raise exc from None   # the words, not the driver's error (its SQL and values)
            raise
        self.ctx.bus.publish("connections.changed", id=view.id)
        return view

    @staticmethod
    def _refuse_duplicate(uow: Session, name: str) -> None:
        other = uow.execute(select(Connection).where(Connection.name == name)).scalar_one_or_none()
        if other is None:
            return
        by, at = other.settings_updated_by, f"{other.settings_updated_at:%Y-%m-%d %H:%M:%S} UTC"
        when = (f"added by {by} at {at}" if other.settings_updated_at == other.created_at else
                f"added at {other.created_at:%Y-%m-%d %H:%M:%S} UTC, last changed by {by} at {at}")
        raise ValidationError(f"a connection named '{name}' already exists ({when})", field="name")

    @action(Permission.CONNECTIONS_MANAGE, description="change a connection")
    def update_connection(self, connection_id: int, *, base_url: str | None = None,
                          settings: dict | None = None, credentials: Credentials | None = None,
                          interval_minutes: int | None = None, paused: bool | None = None,
                          seen: Any = UNCHECKED) -> ConnectionView:
        """Change what a user configures (None = keep), and/or pause or resume.

        ``seen`` is the ``settings_updated_at`` the edit dialog showed. When someone else changed
        the configuration since, the save is refused with who and when, and nothing is written
        (a sync in between does not count: it never moves ``settings_updated_at``). Left out
        (the CLI, the pause switch), the last write wins. A call that only pauses or resumes
        leaves ``settings_updated_*`` alone, so it never turns an open dialog's save into a
        conflict (the dialog does not write ``paused``)."""
        now = self.ctx.now()
        with self.ctx.db.unit_of_work() as uow:
            # read FOR UPDATE: on PostgreSQL a concurrent save, or a sync page already writing
            # the row, commits first and we then check (and version) against what it wrote
            row = self._get(uow, connection_id, lock=True)
            if seen is not UNCHECKED and row.settings_updated_at != seen:
                raise ConcurrentUpdate(
                    f"the connection '{row.name}' was changed by {row.settings_updated_by} at "
                    f"{row.settings_updated_at:%Y-%m-%d %H:%M:%S} UTC: reload it and try again "
                    "(your change was not saved)")
            before = {"base_url": row.base_url, "interval": row.interval_minutes, "paused": row.paused}
            new_settings = settings if settings is not None else json.loads(row.settings_json)
            config = self._validated_config(row.name, row.kind, base_url or row.base_url, row.auth_kind,
                                            new_settings)
            configured = (base_url is not None or settings is not None or credentials is not None
                          or interval_minutes is not None)
            row.base_url, row.settings_json = config.base_url, json.dumps(new_settings, sort_keys=True)
            if interval_minutes is not None:
                if interval_minutes < 1:
                    raise ValidationError("the sync interval is at least one minute", field="interval")
                row.interval_minutes = interval_minutes
            if paused is not None:
                row.paused = paused
            if credentials is not None:
                row.credentials_enc = self._encrypt(credentials)
            if configured:
                row.settings_updated_by, row.settings_updated_at = self.ctx.actor, now
            audit_log(uow, actor=self.ctx.actor, action="connection.changed", entity="connection",
                      entity_id=row.id, before=before,
                      after={"base_url": row.base_url, "interval": row.interval_minutes, "paused": row.paused,
                             "credentials": "replaced" if credentials is not None else "unchanged"},
                      at=now)
            view = _view(row, row.credentials_enc is not None)
        self.ctx.bus.publish("connections.changed", id=view.id)
        return view

    @action(Permission.ACCOUNTS_READ, description="list connections")
    def list_connections(self) -> list[ConnectionView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return [_view(c, c.credentials_enc is not None)
                    for c in uow.execute(select(Connection).order_by(Connection.name)).scalars()]

    @action(Permission.ACCOUNTS_READ, description="view sync history")
    def recent_runs(self, connection_id: int, limit: int = 20) -> list[SyncRun]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return list(uow.execute(select(SyncRun).where(SyncRun.connection_id == connection_id)
                                    .order_by(SyncRun.id.desc()).limit(limit)).scalars())

    @action(Permission.SYNC_RUN, description="test a connection")
    def test_connection(self, connection_id: int) -> str:
        with self.ctx.db.unit_of_work(write=False) as uow:
            config, credentials = self._config_of(self._get(uow, connection_id))
        with self._client_factory(config, credentials) as client:
            return client.test_connection()

    # -- synchronisation --------------------------------------------------------------------
    @action(Permission.SYNC_RUN, description="synchronise due connections")
    def sync_due(self) -> list[SyncResult]:
        """What the scheduler calls every tick: every connection whose interval has passed."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            ids = [c.id for c in uow.execute(select(Connection).where(Connection.paused.is_(False))).scalars()
                   if is_due(ScheduleEntry(c.id, timedelta(minutes=c.interval_minutes), c.last_started_at),
                             self.ctx.now())]
        return [self._run(i, force=False) for i in ids]

    @action(Permission.SYNC_RUN, description="synchronise a connection")
    def sync_connection(self, connection_id: int, *, force: bool = True) -> SyncResult:
        """Run one connection now ('sync now' in the UI, ``cio-desktop sync NAME``)."""
        return self._run(connection_id, force=force)

    @action(Permission.SYNC_RUN, description="find a connection")
    def connection_id(self, name_or_id: str) -> int:
        with self.ctx.db.unit_of_work(write=False) as uow:
            cond = Connection.id == int(name_or_id) if name_or_id.isdigit() else Connection.name == name_or_id
            found = uow.execute(select(Connection.id).where(cond)).scalar_one_or_none()
        if found is None:
            raise NotFound(f"no connection '{name_or_id}'")
        return found

    def _run(self, connection_id: int, *, force: bool) -> SyncResult:
        now = self.ctx.now()
        with self.ctx.db.unit_of_work() as uow:   # compare-and-set on the start time
            # every write to the row locks it first (PostgreSQL): a settings save or another
            # workstation's run committed in between is waited for and re-read, not a conflict
            row = self._get(uow, connection_id, lock=True)
            entry = ScheduleEntry(row.id, timedelta(minutes=row.interval_minutes), row.last_started_at, row.paused)
            if not force and not is_due(entry, now):
                return SyncResult(row.name, skipped=True)
            row.last_started_at = now
            for stale in uow.execute(select(SyncRun).where(
                    SyncRun.connection_id == row.id, SyncRun.status == "running",
                    SyncRun.started_at < now - STALE_RUN_AFTER)).scalars():
                stale.status, stale.finished_at, stale.error = "failed", now, INTERRUPTED
            run = SyncRun(connection_id=row.id, started_at=now, status="running", attempts=0, error="")
            uow.add(run)
            uow.flush()
            run_id, name, kind = run.id, row.name, row.kind
            config, credentials = self._config_of(row)
            cursors: dict[str, str] = json.loads(row.cursor_json or "{}")
        result = SyncResult(name)
        try:
            with self._client_factory(config, credentials) as client:
                adapter = adapter_for(client)
                if kind == "banking":
                    self._sync_banking(adapter, connection_id, cursors, result)
                elif kind == "accounting":
                    self._sync_accounting(adapter, connection_id, result)
                else:
                    self._sync_investment(adapter, connection_id, result)
        except CioError as exc:
            result.ok, result.error = False, str(exc)
        except Exception as exc:  # noqa: BLE001 — a sync must never take the application down
            log.exception("sync of %s crashed", name)
            result.ok, result.error = False, f"unexpected {type(exc).__name__}: {exc}"
        self._finish(connection_id, run_id, result)
        return result

    def _finish(self, connection_id: int, run_id: int, result: SyncResult) -> None:
        now = self.ctx.now()
        with self.ctx.db.unit_of_work() as uow:
            row = self._get(uow, connection_id, lock=True)
            run = uow.get(SyncRun, run_id)
            assert run is not None
            run.finished_at, run.lines_new, run.lines_duplicate = now, result.new, result.duplicates
            run.status, run.error = ("ok", "") if result.ok else ("failed", result.error[:2000])
            if result.ok:
                row.last_success_at, row.last_error = now, ""
            else:
                row.last_error = result.error[:2000]
            audit_log(uow, actor=self.ctx.actor, action="sync.completed" if result.ok else "sync.failed",
                      entity="connection", entity_id=row.id,
                      after={"new": result.new, "duplicates": result.duplicates, "pages": result.pages,
                             "error": result.error[:500]}, at=now)
        topic = "sync.completed" if result.ok else "sync.failed"
        self.ctx.bus.publish(topic, connection=result.connection, new=result.new, error=result.error)
        if result.new:
            self.ctx.bus.publish("ledger.changed", connection=result.connection, new=result.new)

    def _sync_banking(self, adapter: Any, connection_id: int, cursors: dict[str, str],
                      result: SyncResult) -> None:
        for account in adapter.accounts():
            cursor = cursors.get(account.resource_id)
            for page in adapter.transactions(account.resource_id, cursor, today=self.ctx.now().date()):
                page_result = FileImportResult(file=page.statement.source, format="psd2")
                with self.ctx.db.unit_of_work() as uow:   # one page = one batch = one transaction
                    batch = ImportBatch(source=result.connection[:255], kind="sync", format="psd2",
                                        actor=self.ctx.actor, imported_at=self.ctx.now())
                    uow.add(batch)
                    uow.flush()
                    ingest(self.ctx, uow, [page.statement], batch, page_result)
                    if page.next_cursor:
                        cursors[account.resource_id] = page.next_cursor
                    row = self._get(uow, connection_id, lock=True)
                    row.cursor_json = json.dumps(cursors, sort_keys=True)
                    audit_log(uow, actor=self.ctx.actor, action="ledger.synced", entity="import_batch",
                              entity_id=batch.id, after={"connection": result.connection, "page": page.page_url,
                                                         "new": page_result.new,
                                                         "duplicates": page_result.duplicates},
                              at=self.ctx.now())
                result.pages += 1
                result.new += page_result.new
                result.duplicates += page_result.duplicates
                for masked in page_result.accounts:
                    if masked not in result.accounts:
                        result.accounts.append(masked)

    def _sync_accounting(self, adapter: Any, connection_id: int, result: SyncResult) -> None:
        """Open items are a snapshot: what the system lists is open, what it no longer lists closed."""
        items = list(adapter.open_items())
        now = self.ctx.now()
        with self.ctx.db.unit_of_work() as uow:
            existing = {r.external_id: r for r in uow.execute(
                select(OpenItem).where(OpenItem.connection_id == connection_id)).scalars()}
            seen = set()
            for item in items:
                try:
                    currency = normalise_currency(item.currency)
                    minor = Money(item.amount, currency).to_minor()
                except ValueError as exc:
                    raise ValidationError(str(exc), source=item.source, line=item.line, field="amount") from None
                seen.add(item.id)
                row = existing.get(item.id)
                if row is None:
                    uow.add(OpenItem(connection_id=connection_id, external_id=item.id[:64], kind=item.kind,
                                     counterparty=item.counterparty[:140], amount_minor=minor, currency=currency,
                                     due_date=item.due_date, issue_date=item.issue_date,
                                     document_no=item.document_no[:64], status="open", updated_at=now))
                    result.new += 1
                else:
                    row.amount_minor, row.due_date, row.status, row.updated_at = minor, item.due_date, "open", now
                    result.duplicates += 1
            closed = [r for key, r in existing.items() if key not in seen and r.status == "open"]
            for r in closed:
                r.status, r.updated_at = "closed", now
            audit_log(uow, actor=self.ctx.actor, action="open_items.synced", entity="connection",
                      entity_id=connection_id, after={"open": len(items), "new": result.new,
                                                      "closed": len(closed)}, at=now)
        result.pages = 1

    def _sync_investment(self, adapter: Any, connection_id: int, result: SyncResult) -> None:
        """Positions replace the holdings of the portfolio named after the connection; prices
        are stored for every asset the platform reports."""
        positions = adapter.positions()
        ids = [p.security_id for p in positions]
        prices = list(adapter.prices(ids)) if ids else []
        now = self.ctx.now()
        with self.ctx.db.unit_of_work() as uow:
            portfolio = uow.execute(select(Portfolio).where(Portfolio.name == result.connection)).scalar_one_or_none()
            if portfolio is None:
                currency = positions[0].currency if positions else self.ctx.settings.base_currency
                portfolio = Portfolio(name=result.connection, base_currency=normalise_currency(currency),
                                      description="synchronised from an investment platform", created_at=now)
                uow.add(portfolio)
                uow.flush()
            assets = {}
            for p in positions:
                asset = _asset(uow, p.security_id, p.name, p.currency)
                assets[p.security_id] = asset
                holding = uow.execute(select(Holding).where(Holding.portfolio_id == portfolio.id,
                                                            Holding.asset_id == asset.id)).scalar_one_or_none()
                quantity = p.quantity.quantize(Decimal("0.000001"))
                if holding is None:
                    uow.add(Holding(portfolio_id=portfolio.id, asset_id=asset.id, quantity=quantity, cost_minor=0))
                    result.new += 1
                else:
                    holding.quantity = quantity
                    result.duplicates += 1
            for price in prices:
                asset = assets.get(price.asset_id) or _asset(uow, price.asset_id, "", price.currency)
                close = price.close.quantize(Decimal("0.000001"))
                existing = uow.get(Price, (asset.id, price.date))
                if existing is None:
                    uow.add(Price(asset_id=asset.id, price_date=price.date, close=close))
                else:
                    existing.close = close
            audit_log(uow, actor=self.ctx.actor, action="positions.synced", entity="portfolio",
                      entity_id=portfolio.id, after={"positions": len(positions), "prices": len(prices)}, at=now)
        result.pages = 1

    # -- helpers ----------------------------------------------------------------------------
    def _get(self, uow: Session, connection_id: int, *, lock: bool = False) -> Connection:
        """The row; ``lock`` reads it ``FOR UPDATE`` (PostgreSQL; SQLite serialises writers)."""
        row = uow.get(Connection, connection_id, with_for_update=lock or None, populate_existing=lock)
        if row is None:
            raise NotFound(f"no connection with id {connection_id}")
        return row

    def _encrypt(self, credentials: Credentials | None) -> str | None:
        if credentials is None:
            return None
        payload = json.dumps({"client_secret": credentials.client_secret, "api_key": credentials.api_key,
                              "key_passphrase": credentials.key_passphrase})
        return self.ctx.cipher.encrypt(payload, CREDENTIALS_CONTEXT)

    def _config_of(self, row: Connection) -> tuple[ConnectionConfig, Credentials]:
        settings = json.loads(row.settings_json or "{}")
        config = self._validated_config(row.name, row.kind, row.base_url, row.auth_kind, settings)
        creds = Credentials()
        if row.credentials_enc:
            data = json.loads(self.ctx.cipher.decrypt(row.credentials_enc, CREDENTIALS_CONTEXT))
            creds = Credentials(**data)
        return config, creds

    @staticmethod
    def _validated_config(name: str, kind: str, base_url: str, auth_kind: str, settings: dict) -> ConnectionConfig:
        name = (name or "").strip()
        if not name:
            raise ValidationError("a connection needs a name", field="name")
        if kind not in KINDS:
            raise ValidationError(f"kind must be one of {', '.join(KINDS)}", field="kind")
        if auth_kind not in AUTH_KINDS:
            raise ValidationError(f"authentication must be one of {', '.join(AUTH_KINDS)}", field="auth")
        unknown = set(settings) - set(SETTING_KEYS)
        if unknown:
            raise ValidationError(f"unknown setting(s) {', '.join(sorted(unknown))}", field="settings")
        config = ConnectionConfig(name=name, kind=kind, base_url=(base_url or "").strip(), auth_kind=auth_kind,
                                  **settings)
        config.validate()
        return config


def _asset(uow: Session, identifier: str, name: str, currency: str) -> Asset:
    asset = uow.execute(select(Asset).where(Asset.identifier == identifier)).scalar_one_or_none()
    if asset is None:
        asset = Asset(identifier=identifier[:32], name=(name or identifier)[:200], asset_class="unclassified",
                      currency=normalise_currency(currency))
        uow.add(asset)
        uow.flush()
    return asset
