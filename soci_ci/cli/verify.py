"""`soci-ci verify` (placeholder until its owner lands it)."""

from __future__ import annotations

import argparse

from soci_ci.errors import UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("verify", help="(not yet available)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError("soci-ci verify is not available in this build")
