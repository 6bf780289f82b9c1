"""Delivery of alerts on the user's channels, escalation, daily summary (issue 9)."""

from __future__ import annotations

from cio_desktop.services.base import Service


class NotificationsService(Service):
    pass
