"""The probe's check image (pure): one layer holding a static busybox, built with no base pull.

The check container does two jobs in every probe task:
- **snapshotter report**: it prints the Task Metadata v4 ``/task`` document (each container's
  ``Snapshotter``) to its awslogs stream, a line every few seconds, bounded;
- **watchdog**: it is *essential* and exits after the task's deadline, so ECS stops the task
  even when soci-ci was killed (SIGKILL, a cancelled runner) and no StopTask ever comes.

It has no ``dependsOn`` on the app container (a dependency would delay the app's pull and
start, see docs/probe.md). The image is built from the static busybox of the machine running
soci-ci (Debian/Ubuntu ``busybox-static``) and pushed by digest into the app's own ECR
repository, so tasks in private subnets need only the ECR, S3 and Logs endpoints they need
for the app anyway. The bytes are deterministic: the same busybox gives the same digest.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from soci_ci.errors import ConfigError
from soci_ci.oci import media_types as mt
from soci_ci.oci.digest import sha256_digest

CHECK_CONTAINER = "soci-ci-check"
DEADLINE_ENV = "SOCI_CI_DEADLINE_SECONDS"
REPORT_PREFIX = "soci-ci-check "
DEADLINE_LINE = "soci-ci-check: deadline reached, ending the task"
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox")
MAX_BINARY = 8 << 20
_ELF_MACHINE = {62: "X86_64", 183: "ARM64"}
_OCI_ARCH = {"X86_64": "amd64", "ARM64": "arm64"}
MAX_REPORTS = 120
# busybox sh: report every 2 s for a minute, then every 15 s (at most MAX_REPORTS lines),
# and end the task at the deadline. No dependency on the app container.
SCRIPT = (
    # every applet through the binary itself: the image has no PATH and no other files
    "b=/bin/busybox; "
    "end=$(( $($b date +%s) + ${" + DEADLINE_ENV + ":-900} )); n=0; "
    'while [ "$($b date +%s)" -lt "$end" ]; do '
    f'if [ -n "$ECS_CONTAINER_METADATA_URI_V4" ] && [ "$n" -lt {MAX_REPORTS} ]; then '
    # `timeout`, not wget's -T: Debian's busybox-static 1.35 wget crashes with -T
    'doc=$($b timeout 5 $b wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4/task" 2>/dev/null '
    '| $b tr -d "\\r\\n"); '
    f'[ -n "$doc" ] && echo "{REPORT_PREFIX}$doc"; n=$((n+1)); fi; '
    'if [ "$n" -lt 30 ]; then $b sleep 2; else $b sleep 15; fi; done; '
    f'echo "{DEADLINE_LINE}"; exit 1'
)
ENTRYPOINT = ("/bin/busybox", "sh", "-c")


@dataclass(frozen=True, slots=True, kw_only=True)
class Blob:
    digest: str
    data: bytes
    media_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckImage:
    architecture: str  # X86_64 | ARM64
    layer: Blob
    config: Blob
    manifest: Blob

    def reference(self, repository: str) -> str:
        return f"{repository}@{self.manifest.digest}"


class BlobSink(Protocol):
    def has_blob(self, digest: str) -> bool: ...
    def push_blob(self, digest: str, data: bytes) -> None: ...
    def push_manifest(self, data: bytes, media_type: str, digest: str) -> None: ...


def elf_architecture(binary: bytes) -> str:
    """X86_64 or ARM64 of a *static* 64-bit Linux ELF; ConfigError otherwise."""
    if binary[:4] != b"\x7fELF" or len(binary) < 64 or binary[4] != 2 or binary[5] != 1:
        raise ConfigError("the check binary is not a 64-bit little-endian ELF executable")
    (machine,) = struct.unpack_from("<H", binary, 18)
    arch = _ELF_MACHINE.get(machine)
    if arch is None:
        raise ConfigError(f"the check binary is for ELF machine {machine}, not x86-64/arm64")
    (phoff,) = struct.unpack_from("<Q", binary, 32)
    phentsize, phnum = struct.unpack_from("<HH", binary, 54)
    for i in range(min(phnum, 256)):
        at = phoff + i * phentsize
        if at + 4 > len(binary):
            break
        (p_type,) = struct.unpack_from("<I", binary, at)
        if p_type == 3:  # PT_INTERP: dynamically linked
            raise ConfigError(
                "the check binary is dynamically linked; install busybox-static",
                hint="or set probe.check_image to an image you pushed yourself",
            )
    return arch


def find_busybox(architecture: str, paths: tuple[str, ...] = BUSYBOX_PATHS) -> bytes:
    """The first static busybox for ``architecture`` among ``paths``."""
    seen: list[str] = []
    for path in paths:
        file = Path(path)
        try:
            if not file.is_file() or file.stat().st_size > MAX_BINARY:
                continue
            data = file.read_bytes()
        except OSError:
            continue
        try:
            arch = elf_architecture(data)
        except ConfigError as exc:
            seen.append(f"{path}: {exc}")
            continue
        if arch == architecture:
            return data
        seen.append(f"{path}: {arch}")
    found = "; ".join(seen) or "no busybox found"
    raise ConfigError(
        f"no static busybox for {architecture} to build the probe's check image ({found})",
        hint="install busybox-static (apt), or set probe.check_image to a pushed image "
        "(see docs/probe.md, 'The check container')",
    )


def _layer_tar(binary: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("bin",):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(binary), 0o755
        tar.addfile(info, io.BytesIO(binary))
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname, link.mode = tarfile.SYMTYPE, "busybox", 0o777
        tar.addfile(link)
    return out.getvalue()


def build(binary: bytes) -> CheckImage:
    architecture = elf_architecture(binary)
    tar = _layer_tar(binary)
    compressed = gzip.compress(tar, compresslevel=9, mtime=0)
    layer = Blob(digest=sha256_digest(compressed), data=compressed, media_type=mt.OCI_LAYER_GZIP)
    config_doc = {
        "architecture": _OCI_ARCH[architecture],
        "os": "linux",
        "config": {
            "Entrypoint": list(ENTRYPOINT),
            "Cmd": ["echo soci-ci-check"],
            "Env": ["PATH=/bin"],
        },
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
    }
    config_bytes = json.dumps(config_doc, sort_keys=True, separators=(",", ":")).encode()
    config = Blob(digest=sha256_digest(config_bytes), data=config_bytes, media_type=mt.OCI_CONFIG)
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": config.digest, "size": len(config_bytes)},
        "layers": [
            {"mediaType": mt.OCI_LAYER_GZIP, "digest": layer.digest, "size": len(compressed)}
        ],
        "annotations": {"org.opencontainers.image.title": "soci-ci probe check"},
    }
    manifest_bytes = json.dumps(manifest_doc, sort_keys=True, separators=(",", ":")).encode()
    manifest = Blob(
        digest=sha256_digest(manifest_bytes), data=manifest_bytes, media_type=mt.OCI_MANIFEST
    )
    return CheckImage(architecture=architecture, layer=layer, config=config, manifest=manifest)


def push(image: CheckImage, sink: BlobSink) -> None:
    """Blobs first (skipped when present), then the manifest by digest (no tag)."""
    for blob in (image.layer, image.config):
        if not sink.has_blob(blob.digest):
            sink.push_blob(blob.digest, blob.data)
    sink.push_manifest(image.manifest.data, image.manifest.media_type, image.manifest.digest)


def container(
    image: str, *, deadline_seconds: int, log_configuration: dict[str, object]
) -> dict[str, object]:
    """The check container's definition (essential: its exit at the deadline ends the task)."""
    return {
        "name": CHECK_CONTAINER,
        "image": image,
        "essential": True,
        "memoryReservation": 8,
        "entryPoint": list(ENTRYPOINT),
        "command": [SCRIPT],
        "environment": [{"name": DEADLINE_ENV, "value": str(deadline_seconds)}],
        "logConfiguration": log_configuration,
    }
