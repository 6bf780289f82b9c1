"""The Import statements dialog: pick or drop files, see what each one is, import them all.

Everything that touches a file or the database runs in the worker pool: format detection (and,
for CSV, the column profile), the preview of the first lines, the list of accounts, the import
itself (file by file, one transaction each) and the search-index catch-up afterwards. The
service's ``progress(lines_done)`` callback is called on the worker thread; it only emits a
signal, and the progress bar is moved on the GUI thread.

A file that is refused (a ``ValidationError`` naming file, line and field) is shown as refused
with those words and leaves nothing in the ledger; the other files go on. Cancel stops at the
next chunk of the file being imported (that file is rolled back as a whole) and skips the rest.

Keys: Enter imports, Esc closes (or cancels a running import first).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Sequence

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QFontDatabase
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox,
                               QFileDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                               QPlainTextEdit, QProgressBar, QPushButton, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from cio_desktop.errors import CioError, ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.ui.dialogs.common import (hint_label, inline_error, primary_button, show_status,
                                           status_label, title_label)
from cio_desktop.ui.widgets.format import muted_color, negative_color

log = logging.getLogger(__name__)

PREVIEW_LINES = 20
PREVIEW_BYTES = 64 * 1024
CSV_HEAD_BYTES = 256 * 1024  # what the CSV parser samples for detection
FILE_COLUMNS = ("File", "Format", "New", "Duplicates", "Result")
COL_FILE, COL_FORMAT, COL_NEW, COL_DUP, COL_RESULT = range(len(FILE_COLUMNS))
#: rough bytes per statement line, only to move the progress bar inside one file
_BYTES_PER_LINE = {"csv": 90, "mt940": 180, "bai2": 110, "ofx": 320, "camt053": 1400}
_FORMAT_NAMES = {"camt053": "camt.053", "mt940": "MT940", "bai2": "BAI2", "ofx": "OFX", "csv": "CSV"}


class ImportCancelled(CioError):
    """Raised from the progress callback: the file being imported is rolled back."""

    def __init__(self) -> None:
        super().__init__("cancelled: nothing from this file was imported")


# -- work done in the worker pool (no widgets here) ------------------------------------------------
@dataclass
class Detected:
    """What detection found out about one file (computed in the worker)."""

    format: str = ""
    error: str = ""
    profile: str = ""                       # CSV: the detected profile name
    has_account_column: bool | None = None  # CSV: None = unknown (detection failed)
    date_choices: tuple[str, ...] = ()      # CSV: the readings of an ambiguous date column
    size: int = 0
    lines: int = 0                          # CSV: physical lines (progress estimate)


def read_head(path: Path, limit: int = CSV_HEAD_BYTES) -> tuple[bytes, bool]:
    with path.open("rb") as fh:
        head = fh.read(limit + 1)
    return head[:limit], len(head) <= limit


def detect_file(path: Path) -> Detected:
    """Format, and for CSV the profile, the account column and an ambiguous date column."""
    from cio_desktop.integrations.statements import detect_format
    from cio_desktop.integrations.statements import csv_profiles as cp

    info = Detected()
    try:
        info.size = path.stat().st_size
        info.format = detect_format(path)
    except CioError as exc:
        info.error = str(exc)
        return info
    except OSError as exc:
        info.error = f"{path.name}: cannot read the file ({exc.strerror or exc})"
        return info
    if info.format != "csv":
        return info
    try:
        with path.open("rb") as fh:
            info.lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
        head, complete = read_head(path)
        profile = cp.detect_profile(head, path.name, complete=complete)
        info.profile = profile.name
        info.has_account_column = profile.account_column is not None
    except cp.CsvAmbiguityError as exc:
        info.date_choices = exc.choices
        try:  # the layout itself is known once a date format is settled
            profile = cp.detect_profile(head, path.name, complete=complete, date_format=exc.choices[0])
            info.profile = profile.name
            info.has_account_column = profile.account_column is not None
        except CioError:
            pass
    except CioError as exc:
        info.error = str(exc)  # the import would refuse it with the same words
    except OSError as exc:
        info.error = f"{path.name}: cannot read the file ({exc.strerror or exc})"
    return info


def decode_preview(data: bytes) -> str:
    """Bytes → text for the preview: BOM, else UTF-8, else Windows-1252 (never fails)."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start > len(data) - 4:  # a character cut by the sample's end
            return data[:exc.start].decode("utf-8")
    return data.decode("cp1252", errors="replace")


def read_preview(path: Path, lines: int = PREVIEW_LINES) -> str:
    with path.open("rb") as fh:
        data = fh.read(PREVIEW_BYTES)
    text = decode_preview(data)
    out = []
    for line in text.splitlines()[:lines]:
        line = "".join(c if c.isprintable() or c == "\t" else "·" for c in line)
        out.append(line if len(line) <= 400 else line[:400] + " …")
    return "\n".join(out)


def human_date_format(fmt: str) -> str:
    """``%d/%m/%Y`` → ``dd/mm/yyyy (3 April 2026 = 03/04/2026)``."""
    text = fmt
    for code, shown in (("%d", "dd"), ("%m", "mm"), ("%Y", "yyyy"), ("%y", "yy"), ("%b", "Mon"),
                        ("%B", "Month"), ("%H", "HH"), ("%M", "MM"), ("%S", "SS")):
        text = text.replace(code, shown)
    try:
        example = date(2026, 4, 3).strftime(fmt)
    except ValueError:
        return text
    return f"{text}   (3 April 2026 = {example})"


@dataclass
class ImportJob:
    """One file as the worker imports it (plain values, built on the GUI thread)."""

    index: int
    path: Path
    format: str
    account_id: int | None
    profile: str | None
    date_format: str | None
    estimate: int
    refusal: str = ""   # known before importing: refused without calling the service


def csv_profile_for(job: ImportJob) -> Any:
    """The ``profile`` argument for the service: None (auto), a built-in name, or a profile
    detected again with the date format the user chose."""
    from cio_desktop.integrations.statements import csv_profiles as cp

    if job.profile:
        if not job.date_format:
            return job.profile
        return dataclasses.replace(cp.get_profile(job.profile), date_formats=(job.date_format,))
    if job.date_format:
        head, complete = read_head(job.path)
        return cp.detect_profile(head, job.path.name, complete=complete, date_format=job.date_format)
    return None


# -- the dialog --------------------------------------------------------------------------------------
@dataclass
class ImportFile:
    path: Path
    detected: Detected | None = None   # None while detecting
    state: str = "pending"              # pending | importing | done | failed | cancelled
    result: Any = None                  # FileImportResult
    error: str = ""
    lines_done: int = 0

    @property
    def format(self) -> str:
        return self.detected.format if self.detected else ""


class _Relay(QObject):
    """Carries the worker's per-file progress to the GUI thread (queued signals)."""

    started = Signal(int)
    lines = Signal(int, int)
    finished = Signal(int, object, object)


@dataclass
class ImportSummary:
    files: int = 0
    imported: int = 0
    refused: int = 0
    cancelled: int = 0
    new: int = 0
    duplicates: int = 0
    indexed: int = 0
    index_error: str = ""
    messages: list[str] = field(default_factory=list)


class ImportDialog(QDialog):
    """File ▸ Import statements… (also opened by dropping files on the main window)."""

    #: emitted on the GUI thread when a run has ended (the summary)
    import_finished = Signal(object)

    def __init__(self, ui_ctx: Any, parent: QWidget | None = None, paths: Sequence[str | Path] = ()) -> None:
        super().__init__(parent)
        self.ui_ctx = ui_ctx
        session = ui_ctx.workspace.ctx.session
        self.allowed = bool(session and session.can(Permission.LEDGER_IMPORT))
        self.files: list[ImportFile] = []
        self.running = False
        self.summary: ImportSummary | None = None
        self._cancel = threading.Event()
        self._close_when_done = False
        self._preview_generation = 0
        self._relay = _Relay()  # no parent: it outlives the dialog while a worker still emits
        self._relay.started.connect(self._file_started)
        self._relay.lines.connect(self._file_lines)
        self._relay.finished.connect(self._file_finished)
        #: asks for files (tests replace it)
        self.pick_files: Callable[[], list[str]] = self._pick_files
        self.setObjectName("importDialog")
        self.setWindowTitle("Import statements")
        self.setAcceptDrops(True)
        self.setMinimumSize(880, 620)
        self.resize(1060, 760)
        self._build()
        self._load_accounts()
        self.add_files(paths)
        self._update_buttons()

    # -- construction ------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 18, 22, 14)
        layout.setSpacing(10)
        layout.addWidget(title_label("Import statements"))
        self.intro = hint_label("Add bank statement files (MT940, camt.053, OFX, BAI2 or CSV) with "
                                "“Add files…” or drop them here. Each file is imported as a whole or "
                                "not at all; lines already in the ledger are skipped.")
        layout.addWidget(self.intro)
        self.denied_label = status_label("warning")
        self.denied_label.setObjectName("importDenied")
        layout.addWidget(self.denied_label)
        if not self.allowed:
            show_status(self.denied_label, "Your role may not import statements (it needs the "
                        "'ledger.import' permission). Ask an administrator.", "warning")

        bar = QHBoxLayout()
        self.add_button = QPushButton("Add files…")
        self.add_button.setObjectName("importAddFiles")
        self.add_button.setAutoDefault(False)
        self.add_button.clicked.connect(self.add_files_clicked)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("importRemove")
        self.remove_button.setAutoDefault(False)
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button = QPushButton("Clear list")
        self.clear_button.setAutoDefault(False)
        self.clear_button.clicked.connect(self.clear_files)
        for b in (self.add_button, self.remove_button, self.clear_button):
            bar.addWidget(b)
        bar.addStretch(1)
        layout.addLayout(bar)

        self.table = QTableWidget(0, len(FILE_COLUMNS))
        self.table.setObjectName("importFiles")
        self.table.setHorizontalHeaderLabels(list(FILE_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(True)  # a refusal's file, line and field stay readable
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setMinimumHeight(150)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(COL_FILE, QHeaderView.ResizeMode.Interactive)
        for col in (COL_FORMAT, COL_NEW, COL_DUP):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_RESULT, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(COL_FILE, 230)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        header.sectionResized.connect(lambda *_: self.table.resizeRowsToContents())

        self.preview = QPlainTextEdit()
        self.preview.setObjectName("importPreview")
        self.preview.setReadOnly(True)
        self.preview.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.preview.setPlaceholderText("Select a file to see its first lines.")
        preview_box = QWidget()
        pv = QVBoxLayout(preview_box)
        pv.setContentsMargins(0, 4, 0, 0)
        pv.setSpacing(4)
        self.preview_title = hint_label(f"Preview (first {PREVIEW_LINES} lines)")
        pv.addWidget(self.preview_title)
        pv.addWidget(self.preview, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(preview_box)
        split.setChildrenCollapsible(False)
        split.setSizes([260, 200])
        layout.addWidget(split, 1)

        form = QFormLayout()
        form.setSpacing(8)
        self.account_combo = QComboBox()
        self.account_combo.setObjectName("importAccount")
        self.account_combo.addItem("None: the file names its account", None)
        self.account_combo.setMinimumContentsLength(40)
        self.account_combo.setToolTip("Used for CSV files that have no account column; the "
                                      "currency is then the account's.")
        self.account_combo.currentIndexChanged.connect(lambda _i: self._options_changed())
        form.addRow("Account for CSV files\nwithout an account column", self.account_combo)
        self.profile_combo = QComboBox()
        self.profile_combo.setObjectName("importProfile")
        self.profile_combo.addItem("Auto-detect", None)
        try:
            from cio_desktop.integrations.statements.csv_profiles import BUILTIN_PROFILES

            for name, prof in BUILTIN_PROFILES.items():
                self.profile_combo.addItem(name, name)
                self.profile_combo.setItemData(self.profile_combo.count() - 1, prof.bank,
                                               Qt.ItemDataRole.ToolTipRole)
        except ImportError:  # pragma: no cover - the CSV parser is part of the package
            pass
        self.profile_combo.currentIndexChanged.connect(lambda _i: self._options_changed())
        form.addRow("CSV profile", self.profile_combo)
        self.date_combo = QComboBox()
        self.date_combo.setObjectName("importDateFormat")
        self.date_label = QLabel("CSV date format")
        form.addRow(self.date_label, self.date_combo)
        self.date_combo.currentIndexChanged.connect(lambda _i: self._options_changed())
        self.form = form
        layout.addLayout(form)
        self._set_date_choices(())

        self.progress = QProgressBar()
        self.progress.setObjectName("importProgress")
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        layout.addWidget(self.progress)
        self.status = status_label("ok")
        self.status.setObjectName("importStatus")
        layout.addWidget(self.status)

        self.buttons = QDialogButtonBox()
        self.import_button = primary_button("Import")
        self.import_button.setObjectName("importStart")
        self.import_button.setDefault(True)
        self.import_button.setAutoDefault(True)
        self.close_button = QPushButton("Close")
        self.close_button.setObjectName("importClose")
        self.close_button.setAutoDefault(False)
        self.buttons.addButton(self.import_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.accepted.connect(self.start_import)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    # -- files ------------------------------------------------------------------------------------------
    def _pick_files(self) -> list[str]:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Add statement files", "",
            "Statement files (*.sta *.fin *.mt940 *.940 *.txt *.xml *.ofx *.qfx *.bai *.bai2 *.csv);;"
            "All files (*)")
        return list(paths)

    def add_files_clicked(self) -> None:
        self.add_files(self.pick_files())

    def add_files(self, paths: Sequence[str | Path]) -> int:
        """Add files (duplicates and folders ignored); detection runs in the worker."""
        if self.running:
            self.ui_ctx.status("wait for the running import to finish before adding files")
            return 0
        known = {f.path for f in self.files}
        added: list[ImportFile] = []
        skipped = 0
        for raw in paths:
            path = Path(raw).expanduser()
            try:
                path = path.resolve()
            except OSError:
                pass
            if path in known:
                continue
            if not path.is_file():
                skipped += 1
                continue
            entry = ImportFile(path)
            self.files.append(entry)
            known.add(path)
            added.append(entry)
        for entry in added:
            self._append_row(entry)
        for entry in added:
            self._detect(entry)
        if skipped:
            self.ui_ctx.status(f"{skipped} item{'s' if skipped != 1 else ''} skipped: not a file")
        if added and not self.table.selectedItems():
            self.table.selectRow(self.files.index(added[0]))
        if added:
            self.close_button.setDefault(False)
            self.import_button.setDefault(True)
        self._update_buttons()
        return len(added)

    def _detect(self, entry: ImportFile) -> None:
        path = entry.path

        def done(info: Detected) -> None:
            if entry in self.files:
                entry.detected = info
                self._refresh_date_choices()
                self._refresh_rows()

        def failed(exc: BaseException) -> None:
            if entry in self.files:
                entry.detected = Detected(error=inline_error(self.ui_ctx, exc))
                self._refresh_rows()

        self.ui_ctx.workers.run(lambda: detect_file(path), done, failed)

    def remove_selected(self) -> None:
        if self.running:
            return
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        for r in rows:
            del self.files[r]
            self.table.removeRow(r)
        self._refresh_date_choices()
        self._update_buttons()

    def clear_files(self) -> None:
        if self.running:
            return
        self.files.clear()
        self.table.setRowCount(0)
        self.preview.clear()
        self.progress.setValue(0)
        show_status(self.status, "")
        self._refresh_date_choices()
        self._update_buttons()

    # -- drag and drop ----------------------------------------------------------------------------------
    @staticmethod
    def local_paths(event: QDragEnterEvent | QDropEvent) -> list[str]:
        mime = event.mimeData()
        if mime is None or not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if self.allowed and not self.running and self.local_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        if self.allowed and not self.running and self.local_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        paths = self.local_paths(event)
        if not paths or not self.allowed or self.running:
            event.ignore()
            return
        event.acceptProposedAction()
        self.add_files(paths)

    # -- the table --------------------------------------------------------------------------------------
    def _append_row(self, entry: ImportFile) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        for col in range(len(FILE_COLUMNS)):
            item = QTableWidgetItem("")
            if col in (COL_NEW, COL_DUP):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, col, item)
        self.table.item(row, COL_FILE).setText(entry.path.name)
        self.table.item(row, COL_FILE).setToolTip(str(entry.path))
        self._fill_row(row)

    def _options_changed(self) -> None:
        """Another account, profile or date format: refused and cancelled files get another go."""
        if self.running:
            return
        for f in self.files:
            if f.state in ("failed", "cancelled"):
                f.state, f.error = "pending", ""
        self._refresh_rows()

    def _refresh_rows(self) -> None:
        for row in range(min(len(self.files), self.table.rowCount())):
            self._fill_row(row)
        self._update_buttons()

    def _fill_row(self, row: int) -> None:
        entry = self.files[row]
        info = entry.detected
        fmt_item = self.table.item(row, COL_FORMAT)
        if fmt_item is None:  # the row is being added
            return
        if info is None:
            fmt_item.setText("detecting…")
        elif info.format:
            text = _FORMAT_NAMES.get(info.format, info.format)
            if info.format == "csv" and info.profile:
                text += f" ({info.profile.removeprefix('auto:') or 'auto'})"
            fmt_item.setText(text)
        else:
            fmt_item.setText("not recognised")
        new_item, dup_item = self.table.item(row, COL_NEW), self.table.item(row, COL_DUP)
        result = entry.result
        new_item.setText(f"{result.new:,}" if result is not None else "")
        dup_item.setText(f"{result.duplicates:,}" if result is not None else "")
        text, kind = self._row_result(entry)
        item = self.table.item(row, COL_RESULT)
        changed = item.text() != text
        item.setText(text)
        item.setToolTip(text)
        if kind == "error":
            item.setForeground(negative_color())
        elif kind == "muted":
            item.setForeground(muted_color())
        else:
            item.setForeground(self.palette().text())
        if changed:
            self.table.resizeRowToContents(row)

    def _row_result(self, entry: ImportFile) -> tuple[str, str]:
        info = entry.detected
        if entry.state == "done" and entry.result is not None:
            r = entry.result
            parts = [f"imported: {r.new:,} new line{'s' if r.new != 1 else ''}"]
            if r.created_accounts:
                parts.append(f"new account{'s' if len(r.created_accounts) != 1 else ''} "
                             f"{', '.join(r.created_accounts)}")
            parts += r.warnings
            return "; ".join(parts), "normal"
        if entry.state == "failed":
            return f"refused — {entry.error}", "error"
        if entry.state == "cancelled":
            return entry.error or "not imported (cancelled)", "muted"
        if entry.state == "importing":
            return f"importing… {entry.lines_done:,} lines" if entry.lines_done else "importing…", "muted"
        if info is None:
            return "", "muted"
        if info.error:
            return f"will be refused — {info.error}", "error"
        if info.format == "csv":
            if self._needs_date_format(entry):
                return "dates are ambiguous: choose the CSV date format below", "error"
            if self._needs_account(entry):
                return "no account column: choose an account below", "error"
        return "ready", "muted"

    # -- CSV options -------------------------------------------------------------------------------------
    def _chosen_profile(self) -> str | None:
        return self.profile_combo.currentData()

    def _chosen_date_format(self) -> str | None:
        return self.date_combo.currentData() if not self.date_combo.isHidden() else None

    def _chosen_account(self) -> int | None:
        return self.account_combo.currentData()

    def _has_account_column(self, entry: ImportFile) -> bool | None:
        name = self._chosen_profile()
        if name:
            from cio_desktop.integrations.statements.csv_profiles import BUILTIN_PROFILES

            prof = BUILTIN_PROFILES.get(name)
            return None if prof is None else prof.account_column is not None
        return entry.detected.has_account_column if entry.detected else None

    def _needs_account(self, entry: ImportFile) -> bool:
        return self._has_account_column(entry) is False and self._chosen_account() is None

    def _needs_date_format(self, entry: ImportFile) -> bool:
        info = entry.detected
        return bool(info and info.date_choices and not self._chosen_profile()
                    and not self._chosen_date_format())

    def _refresh_date_choices(self) -> None:
        choices: list[str] = []
        for f in self.files:
            if f.detected:
                choices += [c for c in f.detected.date_choices if c not in choices]
        self._set_date_choices(tuple(choices))

    def _set_date_choices(self, choices: tuple[str, ...]) -> None:
        current = self.date_combo.currentData()
        existing = tuple(self.date_combo.itemData(i) for i in range(1, self.date_combo.count()))
        if existing != choices or self.date_combo.count() == 0:
            self.date_combo.blockSignals(True)
            self.date_combo.clear()
            self.date_combo.addItem("Choose how to read dates like 03/04/2026…", None)
            for c in choices:
                self.date_combo.addItem(human_date_format(c), c)
            index = self.date_combo.findData(current) if current else 0
            self.date_combo.setCurrentIndex(max(index, 0))
            self.date_combo.blockSignals(False)
        self.form.setRowVisible(self.date_combo, bool(choices))

    def choose_date_format(self, fmt: str) -> bool:
        index = self.date_combo.findData(fmt)
        if index < 0:
            return False
        self.date_combo.setCurrentIndex(index)
        return True

    def choose_account(self, account_id: int | None) -> bool:
        index = self.account_combo.findData(account_id)
        if index < 0:
            return False
        self.account_combo.setCurrentIndex(index)
        return True

    def choose_profile(self, name: str | None) -> bool:
        index = self.profile_combo.findData(name)
        if index < 0:
            return False
        self.profile_combo.setCurrentIndex(index)
        return True

    def _load_accounts(self) -> None:
        session = self.ui_ctx.workspace.ctx.session
        if not (session and session.can(Permission.ACCOUNTS_READ)):
            return
        accounts = self.ui_ctx.workspace.accounts

        def done(views: list) -> None:
            keep = self._chosen_account()
            self.account_combo.blockSignals(True)
            while self.account_combo.count() > 1:
                self.account_combo.removeItem(1)
            for a in views:
                self.account_combo.addItem(f"{a.institution} · {a.name} · {a.number_masked} ({a.currency})", a.id)
            index = self.account_combo.findData(keep) if keep is not None else 0
            self.account_combo.setCurrentIndex(max(index, 0))
            self.account_combo.blockSignals(False)

        self.ui_ctx.workers.run(accounts.list_accounts, done,
                                lambda exc: log.warning("import dialog: accounts not loaded: %s", exc))

    # -- preview ----------------------------------------------------------------------------------------
    def _selection_changed(self) -> None:
        self._update_buttons()
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        if not rows or rows[0] >= len(self.files):
            return
        self.show_preview(rows[0])

    def show_preview(self, row: int) -> None:
        self._preview_generation += 1
        generation = self._preview_generation
        path = self.files[row].path
        self.preview_title.setText(f"Preview of {path.name} (first {PREVIEW_LINES} lines)")

        def done(text: str) -> None:
            if generation == self._preview_generation:
                self.preview.setPlainText(text)

        def failed(exc: BaseException) -> None:
            if generation == self._preview_generation:
                reason = getattr(exc, "strerror", None) or str(exc)
                self.preview.setPlainText(f"cannot read {path.name}: {reason}")

        self.ui_ctx.workers.run(lambda: read_preview(path), done, failed)

    # -- importing --------------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        idle = not self.running
        detecting = any(f.detected is None for f in self.files)
        self.import_button.setEnabled(self.allowed and idle and bool(self.files) and not detecting)
        self.add_button.setEnabled(self.allowed and idle)
        self.remove_button.setEnabled(idle and bool(self.table.selectedIndexes()))
        self.clear_button.setEnabled(idle and bool(self.files))
        for combo in (self.account_combo, self.profile_combo, self.date_combo):
            combo.setEnabled(self.allowed and idle)
        self.close_button.setText("Cancel" if self.running else "Close")
        self.setAcceptDrops(self.allowed and idle)

    def _jobs(self) -> list[ImportJob]:
        account, profile, date_format = self._chosen_account(), self._chosen_profile(), self._chosen_date_format()
        jobs = []
        for i, f in enumerate(self.files):
            info = f.detected or Detected()
            is_csv = info.format == "csv"
            use_account = account if is_csv and self._has_account_column(f) is not True else None
            per_line = _BYTES_PER_LINE.get(info.format, 200)
            estimate = max(info.lines - 1, 1) if is_csv and info.lines else max(info.size // per_line, 1)
            refusal = ""
            if is_csv and self._needs_date_format(f):
                refusal = "the dates can be read two ways (day/month or month/day): choose the CSV date format"
            elif is_csv and self._needs_account(f):
                refusal = "the file has no account column: choose the account it belongs to"
            jobs.append(ImportJob(i, f.path, info.format or "auto", use_account,
                                  profile if is_csv else None,
                                  date_format if is_csv and date_format in info.date_choices else None,
                                  estimate, refusal))
        return jobs

    def start_import(self) -> None:
        """Import every listed file, one by one, in the worker pool (Enter, or the Import button)."""
        if self.running or not self.allowed or not self.files:
            return
        if any(f.detected is None for f in self.files):
            self.ui_ctx.status("still looking at the files; try again in a moment")
            return
        jobs = self._jobs()
        for f in self.files:
            f.state, f.result, f.error, f.lines_done = "pending", None, "", 0
        self._refresh_rows()
        self.running = True
        self._cancel.clear()
        self._close_when_done = False
        self.summary = ImportSummary(files=len(jobs))
        self.close_button.setDefault(False)
        self.import_button.setDefault(True)
        self.progress.setValue(0)
        show_status(self.status, f"Importing {len(jobs)} file{'s' if len(jobs) != 1 else ''}…", "ok")
        self._update_buttons()
        ws, relay, cancel = self.ui_ctx.workspace, self._relay, self._cancel

        def work() -> tuple[int, str]:
            return run_import(ws, jobs, relay, cancel)

        self.ui_ctx.workers.run(work, self._all_done, self._run_failed)

    def cancel_import(self) -> None:
        if self.running:
            self._cancel.set()
            show_status(self.status, "Cancelling: the file being imported is rolled back, the rest "
                        "are skipped…", "warning")

    def _file_started(self, index: int) -> None:
        if 0 <= index < len(self.files):
            self.files[index].state = "importing"
            self._fill_row(index)
            self._set_progress(index, 0.0)

    def _file_lines(self, index: int, lines: int) -> None:
        if 0 <= index < len(self.files):
            entry = self.files[index]
            entry.lines_done = lines
            self._fill_row(index)
            jobs_estimate = max(self._estimate(entry), 1)
            self._set_progress(index, min(0.95, lines / jobs_estimate))

    def _estimate(self, entry: ImportFile) -> int:
        info = entry.detected or Detected()
        if info.format == "csv" and info.lines:
            return max(info.lines - 1, 1)
        return max(info.size // _BYTES_PER_LINE.get(info.format, 200), 1)

    def _set_progress(self, index: int, fraction: float) -> None:
        total = max(len(self.files), 1)
        value = int(100 * (index + fraction) / total)
        self.progress.setValue(max(self.progress.value(), min(value, 99)))

    def _file_finished(self, index: int, result: Any, exc: BaseException | None) -> None:
        if not 0 <= index < len(self.files):
            return
        entry = self.files[index]
        summary = self.summary or ImportSummary()
        if exc is None and result is not None:
            entry.state, entry.result = "done", result
            summary.imported += 1
            summary.new += result.new
            summary.duplicates += result.duplicates
        elif isinstance(exc, ImportCancelled):
            entry.state, entry.error = "cancelled", str(exc)
            summary.cancelled += 1
        else:
            entry.state, entry.error = "failed", plain_error(self.ui_ctx, exc)
            summary.refused += 1
            summary.messages.append(entry.error if entry.path.name in entry.error
                                    else f"{entry.path.name}: {entry.error}")
        self._fill_row(index)
        self._set_progress(index, 1.0)

    def _all_done(self, outcome: tuple[int, str]) -> None:
        indexed, index_error = outcome
        summary = self.summary or ImportSummary()
        summary.indexed, summary.index_error = indexed, index_error
        self._finish(summary)

    def _run_failed(self, exc: BaseException) -> None:
        summary = self.summary or ImportSummary()
        summary.messages.append(plain_error(self.ui_ctx, exc))
        self._finish(summary)

    def _finish(self, summary: ImportSummary) -> None:
        self.running = False
        for i, f in enumerate(self.files):
            if f.state in ("pending", "importing"):
                f.state, f.error = "cancelled", "not imported (cancelled)"
                summary.cancelled += 1
                self._fill_row(i)
        self.progress.setValue(100)
        text = summary_text(summary)
        kind = "ok" if not summary.refused and not summary.cancelled else "warning"
        if summary.imported == 0 and summary.refused:
            kind = "error"
        show_status(self.status, text, kind)
        self.ui_ctx.status(text.split("\n")[0])
        self._update_buttons()
        # done: Enter now closes (Import stays available for a deliberate second run)
        self.import_button.setDefault(False)
        self.close_button.setDefault(True)
        self.close_button.setFocus()
        self._load_accounts()  # an import may have created accounts
        self.import_finished.emit(summary)
        if self._close_when_done:
            super().reject()

    # -- closing ----------------------------------------------------------------------------------------
    def reject(self) -> None:
        """Esc / Close; while importing: Cancel (the dialog stays to show what happened)."""
        if self.running:
            self.cancel_import()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self.running:
            self._close_when_done = True
            self.cancel_import()
            event.ignore()
            return
        super().closeEvent(event)


def run_import(ws: Any, jobs: list[ImportJob], relay: _Relay, cancel: threading.Event) -> tuple[int, str]:
    """The worker side: import each file (its own transaction), then catch the search index up.

    Returns (lines indexed, index error). Per-file outcomes travel by ``relay`` signals."""
    from cio_desktop.storage import search_index

    imported = False
    for job in jobs:
        if cancel.is_set():
            relay.finished.emit(job.index, None, ImportCancelled())
            continue
        relay.started.emit(job.index)
        if job.refusal:
            relay.finished.emit(job.index, None, ValidationError(
                job.refusal, source=job.path.name, field="date format" if "date" in job.refusal else "account"))
            continue

        def progress(lines: int, index: int = job.index) -> None:
            if cancel.is_set():
                raise ImportCancelled()
            relay.lines.emit(index, int(lines))

        try:
            profile = csv_profile_for(job) if job.format == "csv" else None
            result = ws.imports.import_file(job.path, fmt=job.format, account_id=job.account_id,
                                            profile=profile, progress=progress)
        except Exception as exc:  # noqa: BLE001 - reported per file, the others go on
            if not isinstance(exc, CioError):
                log.exception("import of %s failed", job.path.name)
            relay.finished.emit(job.index, None, exc)
            continue
        imported = imported or result.new > 0
        relay.finished.emit(job.index, result, None)
    if not imported:
        return 0, ""
    try:
        return search_index.catch_up(ws.db), ""
    except Exception as exc:  # noqa: BLE001 - the lines are in; search catches up later
        log.warning("search index catch-up after import failed: %s", exc)
        return 0, str(exc)


def plain_error(ui_ctx: Any, exc: BaseException | None) -> str:
    """An import error in plain words (file, line and field come from the error itself)."""
    if exc is None:
        return "unknown error"
    return inline_error(ui_ctx, exc)


def summary_text(summary: ImportSummary) -> str:
    parts = []
    if summary.imported:
        parts.append(f"{summary.imported} file{'s' if summary.imported != 1 else ''} imported: "
                     f"{summary.new:,} new line{'s' if summary.new != 1 else ''}, "
                     f"{summary.duplicates:,} already in the ledger")
    if summary.refused:
        parts.append(f"{summary.refused} refused (nothing from {'them' if summary.refused > 1 else 'it'} "
                     "was imported)")
    if summary.cancelled:
        parts.append(f"{summary.cancelled} not imported (cancelled)")
    if not parts:
        parts.append("nothing imported")
    if summary.index_error:
        parts.append("search index will catch up later")
    text = "; ".join(parts) + "."
    if summary.messages:
        shown = summary.messages[:3]
        more = len(summary.messages) - len(shown)
        text += "\n" + "\n".join(f"• {m}" for m in shown) + (f"\n• … and {more} more" if more > 0 else "")
    return text
