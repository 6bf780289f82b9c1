"""Every reader of untrusted files, one ``Reader`` entry each (see hostile.py).

To add a reader (budgets, sanctions lists, backups, …): give it a valid sample, its
``value_sites`` if it has dates or amounts, and a ``read(ws, path)`` in ``READ`` that reads the
file the way the application does (through the service, as the logged-in user). Nothing else
changes: every case of the corpus then runs against it.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Callable

from cio_desktop.errors import CioError
from tests.corpus.hostile import Reader
from tests.property.helpers import make_session

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

BUDGET_CSV = (b"category,period,amount\r\n"
              b"customers,2026-03,250000.00\r\n"
              b"suppliers,2026-03,120000.00\r\n"
              b"salaries,2026-03,85000.50\r\n"
              b"rent,2026-03,12000.00\r\n"
              b"taxes,2026-04,30500.25\r\n")

SANCTIONS_CSV = (b"name,country,list,reference\r\n"
                 b"Blocked Trading Ltd,RU,EU,EU-2022-0001\r\n"
                 b"Ivan Petrov Holdings,BY,OFAC,SDN-12345\r\n"
                 b"Shadow Shipping Co,IR,UN,QDe.001\r\n"
                 b"Northern Star Exports,KP,UK,DPRK-0042\r\n")

_NUMBER_CELL = re.compile(r"^-?\d+(\.\d+)?$")


def csv_to_xlsx(data: bytes) -> bytes:
    """The budget CSV as an Excel workbook (first sheet), numbers as number cells."""
    from openpyxl import Workbook

    wb = Workbook()
    sheet = wb.active
    for row in csv.reader(io.StringIO(data.decode("utf-8"))):
        sheet.append([float(c) if _NUMBER_CELL.match(c) else c for c in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


_BUDGET_SITES = {
    "date": (r"^customers,(2026-03),", {"impossible": "2026-13"}),
    "amount": (r"^customers,2026-03,(250000\.00)", {**_NUMBER_AMOUNT, "negative": "-250000.00"})}


def _budget_ok(result) -> bool:  # noqa: ANN001
    lines = BUDGET_CSV.count(b"\n") - 1
    return result.lines == lines and result.created + result.updated == lines



READERS += [
    Reader("budget_csv", BUDGET_CSV, suffix=".csv", value_sites=_BUDGET_SITES, accepted_ok=_budget_ok),
    Reader("budget_xlsx", csv_to_xlsx(BUDGET_CSV), suffix=".xlsx", value_sites=_BUDGET_SITES,
           text_sample=BUDGET_CSV, from_text=csv_to_xlsx, accepted_ok=_budget_ok),
    # an accepted list is compared with the sample's entries in read_sanctions
    Reader("sanctions_csv", SANCTIONS_CSV, suffix=".csv"),
    # the real sample, a backup of the corpus database, is made by the fixture at test time
    Reader("backup_restore", b"\x00" * 4096, suffix=".cio", refuses_all=True,
           sample_fixture="corpus_backup_sample"),
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


def read_budget(ws, path: Path, **_: object):  # noqa: ANN001, ANN202
    make_session(ws, "treasurer")
    return ws.budget.import_budget(path)


def _sanctions_entries(data: bytes) -> list[tuple[str, ...]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))[1:]
    return sorted(tuple(r) for r in rows if r)


def read_sanctions(ws, path: Path, **_: object):  # noqa: ANN001, ANN202
    make_session(ws, "admin", mfa_age_seconds=0)       # compliance.manage needs a fresh TOTP
    result = ws.compliance.import_sanctions(path)
    stored = sorted(ws.compliance.sanctions())
    assert stored == _sanctions_entries(SANCTIONS_CSV), f"the list in force is not the file's: {stored!r}"
    return result


def _live_database(ws) -> tuple:  # noqa: ANN001
    """What a restore would change: the live file itself (a restore renames a copy over it)
    and the head of its audit chain."""
    from sqlalchemy import select

    from cio_desktop.storage.models import AuditEntry

    with ws.db.unit_of_work(write=False) as uow:
        head = uow.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc())
                           .limit(1)).one()
    return Path(ws.db.target).stat().st_ino, tuple(head)


def read_backup(ws, path: Path, **_: object):  # noqa: ANN001, ANN202
    make_session(ws, "admin", mfa_age_seconds=0)       # restore needs settings.manage and MFA
    before = _live_database(ws)
    try:
        return ws.backup.restore(path)
    except CioError:
        assert _live_database(ws) == before, "a refused restore replaced or changed the live database"
        leftovers = [p.name for p in Path(ws.db.target).parent.glob("cio-restore-*")]
        assert not leftovers, f"a refused restore left its work files: {leftovers}"
        raise


READ: dict[str, Callable] = {**{name: read_statement(fmt) for name, fmt in FORMATS.items()},
                             "settings_toml": read_settings, "budget_csv": read_budget,
                             "budget_xlsx": read_budget, "sanctions_csv": read_sanctions,
                             "backup_restore": read_backup}

#: readers that other issues are building; each becomes one entry above when it lands
NOT_YET_COVERED: tuple[str, ...] = ()
