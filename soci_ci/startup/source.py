"""Where `soci-ci startup` reads IMAGE from: its registry, or the local Docker engine (pure).

The rule (`--image-source auto`, the default; docs/startup.md):

1. `oci:`/`oci-archive:` references and `--soci-image` (a SOCI index lives in a registry)
   read the registry or layout, as before.
2. An image the engine does not have is read from its registry (the engine pulls it).
3. An image the engine has, named with a registry host (`registry.example/app:1`,
   `localhost:5000/app`) or listed in the engine's RepoDigests under its repository (pulled
   from, or pushed to, a registry; see "RepoDigests" below), is read from the registry when
   the registry holds it with the engine's very layers; when the registry does not have it,
   cannot be reached or holds other layers (a local rebuild not pushed yet), the engine's
   image is measured.
4. Any other image the engine has (`docker build -t myapp:1 .`, `docker load`, an image id)
   is measured from the engine; no registry is contacted.

RepoDigests: the classic image store (overlay2, vfs) lists `repo@<manifest digest>` only after
a pull or push, and its image id is the config digest, never a manifest digest. The containerd
image store (`docker info`: driver-type io.containerd.snapshotter.v1, the default of fresh
Engine 29 installs) names the image by its own manifest or index digest and lists
`repo@<that id>` for every tag, pulled or built here, so those entries say nothing about a
registry. The rule reads one way on both: an entry whose digest is the image id is the
engine's own name, not a registry's record. (On the containerd store an image pulled by a
Docker Hub short name, `python:3.12`, is thus measured from the engine: its blobs there are
the registry's compressed ones, so layers and sizes are the same; use `--image-source
registry` to read its SOCI index.)

`--image-source engine` or `registry` forces either. Images read from the engine have no
pushed blobs: their compressed sizes and spans are computed locally (`saved_image`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from soci_ci.errors import UsageError
from soci_ci.oci.image_ref import ImageRef, Transport
from soci_ci.registry.reference import names_registry_host, parse_reference


class SourceMode(StrEnum):
    AUTO = "auto"
    ENGINE = "engine"
    REGISTRY = "registry"


class Origin(StrEnum):
    REGISTRY = "registry"  # the registry's blobs and SOCI index (or a layout)
    ENGINE = "engine"  # the engine's image, its layers compressed here


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceChoice:
    origin: Origin
    fallback: bool  # registry first; the engine's image when the registry fails or differs
    reason: str


def names_registry(ref: ImageRef) -> bool:
    """Whether the reference names a registry host (Docker's rule for its first component)."""
    return names_registry_host(ref.repository)


def _same_repository(ref: ImageRef, repo_digests: Sequence[str], image_id: str) -> bool:
    try:
        wanted = parse_reference(ref.raw)
    except UsageError:
        return False
    for item in repo_digests:
        try:
            found = parse_reference(item)
        except UsageError:
            continue
        if found.digest == image_id:  # the containerd store's own name for the image
            continue
        if (found.registry, found.repository) == (wanted.registry, wanted.repository):
            return True
    return False


def choose_source(
    mode: SourceMode,
    ref: ImageRef,
    *,
    in_engine: bool,
    repo_digests: Sequence[str] = (),
    image_id: str = "",
    soci_image: bool = False,
) -> SourceChoice:
    if mode is SourceMode.REGISTRY or ref.transport is not Transport.DOCKER:
        return SourceChoice(origin=Origin.REGISTRY, fallback=False, reason="registry")
    if mode is SourceMode.ENGINE:
        return SourceChoice(origin=Origin.ENGINE, fallback=False, reason="--image-source engine")
    if soci_image:
        return SourceChoice(origin=Origin.REGISTRY, fallback=False, reason="--soci-image")
    if not in_engine:
        return SourceChoice(
            origin=Origin.REGISTRY, fallback=False, reason="not in the Docker engine"
        )
    if names_registry(ref) or _same_repository(ref, repo_digests, image_id):
        return SourceChoice(
            origin=Origin.REGISTRY,
            fallback=True,
            reason="in the Docker engine and named in a registry",
        )
    return SourceChoice(
        origin=Origin.ENGINE,
        fallback=False,
        reason="in the Docker engine only (no registry named, never pulled or pushed)",
    )
