"""Point action.yml at a pushed image: `image: Dockerfile` -> `image: docker://REF`.

Used by .github/workflows/release.yml on the release commit only; main keeps building the
Dockerfile. Only the `runs.image` line changes; the rest of the file is kept byte for byte.
Usage: python3 scripts/release_action_yml.py docker://ghcr.io/OWNER/REPO:vX.Y.Z@sha256:...
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ACTION = Path(__file__).resolve().parents[1] / "action.yml"
_REF = re.compile(r"docker://[a-z0-9./_:-]+:v\d+\.\d+\.\d+(?:@sha256:[0-9a-f]{64})?")


def rewrite(text: str, image: str) -> str:
    if not _REF.fullmatch(image):
        raise SystemExit(f"not a docker://REPO:vX.Y.Z[@sha256:...] reference: {image!r}")
    new, count = re.subn(r"(?m)^(  image: )Dockerfile$", rf"\g<1>{image}", text)
    if count != 1:
        raise SystemExit("action.yml has no `  image: Dockerfile` line under runs:")
    return new


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        raise SystemExit(__doc__)
    ACTION.write_text(rewrite(ACTION.read_text(), argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
