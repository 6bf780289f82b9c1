"""Plain words for a lost update: which record, changed by whom and when, so the user reloads
instead of silently overwriting another workstation's change.

The "who and when" comes from the record's own ``updated_by``/``updated_at`` columns when it has
them, else from the newest audit entry about it (every change writes one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

if TYPE_CHECKING:  # pragma: no cover
    from cio_desktop.storage.database import Database


def _label(cls: type) -> str:
    return getattr(cls, "__tablename__", cls.__name__).rstrip("s").replace("_", " ")


def lost_update_message(db: "Database", stale: list[tuple[type, Any]]) -> str:
    from cio_desktop.storage.models import AuditEntry

    if not stale:
        return "this record was changed by someone else meanwhile: reload it and try again"
    cls, identity = stale[0]
    ident = identity[0] if identity and len(identity) == 1 else identity
    label = _label(cls)
    who, when = None, None
    try:
        with db.unit_of_work(write=False) as s:
            row = s.get(cls, identity) if identity is not None else None
            if row is None:
                return f"{label} {ident} was deleted by someone else meanwhile: reload"
            who = getattr(row, "updated_by", None)
            when = getattr(row, "updated_at", None)
            if not who:
                entry = s.execute(select(AuditEntry).where(AuditEntry.entity_id == str(ident))
                                  .where(AuditEntry.entity.in_({label, cls.__name__.lower(),
                                                               getattr(cls, "__tablename__", "")}))
                                  .order_by(AuditEntry.id.desc()).limit(1)).scalar_one_or_none()
                if entry is not None:
                    who, when = entry.actor, entry.ts
    except Exception:  # noqa: BLE001 — the message must not hide the conflict itself
        pass
    if who and when is not None:
        return (f"{label} {ident} was changed by {who} at {when:%Y-%m-%d %H:%M:%S} UTC: "
                "reload it and try again (your change was not saved)")
    return f"{label} {ident} was changed by someone else meanwhile: reload it and try again (not saved)"


def expect_version(db: "Database", session: Any, obj: Any, read_version: int) -> None:
    """For an edit made on a screen that read the row earlier: refuse (with who/when) when the
    row's version is no longer the one the user saw, instead of overwriting silently."""
    from sqlalchemy import inspect as sa_inspect

    from cio_desktop.errors import ConcurrentUpdate

    if obj.version != read_version:
        raise ConcurrentUpdate(lost_update_message(db, [(type(obj), sa_inspect(obj).identity)]))
