"""Installer smoke test: build the one-folder application with ``installer/build`` and start the
bundle headless on the demo company with ``--exit-after-start``; then a headless command of the
frozen program (``audit verify`` on the demo database it built) must work too.

Slow (a full PyInstaller build); it reuses ``build/pyinstaller-smoke`` as PyInstaller's work
cache, so a second run on the same checkout only re-collects what changed.
"""

from __future__ import annotations

import io
import os
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    r = subprocess.run([str(ROOT / "installer" / "build"), "--dist", str(dist), "--work",
                        str(ROOT / "build" / "pyinstaller-smoke"), "--incremental"],
                       capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return dist / "cio-desktop"


def _env(home: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "QT_QPA_PLATFORM": "offscreen",
            "CIO_KEYRING": "memory", "CIO_DATA_DIR": str(home / "data"), "CIO_LOG_DIR": str(home / "logs"),
            "CIO_CONFIG_DIR": str(home / "config"), "CIO_CACHE_DIR": str(home / "cache")}


@pytest.mark.slow
def test_bundle_has_version_icon_and_desktop_entry(bundle):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (bundle / "VERSION").read_text().strip() == version
    assert (bundle / "share" / "icons" / "hicolor" / "256x256" / "apps" / "cio-desktop.png").stat().st_size > 1000
    entry = next(bundle.rglob("cio-desktop.desktop")).read_text()
    assert "Exec=cio-desktop" in entry and "Icon=cio-desktop" in entry
    assert os.access(bundle / "cio-desktop", os.X_OK)


@pytest.mark.slow
def test_bundle_starts_headless_on_the_demo_and_quits(bundle, tmp_path):
    env = _env(tmp_path)
    r = subprocess.run([str(bundle / "cio-desktop"), "--demo", "--exit-after-start"], env=env,
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "window shown" in r.stdout + r.stderr
    assert (tmp_path / "data" / "demo.db").stat().st_size > 100_000
    # the same frozen program runs headless commands: the demo's audit trail verifies (the demo
    # used the published demo key: the memory keyring does not outlive the process)
    from cio_desktop.app import DEMO_DB_PASSPHRASE, DEMO_PASSWORD

    env["CIO_DB_PASSPHRASE"] = DEMO_DB_PASSPHRASE
    r = subprocess.run([str(bundle / "cio-desktop"), "audit", "verify", "--db", str(tmp_path / "data" / "demo.db"),
                        "--user", "auditor", "--password-stdin"], input=DEMO_PASSWORD + "\n", env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "chain intact" in r.stdout, r.stderr
    r = subprocess.run([str(bundle / "cio-desktop"), "--version"], env=env, capture_output=True, text=True,
                       timeout=120)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert r.returncode == 0 and version in r.stdout + r.stderr


@pytest.mark.slow
def test_bundle_serves_as_its_own_statement_parse_worker(bundle, tmp_path):
    """A large import in the frozen program starts the program itself as the parse worker
    (there is no interpreter to call): it must read the job and send the statement's rows."""
    import pickle

    from cio_desktop.services.parse_worker import WORKER_FLAG

    sample = ROOT / "tests" / "data" / "statements" / "mt940" / "nl_abnamro_sepa.sta"
    job = {"fmt": "mt940", "path": str(sample), "source": sample.name, "options": {}}
    r = subprocess.run([str(bundle / "cio-desktop"), WORKER_FLAG], input=pickle.dumps(job), env=_env(tmp_path),
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    stream, messages = io.BytesIO(r.stdout), []
    while stream.tell() < len(r.stdout):
        messages.append(pickle.load(stream))
    kinds = [m[0] for m in messages]
    assert kinds[0] == "statement" and kinds[-1] == "done" and "end" in kinds, kinds
    rows = [row for m in messages if m[0] == "chunk" for row in m[1]]
    assert rows and all(m[3] is None for m in messages if m[0] == "chunk")
