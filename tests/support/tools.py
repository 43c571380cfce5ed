"""The system programs the tests use (skopeo, ...): required in CI, a visible skip elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def require(binary: str) -> None:
    if shutil.which(binary) is None:
        message = f"{binary} is not installed (scripts/test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def skopeo(*args: str) -> bytes:
    """Run skopeo, the independent client the tests cross-check pushes with; its stdout."""
    require("skopeo")
    done = subprocess.run(["skopeo", *args], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout
