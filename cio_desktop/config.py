"""Settings: every setting is declared once, with its type and default.

Resolution order (later wins): declared default → TOML file (``CIO_CONFIG`` or
``<config dir>/config.toml``) → ``CIO_<NAME>`` environment variable → explicit overrides
(command-line options). Settings are an immutable object passed into the services; nothing
reads a module-global, so tests build their own.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import platformdirs

from cio_desktop.errors import ConfigError

APP_NAME = "cio-desktop"


def _dirs() -> platformdirs.PlatformDirs:
    return platformdirs.PlatformDirs(APP_NAME, appauthor=False)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(_dirs().user_data_dir)
    log_dir: Path = Path(_dirs().user_log_dir)
    cache_dir: Path = Path(_dirs().user_cache_dir)
    config_dir: Path = Path(_dirs().user_config_dir)
    #: Database: a file path (encrypted SQLCipher) or a ``postgresql://`` URL. Empty = default file.
    db: str = ""
    base_currency: str = "EUR"
    theme: str = "light"
    idle_lock_minutes: int = 10
    mfa_fresh_minutes: int = 5
    session_hours: int = 12
    lockout_attempts: int = 5
    lockout_minutes: int = 15
    log_level: str = "INFO"
    #: Team mode: CA certificate (PEM) that signed the PostgreSQL server's certificate; empty =
    #: the system trust store. Connections always use sslmode=verify-full.
    pg_ca_file: str = ""
    #: Hosts (comma-separated) for which a plain-text or unverified connection is allowed;
    #: every such connection is written to the audit trail. Empty = none (the default).
    allow_insecure_hosts: str = ""
    #: Seconds between checks for other workstations' changes where LISTEN/NOTIFY is unavailable.
    team_poll_seconds: int = 5

    @property
    def db_target(self) -> str:
        """The database actually used: the configured one, else ``<data dir>/cio.db``."""
        return self.db or str(self.data_dir / "cio.db")

    @property
    def insecure_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.allow_insecure_hosts.split(",") if h.strip())

    @property
    def is_postgres(self) -> bool:
        return self.db_target.startswith(("postgresql:", "postgresql+", "postgres:"))


#: whole-number settings are counts of minutes, hours or attempts: never negative, and small
#: enough that ``timedelta(minutes=…)`` cannot overflow at login
MAX_INT_SETTING = 1_000_000


def _coerce(name: str, value: Any, default: Any, origin: str = "") -> Any:
    where = f" (from {origin})" if origin else ""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if isinstance(default, int):
            number = int(value)
            if not 0 <= number <= MAX_INT_SETTING:
                raise ConfigError(f"setting '{name}'{where}: {number} is outside 0 to {MAX_INT_SETTING:,}")
            return number
        if isinstance(default, Path):
            return Path(os.path.expanduser(str(value)))
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting '{name}'{where}: cannot use {str(value)[:80]!r} ({str(exc)[:120]})") from None


def settings_file_path(environ: Mapping[str, str] | None = None) -> Path:
    """The TOML file ``load_settings`` reads (and the Settings dialog writes): ``CIO_CONFIG``,
    else ``<config dir>/config.toml``. One function, so the two can never disagree."""
    env = os.environ if environ is None else environ
    return Path(env["CIO_CONFIG"]) if env.get("CIO_CONFIG") else Settings().config_dir / "config.toml"


def read_settings_file(path: Path) -> dict[str, Any]:
    """The values written in the settings file (empty when there is none)."""
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc}") from None


def environment_overrides(names: Iterable[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """The ``CIO_<NAME>`` variables set for ``names``: they win over the file at the next start."""
    env = os.environ if environ is None else environ
    return [f"CIO_{n.upper()}" for n in names if f"CIO_{n.upper()}" in env]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    # a JSON string is a valid TOML basic string (same escapes); checked by re-reading below
    return json.dumps(str(value), ensure_ascii=False)


def save_settings(changes: Mapping[str, Any], path: Path | None = None,
                  environ: Mapping[str, str] | None = None) -> Path:
    """Write ``changes`` into the settings file, keeping every other line (and comment) as it is.

    Each value is checked like ``load_settings`` checks it; the new text is re-read with
    ``tomllib`` and replaces the old file atomically (owner-only permissions), so a failed save
    leaves the previous file intact. The running application is not changed: settings are read
    at start. Returns the file written.
    """
    target = path or settings_file_path(environ)
    defaults = Settings()
    known = {f.name for f in fields(Settings)}
    for name, value in changes.items():
        if name not in known:
            raise ConfigError(f"unknown setting '{name}'")
        _coerce(name, value, getattr(defaults, name))
    try:
        text = target.read_text(encoding="utf-8") if target.is_file() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read settings file {target}: {exc}") from None
    lines = text.splitlines()
    for name, value in changes.items():
        line = f"{name} = {_toml_value(value)}"
        pattern = re.compile(rf"^\s*{re.escape(name)}\s*=")
        at = next((i for i, old in enumerate(lines) if pattern.match(old)), None)
        if at is None:
            lines.append(line)
        else:
            lines[at] = line
    new_text = "\n".join(lines) + "\n"
    try:
        parsed = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {target} cannot be updated safely ({exc}); edit it by hand") from None
    for name, value in changes.items():
        if parsed.get(name) != value:
            raise ConfigError(f"settings file {target}: '{name}' did not read back as written; edit it by hand")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(new_text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write settings file {target}: {exc.strerror or exc}") from None
    return target


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from defaults, the TOML file, ``CIO_*`` variables and overrides."""
    env = os.environ if environ is None else environ
    defaults = Settings()
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    config_file = settings_file_path(env)
    if config_file.is_file():
        try:
            with config_file.open("rb") as fh:
                values.update(tomllib.load(fh))
            origins.update(dict.fromkeys(values, str(config_file)))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read settings file {config_file}: {exc}") from None
    known = {f.name for f in fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"settings file {config_file}: unknown setting(s) {', '.join(sorted(unknown))}")
    for name in known:
        key = f"CIO_{name.upper()}"
        if key in env:
            values[name] = env[key]
            origins[name] = key
    for name, value in (overrides or {}).items():
        if value is not None:
            if name not in known:
                raise ConfigError(f"unknown setting '{name}'")
            values[name] = value
            origins.pop(name, None)
    coerced = {k: _coerce(k, v, getattr(defaults, k), origins.get(k, "")) for k, v in values.items()}
    if coerced.get("theme", "light") not in ("light", "dark"):
        raise ConfigError("setting 'theme' must be 'light' or 'dark'")
    return replace(defaults, **coerced)
