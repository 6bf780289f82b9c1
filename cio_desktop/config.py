"""Settings: every setting is declared once, with its type and default.

Resolution order (later wins): declared default → TOML file (``CIO_CONFIG`` or
``<config dir>/config.toml``) → ``CIO_<NAME>`` environment variable → explicit overrides
(command-line options). Settings are an immutable object passed into the services; nothing
reads a module-global, so tests build their own.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

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


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from defaults, the TOML file, ``CIO_*`` variables and overrides."""
    env = os.environ if environ is None else environ
    defaults = Settings()
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    config_file = Path(env["CIO_CONFIG"]) if env.get("CIO_CONFIG") else defaults.config_dir / "config.toml"
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
