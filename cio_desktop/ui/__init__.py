"""The Qt layer: thin, replaceable, and the only place that imports PySide6."""
