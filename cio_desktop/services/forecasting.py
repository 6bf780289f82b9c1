"""Cash-flow forecasts with bands and scenario modelling (issue 8)."""

from __future__ import annotations

from cio_desktop.services.base import Service


class ForecastService(Service):
    pass
