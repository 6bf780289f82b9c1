"""Composition root: options → settings → logging → Qt → database → services → login → window.

``main(argv)`` is the GUI entry point (``python -m cio_desktop``, ``cio-desktop-gui``, and
``cio-desktop`` without a sub-command). Options:

``--db PATH``            database file or ``postgresql://`` URL (default: the configured one)
``--demo``               open (building it on first use) the demo company ``<data dir>/demo.db``
                         and sign in as ``treasurer`` automatically
``--exit-after-start``   quit with code 0 once the main window is shown and its first panel has
                         asked for its data (tests, ``bench/startup.py``); never asks anything
``--theme light|dark``   theme for this run (the View menu choice is remembered instead)
``--user NAME``          prefill the login dialog

Demo credentials are public on purpose: every demo user (admin, treasurer, approver, analyst,
auditor, viewer) has the password ``DEMO_PASSWORD``. The demo database key is the keyring's
when an OS keyring exists, else ``CIO_DB_PASSPHRASE``, else the published ``DEMO_DB_PASSPHRASE``
(the demo data is fictitious, so a published key is acceptable; a warning is logged and the
status bar says "demo key"). Exit codes: 0 normal, 1 cancelled or unexpected error,
2 the database cannot be opened (plain message, never a traceback).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

T0 = time.monotonic()

from PySide6.QtCore import QEventLoop, QObject, QTimer, Signal  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog  # noqa: E402

from cio_desktop.config import Settings, load_settings  # noqa: E402
from cio_desktop.errors import (AccountLocked, CioError, DatabaseOpenError,  # noqa: E402
                                NotAuthenticated)
from cio_desktop.logging_setup import configure_logging  # noqa: E402

log = logging.getLogger(__name__)

DEMO_PASSWORD = "Treasury-Demo-2026"
DEMO_DB_PASSPHRASE = "CIO-Desktop-demo-database-2026"
#: every demo user's two-factor secret (public, like the password): approving or executing a
#: payment in the demo asks for a code, and the two-factor prompt shows the demo's current one
DEMO_TOTP_SECRET = "CIODEMOTWOFACTORDEMOCOMPANY23456"
DEMO_USER = "treasurer"
DEMO_USERS = ("admin", "treasurer", "approver", "analyst", "auditor", "viewer")
DEMO_SEED = 42


class StartupCancelled(Exception):
    """The user cancelled a startup prompt (passphrase)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cio-desktop", description="CIO Desktop treasury workstation")
    p.add_argument("--db", metavar="PATH", help="database file or postgresql:// URL")
    p.add_argument("--demo", action="store_true", help="open the demo company (built on first use)")
    p.add_argument("--exit-after-start", action="store_true",
                   help="quit once the main window is shown (tests and benchmarks)")
    p.add_argument("--theme", choices=("light", "dark"), help="theme for this run")
    p.add_argument("--user", metavar="NAME", help="prefill the login dialog")
    return p


# -- opening the database ------------------------------------------------------------------------
def _fatal(message: str, interactive: bool, title: str = "CIO Desktop — cannot start") -> None:
    print(f"cio-desktop: {message}", file=sys.stderr)
    if interactive:
        QMessageBox.critical(None, title, message)


def open_regular(settings: Settings, interactive: bool):  # noqa: ANN201 - Workspace
    """Open the configured database; asks for a passphrase when no key is stored (3 tries)."""
    from cio_desktop.security.dbkey import resolve_db_key
    from cio_desktop.security.keystore import open_secret_store
    from cio_desktop.services.workspace import open_workspace
    from cio_desktop.ui.dialogs.passphrase import ask_passphrase

    target = settings.db_target
    if not settings.is_postgres and not Path(target).expanduser().exists():
        raise DatabaseOpenError(
            f"there is no database at {target}. Create one with 'cio-desktop init --admin NAME', "
            "open another with --db PATH, or try the demo company with 'cio-desktop --demo'.")
    if settings.is_postgres:
        return open_workspace(settings)
    store = open_secret_store(settings.data_dir)
    error = ""
    for _attempt in range(3):
        def prompt(t: str) -> str:
            if not interactive:
                raise DatabaseOpenError(f"no key for {t}: the keyring has none; set CIO_DB_PASSPHRASE")
            answer = ask_passphrase(t, error)
            if answer is None:
                raise StartupCancelled()
            return answer

        key = resolve_db_key(target, store, create=False, prompt=prompt)
        try:
            return open_workspace(settings, key=key)
        except DatabaseOpenError as exc:
            if key.origin != "prompt":
                raise
            error = str(exc)
    raise DatabaseOpenError(f"{error} (three attempts)")


def demo_key(target: str, store: Any, exists: bool, environ: dict | None = None):  # noqa: ANN201
    """(DbKey, note): keyring (a real one) → CIO_DB_PASSPHRASE → the published demo passphrase."""
    import os
    import secrets

    from cio_desktop.security.dbkey import DbKey
    from cio_desktop.security.keystore import db_key_name

    env = os.environ if environ is None else environ
    if store is not None and getattr(store, "name", "") != "memory":
        stored = store.get(db_key_name(target))
        if stored:
            return DbKey(raw=bytes.fromhex(stored), origin=f"keyring ({store.name})"), ""
        if not exists:
            raw = secrets.token_bytes(32)
            store.set(db_key_name(target), raw.hex())
            return DbKey(raw=raw, origin=f"keyring ({store.name}, new)"), ""
    if env.get("CIO_DB_PASSPHRASE"):
        return DbKey(passphrase=env["CIO_DB_PASSPHRASE"], origin="CIO_DB_PASSPHRASE"), ""
    log.warning("demo database %s uses the published demo key (no OS keyring, no CIO_DB_PASSPHRASE)",
                target)
    return DbKey(passphrase=DEMO_DB_PASSPHRASE, origin="demo key"), "demo key"


def _remove_db_files(target: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(target + suffix).unlink(missing_ok=True)


class _ProgressRelay(QObject):
    progressed = Signal(str, float)


def build_demo_with_progress(ws: Any, workers: Any, interactive: bool) -> Any:
    """Run ``build_demo`` on a worker thread while a progress dialog shows its steps."""
    from cio_desktop.services.demo import build_demo

    relay = _ProgressRelay()
    dialog = QProgressDialog("Building the demo company…", "", 0, 1000)
    dialog.setWindowTitle("CIO Desktop — demo")
    dialog.setCancelButton(None)
    dialog.setMinimumDuration(0)
    dialog.setMinimumWidth(420)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)

    def update(step: str, fraction: float) -> None:
        dialog.setLabelText(step)
        dialog.setValue(int(max(0.0, min(1.0, fraction)) * 1000))

    relay.progressed.connect(update)
    outcome: dict[str, Any] = {}
    loop = QEventLoop()

    def done(result: Any) -> None:
        outcome["result"] = result
        loop.quit()

    def failed(exc: BaseException) -> None:
        outcome["error"] = exc
        loop.quit()

    dialog.show()
    workers.run(lambda: build_demo(ws.ctx, seed=DEMO_SEED, password=DEMO_PASSWORD, totp_secret=DEMO_TOTP_SECRET,
                                   progress=lambda s, f: relay.progressed.emit(str(s), float(f))),
                done, failed)
    if not outcome:
        loop.exec()
    dialog.close()
    dialog.deleteLater()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


# -- the running application -------------------------------------------------------------------
class AppController(QObject):
    """Login → main window → (lock, log-out, lock-out) → login again; quits when the window closes."""

    def __init__(self, qapp: QApplication, ui_ctx: Any, *, panels: Sequence[type], theme: Any,
                 prefs: Any, presenter: Any, exit_after_start: bool, username: str = "",
                 note: str = "") -> None:
        super().__init__()
        from cio_desktop.ui.dialogs.lock import IdleWatcher

        self.qapp = qapp
        self.ui_ctx = ui_ctx
        self.panels = panels
        self.theme = theme
        self.prefs = prefs
        self.presenter = presenter
        self.exit_after_start = exit_after_start
        self.username = username
        self.note = note
        self.window: Any = None
        self.login_dialog: Any = None
        self.idle = IdleWatcher.from_minutes(qapp, ui_ctx.settings.idle_lock_minutes)
        #: the background scheduler (jobs.scheduler.BackgroundJobs) of the signed-in user
        self.jobs: Any = None
        self._jobs_lock = threading.Lock()
        self._jobs_generation = 0

    # background jobs
    def start_jobs(self) -> None:
        """Start the scheduler for the signed-in user, off the GUI thread (importing APScheduler
        and starting its thread must not delay the window). Its jobs act with a background copy
        of the session; their results reach the window only as bus events (EventBridge)."""
        self.stop_jobs()
        workspace = self.ui_ctx.workspace
        session = workspace.ctx.session
        if session is None or session.ended:
            return
        with self._jobs_lock:
            generation = self._jobs_generation

        def start() -> bool:
            from cio_desktop.jobs.scheduler import BackgroundJobs

            from cio_desktop.services.team import ChangeFeed

            jobs = BackgroundJobs(workspace, session)
            # other workstations' (and CLI processes') changes reach the open panels via the bus
            feed = ChangeFeed(workspace.db, workspace.ctx.bus,
                              poll_seconds=workspace.ctx.settings.team_poll_seconds)
            with self._jobs_lock:
                if generation != self._jobs_generation:  # signed out meanwhile
                    return False
                jobs.start()
                feed.start()
                self.jobs = jobs
                self.ui_ctx.extra["jobs"] = jobs  # the Jobs panel manages the running scheduler
                self.ui_ctx.extra["change_feed"] = feed
            return True

        def failed(exc: BaseException) -> None:
            log.error("background jobs not started: %s", exc, exc_info=exc)

        self.ui_ctx.workers.run(start, None, failed)

    def stop_jobs(self) -> None:
        """Stop the scheduler (log-out, session end, quit); never waits for a running job."""
        with self._jobs_lock:
            self._jobs_generation += 1
            jobs, self.jobs = self.jobs, None
            self.ui_ctx.extra.pop("jobs", None)
            feed = self.ui_ctx.extra.pop("change_feed", None)
        if feed is not None:
            feed.stop(timeout=0)  # a daemon thread: never wait for it on the GUI thread
        if jobs is not None:
            try:
                jobs.stop()
                log.info("background jobs stopped")
            except Exception:  # noqa: BLE001 - stopping must never break a log-out
                log.exception("stopping the background jobs failed")

    def show_error(self, exc: BaseException) -> None:
        """``UiContext.show_error``: an ended session goes back to login; the rest is shown."""
        session = self.ui_ctx.workspace.ctx.session
        if isinstance(exc, (NotAuthenticated, AccountLocked)) and (session is None or session.ended):
            if self.window is not None:
                self.back_to_login(str(exc))
                return
        if isinstance(exc, NotAuthenticated) and session is not None and session.locked:
            log.info("refused while locked: %s", exc)  # the lock screen already says so
            return
        self.presenter(exc)

    def parent_window(self) -> Any:
        return self.window or self.login_dialog

    # login
    def auto_login(self, username: str, password: str) -> None:
        auth = self.ui_ctx.workspace.auth

        def failed(exc: BaseException) -> None:
            log.warning("automatic demo sign-in failed: %s", exc)
            self.show_login(f"automatic sign-in as {username} failed: {exc}")

        self.ui_ctx.workers.run(lambda: auth.login(username, password), lambda _s: self.open_window(),
                                failed)

    def show_login(self, message: str = "") -> None:
        from cio_desktop.ui.dialogs.common import show_status
        from cio_desktop.ui.dialogs.login import LoginDialog

        if self.exit_after_start:
            print(f"cio-desktop: cannot sign in without a user ({message or 'login needed'})",
                  file=sys.stderr)
            self.qapp.exit(1)
            return
        dialog = LoginDialog(self.ui_ctx, self.username)
        if message:
            show_status(dialog.error_label, message, "warning")
        dialog.accepted.connect(self.open_window)
        dialog.rejected.connect(self._login_cancelled)
        self.login_dialog = dialog
        dialog.open()

    def _login_cancelled(self) -> None:
        if self.window is None:
            log.info("login cancelled: quitting")
            self.qapp.exit(0)

    # window
    def open_window(self) -> None:
        from cio_desktop.ui.main_window import MainWindow

        if self.login_dialog is not None:
            self.login_dialog.deleteLater()
            self.login_dialog = None
        window = MainWindow(self.ui_ctx, self.panels, theme=self.theme, idle=self.idle,
                            prefs=self.prefs)
        window.set_note(self.note)
        window.logout_requested.connect(self.logout)
        window.session_ended.connect(self.back_to_login)
        window.closed.connect(self._window_closed)
        window.shown.connect(self._window_shown)
        self.window = window
        window.show()
        self.start_jobs()

    def _window_shown(self) -> None:
        elapsed = time.monotonic() - T0
        log.info("main window shown %.3f s after start", elapsed)
        if self.exit_after_start:
            print(f"cio-desktop: window shown at {time.time():.6f} ({elapsed:.3f} s after main)",
                  flush=True)
            QTimer.singleShot(0, lambda: self.qapp.exit(0))

    def _window_closed(self) -> None:
        self.qapp.exit(0)

    def logout(self) -> None:
        self.stop_jobs()
        auth = self.ui_ctx.workspace.auth
        self.ui_ctx.workers.run(auth.logout, lambda _r: self.back_to_login("You have signed out."),
                                lambda exc: self.back_to_login(f"Signed out ({exc})."))

    def back_to_login(self, message: str = "") -> None:
        self.stop_jobs()
        old, self.window = self.window, None
        self.ui_ctx.workspace.ctx.session = None
        self.show_login(message)  # first, so a top-level window stays visible
        if old is not None:
            old.close_quietly()
            old.deleteLater()

    def shutdown(self) -> None:
        self.stop_jobs()
        self.idle.close()
        if self.window is not None:
            self.window.teardown()


def main(argv: Sequence[str] | None = None) -> int:
    args, qt_args = build_parser().parse_known_args(list(sys.argv[1:] if argv is None else argv))
    interactive = not args.exit_after_start
    qapp = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "cio-desktop", *qt_args])
    qapp.setApplicationName("CIO Desktop")
    qapp.setOrganizationName("CIO Desktop")
    qapp.setQuitOnLastWindowClosed(False)  # the controller decides when to quit

    try:
        settings = load_settings({"db": args.db})
    except CioError as exc:
        _fatal(str(exc), interactive)
        return exc.exit_code
    log_path = configure_logging(settings.log_dir, settings.log_level)
    log.info("starting CIO Desktop (demo=%s, exit_after_start=%s)", args.demo, args.exit_after_start)

    from cio_desktop.ui.dialogs.errors import ErrorPresenter, ExceptionHook
    from cio_desktop.ui.theme import ThemeManager, ui_prefs

    controller: AppController | None = None
    hook = ExceptionHook(log_path, lambda: controller.parent_window() if controller else None,
                         show=interactive)
    hook.install()
    ws = None
    try:
        prefs = ui_prefs(settings)
        theme = ThemeManager(qapp, prefs)
        theme.apply(args.theme or theme.saved(settings.theme), remember=False)

        note = ""
        try:
            if args.demo:
                from cio_desktop.security.keystore import open_secret_store
                from cio_desktop.services.workspace import open_workspace

                target = args.db or str(settings.data_dir / "demo.db")
                settings = load_settings({"db": target})
                exists = Path(target).exists()
                key, note = demo_key(target, open_secret_store(settings.data_dir), exists)
                ws = open_workspace(settings, create=not exists, key=key)
            else:
                ws = open_regular(settings, interactive)
        except StartupCancelled:
            log.info("passphrase prompt cancelled")
            return 1
        except DatabaseOpenError as exc:
            log.warning("cannot open the database: %s", exc)
            _fatal(str(exc), interactive, "CIO Desktop — cannot open the database")
            return exc.exit_code

        from cio_desktop.ui.context import UiContext
        from cio_desktop.ui.event_bridge import EventBridge
        from cio_desktop.ui.panels.registry import PANELS
        from cio_desktop.ui.workers import WorkerPool

        presenter = ErrorPresenter(hook, lambda: controller.parent_window() if controller else None)
        workers = WorkerPool(lambda exc: ui_ctx.show_error(exc))
        ui_ctx = UiContext(workspace=ws, settings=settings, workers=workers,
                           bridge=EventBridge(ws.ctx.bus), show_error=presenter)
        controller = AppController(qapp, ui_ctx, panels=PANELS, theme=theme, prefs=prefs,
                                   presenter=presenter, exit_after_start=args.exit_after_start,
                                   username=args.user or "", note=note)
        ui_ctx.show_error = controller.show_error

        if args.demo:
            ui_ctx.extra["demo_totp_secret"] = DEMO_TOTP_SECRET
            if not exists:
                try:
                    build_demo_with_progress(ws, workers, interactive)
                except Exception as exc:
                    ws.close()
                    ws = None
                    _remove_db_files(target)
                    if isinstance(exc, CioError):
                        _fatal(f"could not build the demo database: {exc}", interactive)
                        return exc.exit_code
                    raise
                log.info("demo database built at %s", target)
            print(f"cio-desktop: demo users {', '.join(DEMO_USERS)} — password: {DEMO_PASSWORD}, "
                  f"two-factor secret: {DEMO_TOTP_SECRET}", flush=True)
            controller.auto_login(DEMO_USER, DEMO_PASSWORD)
        else:
            controller.show_login()
        code = qapp.exec()
        controller.stop_jobs()
        workers.wait(15000)
        controller.stop_jobs()  # in case a start was still in the worker pool
        session = ws.ctx.session
        if session is not None and not session.ended and not session.locked:
            try:
                ws.auth.logout()
            except CioError as exc:
                log.info("logout at exit: %s", exc)
        controller.shutdown()
        ui_ctx.bridge.close()
        return int(code)
    except Exception:  # never a traceback on the terminal: it is in the log
        log.exception("unexpected error during start-up")
        print(f"cio-desktop: unexpected error; details in {log_path}", file=sys.stderr)
        return 1
    finally:
        if ws is not None:
            ws.close()
        hook.uninstall()
