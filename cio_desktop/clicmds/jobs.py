"""CLI: the background scheduler: jobs list, run-forever (issue 9)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> set[str]:
    return set()
