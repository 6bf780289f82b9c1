"""The jobs commands against a real encrypted database in a subprocess."""

from __future__ import annotations

import json

from tests.integration.test_cli import PASSWORD, cli, initialised  # noqa: F401


def test_jobs_commands(tmp_path, initialised):  # noqa: F811
    base = ["--db", str(initialised), "--user", "root", "--password-stdin"]
    r = cli(tmp_path, "jobs", "pause", "advisory", *base, stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    r = cli(tmp_path, "jobs", "list", *base, "--json", stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    jobs = {j["name"]: j for j in json.loads(r.stdout)}
    assert {"sync", "payments", "metrics", "escalation", "deliveries", "daily_summary", "advisory",
            "forecast_snapshot", "learning", "market"} == set(jobs)
    assert jobs["advisory"]["paused"] is True and jobs["sync"]["next_run"]
    r = cli(tmp_path, "jobs", "run", "escalation", *base, stdin=PASSWORD + "\n")
    assert r.returncode == 0 and "escalation: ok" in r.stdout, r.stderr
    r = cli(tmp_path, "alerts", "rule", "Portfolio drawdown", "--threshold", "0.08", "--severity", "critical",
            *base, stdin=PASSWORD + "\n")
    assert r.returncode == 0 and "above 0.08, critical" in r.stdout, r.stderr
    r = cli(tmp_path, "jobs", "run-forever", "--max-seconds", "1", *base, stdin=PASSWORD + "\n")
    assert r.returncode == 0 and "scheduler running as root" in r.stdout, r.stderr
