"""The Panel contract: one module per domain, registered in ``ui.panels.registry.PANELS``.

A panel declares ``NAME`` (stable id), ``TITLE`` (sidebar text), ``PERMISSION`` (hidden when
the user lacks it), ``SHORTCUT`` (e.g. ``"Ctrl+1"``) and ``TOPICS`` (event-bus topics it cares
about). ``build()`` creates its widgets once; ``on_changes(topic, data)`` is called on the GUI
thread when a subscribed topic is published, so a panel refreshes only what concerns it.

Badge (optional): a panel may show a count next to its sidebar entry ("Payments (3)"). It
declares ``BADGE_TOPICS`` and overrides ``refresh_badge()`` to compute the count (in the worker
pool) and call ``set_badge(n)``. The frame calls ``refresh_badge()`` once when the window opens
and on each ``BADGE_TOPICS`` event — even before the panel is built — and shows
``badge_changed``; 0 shows the plain title.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Sequence

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from cio_desktop.security.permissions import Permission


class Panel(QWidget):
    NAME: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    PERMISSION: ClassVar[Permission | None] = None
    SHORTCUT: ClassVar[str] = ""
    TOPICS: ClassVar[tuple[str, ...]] = ()
    BADGE_TOPICS: ClassVar[tuple[str, ...]] = ()

    #: the sidebar badge count changed (0: no badge)
    badge_changed = Signal(int)

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        """``app`` is the ``ui.context.UiContext``: workspace (services), worker pool, bridge."""
        super().__init__(parent)
        self.app = app
        self.setObjectName(f"panel_{self.NAME}")
        self._built = False
        self._badge = 0

    def ensure_built(self) -> None:
        if not self._built:
            self._built = True
            self.build()

    def build(self) -> None:
        raise NotImplementedError

    def debouncer(self, slot: Callable[[], Any], ms: int) -> QTimer:
        """A single-shot timer that calls ``slot`` ``ms`` after its last ``start()``: a burst of
        events (or keystrokes) becomes one reload, not one per event."""
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(ms)
        timer.timeout.connect(slot)
        return timer

    def header_row(self, on_refresh: Callable[[], Any] | None, *, leading: Sequence[QWidget] = (),
                   status_extras: Sequence[QWidget] = (), trailing: Sequence[QWidget] = (),
                   wrap_status: bool = False, status_text: str = "") -> tuple[QHBoxLayout, QLabel]:
        """The panels' common first row, so they all look and behave alike: title, ``leading``
        widgets (selectors), a hint-styled status label (counts, "loading…", errors) and its
        ``status_extras``, then ``trailing`` buttons and a Refresh button
        (``self.refresh_button``). ``on_refresh=None`` omits the Refresh button (and sets
        ``self.refresh_button`` to None) for panels whose main action is a trailing button. A
        wrapping status takes the free width; otherwise a stretch does. Returns the layout and the
        status label."""
        head = QHBoxLayout()
        title = QLabel(self.TITLE)
        title.setObjectName("panelTitle")
        head.addWidget(title)
        for widget in leading:
            head.addWidget(widget)
        status = QLabel(status_text)
        status.setProperty("hint", True)
        if wrap_status:
            status.setWordWrap(True)
            head.addWidget(status, 1)
        else:
            head.addWidget(status)
        for widget in status_extras:
            head.addWidget(widget)
        if not wrap_status:
            head.addStretch(1)
        for widget in trailing:
            head.addWidget(widget)
        self.refresh_button: QPushButton | None = None
        if on_refresh is not None:
            refresh = self.refresh_button = QPushButton("Refresh")
            refresh.clicked.connect(lambda _checked=False: on_refresh())
            head.addWidget(refresh)
        return head, status

    def on_shown(self) -> None:
        """Called each time the panel becomes the visible one."""

    def on_changes(self, topic: str, data: dict) -> None:
        """Called on the GUI thread for each subscribed topic."""

    # -- sidebar badge ------------------------------------------------------------------------
    @property
    def badge(self) -> int:
        return self._badge

    def set_badge(self, count: int) -> None:
        count = max(0, int(count))
        if count != self._badge:
            self._badge = count
            self.badge_changed.emit(count)

    def refresh_badge(self) -> None:
        """Recompute the badge (override with a worker-pool read that ends in ``set_badge``)."""
