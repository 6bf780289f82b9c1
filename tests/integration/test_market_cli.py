"""``market`` and ``advisory`` commands end to end (subprocess, real encrypted file, real local
HTTPS provider)."""

from __future__ import annotations

import json
from datetime import date, timedelta

from tests.integration.test_cli import PASSWORD, cli, initialised, otp  # noqa: F401
from tests.market_fixtures import market_pki, market_server, series  # noqa: F401


def test_market_fetch_cache_and_advisory_report(tmp_path, initialised, market_server) -> None:  # noqa: ANN001, F811
    db = str(initialised)
    who = ["--db", db, "--user", "root", "--password-stdin"]
    days, closes = series("rising", date.today() - timedelta(days=1), 300)
    market_server.stooq("sap.de", days, closes)
    r = cli(tmp_path, "market", "configure", "Stooq", "--url", market_server.origin + "/stooq", "--ca-bundle",
            str(market_server.pki.ca_cert), "--otp", otp(), *who, stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    r = cli(tmp_path, "market", "watch", "sap.de", "--provider", "Stooq", *who, stdin=PASSWORD + "\n")
    assert r.returncode == 0 and "SAP.DE (EUR)" in r.stdout, r.stderr
    cli(tmp_path, "market", "watch", "nosuch.us", "--provider", "Stooq", *who, stdin=PASSWORD + "\n")
    r = cli(tmp_path, "--json", "market", "fetch", "--provider", "Stooq", *who, stdin=PASSWORD + "\n")
    assert r.returncode == 8 and "warning: Stooq [nosuch.us]" in r.stderr and "no cached data" in r.stderr
    assert json.loads(r.stdout)["prices_written"] == 300
    r = cli(tmp_path, "--json", "advisory", "report", *who, stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["inputs"]["opportunities"].startswith("used")
    assert [x["rec"]["subject"] for x in report["recommendations"]] == ["SAP.DE (SAP.DE)"]
