"""Entry point of the GitHub container action and the CodeBuild step: only calls the CLI.

With no arguments it runs the whole pipeline in action mode (`soci-ci run --from-env`):
settings from the action's inputs / ``SOCI_CI_*`` variables, context from GitHub or CodeBuild.
"""

from __future__ import annotations

import sys

from soci_ci.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["run", "--from-env"]))
