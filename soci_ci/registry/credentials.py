"""Where registry credentials come from, and the one host each may be sent to.

In order: explicit credentials (`--username`/`--password-stdin`, SOCI_CI_REGISTRY_USERNAME /
SOCI_CI_REGISTRY_PASSWORD) for the one host they are bound to (`--registry` /
SOCI_CI_REGISTRY_HOST, else the host of the repository the workflow or the command line
names); Amazon ECR tokens for the ECR host of their account and region; the Docker config
(and its credential helpers) for the host it stores them under. Anonymous when none has any.
"""

from __future__ import annotations

import logging

from soci_ci.registry.auth import Credentials
from soci_ci.registry.docker_config import DockerConfig
from soci_ci.registry.ecr import EcrTokens, parse_ecr_host
from soci_ci.registry.reference import same_registry

log = logging.getLogger(__name__)


class ChainedCredentials:
    def __init__(
        self,
        *,
        explicit: Credentials | None = None,
        explicit_host: str | None = None,
        docker: DockerConfig | None = None,
        ecr: EcrTokens | None = None,
    ) -> None:
        if explicit is not None and not explicit_host:
            raise ValueError("explicit credentials need the host they are bound to")
        self.explicit = explicit
        self.explicit_host = explicit_host
        self.docker = docker  # None: no Docker config is read
        self.ecr = ecr or EcrTokens()
        self._warned: set[str] = set()

    def get(self, host: str) -> Credentials | None:
        if self.explicit is not None and self.explicit_host is not None:
            if same_registry(host, self.explicit_host):
                return self.explicit
            if host not in self._warned:
                self._warned.add(host)
                log.warning(
                    "%s: the explicit registry credentials are for %s only "
                    "(--registry / SOCI_CI_REGISTRY_HOST); using this host's own Docker "
                    "config or ECR credentials, if any",
                    host,
                    self.explicit_host,
                )
        if parse_ecr_host(host) is not None:
            return self.ecr.get(host)
        return self.docker.get(host) if self.docker is not None else None
