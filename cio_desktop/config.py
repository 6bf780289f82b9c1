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

    @property
    def db_target(self) -> str:
        """The database actually used: the configured one, else ``<data dir>/cio.db``."""
        return self.db or str(self.data_dir / "cio.db")

    @property
    def is_postgres(self) -> bool:
        return self.db_target.startswith(("postgresql:", "postgresql+", "postgres:"))


def _coerce(name: str, value: Any, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, Path):
            return Path(os.path.expanduser(str(value)))
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting '{name}': cannot use {value!r} ({exc})") from None


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from defaults, the TOML file, ``CIO_*`` variables and overrides."""
    env = os.environ if environ is None else environ
    defaults = Settings()
    values: dict[str, Any] = {}
    config_file = Path(env["CIO_CONFIG"]) if env.get("CIO_CONFIG") else defaults.config_dir / "config.toml"
    if config_file.is_file():
        try:
            with config_file.open("rb") as fh:
                values.update(tomllib.load(fh))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read settings file {config_file}: {exc}") from None
    known = {f.name for f in fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"settings file {config_file}: unknown setting(s) {', '.join(sorted(unknown))}")
    for name in known:
        key = f"CIO_{name.upper()}"
        if key in env:
            values[name] = env[key]
    for name, value in (overrides or {}).items():
        if value is not None:
            if name not in known:
                raise ConfigError(f"unknown setting '{name}'")
            values[name] = value
    coerced = {k: _coerce(k, v, getattr(defaults, k)) for k, v in values.items()}
    if coerced.get("theme", "light") not in ("light", "dark"):
        raise ConfigError("setting 'theme' must be 'light' or 'dark'")
    return replace(defaults, **coerced)
