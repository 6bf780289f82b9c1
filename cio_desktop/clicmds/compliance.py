"""CLI: compliance rules and reports (issue 6).

``cio-desktop compliance rules [--all]`` · ``standing`` · ``apply FILE.json`` (add / change /
retire rules: a JSON list of changes, MFA) · ``import-sanctions FILE.csv`` (MFA) ·
``report --from YYYY-MM-DD --to YYYY-MM-DD --out FILE`` (the format from the extension: ``.pdf``,
``.xlsx`` Excel, ``.zip`` one CSV per table, ``.csv`` one CSV, ``.json``) · ``checks [--from --to]`` ·
``override RULE_ID payment|portfolio ENTITY_ID --reason TEXT [--hours N]`` (let one blocked payment or
portfolio pass a blocking rule once, within N hours; MFA) · ``overrides`` (the ones still active).
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> set[str]:
    comp = sub.add_parser("compliance", help="compliance rules, standing, sanctions list and reports") \
        .add_subparsers(dest="compliance_command", metavar="ACTION")
    p = comp.add_parser("rules", parents=[common], help="list the rules in force")
    p.add_argument("--all", action="store_true", help="include retired rules")
    p.set_defaults(func=cmd_rules)
    p = comp.add_parser("standing", parents=[common], help="each rule: limit, actual figure, headroom")
    p.set_defaults(func=cmd_standing)
    p = comp.add_parser("apply", parents=[common],
                        help="add, change or retire rules from a JSON list of changes (needs --otp)")
    p.add_argument("file", metavar="FILE.json")
    p.set_defaults(func=cmd_apply)
    p = comp.add_parser("import-sanctions", parents=[common],
                        help="replace the sanctions list with a CSV (name[,country,list,reference]; needs --otp)")
    p.add_argument("file", metavar="FILE.csv")
    p.set_defaults(func=cmd_import_sanctions)
    p = comp.add_parser("checks", parents=[common], help="list compliance checks")
    p.add_argument("--from", dest="start", metavar="YYYY-MM-DD")
    p.add_argument("--to", dest="end", metavar="YYYY-MM-DD")
    p.add_argument("--violations", action="store_true", help="only blocked, warned or overridden checks")
    p.set_defaults(func=cmd_checks)
    p = comp.add_parser("override", parents=[common],
                        help="let one blocked payment or portfolio pass a blocking rule once (needs --otp)")
    p.add_argument("rule_id", metavar="RULE_ID", type=int, help="the rule's id (see 'compliance rules')")
    p.add_argument("entity", choices=("payment", "portfolio"), help="what the override is for")
    p.add_argument("entity_id", metavar="ENTITY_ID", type=int, help="the payment's or portfolio's id")
    p.add_argument("--reason", required=True, help="why it may pass the rule (at least 5 characters; audited)")
    p.add_argument("--hours", type=int, default=24, metavar="N",
                   help="how long the override waits to be used: 1 to 336 hours (14 days); default 24")
    p.set_defaults(func=cmd_override)
    p = comp.add_parser("overrides", parents=[common], help="list the overrides not used yet and not expired")
    p.set_defaults(func=cmd_overrides)
    p = comp.add_parser("report", parents=[common],
                        help="the regulator's report for a period: PDF, Excel, CSV (zip or one file) or JSON")
    p.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD")
    p.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="the format follows the extension: .pdf, .xlsx (Excel), .zip (one CSV per table), "
                        ".csv (one CSV) or .json")
    p.set_defaults(func=cmd_report)
    return {"compliance"}


def _run(args: argparse.Namespace, io, fn):  # noqa: ANN001, ANN202
    from cio_desktop.cli import _login, _workspace

    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        return fn(ws)
    finally:
        ws.close()


def cmd_rules(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    rules = _run(args, io, lambda ws: ws.compliance.rules(include_retired=args.all))
    lines = [f"{r.id:>4}  v{r.version:<3} {r.severity:<5} {'' if r.is_active else '(retired) '}{r.name}: {r.limit}"
             for r in rules]
    _emit(args, rules, "\n".join(lines) or "no compliance rules")
    return 0


def cmd_standing(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    rows = _run(args, io, lambda ws: ws.compliance.standing())
    lines = [f"{r.status.upper():<6} {r.name} — {r.subject}: actual {r.actual or '—'}; limit {r.limit}; "
             f"headroom {r.headroom or '—'}" for r in rows]
    _emit(args, rows, "\n".join(lines) or "no compliance rules")
    return 1 if any(r.status == "breach" for r in rows) else 0


def cmd_apply(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    import json
    from pathlib import Path

    from cio_desktop.cli import _emit
    from cio_desktop.errors import ValidationError

    path = Path(args.file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError("the file does not exist", source=str(path)) from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not valid JSON ({exc.msg})", source=path.name, line=exc.lineno) from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise ValidationError("give a JSON list of changes (objects)", source=path.name)
    views = _run(args, io, lambda ws: ws.compliance.update_rules(data))
    _emit(args, views, "\n".join(f"rule {v.id} '{v.name}' now at version {v.version}"
                                 f"{'' if v.is_active else ' (retired)'}: {v.limit}" for v in views))
    return 0


def cmd_import_sanctions(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    result = _run(args, io, lambda ws: ws.compliance.import_sanctions(args.file))
    _emit(args, result, f"sanctions list replaced: {result.entries} entries (was {result.replaced}); "
                        f"sha256 {result.sha256}")
    return 0


def cmd_checks(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit
    from cio_desktop.services.compliance import _parse_day

    start = _parse_day(args.start, "--from") if args.start else None
    end = _parse_day(args.end, "--to") if args.end else None

    def go(ws):  # noqa: ANN001, ANN202
        if args.violations:
            return ws.compliance.violations(start, end)
        return ws.compliance.checks(start, end)

    checks = _run(args, io, go)
    lines = []
    for c in checks:
        worst = "; ".join(f"{r.rule_name} v{r.rule_version}: {r.message}" for r in c.breaches)
        lines.append(f"{c.checked_at:%Y-%m-%d %H:%M} {c.outcome.upper():<10} {c.operation:<20} {c.subject}"
                     + (f" — {worst}" if worst else ""))
    _emit(args, checks, "\n".join(lines) or "no checks")
    return 0


def _override_line(o) -> str:  # noqa: ANN001
    return (f"override {o.id}: {o.entity} {o.entity_id} may pass rule {o.rule_id} '{o.rule_name}' once, until "
            f"{o.expires_at:%Y-%m-%d %H:%M} UTC — granted by {o.approved_by}: {o.reason}")


def cmd_override(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    view = _run(args, io, lambda ws: ws.compliance.grant_override(args.rule_id, args.entity, args.entity_id,
                                                                  args.reason, hours=args.hours))
    _emit(args, view, _override_line(view))
    return 0


def cmd_overrides(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    views = _run(args, io, lambda ws: ws.compliance.active_overrides())
    _emit(args, views, "\n".join(_override_line(o) for o in views) or "no active overrides")
    return 0


def cmd_report(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit
    from cio_desktop.errors import ValidationError
    from cio_desktop.services.compliance import report_format

    try:                              # an unknown extension is refused before opening the database
        fmt = report_format(args.out)
    except ValidationError as exc:
        raise ValidationError(exc.reason, field="--out") from None

    def go(ws):  # noqa: ANN001, ANN202
        report = ws.compliance.generate_compliance_report(args.start, args.end)
        return report, ws.compliance.export_report(report, args.out, fmt)

    report, path = _run(args, io, go)
    _emit(args, {"path": str(path), "format": fmt, "sha256": report.sha256, "checks": len(report.checks),
                 "violations": len(report.violations), "warnings": len(report.warnings)},
          f"compliance report {report.period_start} … {report.period_end} written to {path}: "
          f"{len(report.checks)} check(s), {len(report.violations)} violation(s), {len(report.warnings)} "
          f"warning(s); sha256 {report.sha256}")
    return 0
