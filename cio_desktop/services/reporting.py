"""Board packs and other report documents, exported to PDF, Excel, CSV (issue 11)."""

from __future__ import annotations

from cio_desktop.services.base import Service


class ReportingService(Service):
    pass
