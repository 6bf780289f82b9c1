"""Changing the database key (``cio-desktop db rekey``): admin with a fresh MFA only.

Order: wrap the field key under the new key too → ``PRAGMA rekey`` (atomic inside SQLCipher)
→ store the new key in the keyring → drop the old wrapping. A crash at any point leaves a
database that one of the two keys opens, with a field key that key can unwrap.
"""

from __future__ import annotations

import secrets

from cio_desktop.errors import CioError
from cio_desktop.security.dbkey import DbKey
from cio_desktop.security.keystore import db_key_name, open_secret_store
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.keys import finish_rekey, prepare_rekey


def authorize_rekey(ws) -> None:  # noqa: ANN001
    ws.ctx.authorize(Permission.SETTINGS_MANAGE, "change the database key", mfa=True)


def rekey_database(ws, new_passphrase: str | None = None) -> str:  # noqa: ANN001
    ctx = ws.ctx
    authorize_rekey(ws)
    db = ctx.db
    if db.kind != "sqlite":
        raise CioError("rekey applies to the encrypted database file; a PostgreSQL server "
                       "manages its own storage encryption")
    store = open_secret_store(ctx.settings.data_dir)
    if new_passphrase is None and store is None:
        raise CioError("no keyring is available to hold a new random key: use --passphrase")
    new_key = (DbKey(passphrase=new_passphrase, origin="passphrase") if new_passphrase is not None
               else DbKey(raw=secrets.token_bytes(32), origin=f"keyring ({store.name})"))  # type: ignore[union-attr]
    prepare_rekey(db, new_key)
    db.engine.dispose()
    with db.engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA rekey = {new_key.sqlcipher_pragma_value()}")
    db.engine.dispose()
    if store is not None:
        if new_key.raw is not None:
            store.set(db_key_name(db.target), new_key.raw.hex())
        else:
            store.delete(db_key_name(db.target))
    db.key = new_key
    # New connections must use the new key: rebuild the engine around it.
    from cio_desktop.storage.database import connect

    fresh = connect(db.target, new_key)
    db.engine, db._sessions = fresh.engine, fresh._sessions  # noqa: SLF001 — same Database object, new key
    finish_rekey(db)
    with db.unit_of_work() as uow:
        audit_log(uow, actor=ctx.actor, action="database.rekeyed", entity="database",
                  entity_id=db.display_name, after={"key": new_key.origin}, at=ctx.now())
    return new_key.origin
