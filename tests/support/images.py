"""Test images as OCI layouts: single- and multi-platform, with buildx attestations."""

from __future__ import annotations

import json
from pathlib import Path

from soci_ci.app.example import example_layers
from soci_ci.oci.digest import sha256_digest
from tests.support.layers import Entry, build_tar, gz
from tests.support.vectors import write_blob, write_layout

OCI_M = "application/vnd.oci.image.manifest.v1+json"
OCI_I = "application/vnd.oci.image.index.v1+json"
DOCKER_M = "application/vnd.docker.distribution.manifest.v2+json"


def descriptor(data: bytes, media_type: str, **extra: object) -> dict[str, object]:
    return {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data), **extra}


def image_manifest(root: Path, arch: str, layers: list[bytes], media_type: str = OCI_M) -> bytes:
    config = json.dumps(
        {"architecture": arch, "os": "linux", "rootfs": {"type": "layers"}}
    ).encode()
    write_blob(root, config)
    layer_type = (
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
        if media_type == DOCKER_M
        else "application/vnd.oci.image.layer.v1.tar+gzip"
    )
    config_type = (
        "application/vnd.docker.container.image.v1+json"
        if media_type == DOCKER_M
        else "application/vnd.oci.image.config.v1+json"
    )
    for layer in layers:
        write_blob(root, layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": descriptor(config, config_type),
            "layers": [descriptor(layer, layer_type) for layer in layers],
        }
    ).encode()
    write_blob(root, manifest)
    return manifest


def multi_platform(root: Path, *, attestations: bool = True) -> Path:
    big, small = example_layers()
    amd = image_manifest(root, "amd64", [big, small])
    arm = image_manifest(
        root, "arm64", [gz(build_tar([Entry(name=b"arm", data=b"a" * 100)]).data), big]
    )
    manifests = [
        descriptor(amd, OCI_M, platform={"architecture": "amd64", "os": "linux"}),
        descriptor(arm, OCI_M, platform={"architecture": "arm64", "os": "linux"}),
    ]
    if attestations:
        stmt = b'{"_type":"https://in-toto.io/Statement/v0.1"}'
        write_blob(root, stmt)
        att = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_M,
                "config": descriptor(b"{}", "application/vnd.oci.image.config.v1+json"),
                "layers": [descriptor(stmt, "application/vnd.in-toto+json")],
            }
        ).encode()
        write_blob(root, b"{}")
        write_blob(root, att)
        manifests.append(
            descriptor(
                att,
                OCI_M,
                platform={"architecture": "unknown", "os": "unknown"},
                annotations={
                    "vnd.docker.reference.digest": sha256_digest(amd),
                    "vnd.docker.reference.type": "attestation-manifest",
                },
            )
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_I, "manifests": manifests}).encode()
    write_layout(root, {"v1": (index, OCI_I)}, [])
    return root
