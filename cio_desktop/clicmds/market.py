"""CLI: market data and advisory (issue 10).

``market fetch [--provider NAME] [--force] [SYMBOL...]``, ``market providers``,
``market configure NAME [--url URL] [--api-key] [--ttl SECONDS] [--enable|--disable]``,
``market watch SYMBOL --provider NAME [--asset ID]``, ``market analyze ASSET``,
``market opportunities [--criteria NAME]``, ``advisory report [--portfolio ID]``,
``advisory list``. Exit code 8 when a provider failed and nothing was cached for it.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> set[str]:
    market = sub.add_parser("market", help="market data: fetch, watch list, analysis, opportunities")
    msub = market.add_subparsers(dest="market_command", metavar="ACTION")
    p = msub.add_parser("fetch", parents=[common], help="fetch prices, FX rates and fundamentals")
    p.add_argument("symbols", nargs="*", metavar="SYMBOL", help="only these watched symbols (default: all + FX)")
    p.add_argument("--provider", metavar="NAME", help="only this provider")
    p.add_argument("--force", action="store_true", help="ignore the cache's time-to-live")
    p.set_defaults(func=cmd_fetch, command="market fetch")
    p = msub.add_parser("providers", parents=[common], help="list providers and their status")
    p.set_defaults(func=cmd_providers, command="market providers")
    p = msub.add_parser("configure", parents=[common], help="change a provider (needs --otp)")
    p.add_argument("name")
    p.add_argument("--kind", choices=["ecb", "stooq", "alphavantage"])
    p.add_argument("--url", metavar="URL")
    p.add_argument("--api-key", action="store_true", help="read the API key (after the password) from the "
                   "prompt or standard input")
    p.add_argument("--ttl", type=int, metavar="SECONDS")
    p.add_argument("--ca-bundle", metavar="PEM", help="extra trusted CA for a private endpoint")
    on = p.add_mutually_exclusive_group()
    on.add_argument("--enable", dest="enabled", action="store_true", default=None)
    on.add_argument("--disable", dest="enabled", action="store_false")
    p.set_defaults(func=cmd_configure, command="market configure")
    p = msub.add_parser("watch", parents=[common], help="add a symbol to the watch list")
    p.add_argument("symbol")
    p.add_argument("--provider", required=True, metavar="NAME")
    p.add_argument("--asset", metavar="ID", help="feed this existing asset (identifier)")
    p.add_argument("--currency", metavar="CCY")
    p.set_defaults(func=cmd_watch, command="market watch")
    p = msub.add_parser("analyze", parents=[common], help="technical and fundamental analysis of an asset")
    p.add_argument("asset", metavar="ASSET")
    p.set_defaults(func=cmd_analyze, command="market analyze")
    p = msub.add_parser("opportunities", parents=[common], help="assets meeting investment criteria")
    p.add_argument("--criteria", metavar="NAME", default=None)
    p.add_argument("--portfolio", type=int, metavar="ID")
    p.set_defaults(func=cmd_opportunities, command="market opportunities")

    advisory = sub.add_parser("advisory", help="recommendations")
    asub = advisory.add_subparsers(dest="advisory_command", metavar="ACTION")
    p = asub.add_parser("report", parents=[common], help="generate and store prioritised recommendations")
    p.add_argument("--portfolio", type=int, metavar="ID")
    p.set_defaults(func=cmd_report, command="advisory report")
    p = asub.add_parser("list", parents=[common], help="the newest report's recommendations")
    p.add_argument("--status", choices=["open", "accepted", "rejected"])
    p.set_defaults(func=cmd_list, command="advisory list")
    return {"market", "advisory"}


def _run(args: argparse.Namespace, io, body):  # noqa: ANN001, ANN202
    from cio_desktop.cli import _login, _workspace

    ws = _workspace(args, io)
    try:
        _login(args, ws, io)
        return body(ws)
    finally:
        ws.close()


def cmd_fetch(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    import sys

    from cio_desktop.cli import _emit

    report = _run(args, io, lambda ws: ws.market.fetch_market_data(args.provider, args.symbols or None,
                                                                   force=args.force))
    for o in report.problems():
        print(f"warning: {o.describe()}", file=sys.stderr)
    lines = [o.describe() for o in report.outcomes] or ["nothing to fetch: the watch list is empty"]
    lines.append(f"{report.prices_written} price(s) and {report.fx_written} FX rate(s) written")
    _emit(args, report, "\n".join(lines))
    return 8 if any(o.status == "failed" for o in report.outcomes) else 0


def cmd_providers(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    rows = _run(args, io, lambda ws: ws.market.providers())
    text = "\n".join(f"{p.name:15} {p.kind:13} {'on ' if p.enabled else 'off'} ttl {p.ttl_seconds}s "
                     f"{'key stored' if p.has_api_key else 'no key':10} {p.base_url}"
                     + (f"\n    last error: {p.last_error}" if p.last_error else "") for p in rows)
    _emit(args, rows, text)
    return 0


def cmd_configure(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    def body(ws):  # noqa: ANN001, ANN202
        key = io.secret(f"API key for {args.name}: ") if args.api_key else None
        return ws.market.configure_provider(args.name, kind=args.kind, base_url=args.url, api_key=key,
                                            ttl_seconds=args.ttl, enabled=args.enabled,
                                            ca_bundle_path=args.ca_bundle)

    view = _run(args, io, body)
    _emit(args, view, f"provider '{view.name}' saved ({view.kind}, {'on' if view.enabled else 'off'})")
    return 0


def cmd_watch(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    view = _run(args, io, lambda ws: ws.market.watch(args.symbol, args.provider, asset=args.asset,
                                                    currency=args.currency))
    _emit(args, view, f"watching {view.symbol} at {view.provider} → asset {view.identifier} ({view.currency})")
    return 0


def cmd_analyze(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    a = _run(args, io, lambda ws: ws.market.analyze_investment(args.asset))
    lines = [f"{a.name} ({a.identifier}) as of {a.as_of}"]
    for section, readings in a.sections.items():
        lines.append(f"[{section}]")
        lines += [f"  {r.label:36} {r.signal:14} {r.text()}" for r in readings]
    payload = {"identifier": a.identifier, "as_of": a.as_of,
               "sections": {s: [r.__dict__ for r in rs] for s, rs in a.sections.items()}}
    _emit(args, payload, "\n".join(lines))
    return 0


def cmd_opportunities(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    res = _run(args, io, lambda ws: ws.market.identify_opportunities(args.criteria, portfolio_id=args.portfolio))
    lines = [f"criteria '{res.criteria.name}': {len(res.opportunities)} of {res.universe} assets qualify"]
    for o in res.opportunities:
        c, x = o.candidate, o.context
        corr = f"{x.correlation:+.2f}" if x.correlation is not None else "n/a"
        lines.append(f"  {c.identifier:14} {c.name[:30]:30} mom {c.momentum:+.1%} vol {c.volatility:.1%} "
                     f"weight {x.weight:.1%}→{x.weight_after:.1%} corr {corr}")
    payload = [{"identifier": o.candidate.identifier, "name": o.candidate.name, "momentum": o.candidate.momentum,
                "volatility": o.candidate.volatility, "context": o.context.__dict__} for o in res.opportunities]
    _emit(args, payload, "\n".join(lines))
    return 0


def _rec_lines(items) -> list[str]:  # noqa: ANN001
    return [f"{i + 1:2}. [{s.rec.urgency}] {s.rec.action} {s.rec.subject} — impact {s.rec.expected_impact:,.0f}, "
            f"confidence {s.rec.confidence:.0%} ({s.status})\n    {s.rec.rationale}" for i, s in enumerate(items)]


def cmd_report(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    report = _run(args, io, lambda ws: ws.advisory.generate_report(args.portfolio))
    lines = [f"advisory report {report.id}: {len(report.recommendations)} recommendation(s)"]
    lines += _rec_lines(report.recommendations)
    lines += [f"input {k}: {v}" for k, v in report.inputs.items()]
    _emit(args, report, "\n".join(lines))
    return 0


def cmd_list(args: argparse.Namespace, io) -> int:  # noqa: ANN001
    from cio_desktop.cli import _emit

    items = _run(args, io, lambda ws: ws.advisory.recommendations(status=args.status))
    _emit(args, items, "\n".join(_rec_lines(items)) or "no recommendations: run 'advisory report'")
    return 0
