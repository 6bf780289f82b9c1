"""Where the database key comes from: ``CIO_DB_PASSPHRASE``, the keyring, or a prompt.

A key from the keyring is a random 256-bit raw key (no KDF needed, so opening is fast); a
passphrase goes through SQLCipher's own PBKDF2 with the file's salt.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Callable, Mapping

from cio_desktop.errors import DatabaseOpenError
from cio_desktop.security.keystore import SecretStore, db_key_name


@dataclass(frozen=True)
class DbKey:
    """Either ``raw`` (32 bytes) or ``passphrase``. ``repr`` never shows the secret."""

    raw: bytes | None = None
    passphrase: str | None = None
    origin: str = ""

    def __post_init__(self) -> None:
        if (self.raw is None) == (self.passphrase is None):
            raise ValueError("a DbKey is either a raw key or a passphrase")
        if self.raw is not None and len(self.raw) != 32:
            raise ValueError("a raw database key is 32 bytes")
        if self.passphrase is not None and not self.passphrase:
            raise DatabaseOpenError("the database passphrase is empty")

    def __repr__(self) -> str:
        return f"DbKey(origin={self.origin!r})"

    @property
    def master_secret(self) -> bytes:
        """Input for deriving the field-encryption KEK."""
        return self.raw if self.raw is not None else self.passphrase.encode("utf-8")  # type: ignore[union-attr]

    def sqlcipher_pragma_value(self) -> str:
        if self.raw is not None:
            return f"\"x'{self.raw.hex()}'\""
        return "'" + self.passphrase.replace("'", "''") + "'"  # type: ignore[union-attr]


def resolve_db_key(db_target: str, store: SecretStore | None, *, create: bool,
                   prompt: Callable[[str], str] | None = None,
                   environ: Mapping[str, str] | None = None) -> DbKey:
    env = os.environ if environ is None else environ
    if env.get("CIO_DB_PASSPHRASE"):
        return DbKey(passphrase=env["CIO_DB_PASSPHRASE"], origin="CIO_DB_PASSPHRASE")
    if store is not None:
        name = db_key_name(db_target)
        stored = store.get(name)
        if stored:
            return DbKey(raw=bytes.fromhex(stored), origin=f"keyring ({store.name})")
        if create:
            raw = secrets.token_bytes(32)
            store.set(name, raw.hex())
            return DbKey(raw=raw, origin=f"keyring ({store.name}, new)")
    if prompt is not None:
        return DbKey(passphrase=prompt(db_target), origin="prompt")
    raise DatabaseOpenError(
        f"no key for {db_target}: the keyring has none; set CIO_DB_PASSPHRASE or run where a "
        "keyring is available")


def forget_db_key(db_target: str, store: SecretStore | None) -> None:
    if store is not None:
        store.delete(db_key_name(db_target))
