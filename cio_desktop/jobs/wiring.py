"""Bus events → the alert engine and the notification service, for one running scheduler.

Wired once per process by :class:`~cio_desktop.jobs.scheduler.BackgroundJobs` (the window's
workspace and the scheduler's copy share one bus, so wiring twice would deliver twice):

* ``alerts.raised``       → ``notifications.send_alert`` for each new alert;
* ``sync.failed``         → the "Connection sync failed" alert (and an action-required notice
  when the bank refused the credentials); ``sync.completed`` resolves it;
* ``payments.changed`` with ``action == "pending_approval"`` → approvers get an action-required
  notice (what, why, by when, where).

Handlers run on the publisher's thread after its transaction committed; a failing handler is
logged by the bus and never breaks the publisher.
"""

from __future__ import annotations

import logging
from typing import Callable

from cio_desktop.errors import CioError
from cio_desktop.events import Event

log = logging.getLogger(__name__)


def wire(ws) -> Callable[[], None]:  # noqa: ANN001 — a Workspace
    def on_raised(ev: Event) -> None:
        for alert_id in ev.data.get("ids", []):
            try:
                report = ws.notifications.send_alert(alert_id)
                log.info("alert %s delivered: %s", alert_id, report.summary())
            except CioError as exc:
                log.warning("alert %s not delivered: %s", alert_id, exc)

    def on_sync(ev: Event) -> None:
        name = str(ev.data.get("connection", ""))
        failed = ev.topic == "sync.failed"
        error = str(ev.data.get("error", ""))
        try:
            ws.alerts.record_event("sync", "failure", f"connection:{name}", failed=failed, message=error,
                                   label=f"connection {name}", panel="connections", ref=f"connection:{name}")
            if failed:
                ws.notifications.on_sync_failed(name, error)
        except CioError as exc:
            log.warning("sync alert for %s not recorded: %s", name, exc)

    def on_payments(ev: Event) -> None:
        if ev.data.get("action") == "pending_approval":
            try:
                ws.notifications.on_payment_submitted(ev.data.get("ids", []))
            except CioError as exc:
                log.warning("approval notice not sent: %s", exc)

    bus = ws.ctx.bus
    unsubscribers = [bus.subscribe("alerts.raised", on_raised), bus.subscribe("sync.failed", on_sync),
                     bus.subscribe("sync.completed", on_sync), bus.subscribe("payments.changed", on_payments)]

    def unwire() -> None:
        for u in unsubscribers:
            u()

    return unwire
