"""CLI: forecast, budget and analytics commands (issue 8).

``forecast [--horizon 13] [--granularity day|week|month] [--account ID ...] [--by-account]``,
``forecast backtest``, ``forecast scenarios [--growth 5%] [--delay DAYS] [--fx -3%]``,
``budget import FILE.xlsx|csv``, ``budget set CATEGORY YYYY-MM AMOUNT``, ``budget list``,
``budget variance [--period YYYY-MM] [--flagged]``, ``analytics train|adapt categoriser|forecast``,
``analytics models``, ``analytics patterns``, ``analytics confidence [KIND]``.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> set[str]:
    fc = sub.add_parser("forecast", parents=[common], help="cash-flow forecast with P10/P50/P90 bands")
    _forecast_args(fc)
    fc.set_defaults(func=cmd_forecast, command="forecast")
    fsub = fc.add_subparsers(dest="forecast_command", metavar="ACTION")
    p = fsub.add_parser("backtest", parents=[common], help="rolling-origin accuracy against seasonal-naive")
    _forecast_args(p)
    p.add_argument("--origins", type=int, default=6)
    p.set_defaults(func=cmd_backtest, command="forecast backtest")
    p = fsub.add_parser("scenarios", parents=[common], help="base, optimistic, pessimistic and your own")
    _forecast_args(p)
    p.add_argument("--growth", default=None, metavar="PCT", help="revenue growth, e.g. 5%% or -0.1")
    p.add_argument("--delay", type=int, default=None, metavar="DAYS", help="customers pay DAYS later")
    p.add_argument("--fx", default=None, metavar="PCT", help="foreign currencies move, e.g. -5%%")
    p.set_defaults(func=cmd_scenarios, command="forecast scenarios")

    bd = sub.add_parser("budget", help="budget lines and variances")
    bsub = bd.add_subparsers(dest="budget_command", metavar="ACTION")
    p = bsub.add_parser("import", parents=[common], help="import budget lines from CSV or Excel")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=cmd_budget_import, command="budget import")
    p = bsub.add_parser("set", parents=[common], help="set one budget line")
    p.add_argument("category")
    p.add_argument("period", metavar="YYYY-MM")
    p.add_argument("amount")
    p.set_defaults(func=cmd_budget_set, command="budget set")
    p = bsub.add_parser("list", parents=[common], help="list budget lines")
    p.add_argument("--from", dest="period_from", metavar="YYYY-MM")
    p.add_argument("--to", dest="period_to", metavar="YYYY-MM")
    p.set_defaults(func=cmd_budget_list, command="budget list")
    p = bsub.add_parser("variance", parents=[common], help="budget vs actual with explanations")
    p.add_argument("--period", metavar="YYYY-MM", help="default: the last complete month")
    p.add_argument("--flagged", action="store_true", help="only deviations above the thresholds")
    p.set_defaults(func=cmd_budget_variance, command="budget variance")

    an = sub.add_parser("analytics", help="categoriser and forecast models, patterns, confidence")
    asub = an.add_subparsers(dest="analytics_command", metavar="ACTION")
    for name, fn in (("train", cmd_train), ("adapt", cmd_adapt)):
        p = asub.add_parser(name, parents=[common], help=f"{name} a model (new version)")
        p.add_argument("kind", choices=["categoriser", "forecast"])
        p.set_defaults(func=fn, command=f"analytics {name}")
    p = asub.add_parser("models", parents=[common], help="model versions and their accuracy")
    p.set_defaults(func=cmd_models, command="analytics models")
    p = asub.add_parser("patterns", parents=[common], help="seasonal, cyclical and trend patterns")
    p.add_argument("--category", default=None)
    p.set_defaults(func=cmd_patterns, command="analytics patterns")
    p = asub.add_parser("confidence", parents=[common], help="how far to trust forecasts or recommendations")
    p.add_argument("kind", nargs="?", default="forecast")
    p.add_argument("--level", type=float, default=0.9)
    p.set_defaults(func=cmd_confidence, command="analytics confidence")
    return {"forecast", "budget", "analytics"}


def _forecast_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--horizon", type=int, default=13, help="number of periods (default 13)")
    p.add_argument("--granularity", default="week", choices=["day", "week", "month"])
    p.add_argument("--account", type=int, action="append", dest="accounts", metavar="ID")
    p.add_argument("--by-account", action="store_true", help="also print each account's rows")


def _run(args: argparse.Namespace, io, body):  # noqa: ANN001, ANN202
    from cio_desktop.cli import _login, _workspace

    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        return body(ws)
    finally:
        ws.close()


def _fmt(x: float) -> str:
    return f"{x:>16,.0f}"


def cmd_forecast(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    res = _run(args, io, lambda ws: ws.forecasts.forecast_cashflow(args.horizon, args.granularity,
                                                                   args.accounts or None))
    head = f"{'period':<11}{'known in':>16}{'known out':>16}{'model':>16}{'net P50':>16}{'closing P10':>16}" \
           f"{'closing P50':>16}{'closing P90':>16}"
    lines = [f"cash forecast {res.start.isoformat()} … {res.end.isoformat()} ({res.granularity.value}), "
             f"consolidated in {res.base_currency}", head]
    for r in res.rows:
        lines.append(f"{r.period:<11}{_fmt(r.known_in)}{_fmt(r.known_out)}{_fmt(r.model_net)}{_fmt(r.net_p50)}"
                     f"{_fmt(r.closing_p10)}{_fmt(r.closing_p50)}{_fmt(r.closing_p90)}")
    if args.by_account:
        names = {a.id: a.name for a in res.accounts}
        for acc_id, rows in res.by_account.items():
            lines.append(f"\n{names[acc_id]} ({rows[0].currency if rows else ''})")
            lines.extend(f"{r.period:<11}{_fmt(r.net_p50)}{_fmt(r.closing_p10)}{_fmt(r.closing_p50)}"
                         f"{_fmt(r.closing_p90)}" for r in rows)
    lines.extend(f"note: {n}" for n in res.notes)
    payload = {"start": res.start, "end": res.end, "granularity": res.granularity.value,
               "currency": res.base_currency, "model_used": res.model_used, "notes": res.notes,
               "rows": [r.as_dict() for r in res.rows]}
    if args.by_account:
        payload["accounts"] = {str(k): [r.as_dict() for r in v] for k, v in res.by_account.items()}
    _emit(args, payload, "\n".join(lines))
    return 0


def cmd_backtest(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    acc = _run(args, io, lambda ws: ws.forecasts.backtest(args.horizon, args.granularity, args.origins))
    _emit(args, acc.as_dict(),
          f"{acc.origins} origins × {args.horizon} {args.granularity}s: model MAE {acc.mae_model:,.0f}, "
          f"seasonal-naive MAE {acc.mae_baseline:,.0f}, skill {acc.skill:+.1%} "
          f"({'beats' if acc.beats_baseline else 'does NOT beat'} the baseline); P10–P90 covered "
          f"{acc.coverage_80:.0%}, 90% band covered {acc.coverage_90:.0%}")
    return 0


def cmd_scenarios(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    custom = []
    if args.growth is not None or args.delay is not None or args.fx is not None:
        custom.append({"name": "custom", "revenue_growth": args.growth or 0, "payment_delay_days": args.delay or 0,
                       "fx_move": args.fx or 0})
    comp = _run(args, io, lambda ws: ws.forecasts.model_scenarios(custom, args.horizon, args.granularity,
                                                                  args.accounts or None))
    lines = [f"ending balance {comp.end.isoformat()} ({comp.base_currency}, P50)"]
    lines += [f"{s.name:<14}{_fmt(s.ending)}" for s in comp.scenarios]
    _emit(args, [{"name": s.name, "ending": round(s.ending, 2), "periods": list(s.periods),
                  "closing": [round(x, 2) for x in s.closing]} for s in comp.scenarios], "\n".join(lines))
    return 0


def cmd_budget_import(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    res = _run(args, io, lambda ws: ws.budget.import_budget(args.file))
    _emit(args, res.__dict__, f"{res.source}: {res.lines} budget line(s), {res.created} new, {res.updated} updated")
    return 0


def cmd_budget_set(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    v = _run(args, io, lambda ws: ws.budget.set_budget_line(args.category, args.period, args.amount))
    _emit(args, v.__dict__, f"{v.category} {v.period}: {v.amount:,.2f} {v.currency}")
    return 0


def cmd_budget_list(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    rows = _run(args, io, lambda ws: ws.budget.list_budget(args.period_from, args.period_to))
    _emit(args, [r.__dict__ for r in rows],
          "\n".join(f"{r.period}  {r.category:<14}{r.amount:>16,.2f} {r.currency}" for r in rows) or "no budget lines")
    return 0


def cmd_budget_variance(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    out = _run(args, io, lambda ws: ws.budget.detect_budget_variance(args.period, only_flagged=args.flagged))
    payload = [{"category": v.category, "period": v.period, "budget": v.budget, "actual": v.actual,
                "deviation": v.deviation, "pct": v.pct, "flagged": v.flagged, "explanation": v.explanation}
               for v in out]
    _emit(args, payload, "\n".join(("! " if v.flagged else "  ") + v.explanation for v in out)
          or "no budget lines for that period")
    return 0


def cmd_train(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    v = _run(args, io, lambda ws: ws.analytics.train_model(args.kind))
    _emit(args, {"kind": v.kind, "version": v.version, "metrics": v.metrics, "params": v.params},
          f"{v.kind} version {v.version} trained on {v.samples} samples: {v.metrics}")
    return 0


def cmd_adapt(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    v = _run(args, io, lambda ws: ws.analytics.adapt_model(args.kind))
    if v is None:
        _emit(args, {"kind": args.kind, "version": None}, f"{args.kind}: up to date, nothing new to learn from")
    else:
        _emit(args, {"kind": v.kind, "version": v.version, "metrics": v.metrics},
              f"{v.kind} version {v.version}: {v.metrics}")
    return 0


def cmd_models(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    rows = _run(args, io, lambda ws: ws.analytics.list_models())
    _emit(args, [{"kind": m.kind, "version": m.version, "created_at": m.created_at, "samples": m.samples,
                  "active": m.is_active, "metrics": m.metrics} for m in rows],
          "\n".join(f"{m.kind:<12} v{m.version:<3} {'active' if m.is_active else '      '} {m.created_at:%Y-%m-%d %H:%M} "
                    f"{m.samples:>7} samples  {m.metrics}" for m in rows) or "no models trained yet")
    return 0


def cmd_patterns(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    pats = _run(args, io, lambda ws: ws.analytics.identify_patterns(category=args.category))
    _emit(args, [{"kind": p.kind, "period_days": p.period_days, "strength": round(p.strength, 4), "found": p.found,
                  "description": p.description} for p in pats],
          "\n".join(f"{p.kind:<10} {'found' if p.found else '     '} strength {p.strength:.2f}  {p.description}"
                    for p in pats) or "not enough history")
    return 0


def cmd_confidence(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    c = _run(args, io, lambda ws: ws.analytics.calculate_confidence(args.kind, args.level))
    _emit(args, c.__dict__, f"{c.kind}: confidence {c.score:.0%} ({c.basis})")
    return 0
