"""Board pack dialog: choose sections, period, format, audience and masking; export with progress.

The export runs in the worker pool (``ReportingService.export_board_pack``) and reports its
progress through a signal; an unmasked pack asks for a fresh two-factor code first
(``run_sensitive``). When done the file opens in the system viewer (``opener``: replaced in tests).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QLineEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget)

from cio_desktop.reports import EXTENSIONS
from cio_desktop.security.permissions import Permission
from cio_desktop.services.reporting import SECTIONS, ExportSummary, parse_period
from cio_desktop.ui.dialogs.common import (hint_label, inline_error, primary_button, show_status, status_label,
                                           title_label)

FORMATS = (("PDF document", "pdf"), ("Excel workbook", "xlsx"), ("CSV files (zip)", "csv"))


def _open_file(path: str) -> None:
    QDesktopServices.openUrl(QUrl.fromLocalFile(path))


class _Progress(QObject):
    """Carries progress from the worker thread to the GUI thread."""

    changed = Signal(float, str)


def period_choices(today: date) -> list[tuple[str, str]]:
    last = parse_period("", today)
    q = (today.month - 1) // 3  # the last full quarter
    qy, qn = (today.year, q) if q else (today.year - 1, 4)
    return [(f"Last month ({last.label})", ""), ("Month to date", "mtd"), (f"Q{qn} {qy}", f"{qy}-Q{qn}"),
            ("Year to date", "ytd"), (f"Year {today.year - 1}", str(today.year - 1))]


class BoardPackDialog(QDialog):
    #: the export finished (the summary) — for the caller and tests
    exported = Signal(object)

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.opener: Callable[[str], None] = _open_file
        self.result: ExportSummary | None = None
        self.setObjectName("boardPackDialog")
        self.setWindowTitle("Board pack")
        self.setMinimumWidth(560)
        session = app.workspace.ctx.session
        root = QVBoxLayout(self)
        root.addWidget(title_label("Board pack"))
        root.addWidget(hint_label("Choose what goes into the pack, for which period, and how to write it. "
                                  "Sections without data say so in the pack."))

        content = QGroupBox("1 · Sections")
        grid = QGridLayout(content)
        self.section_boxes: dict[str, QCheckBox] = {}
        for i, (key, (title, perm)) in enumerate(SECTIONS.items()):
            box = QCheckBox(title)
            box.setObjectName(f"section_{key}")
            allowed = bool(session and session.can(perm))
            box.setChecked(allowed)
            box.setEnabled(allowed)
            if not allowed:
                box.setToolTip("not visible to your role")
            self.section_boxes[key] = box
            grid.addWidget(box, i // 3, i % 3)
        root.addWidget(content)

        options = QGroupBox("2 · Period and audience")
        form = QFormLayout(options)
        self.period = QComboBox()
        self.period.setObjectName("period")
        self.period.setEditable(True)
        for label, value in period_choices(app.workspace.ctx.now().date()):
            self.period.addItem(label, value)
        self.period.setToolTip("or type 2026-10, 2026-Q3, 2026, 2026-10-01..2026-10-31")
        form.addRow("Period", self.period)
        self.audience = QLineEdit("Board of directors")
        self.audience.setObjectName("audience")
        form.addRow("Prepared for", self.audience)
        self.masked = QCheckBox("Mask account numbers")
        self.masked.setObjectName("masked")
        self.masked.setChecked(True)
        can_unmask = bool(session and session.can(Permission.EXPORT_UNMASKED))
        self.masked.setEnabled(can_unmask)
        self.masked.setToolTip("Full numbers need the export-unmasked permission and a two-factor code"
                               if can_unmask else "your role exports masked numbers only")
        form.addRow("", self.masked)
        root.addWidget(options)

        output = QGroupBox("3 · Output")
        out_form = QFormLayout(output)
        self.format = QComboBox()
        self.format.setObjectName("format")
        for label, value in FORMATS:
            self.format.addItem(label, value)
        self.format.currentIndexChanged.connect(self._format_changed)
        out_form.addRow("Format", self.format)
        row = QHBoxLayout()
        self.path = QLineEdit(str(Path.home() / f"board-pack{EXTENSIONS['pdf']}"))
        self.path.setObjectName("path")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        out_form.addRow("File", row)
        self.open_when_done = QCheckBox("Open the file when done")
        self.open_when_done.setChecked(True)
        out_form.addRow("", self.open_when_done)
        root.addWidget(output)

        self.progress = QProgressBar()
        self.progress.setObjectName("progress")
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat("%p % — ready")
        root.addWidget(self.progress)
        self.status = status_label()
        root.addWidget(self.status)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        self.export_button = primary_button("Export")
        self.export_button.setObjectName("exportButton")
        self.export_button.clicked.connect(self.start)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.export_button)
        root.addLayout(buttons)
        self._progress = _Progress(self)
        self._progress.changed.connect(self._show_progress)

    # -- inputs ----------------------------------------------------------------------------------
    def chosen_sections(self) -> list[str]:
        return [k for k, b in self.section_boxes.items() if b.isChecked() and b.isEnabled()]

    def period_text(self) -> str:
        i = self.period.currentIndex()
        if i >= 0 and self.period.currentText() == self.period.itemText(i):
            return str(self.period.itemData(i) or "")
        return self.period.currentText().strip()

    def _format_changed(self) -> None:
        fmt = self.format.currentData()
        p = Path(self.path.text() or "board-pack")
        self.path.setText(str(p.with_suffix(EXTENSIONS[fmt])))

    def _browse(self) -> None:
        fmt = self.format.currentData()
        ext = EXTENSIONS[fmt]
        name, _ = QFileDialog.getSaveFileName(self, "Save board pack", self.path.text(), f"*{ext}")
        if name:
            self.path.setText(name if name.endswith(ext) else name + ext)

    # -- export ----------------------------------------------------------------------------------
    def start(self) -> None:
        sections = self.chosen_sections()
        if not sections:
            show_status(self.status, "Choose at least one section.")
            return
        if not self.path.text().strip():
            show_status(self.status, "Choose a file to write.")
            return
        show_status(self.status, "")
        self.export_button.setEnabled(False)
        self.progress.setValue(0)
        self.progress.setFormat("%p % — starting")
        svc = self.app.workspace.reporting
        fmt, path, period = self.format.currentData(), self.path.text().strip(), self.period_text()
        audience, masked = self.audience.text().strip(), self.masked.isChecked()
        emit = self._progress.changed.emit

        def work() -> ExportSummary:
            return svc.export_board_pack(fmt, path, period=period, sections=sections, audience=audience,
                                         masked=masked, progress=lambda f, m: emit(f, m))

        if masked:
            self.app.workers.run(work, self._done, self._failed)
        else:
            from cio_desktop.ui.dialogs.mfa import run_sensitive

            run_sensitive(self.app, self, work, self._done, self._failed, on_cancel=self._cancelled)

    def _show_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(round(fraction * 100)))
        self.progress.setFormat(f"%p % — {message}")

    def _done(self, result: ExportSummary) -> None:
        self.result = result
        self.export_button.setEnabled(True)
        self.progress.setValue(100)
        self.progress.setFormat("%p % — done")
        note = f"Written to {result.path}."
        if result.missing:
            note += " No data for: " + ", ".join(t for t, _r in result.missing) + "."
        show_status(self.status, note, "ok")
        self.app.status(f"board pack written to {result.path}")
        self.exported.emit(result)
        if self.open_when_done.isChecked():
            self.opener(result.path)

    def _failed(self, exc: BaseException) -> None:
        self.export_button.setEnabled(True)
        self.progress.setValue(0)
        self.progress.setFormat("%p % — failed")
        show_status(self.status, inline_error(self.app, exc))

    def _cancelled(self) -> None:
        self.export_button.setEnabled(True)
        self.progress.setFormat("%p % — cancelled")
