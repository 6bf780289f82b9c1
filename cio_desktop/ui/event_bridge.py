"""Bus events → a Qt signal, so every handler runs on the GUI thread whatever thread published."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from cio_desktop.events import Event, EventBus


class EventBridge(QObject):
    event = Signal(str, dict)

    def __init__(self, bus: EventBus) -> None:
        super().__init__()
        self._unsubscribe = bus.subscribe("*", self._forward)

    def _forward(self, ev: Event) -> None:
        self.event.emit(ev.topic, dict(ev.data))

    def close(self) -> None:
        self._unsubscribe()
