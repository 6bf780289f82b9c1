"""CLI: ``export board-pack --format pdf|xlsx|csv --out PATH [--period …]`` (issue 11).

Headless board pack: the same ReportingService the wizard uses. ``--period`` takes 2026-10,
2026-Q3, 2026, 2026-10-01..2026-10-31, mtd or ytd (default: the last full month);
``--sections`` a comma list (default: all); ``--unmasked`` shows full account numbers (needs
the export_unmasked permission and ``--otp``). Sections without data are listed on stderr.
"""

from __future__ import annotations

import argparse

SECTION_HELP = "summary,cash,payments,portfolio,risk,budget,forecast,alerts,compliance"


def cmd_export_board_pack(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    import sys

    from cio_desktop.cli import _emit, _login, _workspace

    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        sections = [s.strip() for s in args.sections.split(",") if s.strip()] if args.sections else None
        result = ws.reporting.export_board_pack(args.format, args.out, period=args.period, sections=sections,
                                                audience=args.audience, masked=not args.unmasked)
    finally:
        ws.close()
    for title, reason in result.missing:
        print(f"note: {title}: no data ({reason})", file=sys.stderr)
    _emit(args, result, f"{result.title} ({result.period}) written to {result.path}")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> set[str]:
    export = sub.add_parser("export", help="export reports (board pack)").add_subparsers(
        dest="export_command", metavar="REPORT")
    p = export.add_parser("board-pack", parents=[common], help="write the board pack as PDF, Excel or CSV (zip)")
    p.add_argument("--format", required=True, choices=["pdf", "xlsx", "csv"])
    p.add_argument("--out", required=True, metavar="PATH", help="file to write (csv: a .zip of CSV files)")
    p.add_argument("--period", metavar="PERIOD", help="2026-10, 2026-Q3, 2026, 2026-10-01..2026-10-31, mtd, "
                                                       "ytd (default: last full month)")
    p.add_argument("--sections", metavar="LIST", help=f"comma list of {SECTION_HELP} (default: all)")
    p.add_argument("--audience", default="Board of directors", metavar="TEXT")
    p.add_argument("--unmasked", action="store_true", help="full account numbers (permission + --otp)")
    p.set_defaults(func=cmd_export_board_pack)
    return {"export"}
