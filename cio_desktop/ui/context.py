"""UiContext: what every panel and dialog gets (passed in, never looked up globally)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from cio_desktop.config import Settings
from cio_desktop.services.workspace import Workspace
from cio_desktop.ui.event_bridge import EventBridge
from cio_desktop.ui.workers import WorkerPool


@dataclass
class UiContext:
    workspace: Workspace
    settings: Settings
    workers: WorkerPool
    bridge: EventBridge
    #: shows an error in plain words (a CioError's message; anything else via the crash dialog)
    show_error: Callable[[BaseException], None]
    #: set by the main window: shows a status-bar message
    status: Callable[[str], None] = field(default=lambda msg: None)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def services(self) -> Workspace:
        return self.workspace
