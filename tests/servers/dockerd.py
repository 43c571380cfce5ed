"""A real Docker engine for the tests: dockerd on a private unix socket, and a local base image.

Started as the brief says (vfs, no bridge, no iptables, private data/exec roots); nothing is
pulled: the base image is `docker import`ed from a busybox-static rootfs made here. `binary`
runs another dockerd (Debian 13's Engine 26 from scripts/trixie-tools: `TRIXIE_DOCKERD`) with
the system's containerd and runc; `containerd_store` turns on the containerd image store (the
default of fresh Engine 29 installs; its snapshotter `overlayfs`: containerd 1.6 has no vfs).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from tests.servers.ports import wait_until

REPO = Path(__file__).resolve().parents[2]
TRIXIE_DOCKERD = REPO / ".tools" / "trixie" / "usr" / "sbin" / "dockerd"

BASE_IMAGE = "soci-ci-test/busybox:1"
APPLETS = ("sh", "ls", "cat", "echo", "sleep", "true", "mkdir", "cp", "wget", "env", "head", "dd")


class Dockerd:
    def __init__(
        self,
        storage_driver: str = "vfs",
        *,
        binary: Path | None = None,
        containerd_store: bool = False,
    ) -> None:
        self.storage_driver = "overlayfs" if containerd_store else storage_driver
        self.binary = binary
        self.containerd_store = containerd_store
        self.dir = Path(tempfile.mkdtemp(prefix="soci-ci-dockerd-"))
        self.sock = self.dir / "docker.sock"
        self.host = f"unix://{self.sock}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        binary = str(self.binary) if self.binary else shutil.which("dockerd")
        if binary is None or not Path(binary).is_file():
            raise FileNotFoundError(binary or "dockerd")
        extra: list[str] = []
        if self.containerd_store:
            config = self.dir / "daemon.json"
            config.write_text(json.dumps({"features": {"containerd-snapshotter": True}}))
            extra = ["--config-file", str(config)]
        log = (self.dir / "dockerd.log").open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                *extra,
                "--storage-driver",
                self.storage_driver,
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--data-root",
                str(self.dir / "data"),
                "--exec-root",
                str(self.dir / "exec"),
                "--pidfile",
                str(self.dir / "dockerd.pid"),
                "-H",
                self.host,
            ],
            stdout=log,
            stderr=log,
        )

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError((self.dir / "dockerd.log").read_text()[-2000:])
            env = {**os.environ, "DOCKER_HOST": self.host}
            return (
                subprocess.run(
                    ["docker", "info"], env=env, capture_output=True, check=False
                ).returncode
                == 0
            )

        wait_until(up, timeout=60, what="dockerd")
        return self.host

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for mounted in ("exec", "data"):
            subprocess.run(
                ["umount", "-R", str(self.dir / mounted)], capture_output=True, check=False
            )
        shutil.rmtree(self.dir, ignore_errors=True)


def busybox_rootfs_tar() -> bytes:
    """A minimal rootfs: /bin/busybox (static) and applet symlinks."""
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        raise FileNotFoundError("busybox (Debian package busybox-static)")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "etc"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return buf.getvalue()


def import_image(docker_host: str, name: str, rootfs: bytes) -> str:
    """`docker import` a root filesystem tar as image `name` (nothing is ever pulled)."""
    env = {**os.environ, "DOCKER_HOST": docker_host}
    subprocess.run(
        ["docker", "import", "-", name], input=rootfs, env=env, check=True, capture_output=True
    )
    return name


def import_base_image(docker_host: str) -> str:
    return import_image(docker_host, BASE_IMAGE, busybox_rootfs_tar())
