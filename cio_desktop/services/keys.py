"""Field-encryption key lifecycle: create on first open, unwrap on every open, re-wrap on rekey.

The wrapped data key lives in ``app_meta``; during a rekey the key wrapped under the *new*
database key is written first as ``field_dek_next``, so a crash between the steps still leaves
a key that one of the two database keys can unwrap.
"""

from __future__ import annotations

import base64
import os

from sqlalchemy import text
from sqlalchemy.orm import Session

from cio_desktop.errors import DatabaseOpenError
from cio_desktop.security.crypto import FieldCipher, derive_kek, new_key, unwrap_key, wrap_key
from cio_desktop.security.dbkey import DbKey
from cio_desktop.storage.database import Database
from cio_desktop.storage.models import AppMeta


def _meta(session: Session, key: str) -> str | None:
    row = session.get(AppMeta, key)
    return row.value if row else None


def _set_meta(session: Session, key: str, value: str | None) -> None:
    row = session.get(AppMeta, key)
    if value is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(AppMeta(key=key, value=value))
    else:
        row.value = value


def _kek(session: Session, key: DbKey) -> bytes:
    salt = _meta(session, "kek_salt")
    if salt is None:
        salt = base64.b64encode(os.urandom(16)).decode()
        _set_meta(session, "kek_salt", salt)
    return derive_kek(key.master_secret, base64.b64decode(salt))


def load_field_cipher(db: Database) -> FieldCipher:
    if db.key is None:
        raise DatabaseOpenError("no key to unlock the field-encryption key")
    with db.unit_of_work() as uow:
        if db.kind == "postgresql":  # team mode: the first workstation creates the key, the others wait
            uow.execute(text("SELECT pg_advisory_xact_lock(7270301214)"))
        kek = _kek(uow, db.key)
        wrapped = _meta(uow, "field_dek")
        if wrapped is None:
            dek = new_key()
            _set_meta(uow, "field_dek", wrap_key(kek, dek))
            return FieldCipher(dek)
        try:
            dek = unwrap_key(kek, wrapped)
        except DatabaseOpenError:
            pending = _meta(uow, "field_dek_next")
            if pending is None:
                raise
            dek = unwrap_key(kek, pending)  # a rekey was interrupted after the database key changed
            _set_meta(uow, "field_dek", pending)
        _set_meta(uow, "field_dek_next", None)
        return FieldCipher(dek)


def prepare_rekey(db: Database, new: DbKey) -> None:
    """Store the data key wrapped under ``new`` beside the current one (step 1 of a rekey)."""
    with db.unit_of_work() as uow:
        dek = unwrap_key(_kek(uow, db.key), _meta(uow, "field_dek") or "")  # type: ignore[arg-type]
        _set_meta(uow, "field_dek_next", wrap_key(_kek(uow, new), dek))


def finish_rekey(db: Database) -> None:
    with db.unit_of_work() as uow:
        pending = _meta(uow, "field_dek_next")
        if pending is not None:
            _set_meta(uow, "field_dek", pending)
            _set_meta(uow, "field_dek_next", None)
