"""`python -m soci_ci` runs the command line."""

from __future__ import annotations

import sys

from soci_ci.cli import main

sys.exit(main())
