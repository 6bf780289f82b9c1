"""A small thread-safe publish/subscribe bus.

Services publish after their transaction commits; the UI (through ``ui.event_bridge``) and the
alert engine subscribe. Handlers run on the publisher's thread, so the UI side must re-emit on
the GUI thread; a failing handler is logged and never breaks the publisher.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """``topic`` names what happened (e.g. ``"accounts.changed"``); ``data`` says what changed."""

    topic: str
    data: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        """Subscribe to a topic (``"*"`` for all); returns an unsubscribe function."""
        with self._lock:
            self._handlers[topic].append(handler)

        def unsubscribe() -> None:
            with self._lock:
                if handler in self._handlers[topic]:
                    self._handlers[topic].remove(handler)

        return unsubscribe

    def publish(self, topic: str, **data: Any) -> Event:
        event = Event(topic, data)
        with self._lock:
            handlers = list(self._handlers.get(topic, ())) + list(self._handlers.get("*", ()))
        for handler in handlers:
            try:
                handler(event)
            except Exception:  # a broken subscriber must not break the service that published
                log.exception("event handler failed for %s", topic)
        return event
