"""The Import statements dialog over a real encrypted database (workers run at once, offscreen;
one test runs the real thread pool)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QDialog
from sqlalchemy import func, select

from cio_desktop.storage.models import Transaction
from cio_desktop.ui.dialogs.import_dialog import (COL_DUP, COL_FILE, COL_FORMAT, COL_NEW, COL_RESULT,
                                                  ImportDialog, decode_preview, human_date_format)
from cio_desktop.ui.main_window import MainWindow
from cio_desktop.ui.panels.ledger import LedgerPanel
from cio_desktop.ui.widgets.format import negative_color
from cio_desktop.ui.workers import WorkerPool
from tests.conftest import login
from tests.ui.shell_helpers import make_prefs, make_ui

DATA = Path(__file__).resolve().parents[1] / "data" / "statements"
MT940 = DATA / "mt940" / "nl_abnamro_sepa.sta"
CAMT = DATA / "camt" / "camt053_v08.xml"
OFX = DATA / "ofx" / "bank_102_sgml_cp1252.ofx"
BAI2 = DATA / "bai2" / "bai2_multi.bai"
CSV_NO_ACCOUNT = DATA / "csv" / "de_betrag_soll_haben.csv"


def ledger_count(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(Transaction)).scalar_one()


@pytest.fixture
def ui(ws):  # noqa: ANN001, ANN201
    login(ws, "treasurer")
    return make_ui(ws)


@pytest.fixture
def eur_account(ws, ui):  # noqa: ANN001, ANN201
    return ws.accounts.create_account(name="Operating", institution="Test Bank",
                                      number="DE89370400440532013000", currency="EUR")


def open_dialog(qtbot, ui, paths=()) -> ImportDialog:  # noqa: ANN001
    dialog = ImportDialog(ui, None, paths)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def cell(dialog: ImportDialog, row: int, col: int) -> str:
    return dialog.table.item(row, col).text()


def row_of(dialog: ImportDialog, name: str) -> int:
    return next(i for i, f in enumerate(dialog.files) if f.path.name == name)


def test_every_format_imports_with_per_file_results(qtbot, ws, ui, eur_account) -> None:  # noqa: ANN001
    events: list = []
    ws.ctx.bus.subscribe("ledger.changed", events.append)
    files = [MT940, CAMT, OFX, BAI2, CSV_NO_ACCOUNT]
    dialog = open_dialog(qtbot, ui, files)
    assert [cell(dialog, r, COL_FILE) for r in range(5)] == [p.name for p in files]
    formats = [cell(dialog, r, COL_FORMAT) for r in range(5)]
    assert formats[:4] == ["MT940", "camt.053", "OFX", "BAI2"]
    assert formats[4].startswith("CSV")
    # the CSV file has no account column: the dialog says so before anything is imported
    csv_row = row_of(dialog, CSV_NO_ACCOUNT.name)
    assert "choose an account" in cell(dialog, csv_row, COL_RESULT)
    assert dialog.choose_account(eur_account.id)
    assert cell(dialog, csv_row, COL_RESULT) == "ready"
    before = ledger_count(ws)

    with qtbot.waitSignal(dialog.import_finished, timeout=5000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)

    assert not dialog.running
    assert dialog.progress.value() == dialog.progress.maximum() == 100
    total_new = 0
    for r, f in enumerate(dialog.files):
        assert f.state == "done", (f.path.name, f.error)
        assert f.result.new > 0 and f.result.duplicates == 0
        assert cell(dialog, r, COL_NEW) == f"{f.result.new:,}"
        assert cell(dialog, r, COL_DUP) == "0"
        assert cell(dialog, r, COL_RESULT).startswith(f"imported: {f.result.new:,} new line")
        total_new += f.result.new
    assert [f.result.format for f in dialog.files] == ["mt940", "camt053", "ofx", "bai2", "csv"]
    assert ledger_count(ws) - before == total_new == dialog.summary.new
    assert dialog.files[4].result.accounts == [eur_account.number_masked]
    assert len([e for e in events if e.topic == "ledger.changed"]) == 5
    assert "5 files imported" in dialog.status.text() and f"{total_new} new lines" in dialog.status.text()
    assert not ui.extra["errors"]


def test_importing_the_same_file_again_adds_nothing(qtbot, ws, ui) -> None:  # noqa: ANN001
    dialog = open_dialog(qtbot, ui, [CAMT])
    dialog.start_import()
    first = dialog.files[0].result
    assert first.new > 0
    count = ledger_count(ws)

    again = open_dialog(qtbot, ui, [CAMT])
    again.start_import()
    result = again.files[0].result
    assert result.new == 0 and result.duplicates == first.new
    assert cell(again, 0, COL_NEW) == "0" and cell(again, 0, COL_DUP) == f"{first.new:,}"
    assert "already imported" in cell(again, 0, COL_RESULT)
    assert ledger_count(ws) == count
    assert again.progress.value() == 100


def test_a_refused_file_names_the_place_and_the_others_go_in(qtbot, ws, ui, tmp_path) -> None:  # noqa: ANN001
    broken = tmp_path / "broken.sta"
    broken.write_bytes(MT940.read_bytes().replace(b":62F:", b":62F:X", 1))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    dialog = open_dialog(qtbot, ui, [OFX, broken, empty, BAI2])
    assert "the file is empty" in cell(dialog, 2, COL_RESULT)  # known before importing
    before = ledger_count(ws)
    dialog.start_import()
    ok = [f for f in dialog.files if f.state == "done"]
    refused = [f for f in dialog.files if f.state == "failed"]
    assert {f.path.name for f in ok} == {OFX.name, BAI2.name}
    assert {f.path.name for f in refused} == {"broken.sta", "empty.csv"}
    text = cell(dialog, 1, COL_RESULT)
    assert text.startswith("refused — broken.sta, line ") and "field" in text
    assert dialog.table.item(1, COL_RESULT).foreground().color() == negative_color()
    assert cell(dialog, 1, COL_NEW) == ""
    assert ledger_count(ws) - before == sum(f.result.new for f in ok)
    assert "2 refused" in dialog.status.text()
    assert dialog.progress.value() == 100


def test_ambiguous_csv_dates_offer_the_detected_readings(qtbot, ws, ui, eur_account, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "ambiguous.csv"
    path.write_text("Date,Description,Amount,Currency\n03/04/2026,Rent,-1200.00,EUR\n"
                    "05/06/2026,Refund,45.10,EUR\n", encoding="utf-8")
    dialog = open_dialog(qtbot, ui, [path])
    assert not dialog.date_combo.isHidden()
    choices = [dialog.date_combo.itemData(i) for i in range(1, dialog.date_combo.count())]
    assert "%d/%m/%Y" in choices and "%m/%d/%Y" in choices
    assert "ambiguous" in cell(dialog, 0, COL_RESULT)
    assert human_date_format("%d/%m/%Y").startswith("dd/mm/yyyy")
    dialog.choose_account(eur_account.id)
    dialog.start_import()  # not chosen yet: refused, nothing imported
    assert dialog.files[0].state == "failed" and "choose the CSV date format" in cell(dialog, 0, COL_RESULT)
    assert ledger_count(ws) == 0
    assert dialog.choose_date_format("%d/%m/%Y")
    assert cell(dialog, 0, COL_RESULT) == "ready"
    dialog.start_import()
    assert dialog.files[0].state == "done", dialog.files[0].error
    with ws.db.unit_of_work(write=False) as uow:
        days = sorted(uow.execute(select(Transaction.booking_date)).scalars())
    assert days == [date(2026, 4, 3), date(2026, 6, 5)]


def test_preview_shows_the_first_lines_decoded(qtbot, ui) -> None:  # noqa: ANN001
    cp1252 = DATA / "csv" / "de_savings_bank_cp1252.csv"
    dialog = open_dialog(qtbot, ui, [MT940, cp1252])
    dialog.table.selectRow(1)
    text = dialog.preview.toPlainText()
    assert "Miete März 2026" in text
    assert len(text.splitlines()) <= 20
    assert cp1252.name in dialog.preview_title.text()
    assert decode_preview("Zürich".encode("utf-8")) == "Zürich"
    assert decode_preview(b"\xef\xbb\xbfDatum") == "Datum"


def test_cancel_stops_after_the_current_file(qtbot, ws, ui) -> None:  # noqa: ANN001
    dialog = open_dialog(qtbot, ui, [CAMT, OFX])
    dialog._relay.lines.connect(lambda *_: dialog.cancel_import())  # cancel during the first file
    dialog.start_import()
    assert dialog.files[0].state == "done"
    assert dialog.files[1].state == "cancelled"
    assert ledger_count(ws) == dialog.files[0].result.new
    assert "cancelled" in dialog.status.text()


def test_drop_files_on_the_dialog_and_remove_them(qtbot, ui) -> None:  # noqa: ANN001
    dialog = open_dialog(qtbot, ui)
    assert dialog.acceptDrops()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(MT940)), QUrl.fromLocalFile(str(OFX)), QUrl.fromLocalFile(str(MT940))])
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    dialog.dropEvent(event)
    assert [f.path.name for f in dialog.files] == [MT940.name, OFX.name]
    dialog.table.selectRow(0)
    dialog.remove_selected()
    assert [f.path.name for f in dialog.files] == [OFX.name]
    dialog.pick_files = lambda: [str(CAMT)]
    dialog.add_button.click()
    assert [f.path.name for f in dialog.files] == [OFX.name, CAMT.name]


def test_enter_imports_and_escape_closes(qtbot, ws, ui) -> None:  # noqa: ANN001
    dialog = open_dialog(qtbot, ui, [CAMT])
    qtbot.keyClick(dialog.table, Qt.Key.Key_Return)
    assert dialog.files[0].state == "done"
    assert dialog.isVisible()
    qtbot.keyClick(dialog.table, Qt.Key.Key_Escape)
    assert dialog.result() == QDialog.DialogCode.Rejected and not dialog.isVisible()


def test_role_without_ledger_import_cannot_import(qtbot, ws, tmp_path) -> None:  # noqa: ANN001
    login(ws, "viewer")
    ui = make_ui(ws)
    dialog = open_dialog(qtbot, ui, [CAMT])
    assert not dialog.import_button.isEnabled() and not dialog.add_button.isEnabled()
    assert not dialog.denied_label.isHidden() and "ledger.import" in dialog.denied_label.text()
    dialog.start_import()
    assert ledger_count(ws) == 0
    window = MainWindow(ui, [LedgerPanel], prefs=make_prefs(tmp_path))
    qtbot.addWidget(window)
    assert not window.import_action.isVisible() and not window.acceptDrops()
    assert window.open_import([str(CAMT)]) is None
    window.teardown()


def test_main_window_menu_and_drop_open_the_dialog(qtbot, ws, ui, tmp_path) -> None:  # noqa: ANN001
    window = MainWindow(ui, [LedgerPanel], prefs=make_prefs(tmp_path))
    qtbot.addWidget(window)
    window.show()
    assert window.import_action.isVisible() and window.import_action.shortcut().toString() == "Ctrl+I"
    assert window.acceptDrops()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(OFX))])
    window.dropEvent(QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    dialog = window.import_dialog
    assert isinstance(dialog, ImportDialog) and dialog.isVisible()
    assert [f.path.name for f in dialog.files] == [OFX.name]
    window.import_action.trigger()  # the open dialog is reused
    assert window.import_dialog is dialog
    window.open_import([str(CAMT)])
    assert [f.path.name for f in dialog.files] == [OFX.name, CAMT.name]
    dialog.start_import()
    assert all(f.state == "done" for f in dialog.files)
    dialog.close()
    window.teardown()


def test_real_worker_threads_keep_the_gui_responsive(qtbot, ws) -> None:  # noqa: ANN001
    """The import runs on the QThreadPool; progress arrives by queued signals."""
    login(ws, "treasurer")
    ui = make_ui(ws)
    errors: list[BaseException] = []
    ui.workers = WorkerPool(errors.append)
    dialog = open_dialog(qtbot, ui, [CAMT, BAI2])
    qtbot.waitUntil(lambda: all(f.detected is not None for f in dialog.files), timeout=5000)
    progress: list[int] = []
    dialog.progress.valueChanged.connect(progress.append)
    with qtbot.waitSignal(dialog.import_finished, timeout=10000):
        dialog.start_import()
        assert dialog.running and dialog.close_button.text() == "Cancel"
        QApplication.processEvents()
    assert not errors and not dialog.running
    assert [f.state for f in dialog.files] == ["done", "done"]
    assert progress[-1] == 100 and progress == sorted(progress)
    assert ledger_count(ws) == sum(f.result.new for f in dialog.files)
    ui.workers.wait(5000)


def test_csv_without_account_column_is_refused_until_an_account_is_chosen(qtbot, ws, ui, eur_account) -> None:  # noqa: ANN001
    dialog = open_dialog(qtbot, ui, [CSV_NO_ACCOUNT, CAMT])
    dialog.start_import()
    assert dialog.files[0].state == "failed" and dialog.files[1].state == "done"
    assert "choose the account it belongs to" in cell(dialog, 0, COL_RESULT)
    assert CSV_NO_ACCOUNT.name in cell(dialog, 0, COL_RESULT)
    count = ledger_count(ws)
    dialog.choose_account(eur_account.id)
    dialog.start_import()
    assert dialog.files[0].state == "done" and dialog.files[0].result.new == 3
    assert ledger_count(ws) == count + 3
