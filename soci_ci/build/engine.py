"""The Docker engine edge: build with BuildKit or the Docker SDK, push, report the digest.

BuildKit (needed by Dockerfiles that use `RUN --mount`, `COPY --chmod`, heredocs...) is
reached through the Docker CLI: `docker buildx build` when the buildx plugin is installed, else
`DOCKER_BUILDKIT=1 docker build` with a CLI older than 23.0, whose BuildKit client is built in
and talks to the engine's embedded BuildKit (Debian 12's docker.io is 20.10). Without either,
the SDK drives the engine's classic builder. `DockerTools` (from the environment module) names
the CLI binary and holds the environment every docker process gets.

The build log is streamed to the logger as progress; the first error the engine reports ends
the build with a `BuildError` whose message is that error, on one line.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import secrets
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soci_ci.build.docker_tools import DockerTools
from soci_ci.build.spec import BuildSpec, split_tag
from soci_ci.ci.workflow_commands import prefix_lines
from soci_ci.errors import BuildError
from soci_ci.limits import BUILD_LOG_LINE, BUILD_LOG_TAIL

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildResult:
    image_id: str
    tags: tuple[str, ...]
    pushed: Mapping[str, str] = field(default_factory=dict)  # tag -> manifest digest
    builder: str = "sdk"  # sdk, buildkit or buildx

    @property
    def digest(self) -> str | None:
        return next(iter(self.pushed.values()), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "tags": list(self.tags),
            "pushed": dict(self.pushed),
            "digest": self.digest,
            "builder": self.builder,
        }


BUILTIN_BUILDKIT_BEFORE = 23  # CLI major version that dropped the built-in BuildKit client


def choose_builder(tools: DockerTools) -> str:
    """`buildx`, `buildkit` (the CLI's built-in client) or `sdk`, by what is installed."""
    cli = tools.cli()
    if cli is None:
        return "sdk"
    env = tools.environ
    version = subprocess.run([cli, "buildx", "version"], capture_output=True, check=False, env=env)
    if version.returncode == 0:
        return "buildx"
    probe = subprocess.run(
        [cli, "version", "--format", "{{.Client.Version}}"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    major = probe.stdout.strip().split(".")[0]
    if major.isdigit() and int(major) < BUILTIN_BUILDKIT_BEFORE:
        return "buildkit"
    return "sdk"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]


def _consume(stream: Iterable[Mapping[str, Any]], what: str) -> list[Mapping[str, Any]]:
    """Log progress, raise the first error, return the `aux` items."""
    aux = []
    for item in stream:
        if "error" in item or "errorDetail" in item:
            detail = item.get("errorDetail") or {}
            message = detail.get("message") or item.get("error") or "unknown error"
            raise BuildError(f"{what} failed: {_one_line(message)}")
        if "stream" in item:
            line = str(item["stream"]).rstrip()
            if line:  # a chunk may hold several lines: prefix each, none may be a command
                log.info("%s", prefix_lines(line, "  "))
        elif "status" in item and "progressDetail" not in item:
            log.info("  %s %s", item.get("id", ""), item["status"])
        if "aux" in item:
            aux.append(item["aux"])
    return aux


def build_with_sdk(client: Any, spec: BuildSpec) -> str:
    """Build the image; return its image ID."""
    import docker.errors  # noqa: PLC0415 - only build needs the Docker SDK

    if not (spec.context / spec.dockerfile).is_file() and not Path(spec.dockerfile).is_file():
        raise BuildError(f"Dockerfile {spec.dockerfile!r} not found in {spec.context}")
    try:
        stream = client.api.build(
            path=str(spec.context),
            dockerfile=spec.dockerfile,
            tag=spec.tags[0] if spec.tags else None,
            buildargs=dict(spec.build_args) or None,
            target=spec.target,
            platform=spec.platform,
            labels=dict(spec.labels) or None,
            network_mode=spec.network,
            pull=spec.pull,
            rm=True,
            forcerm=True,
            decode=True,
        )
        aux = _consume(stream, "docker build")
    except docker.errors.DockerException as exc:
        raise BuildError(
            f"docker build failed: {_one_line(str(exc))}",
            hint="is the Docker engine running? set DOCKER_HOST (privileged mode on CodeBuild)",
        ) from None
    image_id = next((a.get("ID") for a in aux if a.get("ID")), None)
    if image_id is None:
        raise BuildError("docker build finished without an image ID")
    image = client.images.get(image_id)
    for tag in spec.tags[1:]:
        repo, name = split_tag(tag)
        image.tag(repo, name)
    return str(image_id)


def push_with_sdk(client: Any, tag: str, auth: Mapping[str, str] | None) -> str:
    import docker.errors  # noqa: PLC0415

    repo, name = split_tag(tag)
    try:
        stream = client.api.push(
            repo, tag=name, stream=True, decode=True, auth_config=dict(auth) if auth else None
        )
        aux = _consume(stream, f"docker push {tag}")
    except docker.errors.DockerException as exc:
        raise BuildError(f"docker push {tag} failed: {_one_line(str(exc))}") from None
    digest = next((a.get("Digest") for a in aux if a.get("Digest")), None)
    if not digest:
        raise BuildError(f"docker push {tag} did not report a manifest digest")
    return str(digest)


def _cli_build_args(spec: BuildSpec) -> list[str]:
    """The arguments `docker build` and `docker buildx build` share."""
    args = [str(spec.context), "-f", str(spec.context / spec.dockerfile)]
    for tag in spec.tags:
        args += ["-t", tag]
    for key, value in spec.build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    for key, value in spec.labels.items():
        args += ["--label", f"{key}={value}"]
    optional: tuple[tuple[str, str | None], ...] = (
        ("--target", spec.target),
        ("--platform", spec.platform),
        ("--network", spec.network),
    )
    for flag, option in optional:
        if option:
            args += [flag, option]
    if spec.pull:
        args.append("--pull")
    return args


def _buildx_args(spec: BuildSpec) -> list[str]:
    args: list[str] = []
    for secret in spec.secrets:
        args += ["--secret", secret]
    for source in spec.cache_from:
        args += ["--cache-from", source]
    for target in spec.cache_to:
        args += ["--cache-to", target]
    return args


_AUTH_FAILURES = ("no basic auth credentials", "unauthorized", "authentication required", "denied")
LOGIN_HINT = (
    "the action's container does not see a `docker login` made on the runner: give the "
    "action the registry/username/password inputs (ECR: AWS credentials are enough)"
)


def _run_cli(cmd: list[str], what: str, env: Mapping[str, str]) -> None:
    """Run a docker CLI build, streaming its output to the log line by line; a failure is a
    BuildError with the last error line it printed."""
    tail: collections.deque[str] = collections.deque(maxlen=BUILD_LOG_TAIL)
    with subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()[:BUILD_LOG_LINE]
            if line.strip():  # the build log is untrusted: no line may be a workflow command
                tail.append(line)
                log.info("%s", prefix_lines(line, "  "))
        code = proc.wait()
    if code != 0:
        lines = list(tail)
        errors = [line for line in lines if "error" in line.lower()] or lines or ["failed"]
        message = _one_line(errors[-1])
        hint = LOGIN_HINT if any(m in message.lower() for m in _AUTH_FAILURES) else None
        raise BuildError(f"{what} failed: {message}", hint=hint)


def buildx_driver(cli: str, env: Mapping[str, str]) -> str:
    """The driver of the current buildx builder (`docker`, `docker-container`, ...)."""
    proc = subprocess.run(
        [cli, "buildx", "inspect"], capture_output=True, text=True, check=False, env=env
    )
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Driver":
            return value.strip()
    return ""


def needs_container_builder(spec: BuildSpec, driver: str) -> bool:
    """The `docker` driver (the engine's own BuildKit) makes one platform and exports no cache
    but inline: several platforms or a cache export need a `docker-container` builder."""
    if driver != "docker":
        return False
    exports = [c for c in spec.cache_to if "type=inline" not in c.replace(" ", "")]
    return len(spec.platforms) > 1 or bool(exports)


@contextlib.contextmanager
def container_builder(cli: str, tools: DockerTools) -> Iterator[str]:
    """A temporary `docker-container` builder (BuildKit in a container of the engine; its
    image, moby/buildkit, is pulled from Docker Hub by buildx); removed afterwards."""
    name = f"soci-ci-{secrets.token_hex(4)}"
    create = [cli, "buildx", "create", "--name", name, "--driver", "docker-container"]
    env = tools.environ
    if tools.buildkit_image:  # a mirror of moby/buildkit (Docker Hub rate limits, networks)
        create += ["--driver-opt", f"image={tools.buildkit_image}"]
    try:
        _run_cli([*create, "--bootstrap"], "docker buildx create (docker-container builder)", env)
        yield name
    finally:
        subprocess.run(
            [cli, "buildx", "rm", "--force", name], capture_output=True, check=False, env=env
        )


def build_with_buildx(spec: BuildSpec, tools: DockerTools) -> BuildResult:
    """BuildKit through the `docker buildx` CLI: BuildKit-only Dockerfile features, several
    platforms, build secrets, cache import/export; `--push` pushes every tag."""
    cli = tools.cli() or "docker"
    env = tools.environ
    with tempfile.TemporaryDirectory(prefix="soci-ci-buildx-") as tmp:
        metadata = Path(tmp) / "metadata.json"
        cmd = [cli, "buildx", "build", *_cli_build_args(spec), *_buildx_args(spec)]
        cmd += ["--metadata-file", str(metadata), "--provenance=false", "--progress=plain"]
        if spec.push:
            cmd.append("--push")
        elif len(spec.platforms) <= 1:
            cmd.append("--load")
        with contextlib.ExitStack() as stack:
            if needs_container_builder(spec, buildx_driver(cli, env)):
                log.info("several platforms or a cache export: a docker-container builder")
                cmd += ["--builder", stack.enter_context(container_builder(cli, tools))]
            _run_cli(cmd, "docker buildx build", env)
        data = json.loads(metadata.read_text()) if metadata.exists() else {}
    digest = str(data.get("containerimage.digest", ""))
    image_id = str(data.get("containerimage.config.digest", digest))
    pushed = dict.fromkeys(spec.tags, digest) if spec.push and digest else {}
    if spec.push and not digest:
        raise BuildError("docker buildx build pushed but reported no manifest digest")
    return BuildResult(image_id=image_id, tags=spec.tags, pushed=pushed, builder="buildx")


def build_with_cli_buildkit(spec: BuildSpec, tools: DockerTools) -> str:
    """BuildKit through the CLI's built-in client (`DOCKER_BUILDKIT=1 docker build`, CLI < 23).

    Returns the image ID; every tag is applied, pushing is left to `push_with_sdk`.
    """
    cli = tools.cli()
    if cli is None:
        raise BuildError("no docker CLI found", hint="install docker.io or set SOCI_CI_DOCKER_CLI")
    with tempfile.TemporaryDirectory() as tmp:
        iidfile = Path(tmp) / "iid"
        cmd = [cli, "build", *_cli_build_args(spec), "--iidfile", str(iidfile)]
        cmd += ["--progress", "plain"]
        _run_cli(cmd, "docker build (BuildKit)", env={**tools.environ, "DOCKER_BUILDKIT": "1"})
        image_id = iidfile.read_text().strip() if iidfile.exists() else ""
    if not image_id:
        raise BuildError("docker build (BuildKit) finished without an image ID")
    return image_id
