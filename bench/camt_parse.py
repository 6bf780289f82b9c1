"""camt.053 parser throughput: entries/s and peak RSS on a generated 100,000-entry statement.

Writes one camt.053.001.08 file (one statement; every entry has full transaction details —
references, amount, related parties with IBAN, remittance text — and every 50th entry is a batch
of 3 transactions that the parser splits) into a temporary directory, then parses it in a fresh
child process (so the child's peak RSS is the parser's, not the generator's) and consumes every
line. Reported: entries, lines, file size, wall seconds, entries/s by wall clock and by process
CPU time, peak RSS of the child and its RSS right after imports (the difference is what parsing
added). Memory should stay flat as the file grows: run with ``--entries 400000`` to compare.

Usage: ``python bench/camt_parse.py [--entries 100000] [--version 08|04|02] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path


def _amt(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def generate(path: Path, entries: int, version: str) -> tuple[int, int]:
    """Write the file; returns (entries, expected lines)."""
    rnd = random.Random(20240601)
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"
    v08 = version >= "08"
    bicfi = "BICFI" if version >= "04" else "BIC"
    start = date(2024, 1, 1)
    balance = 50_000_000
    expected_lines = 0
    body_path = path.with_suffix(".body")
    with body_path.open("w", encoding="utf-8") as out:
        for i in range(entries):
            day = start + timedelta(days=i * 365 // entries)
            batch = i % 50 == 49
            if batch:
                parts = [rnd.randint(100, 90_000) for _ in range(3)]
                cents, credit = sum(parts), True
            else:
                cents, credit = rnd.randint(100, 2_000_000), rnd.random() < 0.5
            balance += cents if credit else -cents
            ind = "CRDT" if credit else "DBIT"
            sts = "<Sts><Cd>BOOK</Cd></Sts>" if v08 else "<Sts>BOOK</Sts>"
            out.write(
                f"      <Ntry>\n        <NtryRef>{i}</NtryRef>\n"
                f"        <Amt Ccy=\"EUR\">{_amt(cents)}</Amt>\n        <CdtDbtInd>{ind}</CdtDbtInd>\n"
                f"        {sts}\n        <BookgDt><Dt>{day}</Dt></BookgDt>\n"
                f"        <ValDt><Dt>{day}</Dt></ValDt>\n        <AcctSvcrRef>BANK-{i:09d}</AcctSvcrRef>\n"
                "        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>"
                f"{'RCDT' if credit else 'ICDT'}</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>\n"
                "        <NtryDtls>\n")
            for j, part in enumerate(parts if batch else [cents]):
                party = "Dbtr" if credit else "Cdtr"
                name = (f"<{party}><Pty><Nm>Counterparty {(i + j) % 997} GmbH</Nm></Pty></{party}>" if v08
                        else f"<{party}><Nm>Counterparty {(i + j) % 997} GmbH</Nm></{party}>")
                amount = (f"<Amt Ccy=\"EUR\">{_amt(part)}</Amt><CdtDbtInd>{ind}</CdtDbtInd>" if version >= "04"
                          else f"<AmtDtls><TxAmt><Amt Ccy=\"EUR\">{_amt(part)}</Amt></TxAmt></AmtDtls>")
                out.write(
                    "          <TxDtls>\n"
                    f"            <Refs><EndToEndId>E2E-{i:09d}-{j}</EndToEndId></Refs>\n"
                    f"            {amount}\n"
                    f"            <RltdPties>{name}<{party}Acct><Id><IBAN>DE{(i * 7 + j) % 100:02d}"
                    f"370400440532{i % 1000000:06d}</IBAN></Id></{party}Acct></RltdPties>\n"
                    f"            <RmtInf><Ustrd>Invoice {i}-{j} payment for services</Ustrd></RmtInf>\n"
                    "          </TxDtls>\n")
                expected_lines += 1
            out.write("        </NtryDtls>\n      </Ntry>\n")
    opening = 50_000_000
    end = start + timedelta(days=364)

    def bal(code: str, cents: int, when: date) -> str:
        return (f"      <Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
                f"<Amt Ccy=\"EUR\">{_amt(abs(cents))}</Amt>"
                f"<CdtDbtInd>{'CRDT' if cents >= 0 else 'DBIT'}</CdtDbtInd><Dt><Dt>{when}</Dt></Dt></Bal>\n")

    with path.open("w", encoding="utf-8") as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}">\n  <BkToCstmrStmt>\n'
                  "    <GrpHdr><MsgId>BENCH-1</MsgId><CreDtTm>2025-01-01T06:00:00</CreDtTm></GrpHdr>\n"
                  "    <Stmt>\n      <Id>BENCH-STMT-1</Id>\n      <CreDtTm>2025-01-01T06:00:00</CreDtTm>\n"
                  "      <Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy>"
                  f"<Svcr><FinInstnId><{bicfi}>COBADEFFXXX</{bicfi}></FinInstnId></Svcr></Acct>\n")
        out.write(bal("OPBD", opening, start))
        out.write(bal("CLBD", balance, end))
        with body_path.open("r", encoding="utf-8") as body:
            while chunk := body.read(1 << 20):
                out.write(chunk)
        out.write("    </Stmt>\n  </BkToCstmrStmt>\n</Document>\n")
    body_path.unlink()
    return entries, expected_lines


def child(path: str) -> None:
    """Runs in a fresh interpreter: parse the file, print one JSON line of figures."""
    from decimal import Decimal

    from cio_desktop.integrations.statements import camt

    rss_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    lines = 0
    total = Decimal(0)
    reconciles = True
    with open(path, "rb") as fh:
        for st in camt.parse(fh, os.path.basename(path)):
            for line in st.lines:
                lines += 1
                total += line.amount
            reconciles = reconciles and st.opening_balance + total == st.closing_balance
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"lines": lines, "wall": wall, "cpu": cpu, "reconciles": reconciles,
                      "rss_imports_mb": rss_imports / 1024, "peak_rss_mb": peak / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--version", choices=("02", "04", "08"), default="08")
    ap.add_argument("--keep", type=Path, help="write the file here and keep it")
    ap.add_argument("--child", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory(prefix="cio-camt-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"camt053_{args.version}_{args.entries}.xml"
        t0 = time.perf_counter()
        entries, expected = generate(path, args.entries, args.version)
        gen = time.perf_counter() - t0
        proc = subprocess.run([sys.executable, __file__, "--child", str(path)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"parse failed:\n{proc.stderr}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        if r["lines"] != expected or not r["reconciles"]:
            raise SystemExit(f"wrong result: {r['lines']} lines (expected {expected}), "
                             f"reconciles={r['reconciles']}")
        size = path.stat().st_size / 1e6
        print(f"camt.053.001.{args.version}: {entries:,} entries → {r['lines']:,} lines, {size:.0f} MB "
              f"(generated in {gen:.1f}s)")
        print(f"  parse: {r['wall']:.2f}s wall, {entries / r['wall']:,.0f} entries/s wall, "
              f"{entries / r['cpu']:,.0f} entries/s CPU ({r['lines'] / r['wall']:,.0f} lines/s wall)")
        print(f"  peak RSS {r['peak_rss_mb']:.1f} MB (after imports {r['rss_imports_mb']:.1f} MB; "
              f"parsing added {r['peak_rss_mb'] - r['rss_imports_mb']:.1f} MB)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(load average {load:.1f} on {os.cpu_count()} CPUs while measuring)")


if __name__ == "__main__":
    main()
