"""``cio-desktop export board-pack`` as a user runs it (subprocess, real encrypted file)."""

from __future__ import annotations

import json
import zipfile

from tests.integration.test_cli import PASSWORD, cli, initialised  # noqa: F401 - fixture


def test_export_board_pack_headless_and_bad_input(tmp_path, initialised) -> None:  # noqa: ANN001, F811
    out = tmp_path / "pack.zip"
    r = cli(tmp_path, "export", "board-pack", "--db", str(initialised), "--user", "root", "--password-stdin",
            "--format", "csv", "--out", str(out), "--period", "2026-01", "--json", stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    payload = json.loads(r.stdout)
    assert payload["path"] == str(out) and payload["format"] == "csv"
    assert "note: Cash and liquidity: no data (no bank accounts yet)" in r.stderr
    with zipfile.ZipFile(out) as zf:
        assert "tables.json" in zf.namelist()
    # bad input: one line, non-zero exit, no file
    r = cli(tmp_path, "export", "board-pack", "--db", str(initialised), "--user", "root", "--password-stdin",
            "--format", "pdf", "--out", str(tmp_path / "pack.pdf"), "--period", "soon", stdin=PASSWORD + "\n")
    assert r.returncode == 1 and "is not a period" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli(tmp_path, "export", "board-pack", "--db", str(initialised), "--user", "root", "--password-stdin",
            "--format", "pdf", "--out", str(tmp_path / "no" / "pack.pdf"), stdin=PASSWORD + "\n")
    assert r.returncode == 1 and "does not exist" in r.stderr
    assert not (tmp_path / "pack.pdf").exists()
