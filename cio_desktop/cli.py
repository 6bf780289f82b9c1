"""Headless commands: the same services as the window, for scripts and unattended workstations.

Errors are one clear line on stderr and a non-zero exit code, never a traceback (the traceback
of an unexpected error goes to the log file, whose path the message names).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Sequence

from cio_desktop import __version__
from cio_desktop.config import Settings, load_settings
from cio_desktop.errors import CioError, ValidationError
from cio_desktop.logging_setup import configure_logging

log = logging.getLogger(__name__)


class Io:
    """Reads secrets from stdin lines (``--password-stdin``) or a terminal prompt."""

    def __init__(self, password_stdin: bool) -> None:
        self.password_stdin = password_stdin
        self._lines: list[str] | None = None

    def secret(self, prompt: str, confirm: bool = False) -> str:
        if self.password_stdin:
            if self._lines is None:
                self._lines = [line.rstrip("\r\n") for line in sys.stdin.readlines()]
            if not self._lines:
                raise ValidationError("expected another password line on standard input",
                                      field="--password-stdin")
            return self._lines.pop(0)
        if not sys.stdin.isatty():
            raise ValidationError("no terminal to ask for a password: use --password-stdin",
                                  field="password")
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("Repeat: ") != first:
            raise ValidationError("the two entries differ", field="password")
        return first


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in (sorted(value) if isinstance(value, (set, frozenset)) else value)]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    if args.json:
        print(json.dumps(_jsonable(payload), indent=2, ensure_ascii=False))
    else:
        print(text)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings({"db": args.db})


def _workspace(args: argparse.Namespace, io: Io, *, create: bool = False):  # noqa: ANN202
    from cio_desktop.services.workspace import open_workspace

    def prompt(target: str) -> str:
        return io.secret(f"Passphrase for {target}: ")

    return open_workspace(_settings(args), create=create, prompt=prompt)


def _login(args: argparse.Namespace, ws, io: Io) -> None:  # noqa: ANN001
    if not args.user:
        raise ValidationError("this command acts as a user: give --user NAME", field="--user")
    ws.auth.login(args.user, io.secret(f"Password for {args.user}: "), otp=args.otp)


# -- commands -------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace, io: Io) -> int:
    from cio_desktop.services.users import create_first_admin

    settings = _settings(args)
    from pathlib import Path

    if not settings.is_postgres and Path(settings.db_target).exists():
        raise ValidationError(f"{settings.db_target} already exists: choose another --db", field="--db")
    password = io.secret(f"New password for {args.admin}: ", confirm=True)
    from cio_desktop.security.passwords import check_policy

    check_policy(password, args.admin)
    ws = _workspace(args, io, create=True)
    try:
        info = create_first_admin(ws.ctx, args.admin, password, totp_secret=args.totp_secret)
    finally:
        ws.close()
    _emit(args, {"database": settings.db_target, "admin": info.username},
          f"created {settings.db_target} with admin '{info.username}'")
    return 0


def cmd_demo(args: argparse.Namespace, io: Io) -> int:
    from pathlib import Path

    from cio_desktop.services.demo import build_demo

    settings = _settings(args)
    if not settings.is_postgres and Path(settings.db_target).exists():
        raise ValidationError(f"{settings.db_target} already exists: choose another --db", field="--db")
    password = io.secret("Password for every demo user: ") if args.password_stdin else None
    ws = _workspace(args, io, create=True)
    try:
        def progress(step: str, fraction: float) -> None:
            if not args.json:
                print(f"  [{fraction:4.0%}] {step}", file=sys.stderr)

        result = build_demo(ws.ctx, seed=args.seed, scale=args.scale, password=password,
                            totp_secret=args.totp_secret, progress=progress)
    finally:
        ws.close()
    lines = [f"demo database {settings.db_target}: {result.accounts} accounts, "
             f"{result.transactions} ledger lines, {result.portfolios} portfolios, "
             f"{result.assets} assets, {result.prices} prices"]
    if password is None:
        lines.append("demo users (passwords are shown once, keep them):")
        lines += [f"  {user:10} {pw}" for user, pw in result.users.items()]
    else:
        lines.append("demo users: " + ", ".join(result.users) + " (password from standard input)")
    payload = asdict(result)
    if password is not None:
        payload["users"] = list(result.users)
    _emit(args, payload, "\n".join(lines))
    return 0


def cmd_mfa_enrol(args: argparse.Namespace, io: Io) -> int:
    """Interactive: show the secret, URI and a terminal QR code, then confirm with a first code."""
    import segno

    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        enrolment = ws.auth.begin_mfa_enrolment()
        if not args.json:
            segno.make(enrolment.uri, error="m").terminal(compact=True)
        print(f"secret: {enrolment.secret}\nuri:    {enrolment.uri}", file=sys.stderr if args.json else sys.stdout)
        code = io.secret("First code from the authenticator app: ")
        codes = ws.auth.confirm_mfa_enrolment(code)
    finally:
        ws.close()
    _emit(args, {"recovery_codes": codes},
          "two-factor enrolled. Recovery codes (each works once; store them safely):\n  "
          + "\n  ".join(codes))
    return 0


def cmd_import(args: argparse.Namespace, io: Io) -> int:
    """Each file is imported on its own (one transaction each); a refused file adds nothing and
    makes the exit code non-zero, but the other files still go in."""
    ws = _workspace(args, io)
    files, failed = [], 0
    try:
        _login(args, ws, io)
        for name in args.files:
            try:
                result = ws.imports.import_file(name, fmt=args.format, account_id=args.account,
                                                profile=args.profile)
            except CioError as exc:
                failed += 1
                message = str(exc) + (" (--account ID)" if "choose the account" in str(exc) else "")
                files.append({"file": name, "error": message, "new": 0, "duplicates": 0, "warnings": []})
                if not args.json:
                    print(f"cio-desktop: refused {name}: {message}", file=sys.stderr)
                continue
            files.append({"file": name, "format": result.format, "new": result.new,
                          "duplicates": result.duplicates, "statements": result.statements,
                          "warnings": result.warnings, "created_accounts": result.created_accounts})
            if not args.json:
                print(result.summary())
                for warning in result.warnings:
                    print(f"  warning: {warning}")
        from cio_desktop.storage.search_index import catch_up

        catch_up(ws.db)  # the new lines become searchable through the full-text index
    finally:
        ws.close()
    if args.json:
        print(json.dumps({"files": files}, indent=2, ensure_ascii=False))
    return 7 if failed else 0


def cmd_sync(args: argparse.Namespace, io: Io) -> int:
    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        if args.connection:
            ids = [ws.sync.connection_id(args.connection)]
        else:
            ids = [c.id for c in ws.sync.list_connections() if not c.paused]
        results = [ws.sync.sync_connection(i) for i in ids]
    finally:
        ws.close()
    _emit(args, {"connections": results}, "\n".join(r.summary() for r in results) or "no connections")
    return 0 if all(r.ok for r in results) else 8


def cmd_db_upgrade(args: argparse.Namespace, io: Io) -> int:
    from cio_desktop.services.workspace import open_database
    from cio_desktop.storage import migrate

    db = open_database(_settings(args), prompt=lambda t: io.secret(f"Passphrase for {t}: "))
    try:
        rev = migrate.current_revision(db)
    finally:
        db.dispose()
    _emit(args, {"revision": rev, "head": migrate.head_revision()}, f"database schema at {rev} (latest)")
    return 0


def cmd_db_rekey(args: argparse.Namespace, io: Io) -> int:
    from cio_desktop.services.rekey import rekey_database

    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        from cio_desktop.services.rekey import authorize_rekey

        authorize_rekey(ws)  # refuse before asking for a new passphrase
        new_passphrase = io.secret("New database passphrase: ", confirm=True) if args.passphrase else None
        origin = rekey_database(ws, new_passphrase=new_passphrase)
    finally:
        ws.close()
    _emit(args, {"key": origin}, f"database key changed ({origin})")
    return 0


def cmd_audit_verify(args: argparse.Namespace, io: Io) -> int:
    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        result = ws.audit.verify()
    finally:
        ws.close()
    _emit(args, result, result.message())
    return 0 if result.ok else 6


def cmd_users_list(args: argparse.Namespace, io: Io) -> int:
    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        users = ws.users.list_users()
    finally:
        ws.close()
    text = "\n".join(f"{u.username:16} {u.role:10} {'active' if u.is_active else 'inactive':8} "
                     f"{'mfa' if u.mfa_enabled else 'no-mfa':6} "
                     f"{'locked until ' + u.locked_until.isoformat() if u.locked_until else ''}"
                     for u in users)
    _emit(args, users, text)
    return 0


def cmd_users_add(args: argparse.Namespace, io: Io) -> int:
    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        password = io.secret(f"New password for {args.name}: ", confirm=True)
        info = ws.users.add_user(args.name, args.role, password, display_name=args.display_name or "")
    finally:
        ws.close()
    _emit(args, info, f"added user '{info.username}' as {info.role}")
    return 0


def _user_change(method: str, message: str) -> Callable[[argparse.Namespace, Io], int]:
    def run(args: argparse.Namespace, io: Io) -> int:
        ws = _workspace(args, io)
        try:
            _login(args, ws, io)
            extra = [args.role] if method == "set_role" else []
            info = getattr(ws.users, method)(args.name, *extra)
        finally:
            ws.close()
        _emit(args, info, message.format(u=info))
        return 0

    return run


# -- payments ----------------------------------------------------------------------------------
def _payment_line(p) -> str:  # noqa: ANN001 — a PaymentView
    approvals = (f" approvals {len(p.approvals)}/{p.required_approvals}" if p.required_approvals else "")
    return (f"{p.id:>6} {p.status:16} {p.execution_date.isoformat()} {p.amount.format():>20}  "
            f"{p.beneficiary_name} ({p.beneficiary_account_masked}){approvals}")


def _payment_json(p) -> dict:  # noqa: ANN001 — a PaymentView
    out = _jsonable(p)
    out["amount"] = str(p.amount.amount)
    out["currency"] = p.amount.currency
    return out


def cmd_payments_list(args: argparse.Namespace, io: Io) -> int:
    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        payments = ws.payments.list_payments(status=args.status)
    finally:
        ws.close()
    if args.json:
        print(json.dumps([_payment_json(p) for p in payments], indent=2, ensure_ascii=False))
    else:
        print("\n".join(_payment_line(p) for p in payments) or "no payments")
    return 0


def cmd_payments_new(args: argparse.Namespace, io: Io) -> int:
    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        result = ws.payments.schedule_transaction(
            account_id=args.account, beneficiary_name=args.to_name, beneficiary_account=args.to_iban,
            beneficiary_bic=args.to_bic or "", amount=args.amount, currency=args.currency,
            execution_date=args.date, purpose=args.purpose or "", batch=args.batch or "",
            confirm_duplicate=args.confirm_duplicate)
    finally:
        ws.close()
    p = result.payment
    text = _payment_line(p)
    if p.required_approvals:
        text += f"\n  needs {p.required_approvals} approval(s): " + "; ".join(p.approval_reasons)
    for warning in result.warnings:
        text += f"\n  warning: {warning}"
    _emit(args, {"payment": _payment_json(p), "warnings": list(result.warnings)}, text)
    return 0


def cmd_payments_approve(args: argparse.Namespace, io: Io) -> int:
    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        if args.reject:
            if not (args.reason or "").strip():
                raise ValidationError("say why you reject it", field="--reason")
            p = ws.payments.reject(args.id, args.reason)
        else:
            p = ws.payments.approve(args.id, args.reason or "")
    finally:
        ws.close()
    _emit(args, _payment_json(p), _payment_line(p))
    return 0


def cmd_payments_execute_due(args: argparse.Namespace, io: Io) -> int:
    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        report = ws.payments.execute_due()
    finally:
        ws.close()
    lines = [report.summary()] + [f"  failed {pid}: {reason}" for pid, reason in report.failed]
    _emit(args, report, "\n".join(lines))
    return 9 if report.failed else 0


def cmd_payments_export(args: argparse.Namespace, io: Io) -> int:
    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        result = ws.payments.export_pain001(args.out, version=args.version, account_id=args.account,
                                            date=args.date)
    finally:
        ws.close()
    _emit(args, result, result.summary())
    return 0


def _global_options(suppress: bool) -> argparse.ArgumentParser:
    """Global options, accepted before or after the command. On subcommands the defaults are
    suppressed so a value given before the command is not reset by the subparser."""
    p = argparse.ArgumentParser(add_help=False)
    d = {"default": argparse.SUPPRESS} if suppress else {}
    p.add_argument("--db", metavar="PATH", help="database file or postgresql:// URL", **d)
    p.add_argument("--user", metavar="NAME", help="act as this user", **d)
    p.add_argument("--password-stdin", action="store_true",
                   help="read passwords from standard input, one per line", **d)
    p.add_argument("--otp", metavar="CODE", help="current two-factor code", **d)
    p.add_argument("--json", action="store_true", help="machine-readable output", **d)
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _global_options(suppress=True)
    parser = argparse.ArgumentParser(prog="cio-desktop", parents=[_global_options(suppress=False)],
                                     description="CIO Desktop treasury workstation")
    parser.add_argument("--version", action="version", version=f"cio-desktop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("init", parents=[common], help="create an encrypted database and its first admin")
    p.add_argument("--admin", required=True, metavar="NAME")
    p.add_argument("--totp-secret", metavar="BASE32", help="enrol the admin's two-factor with this secret")
    p.set_defaults(func=cmd_init)

    mfa = sub.add_parser("mfa", help="two-factor authentication").add_subparsers(dest="mfa_command",
                                                                                metavar="ACTION")
    p = mfa.add_parser("enrol", parents=[common], help="enrol an authenticator app for --user")
    p.set_defaults(func=cmd_mfa_enrol)

    p = sub.add_parser("demo", parents=[common], help="build the demo company database")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--scale", type=int, default=1, help="multiply the ledger (e.g. 50 → ~1M lines)")
    p.add_argument("--totp-secret", metavar="BASE32", help="enrol every demo user with this TOTP secret")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("import", parents=[common], help="import statement files into the ledger")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", default="auto", choices=["auto", "csv", "ofx", "mt940", "camt053", "bai2"])
    p.add_argument("--account", type=int, metavar="ID", help="book every statement to this account")
    p.add_argument("--profile", metavar="NAME", help="CSV column-mapping profile")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("sync", parents=[common], help="synchronise connections now")
    p.add_argument("connection", nargs="?", help="name or id (default: every active connection)")
    p.set_defaults(func=cmd_sync)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", metavar="ACTION")
    p = db.add_parser("upgrade", parents=[common], help="apply schema migrations")
    p.set_defaults(func=cmd_db_upgrade)
    p = db.add_parser("rekey", parents=[common], help="change the database key (admin, MFA)")
    p.add_argument("--passphrase", action="store_true",
                   help="use a new passphrase instead of a new random keyring key")
    p.set_defaults(func=cmd_db_rekey)

    audit = sub.add_parser("audit", help="audit trail").add_subparsers(dest="audit_command", metavar="ACTION")
    p = audit.add_parser("verify", parents=[common], help="check the audit chain")
    p.set_defaults(func=cmd_audit_verify)

    payments = sub.add_parser("payments", help="payments: list, new, approve, execute, payment files") \
        .add_subparsers(dest="payments_command", metavar="ACTION")
    p = payments.add_parser("list", parents=[common], help="list payments")
    p.add_argument("--status", metavar="S", help="only this status (e.g. pending_approval)")
    p.set_defaults(func=cmd_payments_list)
    p = payments.add_parser("new", parents=[common], help="schedule a payment and submit it for approval")
    p.add_argument("--account", type=int, required=True, metavar="ID", help="debit account id")
    p.add_argument("--to-name", required=True, metavar="NAME", help="beneficiary name")
    p.add_argument("--to-iban", required=True, metavar="IBAN", help="beneficiary IBAN (or account number)")
    p.add_argument("--to-bic", metavar="BIC")
    p.add_argument("--amount", required=True, metavar="AMOUNT", help="e.g. 1250.00")
    p.add_argument("--currency", metavar="CCY", help="defaults to the account's currency")
    p.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="requested execution date")
    p.add_argument("--purpose", metavar="TEXT", help="remittance information")
    p.add_argument("--batch", metavar="NAME")
    p.add_argument("--confirm-duplicate", action="store_true",
                   help="go ahead although a similar payment exists")
    p.set_defaults(func=cmd_payments_new)
    p = payments.add_parser("approve", parents=[common], help="approve (or --reject) a payment (MFA)")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--reject", action="store_true")
    p.add_argument("--reason", metavar="TEXT", help="why (required with --reject)")
    p.set_defaults(func=cmd_payments_approve)
    p = payments.add_parser("execute-due", parents=[common], help="execute every due approved payment (MFA)")
    p.set_defaults(func=cmd_payments_execute_due)
    p = payments.add_parser("export-pain001", parents=[common],
                            help="write approved payments to a pain.001 file (MFA)")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--version", default="09", choices=["09", "03"])
    p.add_argument("--account", type=int, metavar="ID", help="only payments from this account")
    p.add_argument("--date", metavar="YYYY-MM-DD", help="only payments due on this date")
    p.set_defaults(func=cmd_payments_export)

    users = sub.add_parser("users", help="user administration").add_subparsers(dest="users_command",
                                                                              metavar="ACTION")
    p = users.add_parser("list", parents=[common])
    p.set_defaults(func=cmd_users_list)
    p = users.add_parser("add", parents=[common])
    p.add_argument("name")
    p.add_argument("--role", required=True)
    p.add_argument("--display-name")
    p.set_defaults(func=cmd_users_add)
    p = users.add_parser("set-role", parents=[common])
    p.add_argument("name")
    p.add_argument("role")
    p.set_defaults(func=_user_change("set_role", "user '{u.username}' is now {u.role}"))
    p = users.add_parser("unlock", parents=[common])
    p.add_argument("name")
    p.set_defaults(func=_user_change("unlock", "user '{u.username}' unlocked"))
    p = users.add_parser("reset-mfa", parents=[common])
    p.add_argument("name")
    p.set_defaults(func=_user_change("reset_mfa", "two-factor reset for '{u.username}'"))

    from cio_desktop.clicmds import register_all

    parser.cio_commands = CORE_COMMANDS | register_all(sub, common)  # type: ignore[attr-defined]
    return parser


GUI_FLAGS = {"--demo", "--exit-after-start", "--theme"}


CORE_COMMANDS = {"init", "demo", "db", "audit", "users", "mfa", "import", "sync", "payments"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = parser.cio_commands  # type: ignore[attr-defined]
    if not any(a in commands for a in argv) and not any(a in ("-h", "--help", "--version") for a in argv):
        from cio_desktop.app import main as gui_main

        return gui_main(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    settings = None
    try:
        settings = _settings(args)
        log_path = configure_logging(settings.log_dir, settings.log_level)
    except CioError as exc:
        print(f"cio-desktop: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        return args.func(args, Io(args.password_stdin))
    except CioError as exc:
        print(f"cio-desktop: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cio-desktop: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback on the terminal: it goes to the log
        from cio_desktop.storage.database import damaged_database_message

        log.exception("unexpected error in %s", args.command)
        damaged = damaged_database_message(exc, settings.db_target)
        if damaged:
            print(f"cio-desktop: {damaged}", file=sys.stderr)
            return 2
        print(f"cio-desktop: unexpected error ({type(exc).__name__}); details in {log_path}",
              file=sys.stderr)
        return 1
