"""Backup and restore: an encrypted, consistent copy taken while the application runs, and a
restore that checks everything before it replaces anything.

* SQLCipher: ``sqlcipher_export`` into a new file keyed with the same database key, inside one
  read transaction (a WAL snapshot), so writers carry on and the copy is one point in time.
  The backup *is* an SQLCipher database: nothing readable without the key.
* PostgreSQL: ``pg_dump --format=custom`` over the same verified-TLS connection settings, sealed
  with AES-256-GCM under a key derived from the database key (pg_dump itself does not encrypt).

A restore first proves the backup is whole and ours — the key opens it, the integrity check and
the audit chain pass, its schema is not newer than this program — and only then replaces the
database (an atomic file rename, or ``pg_restore --single-transaction``). A wrong key, a
truncated or altered file: a clear message and the current database untouched.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cio_desktop.errors import CioError, DatabaseOpenError, ValidationError
from cio_desktop.security.crypto import derive_kek
from cio_desktop.security.dbkey import DbKey
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log, verify_chain
from cio_desktop.services.base import Service, action
from cio_desktop.storage.database import Database, connect

log = logging.getLogger(__name__)

PG_MAGIC = b"CIO-DESKTOP-BACKUP-PG1\n"
SQLITE_HEADER = b"SQLite format 3\x00"  # an unencrypted file starts so; ours never does


class BackupError(CioError):
    exit_code = 2


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    kind: str            # "sqlcipher" | "pg_dump"
    audit_entries: int

    def message(self) -> str:
        return (f"backup written to {self.path} ({self.size:,} bytes, {self.kind}, encrypted; "
                f"{self.audit_entries} audit entries)")


@dataclass(frozen=True)
class RestoreResult:
    source: Path
    target: str
    audit_entries: int

    def message(self) -> str:
        return (f"restored {self.target} from {self.source}; audit trail OK: {self.audit_entries} "
                "entries, chain intact")


@dataclass(frozen=True)
class BackupCheck:
    """A backup proven restorable into this database, nothing replaced yet."""

    path: Path
    size: int
    kind: str            # "sqlcipher" | "pg_dump"
    audit_entries: int   # 0 for pg_dump: its chain is verified when pg_restore has run
    modified: datetime

    def message(self) -> str:
        what = (f"{self.audit_entries} audit entries, chain intact" if self.kind == "sqlcipher"
                else "sealed with this database's key, archive readable")
        return f"{self.path} ({self.size:,} bytes, {self.kind}): key, integrity and schema OK; {what}"


def _backup_to_open(db: Database, source: str | Path) -> Path:
    """The backup file ``source`` names, resolved, once it is known that there is something to
    open and a key to open it with: ``check`` and ``restore`` refuse the same cases with the same
    words, before any temporary directory is made."""
    path = Path(source).expanduser().resolve()
    if not path.is_file() or path.stat().st_size == 0:
        raise ValidationError(f"no backup at {path} (missing or empty)", field="FILE")
    if db.key is None:
        raise BackupError("no database key to open the backup with")
    return path


# -- SQLCipher ---------------------------------------------------------------------------------

def _sqlcipher_export(db: Database, out: Path) -> None:
    assert db.key is not None
    raw = db.engine.raw_connection()
    try:
        conn = raw.driver_connection
        # keyed like the live file (same derived key and salt for a passphrase), so a restored
        # copy opens with every workstation's cached key
        conn.execute(f"ATTACH DATABASE ? AS cio_backup KEY {db.key_pragma()}", (str(out),))
        try:
            conn.execute("BEGIN")                       # one snapshot for the whole export
            conn.execute("SELECT sqlcipher_export('cio_backup')")
            conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.execute("DETACH DATABASE cio_backup")
    finally:
        raw.close()


def _check_sqlcipher_file(path: Path, key: DbKey, workdir: Path) -> tuple[Path, int]:
    """Copy the backup aside, open it with ``key``, check integrity, schema and audit chain;
    returns the checked copy (ready to move into place) and the audit entry count."""
    from cio_desktop.storage import migrate

    head = path.read_bytes()[:16]
    if head == SQLITE_HEADER:
        raise BackupError(f"{path} is an unencrypted SQLite file, not a CIO Desktop backup")
    copy = workdir / "restore.db"
    shutil.copyfile(path, copy)
    try:
        db = connect(str(copy), key)
    except DatabaseOpenError:
        raise BackupError(f"cannot open the backup {path}: wrong key, or the file is truncated or not a "
                          "CIO Desktop backup (nothing was changed)") from None
    try:
        try:
            with db.engine.connect() as conn:
                bad = [r[0] for r in conn.exec_driver_sql("PRAGMA cipher_integrity_check").fetchall()]
                quick = conn.exec_driver_sql("PRAGMA quick_check").scalar()
            if bad or quick != "ok":
                raise BackupError(f"the backup {path} is damaged ({(bad or [quick])[0]}); nothing was changed")
            revision = migrate.current_revision(db)
            known = {r.revision for r in migrate.ScriptDirectory.from_config(migrate.alembic_config())
                     .walk_revisions()}
            if revision not in known:
                raise BackupError(f"the backup {path} has schema version {revision}, newer than this "
                                  "CIO Desktop understands: install the newer application")
            with db.unit_of_work(write=False) as uow:
                result = verify_chain(uow)
        except BackupError:
            raise
        except Exception as exc:  # malformed pages of a truncated or altered file
            raise BackupError(f"the backup {path} is damaged or truncated ({str(exc).splitlines()[0]}); "
                              "nothing was changed") from None
        if not result.ok:
            raise BackupError(f"the backup {path} fails the audit check ({result.message()}); nothing was changed")
        with db.engine.connect() as conn:                # fold the WAL back so one file is complete
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.dispose()
    return copy, result.checked


# -- PostgreSQL --------------------------------------------------------------------------------

def _libpq_url(db: Database) -> str:
    """The libpq URL for pg_dump/pg_restore with the same TLS settings as the application."""
    from urllib.parse import urlencode

    from cio_desktop.storage.team import prepare_pg_target

    pg = prepare_pg_target(db.target, ca_file=db.ca_file, insecure_hosts=db.insecure_hosts)
    base = pg.url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    args = {k: v for k, v in pg.connect_args.items() if k != "application_name"}
    return f"{base}?{urlencode(args)}"


def _pg_tool(name: str) -> str:
    import glob

    found = shutil.which(name)
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if versions:
        return versions[-1]
    if found:
        return found
    raise BackupError(f"{name} is not installed (install the PostgreSQL client tools)")


def _seal(key: DbKey, data: bytes) -> bytes:
    salt, nonce = os.urandom(16), os.urandom(12)
    kek = derive_kek(key.master_secret, salt)
    return PG_MAGIC + salt + nonce + AESGCM(kek).encrypt(nonce, data, PG_MAGIC)


def _unseal(key: DbKey, blob: bytes, path: Path) -> bytes:
    if not blob.startswith(PG_MAGIC) or len(blob) < len(PG_MAGIC) + 28 + 16:
        raise BackupError(f"{path} is not a CIO Desktop team-mode backup, or it is truncated; nothing was changed")
    body = blob[len(PG_MAGIC):]
    salt, nonce, sealed = body[:16], body[16:28], body[28:]
    try:
        return AESGCM(derive_kek(key.master_secret, salt)).decrypt(nonce, sealed, PG_MAGIC)
    except InvalidTag:
        raise BackupError(f"cannot open the backup {path}: wrong key, or the file is truncated or altered; "
                          "nothing was changed") from None


def _run(argv: list[str], what: str, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=3600)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BackupError(f"{what} failed: {(err or ['exit code ' + str(proc.returncode)])[-1][:300]}")
    return proc.stdout


# -- the service -------------------------------------------------------------------------------

class BackupService(Service):
    @action(Permission.SETTINGS_MANAGE, description="back up the database")
    def backup(self, out: str | Path) -> BackupResult:
        db = self.ctx.db
        target = Path(out).expanduser().resolve()
        if target.exists():
            raise ValidationError(f"{target} already exists: choose a new file name", field="--out")
        if not target.parent.is_dir():
            raise ValidationError(f"the folder {target.parent} does not exist", field="--out")
        if db.key is None:
            raise BackupError("no database key: a backup is always encrypted")
        with db.unit_of_work() as uow:   # recorded first, so the backup holds its own entry
            entry = audit_log(uow, actor=self.ctx.actor, action="backup.created", entity="database",
                              entity_id=db.kind, after={"file": target.name}, at=self.ctx.now())
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        try:
            if db.kind == "sqlite":
                _sqlcipher_export(db, partial)
                kind = "sqlcipher"
            else:
                dump = _run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                             "--dbname", _libpq_url(db)], "pg_dump")
                partial.write_bytes(_seal(db.key, dump))
                kind = "pg_dump"
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self.ctx.bus.publish("backup.created", path=str(target))
        return BackupResult(target, target.stat().st_size, kind, entry.id)

    @action(Permission.SETTINGS_MANAGE, description="check a backup before a restore")
    def check(self, source: str | Path) -> BackupCheck:
        """Everything ``restore`` proves before it replaces anything — the key opens the backup,
        integrity, schema and audit chain (SQLCipher), seal and archive (PostgreSQL) — and
        nothing more: the live database is not touched. Lets the Settings dialog tell the user
        that a backup is good before asking them to quit and run the restore."""
        db = self.ctx.db
        path = _backup_to_open(db, source)
        stat = path.stat()
        entries = 0
        with tempfile.TemporaryDirectory(prefix="cio-check-", dir=self._workdir()) as tmp:
            if db.kind == "sqlite":
                _checked, entries = _check_sqlcipher_file(path, db.key, Path(tmp))
                kind = "sqlcipher"
            else:
                dump_file = Path(tmp) / "check.dump"
                dump_file.write_bytes(_unseal(db.key, path.read_bytes(), path))
                _run([_pg_tool("pg_restore"), "--list", str(dump_file)], "reading the backup")
                kind = "pg_dump"
        return BackupCheck(path, stat.st_size, kind, entries,
                           datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc))

    @action(Permission.SETTINGS_MANAGE, description="restore the database from a backup", mfa=True)
    def restore(self, source: str | Path) -> RestoreResult:
        """Replace this database with the backup. Other workstations must be closed first; this
        workspace's connections are closed and reopened by the caller (see ``reopen``)."""
        db = self.ctx.db
        path = _backup_to_open(db, source)
        actor = self.ctx.actor
        with tempfile.TemporaryDirectory(prefix="cio-restore-", dir=self._workdir()) as tmp:
            if db.kind == "sqlite":
                checked, _ = _check_sqlcipher_file(path, db.key, Path(tmp))
                live = Path(db.target)
                db.dispose()
                for suffix in ("-wal", "-shm"):
                    Path(str(live) + suffix).unlink(missing_ok=True)
                os.replace(checked, live)
                db.reconnect()
            else:
                dump = _unseal(db.key, path.read_bytes(), path)
                dump_file = Path(tmp) / "restore.dump"
                dump_file.write_bytes(dump)
                _run([_pg_tool("pg_restore"), "--list", str(dump_file)], "reading the backup")
                db.dispose()
                _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--single-transaction",
                      "--no-owner", "--no-privileges", "--exit-on-error", "--dbname", _libpq_url(db),
                      str(dump_file)], "pg_restore")
        with db.unit_of_work() as uow:
            audit_log(uow, actor=actor, action="backup.restored", entity="database", entity_id=db.kind,
                      after={"file": path.name}, at=self.ctx.now())
        with db.unit_of_work(write=False) as uow:
            result = verify_chain(uow)
        if not result.ok:  # pragma: no cover — checked before replacing for SQLCipher
            raise BackupError(f"restored, but {result.message()}")
        self.ctx.bus.publish("backup.restored", path=str(path))
        return RestoreResult(path, db.display_name, result.checked)

    def _workdir(self) -> str | None:
        if self.ctx.db.kind == "sqlite":
            return str(Path(self.ctx.db.target).parent)  # same file system: the final rename is atomic
        return None
