"""Time pain.001 building (validation of inputs + XML + XSD validation) for N transfers.

    python bench/pain001.py [N ...]        # default: 100 1000 10000
"""

from __future__ import annotations

import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from cio_desktop.domain.credit_transfer import CreditTransfer
from cio_desktop.integrations.payment_files import build_pain001
from cio_desktop.integrations.payment_files.xsd import load_schema

DEBTORS = [("DE89370400440532013000", "COBADEFFXXX"), ("NL91ABNA0417164300", "ABNANL2A")]
CREDITORS = ["FR1420041010050500013M02606", "BE68539007547034", "IT60X0542811101000000123456",
             "ES9121000418450200051332"]


def transfers(n: int) -> list[CreditTransfer]:
    out = []
    for i in range(n):
        iban, bic = DEBTORS[i % 2]
        out.append(CreditTransfer(
            end_to_end_id=f"E2E-{i:08d}", instruction_id=f"I-{i:08d}",
            amount=Decimal(1000 + i).scaleb(-2), currency="EUR",
            execution_date=date(2026, 11, 3) + timedelta(days=i % 5), debtor_name="ACME GmbH",
            debtor_iban=iban, debtor_bic=bic, creditor_name=f"Lieferant Müller {i}",
            creditor_iban=CREDITORS[i % 4], remittance=f"Rechnung {i} – Größe L"))
    return out


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [100, 1000, 10000]
    t0 = time.perf_counter()
    load_schema("09"), load_schema("03")
    print(f"schema load (both, once per process): {(time.perf_counter() - t0) * 1000:.1f} ms")
    created = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    for n in sizes:
        items = transfers(n)
        for version in ("09", "03"):
            t0 = time.perf_counter()
            data = build_pain001(items, version=version, message_id="BENCH-1", created_at=created,
                                 initiating_party="ACME")
            ms = (time.perf_counter() - t0) * 1000
            print(f"pain.001.001.{version}: {n:>6} transfers in {ms:8.1f} ms "
                  f"({ms / n * 1000:6.1f} µs/transfer, {len(data) / 1024:8.1f} KiB)")


if __name__ == "__main__":
    main(sys.argv[1:])
