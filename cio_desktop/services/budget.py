"""Budget lines and variance detection with explanations (issue 8)."""

from __future__ import annotations

from cio_desktop.services.base import Service


class BudgetService(Service):
    pass
