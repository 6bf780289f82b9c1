"""Field-level encryption (AES-256-GCM) and blind indexes for account numbers and credentials.

Key hierarchy: a random 256-bit data key (DEK) encrypts fields; the DEK is stored in the
database only wrapped (AES-GCM) under a key-encryption key (KEK) derived from the database's
master secret. So fields stay encrypted on PostgreSQL, where there is no file encryption, and
changing the database key only re-wraps the DEK instead of re-encrypting every row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from cio_desktop.errors import DatabaseOpenError

_PREFIX = "v1:"


def derive_kek(master: bytes, salt: bytes) -> bytes:
    """KEK from the master secret. A passphrase goes through scrypt (slow on purpose); a
    random 32-byte key from the keyring only needs HKDF."""
    if len(master) == 32:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                    info=b"cio-desktop kek v1").derive(master)
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(master)


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap_key(kek: bytes, dek: bytes) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(kek).encrypt(nonce, dek, b"cio-desktop dek")).decode()


def unwrap_key(kek: bytes, wrapped: str) -> bytes:
    raw = base64.b64decode(wrapped)
    try:
        return AESGCM(kek).decrypt(raw[:12], raw[12:], b"cio-desktop dek")
    except InvalidTag:
        raise DatabaseOpenError("the field-encryption key cannot be unlocked with this database key") from None


class FieldCipher:
    """Encrypts single values; ``context`` (e.g. ``"account.number"``) is bound as associated
    data so a ciphertext copied into another column does not decrypt."""

    def __init__(self, dek: bytes) -> None:
        if len(dek) != 32:
            raise ValueError("field key must be 256 bits")
        self._aead = AESGCM(dek)
        self._index_key = hmac.new(dek, b"cio-desktop blind index v1", hashlib.sha256).digest()

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(12)
        ct = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode())
        return _PREFIX + base64.b64encode(nonce + ct).decode()

    def decrypt(self, token: str, context: str) -> str:
        if not token.startswith(_PREFIX):
            raise ValueError("not an encrypted field value")
        raw = base64.b64decode(token[len(_PREFIX):])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode("utf-8")
        except InvalidTag:
            raise ValueError(f"encrypted {context} failed its integrity check") from None

    def blind_index(self, value: str, context: str) -> str:
        """Deterministic keyed hash so equal values can be found without storing them."""
        return hmac.new(self._index_key, f"{context}\0{value}".encode(), hashlib.sha256).hexdigest()
