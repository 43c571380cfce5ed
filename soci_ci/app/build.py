"""The build step: build with the Docker engine, push every tag, report the manifest digest."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from soci_ci.app.options import BuildOptions
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
from soci_ci.oci.image_ref import parse_image_ref
from soci_ci.registry.auth import Credentials
from soci_ci.registry.credentials import ChainedCredentials
from soci_ci.registry.reference import parse_reference

log = logging.getLogger(__name__)


def _auth_for(
    tag: str, explicit: Credentials | None, explicit_host: str | None
) -> dict[str, str] | None:
    bound = explicit if explicit_host else None
    chain = ChainedCredentials(explicit=bound, explicit_host=explicit_host)
    creds = chain.get(parse_reference(tag).registry)
    if creds is None:
        return None
    return {"username": creds.username, "password": creds.password}


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltImage:
    result: BuildResult
    reference: str | None  # `repository@digest` of the first tag, when pushed

    def to_json(self) -> dict[str, Any]:
        return self.result.to_json() | ({"reference": self.reference} if self.reference else {})


def build_image(options: BuildOptions) -> BuiltImage:
    """Build and push; the pushed image as `repository@digest`."""
    spec = options.spec
    registry = options.registry
    # The explicit login goes to one host: --registry, else the first tag's registry.
    host = registry.credentials_host
    if host is None and spec.tags:
        host = parse_reference(spec.tags[0]).registry
    result = _build(spec, registry.credentials(), host, str(options.builder))
    reference = None
    if result.digest and spec.tags:
        reference = parse_image_ref(spec.tags[0]).at(result.digest)
    return BuiltImage(result=result, reference=reference)


def _build(
    spec: BuildSpec, explicit: Credentials | None, explicit_host: str | None, builder: str
) -> BuildResult:
    """Build with `builder` (auto: buildx, else the CLI's BuildKit, else the SDK) and push."""
    if spec.push and not spec.tags:
        raise BuildError("nothing to push: give at least one --tag REPO:TAG (or --no-push)")
    if builder == "auto":
        builder = choose_builder()
    if builder == "buildx":
        log.info("building with BuildKit (docker buildx)")
        return build_with_buildx(spec)
    if spec.platform and "," in spec.platform:
        raise BuildError(
            f"building several platforms ({spec.platform}) needs docker buildx; "
            f"the {builder} builder makes one image",
            hint="install the buildx plugin with a builder that supports multi-platform "
            "builds, or build one platform",
        )
    import docker  # noqa: PLC0415 - the Docker SDK is only needed here

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as exc:
        raise BuildError(
            f"cannot reach the Docker engine: {' '.join(str(exc).split())[:300]}",
            hint="start dockerd or set DOCKER_HOST (CodeBuild: enable privileged mode)",
        ) from None
    log.info("building %s from %s", ", ".join(spec.tags) or "(untagged)", spec.context)
    if builder == "buildkit":
        log.info("building with BuildKit (the docker CLI's built-in client)")
        image_id = build_with_cli_buildkit(spec)
    else:
        image_id = build_with_sdk(client, spec)
    pushed = {}
    if spec.push:
        for tag in spec.tags:
            log.info("pushing %s", tag)
            pushed[tag] = push_with_sdk(client, tag, _auth_for(tag, explicit, explicit_host))
    return BuildResult(image_id=image_id, tags=spec.tags, pushed=pushed, builder=builder)
