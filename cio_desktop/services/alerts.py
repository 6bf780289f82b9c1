"""Threshold alert rules and alerts (issue 9)."""

from __future__ import annotations

from cio_desktop.services.base import Service


class AlertsService(Service):
    pass
