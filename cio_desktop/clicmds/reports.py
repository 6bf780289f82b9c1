"""CLI: export board-pack (issue 11)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> set[str]:
    return set()
