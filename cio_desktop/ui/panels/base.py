"""The Panel contract: one module per domain, registered in ``ui.panels.registry.PANELS``.

A panel declares ``NAME`` (stable id), ``TITLE`` (sidebar text), ``PERMISSION`` (hidden when
the user lacks it), ``SHORTCUT`` (e.g. ``"Ctrl+1"``) and ``TOPICS`` (event-bus topics it cares
about). ``build()`` creates its widgets once; ``on_changes(topic, data)`` is called on the GUI
thread when a subscribed topic is published, so a panel refreshes only what concerns it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtWidgets import QWidget

from cio_desktop.security.permissions import Permission


class Panel(QWidget):
    NAME: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    PERMISSION: ClassVar[Permission | None] = None
    SHORTCUT: ClassVar[str] = ""
    TOPICS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        """``app`` is the ``ui.context.UiContext``: workspace (services), worker pool, bridge."""
        super().__init__(parent)
        self.app = app
        self.setObjectName(f"panel_{self.NAME}")
        self._built = False

    def ensure_built(self) -> None:
        if not self._built:
            self._built = True
            self.build()

    def build(self) -> None:
        raise NotImplementedError

    def on_shown(self) -> None:
        """Called each time the panel becomes the visible one."""

    def on_changes(self, topic: str, data: dict) -> None:
        """Called on the GUI thread for each subscribed topic."""
