"""The repository's test vectors (tests/data/vectors) and layouts built from them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def vectors_dir() -> Path:
    """The byte-identity vectors, kept in the repository (tests/data/vectors, see its README)."""
    path = REPO / "tests" / "data" / "vectors"
    if not (path / "expected").is_dir():
        pytest.fail(f"{path} is missing: the vectors are part of the repository")
    return path


def write_blob(root: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = root / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return "sha256:" + digest


def write_layout(root: Path, refs: dict[str, tuple[bytes, str]], blobs: list[bytes]) -> None:
    """A minimal OCI layout: `refs` maps tag -> (manifest/index bytes, media type)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for blob in blobs:
        write_blob(root, blob)
    manifests = []
    for tag, (data, media_type) in refs.items():
        digest = write_blob(root, data)
        manifests.append(
            {
                "mediaType": media_type,
                "digest": digest,
                "size": len(data),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        )
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))


def example_image_layout(root: Path) -> Path:
    """The vectors' 2-layer example image as `oci:root:latest`."""
    v = vectors_dir()
    image = v / "index" / "example-image" / "image"
    blobs = [
        (image / "config.json").read_bytes(),
        (v / "layers" / "image_layer1.tar.gz").read_bytes(),
        (v / "layers" / "image_layer2.tar.gz").read_bytes(),
    ]
    manifest = (image / "manifest.json").read_bytes()
    write_layout(root, {"latest": (manifest, "application/vnd.oci.image.manifest.v1+json")}, blobs)
    return root
