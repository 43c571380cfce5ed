"""The build step: build with the Docker engine, push every tag, report the manifest digest.

The Docker CLI/buildx get the registry logins soci-ci has (ECR tokens, the explicit
registry login) through a temporary DOCKER_CONFIG (`soci_ci.build.docker_login`) in their own
environment; the Docker SDK is handed the same config file. Nothing process-wide changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from soci_ci.app.options import BuildOptions, RegistryOptions
from soci_ci.build.docker_login import (
    Login,
    base_image_hosts,
    collect_logins,
    docker_env,
)
from soci_ci.build.docker_tools import DockerTools
from soci_ci.build.engine import (
    BuildResult,
    build_with_buildx,
    build_with_cli_buildkit,
    build_with_sdk,
    choose_builder,
    push_with_sdk,
)
from soci_ci.build.spec import BuildSpec
from soci_ci.errors import BuildError
from soci_ci.limits import DOCKERFILE_SCAN
from soci_ci.oci.image_ref import parse_image_ref
from soci_ci.registry.auth import Credentials
from soci_ci.registry.credentials import ChainedCredentials
from soci_ci.registry.ecr import EcrTokens
from soci_ci.registry.reference import parse_reference

log = logging.getLogger(__name__)


def _auth_for(
    tag: str, registry: RegistryOptions, explicit_host: str | None
) -> dict[str, str] | None:
    explicit = registry.credentials()
    bound = explicit if explicit_host else None
    chain = ChainedCredentials(
        explicit=bound, explicit_host=explicit_host, docker=registry.docker_logins()
    )
    creds = chain.get(parse_reference(tag).registry)
    if creds is None:
        return None
    return {"username": creds.username, "password": creds.password}


def build_logins(
    spec: BuildSpec, *, explicit: Credentials | None, explicit_host: str | None = None
) -> tuple[Login, ...]:
    """The logins the build needs: explicit (bound to its one host, else the first tag's) and
    ECR tokens for the ECR hosts of the push and of `FROM`."""
    push_hosts = tuple(dict.fromkeys(parse_reference(t).registry for t in spec.tags))
    try:
        with (spec.context / spec.dockerfile).open("rb") as handle:
            dockerfile = handle.read(DOCKERFILE_SCAN).decode("utf-8", errors="replace")
    except OSError:
        dockerfile = ""
    host = explicit_host or (push_hosts[0] if push_hosts else None)
    login = Login(host=host, credentials=explicit) if explicit is not None and host else None
    return collect_logins(
        push_hosts=push_hosts,
        base_hosts=base_image_hosts(dockerfile[:DOCKERFILE_SCAN]),
        explicit=login,
        ecr=EcrTokens().get,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltImage:
    result: BuildResult
    reference: str | None  # `repository@digest` of the first tag, when pushed

    def to_json(self) -> dict[str, Any]:
        return self.result.to_json() | ({"reference": self.reference} if self.reference else {})


def build_image(options: BuildOptions) -> BuiltImage:
    """Build and push; the pushed image as `repository@digest`."""
    spec = options.spec
    # The explicit login goes to one host: --registry, else the first tag's registry.
    host = options.registry.credentials_host
    if host is None and spec.tags:
        host = parse_reference(spec.tags[0]).registry
    if spec.push and not spec.tags:
        raise BuildError("nothing to push: give at least one --tag REPO:TAG (or --no-push)")
    logins = build_logins(spec, explicit=options.registry.credentials(), explicit_host=host)
    with docker_env(logins, options.docker) as docker:
        result = _build(options, docker, host)
    reference = None
    if result.digest and spec.tags:
        reference = parse_image_ref(spec.tags[0]).at(result.digest)
    return BuiltImage(result=result, reference=reference)


def _build(options: BuildOptions, docker: DockerTools, explicit_host: str | None) -> BuildResult:
    """Build with the builder asked for (auto: buildx, else the CLI's BuildKit, else the SDK)
    and push."""
    spec = options.spec
    builder = str(options.builder)
    if builder == "auto":
        builder = choose_builder(docker)
    if builder == "buildx":
        log.info("building with BuildKit (docker buildx)")
        return build_with_buildx(spec, docker)
    if spec.needs_buildkit:
        raise BuildError(
            f"several platforms ({spec.platform}), build secrets and cache import/export "
            f"need docker buildx; the {builder} builder has none of them",
            hint="install the docker buildx plugin (the action image has it)",
        )
    client = _sdk_client(docker)
    log.info("building %s from %s", ", ".join(spec.tags) or "(untagged)", spec.context)
    if builder == "buildkit":
        log.info("building with BuildKit (the docker CLI's built-in client)")
        image_id = build_with_cli_buildkit(spec, docker)
    else:
        image_id = build_with_sdk(client, spec)
    pushed = {}
    if spec.push:
        for tag in spec.tags:
            log.info("pushing %s", tag)
            auth = _auth_for(tag, options.registry, explicit_host)
            pushed[tag] = push_with_sdk(client, tag, auth)
    return BuildResult(image_id=image_id, tags=spec.tags, pushed=pushed, builder=builder)


def _sdk_client(docker: DockerTools) -> Any:
    """The Docker SDK's client for the engine `docker.environ` names (DOCKER_HOST), with the
    auth config (for `FROM` pulls) read from `docker.config_dir`."""
    import docker as docker_sdk  # noqa: PLC0415 - the Docker SDK is only needed here

    try:
        client = docker_sdk.from_env(timeout=600, environment=dict(docker.environ))
        client.api.reload_config(str(docker.config_dir / "config.json"))
        client.ping()
    except docker_sdk.errors.DockerException as exc:
        raise BuildError(
            f"cannot reach the Docker engine: {' '.join(str(exc).split())[:300]}",
            hint="start dockerd or set DOCKER_HOST (CodeBuild: enable privileged mode)",
        ) from None
    return client
