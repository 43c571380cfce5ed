"""How soci-ci reaches the Docker CLI and SDK: handed in, never read from the process.

The CLI fills it from the environment module (``soci_ci.cli.environment``); the build hands it
to every docker call, so a temporary login (`soci_ci.build.docker_login`) or a build secret
reaches the child processes through their own environment and nothing global is changed.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerTools:
    environ: Mapping[str, str] = field(repr=False)  # the environment of the docker processes
    config_dir: Path  # the Docker config directory they use (DOCKER_CONFIG)
    cli_name: str | None = None  # SOCI_CI_DOCKER_CLI; None: `docker`
    buildkit_image: str | None = None  # SOCI_CI_BUILDKIT_IMAGE, for a docker-container builder

    def cli(self) -> str | None:
        """The docker binary, looked up on the processes' own PATH."""
        return shutil.which(self.cli_name or "docker", path=self.environ.get("PATH"))
