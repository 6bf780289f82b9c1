"""CLI: backup and restore (issue 12).

``cio-desktop backup --out FILE`` writes an encrypted, consistent copy while the app may be
running; ``cio-desktop restore FILE`` checks the backup (key, integrity, schema, audit chain)
and only then replaces the database, and prints the audit verification of the result.
"""

from __future__ import annotations

import argparse


def cmd_backup(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit, _login, _workspace

    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        result = ws.backup.backup(args.out)
    finally:
        ws.close()
    _emit(args, {"file": str(result.path), "bytes": result.size, "kind": result.kind}, result.message())
    return 0


def cmd_restore(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit, _login, _workspace

    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        result = ws.backup.restore(args.file)
    finally:
        ws.close()
    _emit(args, {"restored_from": str(result.source), "database": result.target,
                 "audit_entries": result.audit_entries, "audit_ok": True}, result.message())
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> set[str]:
    p = sub.add_parser("backup", parents=[common],
                       help="write an encrypted, consistent backup while the app runs (admin)")
    p.add_argument("--out", required=True, metavar="FILE", help="the backup file to create")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("restore", parents=[common],
                       help="replace the database with a checked backup (admin, MFA; close other sessions)")
    p.add_argument("file", metavar="FILE", help="a file written by 'cio-desktop backup'")
    p.set_defaults(func=cmd_restore)
    return {"backup", "restore"}
