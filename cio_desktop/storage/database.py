"""Engine factory and units of work.

The default is an SQLCipher file (sqlcipher3) in WAL mode; a ``postgresql://`` URL gives the
same models on a server. Nothing above this module may assume SQLite.

SQLite transactions: pysqlite's implicit BEGIN is turned off and we emit our own, so DDL is
transactional (a failed migration leaves the file as it was) and a *write* unit of work starts
with ``BEGIN IMMEDIATE`` — it takes the write lock up front instead of failing half-way when
another writer got there first.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import QueuePool

from cio_desktop.errors import ConcurrentUpdate, DatabaseOpenError
from cio_desktop.security.dbkey import DbKey

log = logging.getLogger(__name__)

NOT_OURS = "cannot open {target}: wrong key or not a CIO Desktop database"
DEFAULT_CACHE_KIB = 16 * 1024


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql:", "postgresql+", "postgres:"))


def _sqlcipher_module():
    import sqlcipher3.dbapi2 as module

    return module


def _open_raw_sqlcipher(path: Path, key: DbKey, pragma_value: str | None = None):
    """One verified connection: the key is applied and checked before anything else runs."""
    module = _sqlcipher_module()
    conn = module.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")  # a wrong key is our message, not stderr noise
        conn.execute(f"PRAGMA key = {pragma_value or key.sqlcipher_pragma_value()}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except module.DatabaseError:
        conn.close()
        raise DatabaseOpenError(NOT_OURS.format(target=path)) from None
    return conn


def _derived_key_pragma(path: Path, key: DbKey) -> str | None:
    """For a passphrase, SQLCipher's own key derivation (PBKDF2-HMAC-SHA512, 256,000 rounds,
    the file's 16-byte salt) done once here, so each further pooled connection opens with the
    raw key and salt instead of paying ~0.3 s of derivation again. None if not applicable."""
    if key.passphrase is None:
        return None
    with path.open("rb") as fh:
        salt = fh.read(16)
    if len(salt) != 16:
        return None
    derived = hashlib.pbkdf2_hmac("sha512", key.passphrase.encode("utf-8"), salt, 256_000, 32)
    return f"\"x'{derived.hex()}{salt.hex()}'\""


def _sqlcipher_engine(path: Path, key: DbKey, pragma_value: str | None = None) -> Engine:
    module = _sqlcipher_module()

    def creator():
        conn = _open_raw_sqlcipher(path, key, pragma_value)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(f"PRAGMA cache_size = -{DEFAULT_CACHE_KIB}")
        return conn

    engine = create_engine("sqlite+pysqlite://", creator=creator, module=module,
                           poolclass=QueuePool, pool_size=8, max_overflow=8)

    @event.listens_for(engine, "checkin")
    def _reset_cache(dbapi_conn, record) -> None:  # noqa: ANN001
        """An import may have raised this connection's page cache; give the memory back."""
        try:
            dbapi_conn.execute(f"PRAGMA cache_size = -{DEFAULT_CACHE_KIB}")
            dbapi_conn.execute("PRAGMA shrink_memory")
        except module.Error:
            pass

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("cio_write")
                             else "BEGIN")

    return engine


def damaged_database_message(exc: BaseException, target: str) -> str | None:
    """Plain words for a database that opened with the right key but is damaged inside (an
    encrypted page that fails its integrity check, a truncated file), else None."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    if any(s in text for s in ("malformed", "file is not a database", "disk image", "hmac check failed",
                               "database or disk is full", "file is encrypted")):
        return (f"cannot read {target}: the database file is damaged ({text.strip()}); restore it from "
                "a backup — the file was not changed")
    return None


def _remember_versioned(session: Session, flush_context, instances) -> None:  # noqa: ANN001
    """Note which versioned rows this flush changes, so a lost update can name them."""
    from sqlalchemy import inspect as sa_inspect

    changed = []
    for obj in list(session.dirty) + list(session.deleted):
        mapper = getattr(type(obj), "__mapper__", None)
        if mapper is not None and mapper.version_id_col is not None:
            changed.append((type(obj), sa_inspect(obj).identity))
    session.info["cio_versioned"] = changed


class Database:
    """An open database: its engine, its session factory and how it was keyed."""

    def __init__(self, target: str, engine: Engine, key: DbKey | None) -> None:
        self.target = target
        self.engine = engine
        self.key = key
        self.kind = engine.dialect.name  # "sqlite" (SQLCipher) or "postgresql"
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        event.listen(self._sessions, "before_flush", _remember_versioned)
        self._local = threading.local()
        #: team mode: the host whose weaker-than-verify-full connection the user allowed (audited)
        self.insecure_host: str | None = None
        self.ca_file: str | None = None
        self.insecure_hosts: frozenset[str] = frozenset()

    @property
    def display_name(self) -> str:
        if self.kind == "sqlite":
            return f"{Path(self.target).name} (encrypted)"
        return self.engine.url.render_as_string(hide_password=True)

    def session(self) -> Session:
        """A plain session for reads that span calls (the ledger model); caller closes it."""
        return self._sessions()

    @contextmanager
    def unit_of_work(self, write: bool = True) -> Iterator[Session]:
        """One transaction: commit on success, roll back on any error."""
        session = self._sessions()
        try:
            if write and self.kind == "sqlite":
                session.connection(execution_options={"cio_write": True})
            yield session
            if write:
                session.commit()
            # a read: close() below ends the transaction without expiring what was loaded, so
            # objects returned from a read stay readable after it
        except StaleDataError:
            # a versioned row changed under us (another workstation saved first): say who and when
            stale = list(session.info.get("cio_versioned", ()))
            session.rollback()
            from cio_desktop.storage.concurrency import lost_update_message

            raise ConcurrentUpdate(lost_update_message(self, stale)) from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()

    def reconnect(self) -> None:
        """After the file was replaced (a restore): a new engine keyed for the new file (its
        salt may differ, so the cached derived key of the old file no longer fits)."""
        self.engine.dispose()
        if self.kind != "sqlite" or self.key is None:
            return
        path = Path(self.target)
        _open_raw_sqlcipher(path, self.key).close()  # the clear wrong-key error, before anything else
        pragma = _derived_key_pragma(path, self.key)
        if pragma is not None:
            try:
                _open_raw_sqlcipher(path, self.key, pragma).close()
            except DatabaseOpenError:
                pragma = None
        self.engine = _sqlcipher_engine(path, self.key, pragma)
        self._sessions.configure(bind=self.engine)

    def key_pragma(self) -> str:
        """The PRAGMA key value that opens this SQLCipher file (raw key, or the passphrase's
        derived key with this file's salt — so a copy keyed with it has the same salt)."""
        assert self.key is not None
        return _derived_key_pragma(Path(self.target), self.key) or self.key.sqlcipher_pragma_value()


def check_writable_location(path: Path) -> None:
    parent = path.expanduser().resolve().parent
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise DatabaseOpenError(f"cannot open {path}: the file is not readable and writable by you")
        return
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseOpenError(f"cannot create {path}: {exc.strerror}") from None
    if not os.access(parent, os.W_OK):
        raise DatabaseOpenError(f"cannot create {path}: the folder {parent} is not writable")


def connect(target: str, key: DbKey | None, *, create: bool = False, ca_file: str | None = None,
            insecure_hosts: frozenset[str] = frozenset()) -> Database:
    """Open (and with ``create`` make) the database; verifies the key before anything else.
    A PostgreSQL URL is always opened with TLS verify-full (see storage.team)."""
    if is_postgres_url(target):
        from cio_desktop.storage.team import describe_pg_failure, prepare_pg_target

        pg = prepare_pg_target(target, ca_file=ca_file, insecure_hosts=insecure_hosts)
        try:
            engine = create_engine(pg.url, connect_args=pg.connect_args, pool_pre_ping=True,
                                   pool_size=8, max_overflow=8)
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise DatabaseOpenError(describe_pg_failure(exc, target, pg)) from None
        db = Database(target, engine, key)
        db.insecure_host = pg.host if pg.insecure else None
        db.ca_file, db.insecure_hosts = ca_file, insecure_hosts  # pg_dump/pg_restore reuse them
        return db
    if key is None:
        raise DatabaseOpenError(f"cannot open {target}: no database key")
    path = Path(target).expanduser()
    if not path.exists() and not create:
        raise DatabaseOpenError(f"no database at {path}: create one with 'cio-desktop init' or "
                                "'cio-desktop demo'")
    if path.exists() and path.is_dir():
        raise DatabaseOpenError(f"cannot open {path}: it is a folder, not a database file")
    check_writable_location(path)
    probe = _open_raw_sqlcipher(path, key)  # raises the clear wrong-key error, writes nothing
    try:
        probe.execute("PRAGMA journal_mode = WAL")
    finally:
        probe.close()
    pragma = _derived_key_pragma(path, key)
    if pragma is not None:
        try:  # files made with other KDF settings (older SQLCipher) keep the passphrase path
            _open_raw_sqlcipher(path, key, pragma).close()
        except DatabaseOpenError:
            pragma = None
    return Database(str(path), _sqlcipher_engine(path, key, pragma), key)
