"""Every reader of untrusted files, one ``Reader`` entry each (see hostile.py).

To add a reader (budgets, sanctions lists, backups, …): give it a valid sample, its
``value_sites`` if it has dates or amounts, and a ``read(ws, path)`` in ``READ`` that reads the
file the way the application does (through the service, as the logged-in user). Nothing else
changes: every case of the corpus then runs against it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from tests.corpus.hostile import Reader

DATA = Path(__file__).resolve().parents[1] / "data" / "statements"

CSV_SAMPLE = (b"Date,Amount,Payee,Reference,Description,Type\r\n"
              b"2026-03-02,1250.00,ACME Supplies GmbH,INV-1001,Invoice 1001,TRF\r\n"
              b"2026-03-02,-75.40,Northwind Traders,INV-1002,Invoice 1002,TRF\r\n"
              b"2026-03-03,19.99,Contoso Ltd,REF-3,Subscription,TRF\r\n"
              b"2026-03-04,-0.01,Fabrikam AG,REF-4,Rounding,TRF\r\n")

TOML_SAMPLE = b'theme = "dark"\nidle_lock_minutes = 7\nbase_currency = "EUR"\n'

_NUMBER_AMOUNT = {"huge": "9" * 40 + ".00", "nan": "12.3.4"}

READERS: list[Reader] = [
    Reader("csv", CSV_SAMPLE, value_sites={
        "date": (r"^(2026-03-02),1250", {"impossible": "2026-02-30"}),
        "amount": (r"^2026-03-02,(1250\.00)", {**_NUMBER_AMOUNT, "negative": "--1250.00"})}),
    Reader("mt940", (DATA / "mt940" / "nl_abnamro_sepa.sta").read_bytes(), value_sites={
        "date": (r":61:(\d{6})", {"impossible": "260230"}),
        "amount": (r":61:\d{6}\d{4}[CD]([\d,]+)N", {"huge": "9" * 30 + ",00", "negative": "-250,00",
                                                   "nan": "25,0,0"})}),
    Reader("camt053", (DATA / "camt" / "camt053_v08.xml").read_bytes(), xml=True, value_sites={
        "date": (r"<Ntry>.*?<BookgDt>\s*<DtTm>(\d{4}-\d{2}-\d{2})", {"impossible": "2024-02-30"}),
        "amount": (r"<Ntry>.*?<Amt Ccy=\"\w+\">([^<]+)<", {**_NUMBER_AMOUNT, "negative": "-12345.67"})}),
    Reader("ofx", (DATA / "ofx" / "creditcard_220.ofx").read_bytes(), xml=True, value_sites={
        "date": (r"<DTPOSTED>(\d{8})", {"impossible": "20260230"}),
        "amount": (r"<TRNAMT>([^<\s]+)", {**_NUMBER_AMOUNT, "negative": "--245.90"})}),
    Reader("ofx_sgml", (DATA / "ofx" / "quirks_short_header_utf8.ofx").read_bytes(), value_sites={
        "date": (r"<DTPOSTED>(\d{8})", {"impossible": "20261301"}),
        "amount": (r"<TRNAMT>([^<\s]+)", {**_NUMBER_AMOUNT, "negative": "--12,50"})}),
    Reader("bai2", (DATA / "bai2" / "bai2_multi.bai").read_bytes(), value_sites={
        "date": (r"^02,[^,]*,[^,]*,\d,(\d{6})", {"impossible": "240230"}),
        "amount": (r"^16,\d{3},(\d+)", {"huge": "9" * 40, "negative": "-250000", "nan": "25O000"})}),
    Reader("settings_toml", TOML_SAMPLE, value_sites={
        "amount": (r"idle_lock_minutes = (\d+)", {"huge": "9" * 40, "negative": "-7", "nan": '"seven"'})},
           accepts=frozenset({"empty", "whitespace_only"}), field_in_text="idle_lock_minutes"),
]

FORMATS = {"csv": "csv", "mt940": "mt940", "camt053": "camt053", "ofx": "ofx", "ofx_sgml": "ofx",
           "bai2": "bai2"}


def read_statement(fmt: str) -> Callable:
    def read(ws, path: Path, *, auto: bool = False, account_id: int | None = None):  # noqa: ANN001, ANN202
        kwargs = {"fmt": "auto" if auto else fmt}
        if fmt == "csv":
            kwargs["account_id"] = account_id
        return ws.imports.import_file(path, **kwargs)
    return read


def read_settings(ws, path: Path, **_: object):  # noqa: ANN001, ANN202
    from cio_desktop.config import load_settings

    return load_settings(environ={"CIO_CONFIG": str(path)})


READ: dict[str, Callable] = {**{name: read_statement(fmt) for name, fmt in FORMATS.items()},
                             "settings_toml": read_settings}

#: readers that other issues are building; each becomes one entry above when it lands
NOT_YET_COVERED = ("budget import", "sanctions list import", "backup restore")
