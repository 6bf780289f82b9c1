"""Administration of the start-up settings that decide where the data lives and how it travels:
the database (encrypted file or PostgreSQL URL), the CA file for the team server, and the hosts
allowed to skip TLS verification.

These settings are read once at start (``config.load_settings``), so saving them changes the
next start, never the running workspace. Both operations need ``settings.manage`` (the
administrator). Saving writes one ``settings.changed`` audit entry in the same transaction as
the file write — a failed write rolls the entry back — because a changed database or a new
insecure host is exactly what an auditor must be able to find later.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from cio_desktop.config import (environment_overrides, read_settings_file, save_settings,
                                settings_file_path)
from cio_desktop.errors import CioError, DatabaseOpenError, ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.storage.database import check_writable_location, connect, is_postgres_url

log = logging.getLogger(__name__)

#: the settings this service manages (and the Settings dialog shows)
MANAGED = ("db", "pg_ca_file", "allow_insecure_hosts")
_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
                   r"|^[0-9a-f:.]+$")
_SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class DatabaseCheck:
    ok: bool
    message: str


@dataclass(frozen=True)
class SavedSettings:
    path: Path
    changed: tuple[str, ...]
    #: CIO_* variables set in this environment that will still win over the file
    overridden: tuple[str, ...]

    def message(self) -> str:
        if not self.changed:
            return f"Nothing changed in {self.path}."
        note = (f" Note: {', '.join(self.overridden)} set in the environment still take precedence."
                if self.overridden else "")
        return (f"Saved to {self.path} ({', '.join(self.changed)}). Takes effect the next time CIO Desktop "
                f"starts.{note}")


def normalise_hosts(value: str) -> str:
    """``"A.example.org,  b.example.org"`` → ``"a.example.org, b.example.org"``; refuses wildcards,
    schemes, ports and paths, since an exception is by exact host name only."""
    hosts: list[str] = []
    for raw in re.split(r"[,\s]+", value.strip()):
        host = raw.strip().lower()
        if not host:
            continue
        if not _HOST.match(host):
            raise ValidationError(f"'{raw}' is not a host name (no wildcards, schemes, ports or paths: "
                                  "one exact name per entry)", field="allow_insecure_hosts")
        if host not in hosts:
            hosts.append(host)
    return ", ".join(hosts)


def _redacted(name: str, value: str) -> str:
    if name == "db" and is_postgres_url(value):
        from cio_desktop.storage.team import redact

        return redact(value)
    return value


class SettingsAdminService(Service):
    @action(Permission.SETTINGS_MANAGE, description="test a database connection")
    def check_database(self, target: str, *, ca_file: str = "", allow_insecure_hosts: str = "") -> DatabaseCheck:
        """Can this workstation use ``target``? A PostgreSQL URL is connected to exactly as at
        start (TLS verify-full, TLS 1.2+, the CA file and allow-list given here) and closed again;
        a file is checked for presence, permissions and encryption. Never raises for a bad
        target: the answer is the message."""
        target = target.strip()
        try:
            hosts = frozenset(h for h in normalise_hosts(allow_insecure_hosts).split(", ") if h)
            if is_postgres_url(target):
                return self._check_postgres(target, ca_file.strip(), hosts)
            return self._check_file(target)
        except CioError as exc:
            return DatabaseCheck(False, str(exc))

    def _check_postgres(self, target: str, ca_file: str, hosts: frozenset[str]) -> DatabaseCheck:
        from cio_desktop.security.tls import client_ssl_context
        from cio_desktop.services.team import record_insecure_use
        from cio_desktop.storage.team import redact

        if ca_file:
            client_ssl_context(ca_file, source="pg_ca_file")       # a clear message for a bad CA file
        db = connect(target, None, ca_file=ca_file or None, insecure_hosts=hosts)
        try:
            if db.insecure_host:
                record_insecure_use(self.ctx.db, db.insecure_host, "database (connection test)",
                                    actor=self.ctx.actor)
            with db.engine.connect() as conn:
                version = conn.exec_driver_sql("SHOW server_version").scalar()
                tls = conn.exec_driver_sql("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").scalar()
                has_schema = conn.execute(text("SELECT to_regclass('public.alembic_version') IS NOT NULL")).scalar()
                revision = (conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
                            if has_schema else None)
        finally:
            db.dispose()
        how = (f"over {tls}, certificate verified" if not db.insecure_host
               else f"over {tls or 'an unencrypted connection'} WITHOUT certificate verification (allowed for "
                    f"{db.insecure_host}; audited)")
        data = (f"It holds CIO Desktop data (schema {revision})." if revision else
                "The database is empty: CIO Desktop sets it up at the first start (every team member "
                "needs the team passphrase).")
        return DatabaseCheck(True, f"Connected to {redact(target)} {how}; PostgreSQL {version}. {data}")

    def _check_file(self, target: str) -> DatabaseCheck:
        path = Path(target or self.ctx.settings.data_dir / "cio.db").expanduser()   # empty = the default file
        if self.ctx.db.kind == "sqlite" and path.resolve() == Path(self.ctx.db.target).resolve():
            return DatabaseCheck(True, f"{path} is the database in use now.")
        if path.is_dir():
            return DatabaseCheck(False, f"{path} is a folder, not a database file")
        if not path.exists():
            return DatabaseCheck(False, f"there is no database at {path}: create one first with "
                                        f"'cio-desktop init --db {path} --admin NAME'")
        check_writable_location(path)
        with path.open("rb") as fh:
            head = fh.read(16)
        if head == _SQLITE_HEADER:
            return DatabaseCheck(False, f"{path} is an unencrypted SQLite file, not a CIO Desktop database")
        return DatabaseCheck(True, f"{path} exists and is readable and writable; it opens with its key "
                                   "(keyring or passphrase) at the next start.")

    @action(Permission.SETTINGS_MANAGE, description="read the database settings")
    def current(self, path: Path | None = None) -> dict[str, str]:
        """The managed settings as the file holds them now (what the next start will read)."""
        values = read_settings_file(path or settings_file_path())
        return {name: str(values.get(name, "")) for name in MANAGED}

    @action(Permission.SETTINGS_MANAGE, description="change the database settings")
    def save(self, *, db: str, pg_ca_file: str, allow_insecure_hosts: str,
             path: Path | None = None) -> SavedSettings:
        """Validate and write the three settings for the next start; audited."""
        target = path or settings_file_path()
        db, pg_ca_file = db.strip(), pg_ca_file.strip()
        hosts = normalise_hosts(allow_insecure_hosts)
        if is_postgres_url(db):
            from sqlalchemy.engine import make_url

            from cio_desktop.storage.team import prepare_pg_target

            if make_url(db.replace("postgres://", "postgresql://", 1)).password:
                raise ValidationError("the URL contains a password: passwords are never written to the "
                                      "settings file. Save the URL without it and put the password in the "
                                      "PostgreSQL password file (~/.pgpass, or PGPASSFILE) or PGPASSWORD",
                                      field="db")
            try:
                prepare_pg_target(db, ca_file=pg_ca_file or None,
                                  insecure_hosts=frozenset(h for h in hosts.split(", ") if h))
            except DatabaseOpenError as exc:
                raise ValidationError(str(exc), field="db") from None
        elif db:
            file = Path(db).expanduser()
            if not file.is_file():
                raise ValidationError(f"there is no database file at {file}: create it first with "
                                      f"'cio-desktop init --db {file} --admin NAME'", field="db")
            db = str(file.resolve())
        if pg_ca_file:
            from cio_desktop.security.tls import client_ssl_context

            client_ssl_context(pg_ca_file, source="pg_ca_file")
            pg_ca_file = str(Path(pg_ca_file).expanduser().resolve())
        new = {"db": db, "pg_ca_file": pg_ca_file, "allow_insecure_hosts": hosts}
        old = {name: str(v) for name, v in read_settings_file(target).items() if name in MANAGED}
        changed = {k: v for k, v in new.items() if old.get(k, "") != v}
        overridden = tuple(environment_overrides(MANAGED))
        if not changed:
            return SavedSettings(target, (), overridden)
        with self.ctx.db.unit_of_work() as uow:
            audit_log(uow, actor=self.ctx.actor, action="settings.changed", entity="settings",
                      entity_id=target.name,
                      before={k: _redacted(k, old.get(k, "")) for k in changed},
                      after={k: _redacted(k, v) for k, v in changed.items()}, at=self.ctx.now())
            save_settings(changed, target)      # a failure here rolls the audit entry back
        if "allow_insecure_hosts" in changed and hosts:
            log.warning("allow_insecure_hosts set to %s by %s (effective at next start)", hosts, self.ctx.actor)
        self.ctx.bus.publish("settings.changed", names=sorted(changed))
        return SavedSettings(target, tuple(sorted(changed)), overridden)
