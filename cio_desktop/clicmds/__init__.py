"""Top-level CLI commands that belong to one domain each (``cli.py`` keeps the core ones).

Each module here defines ``register(sub, common) -> set[str]``: it adds its sub-parsers to
``sub`` (with ``parents=[common]`` for the global options) and returns the top-level command
names it added, so ``cli.main`` knows them. Helpers for commands (``Io``, ``_workspace``,
``_login``, ``_emit``) are imported from :mod:`cio_desktop.cli` inside the command functions.
"""

from __future__ import annotations

import argparse
import importlib

MODULES = ("compliance", "planning", "jobs", "market", "reports", "backup")


def register_all(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> set[str]:
    names: set[str] = set()
    for name in MODULES:
        names |= importlib.import_module(f"cio_desktop.clicmds.{name}").register(sub, common)
    return names
