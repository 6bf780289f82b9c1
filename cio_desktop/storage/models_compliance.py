"""Compliance rules, their versions, checks and violations (issue 6).

Tables live here (not in models.py) so each domain owns its own module; ``models.py``
imports this module at its end, so ``Base.metadata`` always holds every table."""

from __future__ import annotations

from cio_desktop.storage.models import Base  # noqa: F401
