"""The background scheduler: one APScheduler BackgroundScheduler thread per running app.

Jobs call services and nothing else. They act with a background copy of the session of the
user who started them (the same permissions; the window's idle lock does not pause them, a
log-out stops them), so every job passes the same authorisation checks as a click would.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from cio_desktop.errors import CioError, NotAuthenticated
from cio_desktop.services.session import AuthSession
from cio_desktop.storage import search_index

log = logging.getLogger(__name__)

SYNC_TICK_SECONDS = 60


def background_workspace(workspace, session: AuthSession):  # noqa: ANN001, ANN201
    """A Workspace sharing the database, cipher and event bus, acting as ``session``'s user."""
    from cio_desktop.services.workspace import Workspace

    copy = dataclasses.replace(session, locked=False, extra={**session.extra, "background": True})
    return Workspace(dataclasses.replace(workspace.ctx, session=copy))


class BackgroundJobs:
    def __init__(self, workspace, session: AuthSession, *,  # noqa: ANN001
                 scheduler_factory: Callable[[], BackgroundScheduler] | None = None) -> None:
        self.ws = background_workspace(workspace, session)
        self._scheduler = (scheduler_factory or (lambda: BackgroundScheduler(timezone="UTC")))()

    def start(self) -> None:
        self._scheduler.add_job(self.sync_tick, "interval", seconds=SYNC_TICK_SECONDS, id="sync",
                                name="Synchronise due connections", coalesce=True, max_instances=1,
                                misfire_grace_time=SYNC_TICK_SECONDS, replace_existing=True)
        self._scheduler.start()
        log.info("background jobs started for %s", self.ws.ctx.actor)

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def sync_tick(self) -> None:
        try:
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
