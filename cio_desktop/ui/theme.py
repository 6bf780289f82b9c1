"""Light and dark themes: a Fusion palette plus a Qt style sheet, switched at run time.

The style sheets live in ``resources/styles/<name>.qss`` (repository) and are shipped as package
data in ``cio_desktop/resources/<name>.qss`` (the copy that is loaded first; a test keeps the two
identical). Style hooks any widget may use:

- ``QLabel#panelTitle`` — a panel's heading; ``QLabel[hint="true"]`` — muted explanatory text;
  ``QLabel[error="true"]`` — an inline error; ``QLabel[ok="true"]`` — an inline confirmation;
- ``QPushButton[primary="true"]`` — the one main action of a dialog or form;
- ``QFrame#card`` — a raised surface; ``QListWidget#sidebar`` — the navigation list.

The user's choice is remembered in the UI preferences file (``ui_prefs``), which lives in the
configured config dir, so tests and portable installs never touch the real user profile.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

from cio_desktop.config import Settings

log = logging.getLogger(__name__)

THEMES = ("light", "dark")
_PACKAGE_DIR = Path(__file__).resolve().parents[1] / "resources"
_REPO_DIR = Path(__file__).resolve().parents[2] / "resources" / "styles"

# Palette colours matching the style sheets (widgets the sheet does not cover still fit in).
_PALETTES = {
    "light": {"window": "#f4f5f7", "base": "#ffffff", "alt": "#f8f9fb", "text": "#1f2933",
              "muted": "#66727f", "button": "#ffffff", "highlight": "#2563eb",
              "highlighted_text": "#ffffff", "tooltip": "#1f2933", "tooltip_text": "#ffffff",
              "link": "#1d4ed8"},
    "dark": {"window": "#1c1f24", "base": "#23272e", "alt": "#282d35", "text": "#e3e6ea",
             "muted": "#9aa4ae", "button": "#2b3038", "highlight": "#3b82f6",
             "highlighted_text": "#ffffff", "tooltip": "#e3e6ea", "tooltip_text": "#1c1f24",
             "link": "#7aa7ff"},
}


def ui_prefs(settings: Settings) -> QSettings:
    """UI preferences (theme, window geometry, last panel) in ``<config dir>/ui.ini``."""
    settings.config_dir.mkdir(parents=True, exist_ok=True)
    return QSettings(str(settings.config_dir / "ui.ini"), QSettings.Format.IniFormat)


def stylesheet_path(name: str) -> Path:
    if name not in THEMES:
        raise ValueError(f"unknown theme '{name}': use {' or '.join(THEMES)}")
    for candidate in (_PACKAGE_DIR / f"{name}.qss", _REPO_DIR / f"{name}.qss"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"style sheet for theme '{name}' is missing")


def load_stylesheet(name: str) -> str:
    """The theme's style sheet, with ``{resources}`` (where its images live, e.g. the spin box
    arrows) replaced by the package's resources folder."""
    return stylesheet_path(name).read_text(encoding="utf-8").replace("{resources}", _PACKAGE_DIR.as_posix())


def build_palette(name: str) -> QPalette:
    c = {k: QColor(v) for k, v in _PALETTES[name].items()}
    p = QPalette()
    R = QPalette.ColorRole
    p.setColor(R.Window, c["window"])
    p.setColor(R.WindowText, c["text"])
    p.setColor(R.Base, c["base"])
    p.setColor(R.AlternateBase, c["alt"])
    p.setColor(R.Text, c["text"])
    p.setColor(R.Button, c["button"])
    p.setColor(R.ButtonText, c["text"])
    p.setColor(R.BrightText, QColor("#ff5c5c"))
    p.setColor(R.Highlight, c["highlight"])
    p.setColor(R.HighlightedText, c["highlighted_text"])
    p.setColor(R.ToolTipBase, c["tooltip"])
    p.setColor(R.ToolTipText, c["tooltip_text"])
    p.setColor(R.PlaceholderText, c["muted"])
    p.setColor(R.Link, c["link"])
    for role in (R.WindowText, R.Text, R.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, c["muted"])
    return p


class ThemeManager(QObject):
    """Applies a theme to the whole application and remembers the choice."""

    changed = Signal(str)

    def __init__(self, app: QApplication, prefs: QSettings | None = None) -> None:
        super().__init__()
        self._app = app
        self._prefs = prefs
        self.current = ""
        fusion = QStyleFactory.create("Fusion")
        if fusion is not None:
            app.setStyle(fusion)

    def saved(self, default: str) -> str:
        value = str(self._prefs.value("theme", default)) if self._prefs is not None else default
        return value if value in THEMES else default

    def apply(self, name: str, *, remember: bool = True) -> None:
        if name not in THEMES:
            raise ValueError(f"unknown theme '{name}'")
        self._app.setPalette(build_palette(name))
        self._app.setStyleSheet(load_stylesheet(name))
        self.current = name
        if remember and self._prefs is not None:
            self._prefs.setValue("theme", name)
            self._prefs.sync()
        log.info("theme set to %s", name)
        self.changed.emit(name)

    def toggle(self) -> str:
        self.apply("dark" if self.current == "light" else "light")
        return self.current
