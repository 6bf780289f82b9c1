"""Opportunities and prioritised recommendations with rationale (issue 10)."""

from __future__ import annotations

from cio_desktop.services.base import Service


class AdvisoryService(Service):
    pass
