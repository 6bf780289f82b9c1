"""Where secrets live: the OS keyring, an explicitly chosen headless backend, or memory (tests).

Chosen by ``CIO_KEYRING`` so that a plaintext file backend is never picked by accident:
- unset / ``os``: the platform keyring (Secret Service, macOS Keychain, Windows Credential
  Locker); if only a fail/null/plaintext backend exists, there is no store and callers fall back
  to a passphrase;
- ``cryptfile``: keyrings.cryptfile, an AES-encrypted file unlocked by ``CIO_KEYRING_PASSPHRASE``
  (for servers and CI);
- ``memory``: a process-local dict, for tests only.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Mapping, Protocol

from cio_desktop.errors import ConfigError

SERVICE = "cio-desktop"


class SecretStore(Protocol):
    name: str

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


class MemoryStore:
    name = "memory"

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._data.get(key)

    def set(self, key: str, value: str) -> None:
        with self._lock:
            self._data[key] = value

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class KeyringStore:
    """Adapter over a ``keyring`` backend object."""

    def __init__(self, backend: object, name: str) -> None:
        self._backend = backend
        self.name = name

    def get(self, key: str) -> str | None:
        return self._backend.get_password(SERVICE, key)  # type: ignore[attr-defined]

    def set(self, key: str, value: str) -> None:
        self._backend.set_password(SERVICE, key, value)  # type: ignore[attr-defined]

    def delete(self, key: str) -> None:
        try:
            self._backend.delete_password(SERVICE, key)  # type: ignore[attr-defined]
        except Exception:  # keyring raises PasswordDeleteError when absent: deleting nothing is fine
            pass


#: The platform keyrings we accept for ``os``: they unlock with the user's login, never prompt on
#: a terminal and never write a plaintext file. File-based backends (keyrings.cryptfile, which is
#: installed for servers, keyrings.alt) register themselves with keyring too and would prompt for a
#: password on stdin, so they are only used when chosen explicitly (CIO_KEYRING=cryptfile).
_PLATFORM_BACKEND_MODULES = ("keyring.backends.SecretService", "keyring.backends.libsecret",
                             "keyring.backends.kwallet", "keyring.backends.macOS",
                             "keyring.backends.Windows")


def _os_keyring() -> KeyringStore | None:
    import keyring
    from keyring.backends import chainer

    backend = keyring.get_keyring()
    candidates = backend.backends if isinstance(backend, chainer.ChainerBackend) else [backend]
    usable = [b for b in candidates
              if getattr(b, "priority", 0) > 0 and type(b).__module__.startswith(_PLATFORM_BACKEND_MODULES)]
    if not usable:
        return None
    return KeyringStore(usable[0], f"os:{type(usable[0]).__name__}")


_memory_singleton = MemoryStore()


def open_secret_store(data_dir: Path, environ: Mapping[str, str] | None = None) -> SecretStore | None:
    env = os.environ if environ is None else environ
    kind = env.get("CIO_KEYRING", "os").strip().lower()
    if kind == "memory":
        return _memory_singleton
    if kind == "cryptfile":
        passphrase = env.get("CIO_KEYRING_PASSPHRASE")
        if not passphrase:
            raise ConfigError("CIO_KEYRING=cryptfile needs CIO_KEYRING_PASSPHRASE to unlock the key file")
        from keyrings.cryptfile.cryptfile import CryptFileKeyring

        backend = CryptFileKeyring()
        data_dir.mkdir(parents=True, exist_ok=True)
        backend.file_path = str(data_dir / "keyring.cryptfile")
        backend.keyring_key = passphrase
        return KeyringStore(backend, "cryptfile")
    if kind == "os":
        return _os_keyring()
    if kind == "none":
        return None
    raise ConfigError(f"CIO_KEYRING must be os, cryptfile, memory or none, not '{kind}'")


def db_key_name(db_target: str) -> str:
    """One keyring entry per database file (absolute path) or server URL (without password)."""
    if "://" in db_target:
        return f"db:{db_target}"
    return f"db:{Path(db_target).expanduser().resolve()}"
