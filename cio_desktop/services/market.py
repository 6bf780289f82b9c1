"""Market data from providers, cached for offline work, and investment analysis (issue 10)."""

from __future__ import annotations

from cio_desktop.services.base import Service


class MarketService(Service):
    pass
