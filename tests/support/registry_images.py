"""OCI layouts pushed to a test registry with their exact bytes, and what they contain."""

from __future__ import annotations

import json
from pathlib import Path

from soci_ci.cli import main
from soci_ci.oci.digest import sha256_digest
from soci_ci.registry.client import RegistryClient
from tests.support.images import OCI_I
from tests.support.tools import skopeo


def blob_path(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":")[1]


def push_layout(client: RegistryClient, layout: Path, repo: str, tag: str) -> str:
    """Push an OCI layout's single image index with its exact bytes: blobs, manifests, tag."""
    top = json.loads((layout / "index.json").read_text())["manifests"][0]
    index = blob_path(layout, top["digest"]).read_bytes()
    for m in json.loads(index)["manifests"]:
        data = blob_path(layout, m["digest"]).read_bytes()
        manifest = json.loads(data)
        for desc in [manifest["config"], *manifest["layers"]]:
            if not client.has_blob(repo, desc["digest"]):
                client.upload_blob(
                    repo, desc["digest"], blob_path(layout, desc["digest"]).read_bytes()
                )
        client.put_manifest(repo, m["digest"], data, m["mediaType"])
    client.put_manifest(repo, tag, index, OCI_I)
    return sha256_digest(index)


def image_layers(layout: Path) -> set[str]:
    """Digests of the layers of the layout's platform images (not the attestation's)."""
    top = json.loads((layout / "index.json").read_text())["manifests"][0]
    found: set[str] = set()
    for m in json.loads(blob_path(layout, top["digest"]).read_bytes())["manifests"]:
        if m.get("platform", {}).get("os") == "linux":
            manifest = json.loads(blob_path(layout, m["digest"]).read_bytes())
            found.update(layer["digest"] for layer in manifest["layers"])
    return found


def push_example(tmp_path: Path, dest: str, *creds: str) -> Path:
    """The example image (`soci-ci example`) pushed to `dest` with skopeo; its layout."""
    layout = tmp_path / "layout"
    if not layout.exists():
        assert main(["example", f"oci:{layout}:app"]) == 0
    skopeo("copy", "--dest-tls-verify=false", *creds, f"oci:{layout}:app", f"docker://{dest}")
    return layout
