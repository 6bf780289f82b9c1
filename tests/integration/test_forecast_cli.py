"""The forecast, budget and analytics commands through ``cli.main`` (in process, so the
module stays fast) on a demo database built once for this module (issue 8)."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

from cio_desktop.cli import main

PASSWORD = "Planning-Demo-Passw0rd"


def _env(root: Path) -> dict[str, str]:
    return {"CIO_DATA_DIR": str(root / "data"), "CIO_LOG_DIR": str(root / "logs"), "CIO_CACHE_DIR": str(root / "cache"),
            "CIO_CONFIG_DIR": str(root / "config"), "CIO_DB_PASSPHRASE": "planning cli passphrase",
            "CIO_KEYRING": "none"}


def _main(mp: pytest.MonkeyPatch, root: Path, *args: str) -> int:
    for k in [k for k in os.environ if k.startswith("CIO_")]:
        mp.delenv(k)
    for k, v in _env(root).items():
        mp.setenv(k, v)
    mp.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    return main(list(args))


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("planning_cli")
    db = str(root / "demo.db")
    with pytest.MonkeyPatch.context() as mp:
        assert _main(mp, root, "demo", "--db", db, "--seed", "7", "--password-stdin") == 0
    return root, db


def run(demo_db, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:  # noqa: ANN001
    root, db = demo_db
    capsys.readouterr()
    code = _main(monkeypatch, root, *args, "--db", db, "--user", "treasurer", "--password-stdin")
    out = capsys.readouterr()
    return code, out.out, out.err


def test_forecast_json_has_one_row_per_week_and_bad_horizon(demo_db, monkeypatch, capsys) -> None:
    code, out, err = run(demo_db, monkeypatch, capsys, "--json", "forecast", "--horizon", "13", "--granularity", "week")
    assert code == 0, err
    data = json.loads(out)
    assert len(data["rows"]) == 13 and data["currency"] == "EUR" and data["model_used"]
    assert all(row["closing_p10"] <= row["closing_p50"] <= row["closing_p90"] for row in data["rows"])
    code, out, err = run(demo_db, monkeypatch, capsys, "forecast", "--horizon", "0")
    assert code != 0 and "horizon" in err and len(err.strip().splitlines()) == 1


def test_budget_import_variance_and_scenarios(demo_db, monkeypatch, capsys, tmp_path: Path) -> None:
    f = tmp_path / "budget.csv"
    f.write_text("category,period,amount\nsuppliers,2026-10,100000\nmarketing,2026-10,5\n", encoding="utf-8")
    code, _out, err = run(demo_db, monkeypatch, capsys, "budget", "import", str(f))
    assert code != 0 and "line 3" in err and "category" in err
    f.write_text("category,period,amount\nsuppliers,2026-10,100000\n", encoding="utf-8")
    assert run(demo_db, monkeypatch, capsys, "budget", "import", str(f))[0] == 0
    code, out, err = run(demo_db, monkeypatch, capsys, "--json", "budget", "variance", "--period", "2026-10", "--flagged")
    assert code == 0, err
    v = next(x for x in json.loads(out) if x["category"] == "suppliers")
    assert v["flagged"] and "above budget" in v["explanation"] and float(v["budget"]) == 100000
    code, out, err = run(demo_db, monkeypatch, capsys, "--json", "forecast", "scenarios", "--horizon", "4", "--delay", "20")
    names = {s["name"]: s["ending"] for s in json.loads(out)}
    assert names["custom"] < names["base"]
    code, out, err = run(demo_db, monkeypatch, capsys, "analytics", "patterns")
    assert code == 0 and "weekly" in out
