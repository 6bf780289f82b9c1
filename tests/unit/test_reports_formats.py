"""The PDF, Excel and CSV renderers one by one, and the safe write (temp file, then rename)."""

from __future__ import annotations

import os
import zipfile
from datetime import date
from pathlib import Path

import pytest

from cio_desktop.errors import ValidationError
from cio_desktop.reports import Column, ExportFailed, Period, Table, export_report
from cio_desktop.reports import csv as rcsv
from cio_desktop.reports import excel
from tests.reports_fixtures import pdf_pages, sample_document


@pytest.fixture(scope="module")
def pdf_file(tmp_path_factory) -> Path:  # noqa: ANN001
    return export_report(sample_document(rows=160), "pdf", tmp_path_factory.mktemp("pdf") / "pack.pdf")


# -- PDF -------------------------------------------------------------------------------------------
def test_pdf_cover_contents_footer_and_page_numbers(pdf_file: Path) -> None:
    pages = pdf_pages(pdf_file)
    assert len(pages) >= 5
    assert "Sample pack" in pages[0] and "October 2026" in pages[0] and "CONFIDENTIAL" in pages[0]
    assert "Prepared for: Board of directors" in pages[0]
    assert "Page" not in pages[0]                        # no footer on the cover
    assert "Contents" in pages[1] and "Cash" in pages[1] and "Risk" in pages[1]
    for n, text in enumerate(pages[1:], start=2):
        assert f"Page {n} of {len(pages)}" in text
        assert "CONFIDENTIAL — Sample pack" in text
        assert "Generated 2026-11-02 09:00 UTC by treasurer" in text
    assert "No data: the budget service has no data" in " ".join(pages)


def test_pdf_long_table_repeats_its_header_on_each_page(pdf_file: Path) -> None:
    pages = [p for p in pdf_pages(pdf_file) if "=Counterparty" in p]
    assert len(pages) >= 2, "160 rows should split across pages"
    for text in pages:
        assert "Counterparty" in text.split("=Counterparty")[0], "header row missing above the rows"
        assert "Amount (EUR)" in " ".join(text.split())


def test_pdf_renders_to_png(pdf_file: Path, tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_file))
    try:
        image = pdf[2].render(scale=1.0).to_pil()
    finally:
        pdf.close()
    out = tmp_path / "page3.png"
    image.save(out)
    assert image.size[0] > 500 and image.size[1] > 700
    # the page is not blank: plenty of non-white pixels (text, table rules, chart)
    grey = image.convert("L")
    dark = sum(1 for v in grey.tobytes() if v < 200)
    assert dark > 2000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pdf_charts_are_vector_drawings(pdf_file: Path) -> None:
    # charts are drawn with paths, not embedded images
    raw = pdf_file.read_bytes()
    assert b"/Subtype /Image" not in raw
    assert "W12" in " ".join(pdf_pages(pdf_file))    # an axis label of the line chart


# -- Excel -----------------------------------------------------------------------------------------
def test_excel_layout_formats_frozen_header_and_charts(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    path = export_report(sample_document(rows=30), "xlsx", tmp_path / "pack.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["Report", "Cash", "Risk", "Budget"]
    cash = wb["Cash"]
    assert cash.freeze_panes == "A3"
    assert cash["A1"].value == "Ledger" and cash["C2"].value == "Amount (EUR)"
    assert cash["A3"].number_format == "yyyy-mm-dd"
    assert cash["C3"].number_format == "#,##0.00"
    assert cash["E3"].number_format == "0.00%"
    assert cash["F3"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert cash["B3"].value == "=Counterparty 0" and cash["B3"].data_type == "s"   # text, not a formula
    assert cash.column_dimensions["B"].width >= len("=Counterparty 29")
    assert len(cash._charts) == 1 and len(wb["Risk"]._charts) == 2
    assert "No data: the budget service has no data" == wb["Budget"]["A1"].value
    assert wb["Report"]["A1"].value == "Sample pack"


def test_excel_sheet_names_are_legal_and_unique() -> None:
    taken: set[str] = set()
    names = [excel.sheet_title(n, taken) for n in ("A/B: [x]*?", "History", "x" * 40, "x" * 40, "")]
    assert all(len(n) <= 31 and not set(n) & set("[]:*?/\\") for n in names)
    assert len({n.lower() for n in names}) == len(names)
    assert names[1] != "History"


# -- CSV -------------------------------------------------------------------------------------------
def test_csv_zip_one_file_per_table_with_bom_and_safe_cells(tmp_path: Path) -> None:
    path = export_report(sample_document(rows=5), "csv", tmp_path / "pack.zip")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names == ["01-cash-ledger.csv", "tables.json"]
        raw = zf.read(names[0])
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == "Date,Counterparty,Amount (EUR),Count,Share,Booked at,Cleared"
    assert lines[1].startswith("2026-10-01,'=Counterparty 0,-20.00,0,0.0,2026-10-01T08:00:00+00:00,true")
    assert rcsv.read_tables(path)[0][1][0][1] == "=Counterparty 0"


# -- model and safe writing ------------------------------------------------------------------------
def test_model_rejects_bad_cells_naming_table_row_and_column() -> None:
    with pytest.raises(ValidationError) as err:
        Table("Cash", [Column("Amount", "decimal")], [("12.5",), ("twelve",)])
    assert "Cash" in str(err.value) and "line 2" in str(err.value) and "Amount" in str(err.value)
    with pytest.raises(ValidationError):
        Period(date(2026, 10, 31), date(2026, 10, 1))
    t = Table("T", [Column("x", "float"), Column("t")], [(float("nan"), "a\x00b\x07c")])
    assert t.rows == [(None, "abc")]


def test_unwritable_folder_gives_a_clear_message_and_no_file(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(ExportFailed, match="no permission to write"):
            export_report(sample_document(rows=2), "pdf", folder / "pack.pdf")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)
    with pytest.raises(ExportFailed, match="does not exist"):
        export_report(sample_document(rows=2), "xlsx", tmp_path / "missing" / "pack.xlsx")


def test_failed_render_leaves_old_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import cio_desktop.reports.excel as xl

    target = tmp_path / "pack.xlsx"
    target.write_bytes(b"old contents")

    def broken(document, path):  # noqa: ANN001, ANN202
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xl, "render_xlsx", broken)
    with pytest.raises(ExportFailed, match="disk is full"):
        export_report(sample_document(rows=2), "xlsx", target)
    assert target.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["pack.xlsx"]


def test_read_only_target_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "pack.pdf"
    target.write_bytes(b"x")
    target.chmod(0o400)
    if os.access(target, os.W_OK):
        pytest.skip("running as root")
    with pytest.raises(ExportFailed, match="read-only or open in another program"):
        export_report(sample_document(rows=2), "pdf", target)
    assert target.read_bytes() == b"x"


def test_unknown_format_and_folder_target(tmp_path: Path) -> None:
    with pytest.raises(ExportFailed, match="unknown export format"):
        export_report(sample_document(rows=1), "docx", tmp_path / "x.docx")
    with pytest.raises(ExportFailed, match="is a folder"):
        export_report(sample_document(rows=1), "pdf", tmp_path)
