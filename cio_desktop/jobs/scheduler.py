"""The background scheduler: one APScheduler BackgroundScheduler thread per running app.

Jobs call services and nothing else. They act with a background copy of the session of the
user who started them (the same permissions; the window's idle lock does not pause them, a
log-out stops them), so every job passes the same authorisation checks as a click would.

Before each tick the copy follows the live session: a log-out ends it, and a fresh two-factor
verification in the window (e.g. the "release due payments" prompt) refreshes its MFA time.

Jobs: ``sync`` (every minute; each connection runs when its own interval is due) and
``payments`` (every minute: ``PaymentsService.execute_due``). Executing payments is
MFA-sensitive, like any click on "execute": the tick runs only while the user's two-factor
verification is fresh (``mfa_fresh_minutes``). Otherwise it waits, without a refusal in the
audit trail every minute, and publishes ``payments.release_waiting`` once (with the number of
due payments) so the window can ask for a code; the next tick after that executes them. A user
without the execute permission gets no payments tick at all.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from cio_desktop.errors import CioError, NotAuthenticated
from cio_desktop.security.permissions import Permission
from cio_desktop.services.session import AuthSession
from cio_desktop.storage import search_index

log = logging.getLogger(__name__)

SYNC_TICK_SECONDS = 60
PAYMENTS_TICK_SECONDS = 60


def background_workspace(workspace, session: AuthSession):  # noqa: ANN001, ANN201
    """A Workspace sharing the database, cipher and event bus, acting as ``session``'s user."""
    from cio_desktop.services.workspace import Workspace

    copy = dataclasses.replace(session, locked=False, extra={**session.extra, "background": True})
    return Workspace(dataclasses.replace(workspace.ctx, session=copy))


class BackgroundJobs:
    def __init__(self, workspace, session: AuthSession, *,  # noqa: ANN001
                 scheduler_factory: Callable[[], BackgroundScheduler] | None = None) -> None:
        self._live = session
        self.ws = background_workspace(workspace, session)
        self._scheduler = (scheduler_factory or (lambda: BackgroundScheduler(timezone="UTC")))()
        self.payments_waiting_for_mfa = False

    def start(self) -> None:
        self._scheduler.add_job(self.sync_tick, "interval", seconds=SYNC_TICK_SECONDS, id="sync",
                                name="Synchronise due connections", coalesce=True, max_instances=1,
                                misfire_grace_time=SYNC_TICK_SECONDS, replace_existing=True)
        if self._live.can(Permission.PAYMENTS_EXECUTE):
            self._scheduler.add_job(self.payments_tick, "interval", seconds=PAYMENTS_TICK_SECONDS,
                                    id="payments", name="Execute due payments", coalesce=True,
                                    max_instances=1, misfire_grace_time=PAYMENTS_TICK_SECONDS,
                                    replace_existing=True)
        self._scheduler.start()
        log.info("background jobs started for %s", self.ws.ctx.actor)

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _follow_live_session(self) -> None:
        copy = self.ws.ctx.session
        if copy is not None and copy is not self._live:
            copy.ended = copy.ended or self._live.ended
            if self._live.mfa_verified_at is not None and (
                    copy.mfa_verified_at is None or self._live.mfa_verified_at > copy.mfa_verified_at):
                copy.mfa_verified_at = self._live.mfa_verified_at

    def sync_tick(self) -> None:
        try:
            self._follow_live_session()
            for result in self.ws.sync.sync_due():
                if not result.skipped:
                    log.info("sync: %s", result.summary())
            search_index.catch_up(self.ws.db)
        except NotAuthenticated:
            log.info("sync skipped: the session has ended")
            self.stop()
        except CioError as exc:
            log.warning("sync tick refused: %s", exc)
        except Exception:  # noqa: BLE001 — the scheduler thread must survive any job failure
            log.exception("sync tick failed")

    def payments_tick(self):  # noqa: ANN201 — DueRunReport | None
        """Execute due payments (see the module doc); never raises into the scheduler."""
        try:
            self._follow_live_session()
            ctx = self.ws.ctx
            session = ctx.require_session()  # ended or expired: NotAuthenticated below
            if not session.can(Permission.PAYMENTS_EXECUTE):
                return None
            if not ctx.mfa_is_fresh(session):
                if not self.payments_waiting_for_mfa:
                    self.payments_waiting_for_mfa = True
                    due = len(self.ws.payments.due_payments())
                    log.info("due payments wait for a fresh two-factor verification (%s due)", due)
                    ctx.bus.publish("payments.release_waiting", due=due, reason="mfa")
                return None
            self.payments_waiting_for_mfa = False
            report = self.ws.payments.execute_due()
            if report.executed or report.failed:
                log.info("payments: %s", report.summary())
            return report
        except NotAuthenticated:
            log.info("payments tick skipped: the session has ended")
            self.stop()
        except CioError as exc:
            log.warning("payments tick refused: %s", exc)
        except Exception:  # noqa: BLE001 — the scheduler thread must survive any job failure
            log.exception("payments tick failed")
        return None
