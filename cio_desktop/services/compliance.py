"""Compliance rules as data, validation of payments and portfolio changes, reports (issue 6)."""

from __future__ import annotations

from cio_desktop.services.base import Service


class ComplianceService(Service):
    pass
