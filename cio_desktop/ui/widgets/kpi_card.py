"""A KPI card: a caption, one large figure and a line of detail, with a state colour."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout, QWidget

_ACCENTS = {"normal": "#2563eb", "ok": "#12805c", "warning": "#d98e04", "danger": "#d92d20",
            "muted": "#8a949e"}


class KpiCard(QFrame):
    def __init__(self, caption: str, value: str = "…", detail: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(170)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(2)
        self.caption_label = QLabel(caption)
        self.caption_label.setProperty("hint", True)
        self.value_label = QLabel(value)
        self.value_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail_label = QLabel(detail)
        self.detail_label.setProperty("hint", True)
        self.detail_label.setWordWrap(True)
        layout.addWidget(self.caption_label)
        layout.addWidget(self.value_label)
        layout.addWidget(self.detail_label)
        self.state = ""
        self.set_state("normal")

    @property
    def caption(self) -> str:
        return self.caption_label.text()

    @property
    def value(self) -> str:
        return self.value_label.text()

    @property
    def detail(self) -> str:
        return self.detail_label.text()

    def set_values(self, value: str, detail: str | None = None, state: str | None = None) -> None:
        self.value_label.setText(value)
        if detail is not None:
            self.detail_label.setText(detail)
        if state is not None:
            self.set_state(state)

    def set_state(self, state: str) -> None:
        """``normal``, ``ok``, ``warning``, ``danger`` or ``muted``: the accent bar and figure colour.
        A no-op when the state is unchanged: each style sheet set re-polishes the card, which is
        what makes refreshing a row of cards slow."""
        if state == self.state:
            return
        self.state = state
        accent = _ACCENTS.get(state, _ACCENTS["normal"])
        # The theme's QFrame#card rule gives the surface; the left bar carries the state.
        self.setStyleSheet(f"QFrame#card {{ border-left: 4px solid {accent}; }}")
        colour = f"color: {accent};" if state in ("warning", "danger", "muted") else ""
        self.value_label.setStyleSheet(f"font-size: 17pt; font-weight: 600; {colour}")
