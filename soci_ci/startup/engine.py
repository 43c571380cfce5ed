"""The Docker engine edge of `soci-ci startup`: the container to watch and the helper.

Everything goes through the engine's API (`DOCKER_HOST`), so it works wherever soci-ci has a
Docker socket: on the engine's host, in CodeBuild's privileged mode (dockerd in the same
container) and inside the GitHub action's container (the host's engine through the socket).
The watched container is created from the image unchanged (nothing is copied into it), with
the task's entrypoint, command, environment and user; `--network none` by default. Every
container this module creates carries the label `soci-ci.startup` and is removed, forced, on
success, failure, timeout and interruption.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soci_ci import limits
from soci_ci.errors import StartupError
from soci_ci.startup.recorder import resolve_dirs
from soci_ci.startup.snapshots import SYSTEM_ROOT

log = logging.getLogger(__name__)

LABEL = "soci-ci.startup"
MAX_LOG_LINE = limits.STARTUP_MAX_LOG_LINE
MAX_LOG_TAIL = 20  # lines kept for error messages
ENGINE_TIMEOUT = 120
# `host` and `container:...` would put the image on the runner's own network (AWS metadata).
NETWORKS = ("none", "bridge", "default")
SNAPSHOTTER_TYPE = "io.containerd.snapshotter.v1"  # `docker info`: the containerd image store
_CONTAINER_ID = re.compile(r"/(?:docker/)?containers/([0-9a-f]{64})/")


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineInfo:
    driver: str
    root_dir: str
    platform: str  # os/arch of the engine, e.g. linux/amd64
    containerd_store: bool = False  # driver-type io.containerd.snapshotter.v1


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSpec:
    """How the task runs the image (None: the image's own setting)."""

    entrypoint: tuple[str, ...] | None = None
    command: tuple[str, ...] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    network: str = "none"


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def connect() -> Any:
    """A Docker SDK client for DOCKER_HOST (or the default socket), or a StartupError."""
    import docker  # noqa: PLC0415 - only this command and build need the SDK

    try:
        client = docker.from_env(timeout=ENGINE_TIMEOUT)
        client.ping()
    except _api_error() as exc:
        raise StartupError(
            f"cannot reach the Docker engine: {_short(exc)}",
            hint="start dockerd or set DOCKER_HOST (CodeBuild: enable privileged mode)",
        ) from None
    return client


def _api_error() -> tuple[type[BaseException], ...]:
    import docker  # noqa: PLC0415
    import requests  # noqa: PLC0415

    return (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


def engine_info(client: Any) -> EngineInfo:
    try:
        info = client.info()
    except _api_error() as exc:
        raise StartupError(f"docker info failed: {_short(exc)}") from None
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(
        str(info.get("Architecture")), str(info.get("Architecture"))
    )
    return EngineInfo(
        driver=str(info.get("Driver") or ""),
        root_dir=str(info.get("DockerRootDir") or ""),
        platform=f"{info.get('OSType') or 'linux'}/{arch}",
        containerd_store=any(
            isinstance(item, list) and item[1:2] == [SNAPSHOTTER_TYPE]
            for item in info.get("DriverStatus") or []
        ),
    )


def local_image(client: Any, ref: str, *, pull: bool) -> dict[str, Any]:
    """The engine's image `ref` (pulled by the engine first when missing and `pull`)."""
    import docker  # noqa: PLC0415

    try:
        return dict(client.api.inspect_image(ref))
    except docker.errors.ImageNotFound:
        if not pull:
            raise StartupError(
                f"the Docker engine has no image {ref}",
                hint="build or pull it first, or name it as a registry reference",
            ) from None
    except _api_error() as exc:
        raise StartupError(f"cannot inspect image {ref}: {_short(exc)}") from None
    log.info("pulling %s into the Docker engine", ref)
    try:
        client.images.pull(ref)
        return dict(client.api.inspect_image(ref))
    except _api_error() as exc:
        raise StartupError(
            f"the Docker engine cannot pull {ref}: {_short(exc)}",
            hint="the engine pulls with its own credentials (docker login)",
        ) from None


def find_image(client: Any, ref: str) -> dict[str, Any] | None:
    """The engine's image `ref` (a name or an id), or None when it has none (nothing pulled)."""
    import docker  # noqa: PLC0415

    try:
        return dict(client.api.inspect_image(ref))
    except docker.errors.ImageNotFound:
        return None
    except _api_error() as exc:
        raise StartupError(f"cannot inspect image {ref}: {_short(exc)}") from None


SAVE_CHUNK = 1 << 20


def save_image(client: Any, image_id: str) -> Iterator[bytes]:
    """`docker save` of one image through the API (`GET /images/{id}/get`), as a stream."""
    try:
        stream = client.api.get_image(image_id, chunk_size=SAVE_CHUNK)
        yield from stream
    except _api_error() as exc:
        raise StartupError(f"cannot export image {image_id[:19]}: {_short(exc)}") from None


def create_target(client: Any, image_id: str, spec: RunSpec, name: str) -> str:
    """Create (not start) the container to watch; returns its id."""
    if spec.network not in NETWORKS:
        raise StartupError(
            f"network {spec.network!r} is not allowed for the recorded container",
            hint=f"use one of {', '.join(NETWORKS)} (default none)",
        )
    host_config = client.api.create_host_config(network_mode=spec.network)
    kwargs: dict[str, Any] = {
        "image": image_id,
        "labels": {LABEL: "target"},
        "host_config": host_config,
        "name": name,
        "detach": True,
        "environment": dict(spec.environment) or None,
        "user": spec.user or "",
    }
    if spec.entrypoint is not None:
        kwargs["entrypoint"] = list(spec.entrypoint)
    if spec.command is not None:
        kwargs["command"] = list(spec.command)
    try:
        created = client.api.create_container(**kwargs)
    except _api_error() as exc:
        raise StartupError(f"cannot create the container: {_short(exc)}") from None
    return str(created["Id"])


def rootfs_dirs(client: Any, container_id: str, info: EngineInfo) -> list[str]:
    """The engine-side directories whose files make up the container's rootfs, topmost first.

    overlay2: the upper directory then the lower `diff` directories (from GraphDriver);
    vfs: the container's own copy of the image, `vfs-mount:` + the file naming it; the
    containerd image store's overlayfs snapshotter: `containerd-snapshot:ROOT:ID`, the
    snapshot chain in its metadata (`snapshots`). Both are read on the recorder's side.
    """
    try:
        data = client.api.inspect_container(container_id)
    except _api_error() as exc:
        raise StartupError(f"cannot inspect the container: {_short(exc)}") from None
    driver = (data.get("GraphDriver") or {}).get("Name") or info.driver
    gd = (data.get("GraphDriver") or {}).get("Data") or {}
    if driver in ("overlay2", "overlay"):
        upper = gd.get("UpperDir")
        lower = [d for d in str(gd.get("LowerDir") or "").split(":") if d]
        if not upper:
            raise StartupError("the overlay2 driver did not report the container's directories")
        return [str(upper), *lower]
    if driver == "vfs" and not info.containerd_store:
        return [f"vfs-mount:{info.root_dir}/image/vfs/layerdb/mounts/{container_id}/mount-id"]
    if driver == "overlayfs" and info.containerd_store:
        return [f"containerd-snapshot:{info.root_dir}:{container_id}"]
    what = "the containerd image store's snapshotter" if info.containerd_store else "storage driver"
    raise StartupError(
        f"{what} {driver!r} is not supported (overlay2, vfs and the containerd image store's "
        "overlayfs are)",
        hint="run the engine with --storage-driver overlay2 (or overlayfs on the containerd "
        "image store)",
    )


def own_container_id() -> str | None:
    """The id of the container soci-ci runs in (from the engine's bind mounts), if any."""
    try:
        text = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf"):
            found = _CONTAINER_ID.search(fields[3])
            if found:
                return found.group(1)
    return None


def helper_image(client: Any, configured: str | None) -> str:
    """The helper's image: the configured one, else the image of soci-ci's own container."""
    if configured:
        return configured
    own = own_container_id()
    if own is None:
        raise StartupError(
            "cannot record here: not root on the engine's host, and not in a container whose "
            "image could run the recording helper",
            hint="run as root next to dockerd, or pass --helper-image IMAGE (an image with "
            "soci-ci installed)",
        )
    try:
        return str(client.api.inspect_container(own)["Image"])
    except _api_error() as exc:
        raise StartupError(f"cannot inspect soci-ci's own container: {_short(exc)}") from None


class LogLines:
    """A container's output as lines, read by a thread; `lines` grows as they arrive."""

    def __init__(self, client: Any, container_id: str, on_line: Callable[[str], None]) -> None:
        self.tail: list[str] = []
        self._on_line = on_line
        self._stream = client.api.logs(
            container_id, stream=True, follow=True, stdout=True, stderr=True
        )
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="startup-logs")
        self._thread.start()

    def _lines(self) -> Iterator[str]:
        pending = b""
        for chunk in self._stream:
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                yield line[:MAX_LOG_LINE].decode("utf-8", "replace").rstrip("\r")
            if len(pending) > MAX_LOG_LINE:
                yield pending[:MAX_LOG_LINE].decode("utf-8", "replace")
                pending = b""
        if pending:
            yield pending.decode("utf-8", "replace")

    def _run(self) -> None:
        try:
            for line in self._lines():
                self.tail = [*self.tail[-(MAX_LOG_TAIL - 1) :], line]
                self._on_line(line)
        except Exception as exc:  # the stream ends with the container; errors end it too
            log.debug("log stream ended: %s", exc)
        finally:
            self.done.set()

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:
                log.debug("closing the log stream: %s", exc)


def start_helper(client: Any, image: str, dirs: Sequence[str], info: EngineInfo, name: str) -> str:
    """Run the recording helper: CAP_SYS_ADMIN for fanotify, the engine's data directory
    read-only at the same path, no network; returns its id (not yet marked: wait for it)."""
    import docker  # noqa: PLC0415

    def create(mounts: list[Any]) -> str:
        host_config = client.api.create_host_config(
            binds={info.root_dir: {"bind": info.root_dir, "mode": "ro"}},
            mounts=mounts or None,
            cap_add=["SYS_ADMIN"],
            security_opt=["apparmor=unconfined", "seccomp=unconfined"],
            network_mode="none",
        )
        created = client.api.create_container(
            image=image,
            entrypoint=["python3", "-m", "soci_ci.startup.recorder"],
            command=list(dirs),
            labels={LABEL: "helper"},
            host_config=host_config,
            name=name,
            detach=True,
            user="0:0",
        )
        return str(created["Id"])

    # The system containerd's root, when the engine uses one (a `mounts` bind, unlike
    # `binds`, is refused rather than created when the host has no such directory).
    system = docker.types.Mount(SYSTEM_ROOT, SYSTEM_ROOT, type="bind", read_only=True)
    try:
        try:
            helper_id = create([system] if info.containerd_store else [])
        except docker.errors.APIError as exc:
            if not info.containerd_store or "does not exist" not in str(exc):
                raise
            helper_id = create([])
    except _api_error() as exc:
        raise StartupError(f"cannot create the recording helper: {_short(exc)}") from None
    try:
        client.api.start(helper_id)
    except _api_error() as exc:
        remove(client, helper_id)
        raise StartupError(f"cannot start the recording helper: {_short(exc)}") from None
    return helper_id


def state(client: Any, container_id: str) -> dict[str, Any]:
    try:
        return dict(client.api.inspect_container(container_id).get("State") or {})
    except _api_error() as exc:
        raise StartupError(f"cannot inspect the container: {_short(exc)}") from None


def start(client: Any, container_id: str) -> None:
    try:
        client.api.start(container_id)
    except _api_error() as exc:
        raise StartupError(f"cannot start the container: {_short(exc)}") from None


def kill(client: Any, container_id: str, signal: str = "SIGKILL") -> None:
    try:
        client.api.kill(container_id, signal=signal)
    except _api_error() as exc:
        log.debug("kill %s: %s", container_id[:12], exc)


def wait_stopped(client: Any, container_id: str, timeout: float) -> None:
    try:
        client.api.wait(container_id, timeout=timeout)
    except Exception as exc:  # a read timeout or a container already gone
        log.debug("wait %s: %s", container_id[:12], exc)


def remove(client: Any, container_id: str) -> None:
    try:
        client.api.remove_container(container_id, force=True, v=True)
    except Exception as exc:
        import docker  # noqa: PLC0415

        if not isinstance(exc, docker.errors.NotFound):
            log.warning("could not remove container %s: %s", container_id[:12], _short(exc))


def can_record_here(dirs: Sequence[str]) -> bool:
    """In-process recording works when this process is root and sees the engine's files."""
    if os.geteuid() != 0:
        return False
    try:
        return all(Path(d).is_dir() for d in resolve_dirs(dirs))
    except OSError:
        return False
