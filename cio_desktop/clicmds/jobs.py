"""CLI: the background scheduler and alerts (issue 9).

``cio-desktop jobs list`` · ``jobs run NAME`` · ``jobs pause|resume NAME`` ·
``jobs schedule NAME "CRON"`` · ``jobs run-forever`` (an unattended workstation: the scheduler
in the foreground until Ctrl+C or SIGTERM) · ``alerts list [--all]`` · ``alerts ack ID`` ·
``alerts check`` (measure every rule now) · ``alerts rules`` · ``alerts rule NAME [--threshold X]
[--severity S] [--escalate-minutes N] [--path a,role:b] [--enable|--disable]``. Exit code 1 from ``jobs run`` when the job failed,
from ``alerts list`` when a critical alert is open.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> set[str]:
    jobs = sub.add_parser("jobs", help="background jobs: list, run, pause, schedule, run-forever") \
        .add_subparsers(dest="jobs_command", metavar="ACTION")
    p = jobs.add_parser("list", parents=[common], help="each job: schedule, next run, last result")
    p.set_defaults(func=cmd_jobs_list)
    for name, helptext in (("run", "run one job now (e.g. metrics, daily_summary)"),
                           ("pause", "pause a job (kept across restarts)"), ("resume", "resume a paused job")):
        p = jobs.add_parser(name, parents=[common], help=helptext)
        p.add_argument("name", metavar="NAME")
        p.set_defaults(func=cmd_jobs_manage, jobs_action=name)
    p = jobs.add_parser("schedule", parents=[common], help="set a cron schedule (advisory, daily_summary)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("cron", metavar="CRON", help="five fields, UTC: minute hour day month weekday")
    p.set_defaults(func=cmd_jobs_schedule)
    p = jobs.add_parser("run-forever", parents=[common], help="run the scheduler until interrupted")
    p.add_argument("--max-seconds", type=float, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_jobs_forever)

    alerts = sub.add_parser("alerts", help="alerts: list, acknowledge, check now") \
        .add_subparsers(dest="alerts_command", metavar="ACTION")
    p = alerts.add_parser("list", parents=[common], help="open alerts (or --all)")
    p.add_argument("--all", action="store_true")
    p.set_defaults(func=cmd_alerts_list)
    p = alerts.add_parser("ack", parents=[common], help="acknowledge an alert (stops its escalation)")
    p.add_argument("alert_id", type=int, metavar="ID")
    p.set_defaults(func=cmd_alerts_ack)
    p = alerts.add_parser("check", parents=[common], help="measure every alert rule now")
    p.set_defaults(func=cmd_alerts_check)
    p = alerts.add_parser("rules", parents=[common], help="list the threshold rules")
    p.set_defaults(func=cmd_alerts_rules)
    p = alerts.add_parser("rule", parents=[common], help="change a rule's threshold, severity, escalation")
    p.add_argument("name", metavar="NAME", help="the rule's name, e.g. 'Portfolio drawdown'")
    p.add_argument("--threshold")
    p.add_argument("--severity", choices=("info", "warning", "critical"))
    p.add_argument("--escalate-minutes", type=int, dest="escalate_minutes")
    p.add_argument("--path", help="escalation path: user names or role:<role>, comma-separated")
    p.add_argument("--enable", dest="enabled", action="store_true", default=None)
    p.add_argument("--disable", dest="enabled", action="store_false")
    p.set_defaults(func=cmd_alerts_rule)
    return {"jobs", "alerts"}


def _session(args: argparse.Namespace, io):  # noqa: ANN001, ANN202
    from cio_desktop.cli import _login, _workspace

    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
    except BaseException:
        ws.close()
        raise
    return ws


def _with_jobs(args: argparse.Namespace, io, fn, *, start: bool = True):  # noqa: ANN001, ANN202
    from cio_desktop.jobs.scheduler import BackgroundJobs

    ws = _session(args, io)
    jobs = BackgroundJobs(ws, ws.ctx.session)
    try:
        if start:
            jobs.start(wire_events=False, paused=True)  # inspect/change the store; run nothing
        return fn(jobs)
    finally:
        jobs.stop()
        ws.close()


def _when(t) -> str:  # noqa: ANN001
    return t.strftime("%Y-%m-%d %H:%M UTC") if t else "—"


def cmd_jobs_list(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    rows = _with_jobs(args, io, lambda jobs: jobs.jobs())
    lines = [f"{j.name:<14} {'PAUSED ' if j.paused else ''}{j.schedule:<16} next {_when(j.next_run):<21} "
             f"last {_when(j.last_run_at)} {'ok' if j.last_ok else 'FAILED'} {j.last_result[:60]}" for j in rows]
    _emit(args, rows, "\n".join(lines))
    return 0


def cmd_jobs_manage(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    def act(jobs):  # noqa: ANN001, ANN202
        if args.jobs_action == "run":
            return jobs.run_now(args.name)
        getattr(jobs, args.jobs_action)(args.name)
        return None

    result = _with_jobs(args, io, act, start=args.jobs_action != "run")
    if result is None:
        _emit(args, {"job": args.name, "action": args.jobs_action}, f"{args.name}: {args.jobs_action}d")
        return 0
    _emit(args, result, f"{result.name}: {'ok' if result.ok else 'FAILED'} — {result.message}")
    return 0 if result.ok else 1


def cmd_jobs_schedule(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    _with_jobs(args, io, lambda jobs: jobs.set_schedule(args.name, args.cron))
    _emit(args, {"job": args.name, "cron": args.cron}, f"{args.name}: scheduled '{args.cron}' (UTC)")
    return 0


def cmd_jobs_forever(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    import logging
    import signal
    import threading

    from cio_desktop.jobs.scheduler import BackgroundJobs

    log = logging.getLogger("cio_desktop.jobs")
    ws = _session(args, io)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *a: stop.set())
    jobs = BackgroundJobs(ws, ws.ctx.session)
    try:
        jobs.start()
        print(f"scheduler running as {ws.ctx.actor} on {ws.db.display_name}; Ctrl+C to stop", flush=True)
        try:
            stop.wait(args.max_seconds)
        except KeyboardInterrupt:
            pass
        log.info("run-forever stopping")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        jobs.stop()
        ws.close()


def _alerts(args: argparse.Namespace, io, fn):  # noqa: ANN001, ANN202
    ws = _session(args, io)
    try:
        return fn(ws)
    finally:
        ws.close()


def cmd_alerts_list(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    rows = _alerts(args, io, lambda ws: ws.alerts.list_alerts("all" if args.all else "open"))
    lines = [f"{a.id:>5}  {a.severity.upper():<8} {a.status:<12} {_when(a.created_at)}  {a.title}" for a in rows]
    _emit(args, rows, "\n".join(lines) or "no open alerts")
    return 1 if any(a.severity == "critical" and a.status != "resolved" for a in rows) else 0


def cmd_alerts_ack(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    a = _alerts(args, io, lambda ws: ws.alerts.acknowledge(args.alert_id))
    _emit(args, a, f"alert {a.id} acknowledged by {a.acknowledged_by}")
    return 0


def cmd_alerts_check(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    report = _alerts(args, io, lambda ws: ws.alerts.evaluate())
    lines = [report.summary()] + [f"  {name}: not available ({why})" for name, why in report.unavailable.items()]
    _emit(args, {"raised": report.raised, "resolved": report.resolved, "unavailable": report.unavailable},
          "\n".join(lines))
    return 0


def cmd_alerts_rules(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    rules = _alerts(args, io, lambda ws: ws.alerts.rules())
    lines = [f"{r.name:<30} {r.source}/{r.metric:<22} {r.comparison} {r.threshold:<8} {r.severity:<8}"
             f"{' escalate every %d min: ' % r.escalation_minutes + ' → '.join(r.escalation_path) if r.escalation_minutes else ''}"
             f"{'' if r.enabled else ' (disabled)'}" for r in rules]
    _emit(args, rules, "\n".join(lines))
    return 0


def cmd_alerts_rule(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit
    from cio_desktop.errors import NotFound

    def change(ws):  # noqa: ANN001, ANN202
        current = next((r for r in ws.alerts.rules() if r.name == args.name), None)
        if current is None:
            raise NotFound(f"no alert rule '{args.name}' (see 'cio-desktop alerts rules')")
        path = [p.strip() for p in args.path.split(",")] if args.path is not None else list(current.escalation_path)
        return ws.alerts.save_rule(
            name=current.name, source=current.source, metric=current.metric, subject=current.subject,
            comparison=current.comparison, params=current.params,
            threshold=args.threshold if args.threshold is not None else current.threshold,
            severity=args.severity or current.severity,
            escalation_minutes=args.escalate_minutes if args.escalate_minutes is not None else current.escalation_minutes,
            escalation_path=path, enabled=current.enabled if args.enabled is None else args.enabled)

    rule = _alerts(args, io, change)
    _emit(args, rule, f"{rule.name}: {rule.comparison} {rule.threshold}, {rule.severity}"
                      f"{', enabled' if rule.enabled else ', disabled'}")
    return 0
