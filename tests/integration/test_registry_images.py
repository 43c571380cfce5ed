"""Multi-platform images with buildx attestations, pushed with our client, indexed in the
registry; the bytes pushed equal the offline form's, only indexable layers are downloaded
(once each), and the tag policy keeps the original tag unless told otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soci_ci.cli import main
from soci_ci.registry.client import RegistryClient
from tests.servers.fault_proxy import FaultProxy
from tests.servers.registry import Registry
from tests.support.images import multi_platform
from tests.support.registry_images import blob_path, image_layers, push_layout
from tests.support.tools import skopeo

pytestmark = pytest.mark.integration


def test_multi_platform_with_attestations_matches_offline_bytes(
    registry: Registry, proxy: FaultProxy, tmp_path: Path
) -> None:
    layout = multi_platform(tmp_path / "img")
    client = RegistryClient(registry.host)
    original = push_layout(client, layout, "mp/app", "v1")
    offline, online = tmp_path / "offline.json", tmp_path / "online.json"
    assert main(["index", f"oci:{layout}:v1", "--output-json", str(offline)]) == 0
    ref = f"docker://{proxy.host}/mp/app:v1"
    assert main(["index", ref, "--output-json", str(online)]) == 0
    a, b = json.loads(offline.read_text()), json.loads(online.read_text())
    assert b["soci_image"] == {"digest": a["soci_image"]["digest"], "tag": "v1-soci"}
    assert b["soci_indexes"] == a["soci_indexes"]
    # Every manifest and blob reachable from the new tag is byte-identical to the layout's.
    soci_image = client.get_manifest("mp/app", "v1-soci")
    assert soci_image.data == blob_path(layout, soci_image.digest).read_bytes()
    reachable = [soci_image.digest]
    for m in json.loads(soci_image.data)["manifests"]:
        manifest = client.get_manifest("mp/app", m["digest"])
        assert manifest.data == blob_path(layout, m["digest"]).read_bytes()
        reachable.append(m["digest"])
    for z in b["ztocs"]:
        with client.open_blob("mp/app", z["digest"], z["size"]) as stream:
            assert stream.read() == blob_path(layout, z["digest"]).read_bytes()
    # Only layers at least --min-layer-size were downloaded, each once (shared across platforms).
    indexed = {z["layer"] for z in b["ztocs"]}
    layers = image_layers(layout)
    assert len(layers) == 3 and len(indexed) == 1  # the small layers are below 10 MiB
    downloaded = [p.rsplit("/", 1)[1] for p in proxy.blob_gets]
    assert [d for d in downloaded if d in layers] == sorted(indexed)
    assert client.get_manifest("mp/app", "v1").digest == original
    # skopeo, an independent client, reads and copies the SOCI-enabled image back out.
    raw = skopeo(
        "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/mp/app:v1-soci"
    )
    assert raw == soci_image.data
    back = tmp_path / "back"
    skopeo(
        "copy",
        "--all",
        "--src-tls-verify=false",
        f"docker://{registry.host}/mp/app:v1-soci",
        f"oci:{back}:x",
    )
    for digest in reachable[1:]:
        assert blob_path(back, digest).read_bytes() == blob_path(layout, digest).read_bytes()
    # skopeo 1.9 re-serializes the top index with image-spec 1.0 types: `artifactType` on
    # descriptors is dropped, everything else is kept.
    top = json.loads((back / "index.json").read_text())["manifests"][0]["digest"]
    expected = json.loads(soci_image.data)
    for desc in expected["manifests"]:
        desc.pop("artifactType", None)
    assert json.loads(blob_path(back, top).read_bytes()) == expected
    # Second run: everything present, nothing pushed, and the report says so.
    assert main(["index", ref, "--output-json", str(online)]) == 0
    assert json.loads(online.read_text())["outcome"] == "up-to-date"


def test_tag_policy(registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout = multi_platform(tmp_path / "img", attestations=False)
    client = RegistryClient(registry.host)
    original = push_layout(client, layout, "policy/app", "1")
    ref = f"{registry.host}/policy/app:1"
    assert main(["index", ref, "--tag", "1"]) == 2
    assert "--overwrite-tag" in capsys.readouterr().err
    assert client.get_manifest("policy/app", "1").digest == original
    assert client.list_tags("policy/app") == ["1"]
    assert main(["index", ref, "--tag", "fast"]) == 0
    fast = client.get_manifest("policy/app", "fast").digest
    assert sorted(client.list_tags("policy/app")) == ["1", "fast"]
    assert main(["index", ref, "--tag", "1", "--overwrite-tag"]) == 0
    assert client.get_manifest("policy/app", "1").digest == fast
    assert client.get_manifest("policy/app", original).digest == original  # still by digest
