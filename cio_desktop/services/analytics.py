"""Spending patterns, categoriser and forecast models that learn from outcomes (issue 8)."""

from __future__ import annotations

from cio_desktop.services.base import Service


class AnalyticsService(Service):
    pass
