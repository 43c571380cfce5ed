"""Where registry credentials come from, in order: explicit options, Amazon ECR for ECR hosts,
then the Docker config (and its credential helpers). Anonymous when none has any."""

from __future__ import annotations

from soci_ci.registry.auth import Credentials
from soci_ci.registry.docker_config import DockerConfig
from soci_ci.registry.ecr import EcrTokens, parse_ecr_host


class ChainedCredentials:
    def __init__(
        self,
        *,
        explicit: Credentials | None = None,
        docker: DockerConfig | None = None,
        ecr: EcrTokens | None = None,
    ) -> None:
        self.explicit = explicit
        self.docker = docker or DockerConfig()
        self.ecr = ecr or EcrTokens()

    def get(self, host: str) -> Credentials | None:
        if self.explicit is not None:
            return self.explicit
        if parse_ecr_host(host) is not None:
            return self.ecr.get(host)
        return self.docker.get(host)
