"""The Qt layer: thin, replaceable, and the only place that imports PySide6."""

from cio_desktop.ui.qt_compat import pin_singletons as _pin_singletons

_pin_singletons()  # PySide6 6.12 + CPython 3.11 refcount bug: see ui/qt_compat.py
