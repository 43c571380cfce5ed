"""`soci-ci build` (placeholder until its owner lands it)."""

from __future__ import annotations

import argparse

from soci_ci.errors import UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("build", help="(not yet available)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError("soci-ci build is not available in this build")
