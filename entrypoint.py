"""Entry point of the GitHub container action and the CodeBuild step: only calls the CLI."""

from __future__ import annotations

import sys

from soci_ci.cli import main

if __name__ == "__main__":
    sys.exit(main())
