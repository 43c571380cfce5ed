"""Write requirements-dev.lock from a `pip install --dry-run --report` file (make lock-dev)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEADER = """\
# Pinned development dependencies (scripts/test and CI install exactly these): pyproject's
# dev extra and the runtime pins (requirements.lock) with everything they pull in, resolved
# for CPython 3.11 on Linux. Regenerate with `make lock-dev`.
"""


def main(report: str) -> None:
    data = json.loads(Path(report).read_text(encoding="utf-8"))
    pins = sorted(
        (item["metadata"]["name"], item["metadata"]["version"])
        for item in data["install"]
        if item["metadata"]["name"] != "soci-ci"
    )
    pins.sort(key=lambda pin: pin[0].lower())
    sys.stdout.write(HEADER + "".join(f"{name}=={version}\n" for name, version in pins))


if __name__ == "__main__":
    main(sys.argv[1])
