"""The dashboard's figures for any data state (issue 11)."""

from __future__ import annotations

from cio_desktop.services.base import Service


class DashboardService(Service):
    pass
