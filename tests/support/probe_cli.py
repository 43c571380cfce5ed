"""`soci-ci probe` as a subprocess, for the tests against moto and the AWS protocol fake.

The images are digests in an ECR repository that exists nowhere: the probe only names them in
its task definitions (the AWS side is a fake or moto).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"
NO_SOCI = f"{REPO}@sha256:{'a' * 64}"
SOCI = f"{REPO}@sha256:{'b' * 64}"
CHECK = f"{REPO}@sha256:{'c' * 64}"


def probe_command(config: Path, *extra: str, images: bool = True) -> list[str]:
    """`soci-ci probe --config CONFIG` with the two images (unless `images` is false)."""
    argv = [sys.executable, "-m", "soci_ci", "probe", "--config", str(config)]
    if images:
        argv += ["--image-no-soci", NO_SOCI, "--image-soci", SOCI]
    return [*argv, *extra]


def run_probe(
    config: Path,
    *extra: str,
    env: Mapping[str, str],
    timeout: float = 240,
    images: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run the probe to its end; the caller asserts on the exit code and output."""
    return subprocess.run(
        probe_command(config, *extra, images=images),
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
