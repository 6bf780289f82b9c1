"""A throwaway PostgreSQL server for the tests: Debian's ``initdb``/``pg_ctl`` in a temp dir, on a
free local port, TLS only (certificate from a CA made here), password authentication; stopped
and deleted afterwards.

Built for speed (fsync off — the data is thrown away) and for copying: tests clone a migrated
"golden" database with ``CREATE DATABASE ... TEMPLATE`` instead of migrating again, which is
the PostgreSQL version of the golden-file copy the SQLCipher fixtures do.

As root (CI containers) the server runs as the ``postgres`` system user via ``runuser``, because
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from tests.tls_certs import CertKit, make_cert_kit

SUPERUSER = "cio_admin"
PASSWORD = "pg-test-Secret-42"


def find_bin_dir() -> Path | None:
    """The newest installed server's bin dir (``/usr/lib/postgresql/<v>/bin``), or None."""
    env = os.environ.get("CIO_PG_BIN")
    if env:
        return Path(env)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """One running server. ``url(db)`` gives a verify-full TLS URL for SQLAlchemy/psycopg."""

    def __init__(self) -> None:
        self.bin = find_bin_dir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.root = Path(tempfile.mkdtemp(prefix="cio-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.run_as: str | None = None
        if os.geteuid() == 0:
            self.run_as = "postgres"
        self.certs: CertKit = make_cert_kit(self.root / "certs")
        self._started = False

    # -- process control -------------------------------------------------------------------
    def _cmd(self, *args: str) -> list[str]:
        argv = [str(self.bin / args[0]), *args[1:]]
        return ["runuser", "-u", self.run_as, "--", *argv] if self.run_as else argv

    def _chown(self) -> None:
        if self.run_as:
            pw = pwd.getpwnam(self.run_as)
            for dirpath, dirnames, filenames in os.walk(self.root):
                os.chown(dirpath, pw.pw_uid, pw.pw_gid)
                for f in filenames:
                    os.chown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid)
        self.root.chmod(0o755)

    def start(self) -> "PgCluster":
        reap_orphans(self)
        (self.root / "owner.pid").write_text(str(os.getpid()))
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD)
        self._chown()
        subprocess.run(self._cmd("initdb", "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(pwfile),
                                 "-A", "scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"),
                       check=True, capture_output=True, text=True)
        pwfile.unlink()
        conf = self.data / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write(f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.root}'
ssl = on
ssl_cert_file = '{self.certs.good_cert}'
ssl_key_file = '{self.certs.good_key}'
ssl_min_protocol_version = 'TLSv1.2'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 64MB
include_if_exists = 'overrides.conf'
""")
        (self.data / "pg_hba.conf").write_text(
            "local all all scram-sha-256\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n")
        self._chown()
        subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                                 "-w", "-t", "60", "start"), check=True, capture_output=True, text=True)
        self._started = True
        return self

    def reconfigure(self, **params: str) -> None:
        """Replace the override settings (``overrides.conf``, read after postgresql.conf) and
        restart, so the next connection meets exactly that server — e.g. another certificate or
        other TLS protocol versions. ``reconfigure()`` with no arguments goes back to the start
        configuration. A restart (not a reload) because ``pg_ctl restart -w`` returns only once
        the new settings serve connections: no race with the test's next connection."""
        lines = [f"{name} = '{value}'" for name, value in params.items()]
        (self.data / "overrides.conf").write_text("\n".join(lines) + "\n")
        self._chown()
        subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                                 "-m", "fast", "-w", "-t", "60", "restart"), check=True, capture_output=True,
                       text=True)

    def server_log(self) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self._started:
            subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                           capture_output=True, text=True)
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)

    # -- addresses -------------------------------------------------------------------------
    def url(self, dbname: str = "postgres", *, host: str = "localhost", sslmode: str = "verify-full",
            user: str = SUPERUSER, password: str = PASSWORD, rootcert: Path | None = None) -> str:
        root = rootcert or self.certs.ca
        return (f"postgresql://{quote(user)}:{quote(password)}@{host}:{self.port}/{dbname}"
                f"?sslmode={sslmode}&sslrootcert={root}")

    def admin_execute(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            for sql in statements:
                conn.execute(sql)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (optionally a copy of ``template``); returns its URL."""
        tmpl = f" TEMPLATE {template}" if template else ""
        for attempt in range(20):
            try:
                self.admin_execute(f"CREATE DATABASE {name}{tmpl}")
                break
            except Exception as exc:  # the template may still have a closing connection
                if "being accessed by other users" not in str(exc) or attempt == 19:
                    raise
                time.sleep(0.1)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(current: PgCluster) -> None:
    """Stop and delete servers left by a test run that was killed (its atexit never ran)."""
    for owner in Path(tempfile.gettempdir()).glob("cio-pg-*/owner.pid"):
        root = owner.parent
        try:
            pid = int(owner.read_text().strip() or 0)
        except (OSError, ValueError):
            continue
        if root == current.root or _alive(pid):
            continue
        subprocess.run(current._cmd("pg_ctl", "-D", str(root / "data"), "-m", "immediate", "-w", "stop"),
                       capture_output=True, text=True)
        shutil.rmtree(root, ignore_errors=True)


_counter = 0


def unique_db_name(prefix: str = "t") -> str:
    global _counter
    _counter += 1
    return f"{prefix}_{os.getpid()}_{_counter}"
