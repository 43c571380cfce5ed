"""`soci-ci startup` on a local image against Docker Engine 26 (Debian 13's dockerd, from
scripts/trixie-tools), on its classic image store (vfs) and on the containerd image store (the
default of fresh Engine 29 installs), next to the session's Engine 20.10.

The image is built in each engine and never pushed; its plain name (`soci-ci-test/...:1`)
would mean Docker Hub to a registry client, so every run goes through a forward proxy that
counts and refuses all requests (HTTPS_PROXY, HTTP_PROXY): a local image must contact no
registry. A name with a registry host, run the same way, shows the proxy does see attempts.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from soci_ci.cli import main
from tests.servers.counting_proxy import CountingProxy
from tests.servers.dockerd import TRIXIE_DOCKERD, Dockerd, import_base_image
from tests.support.runner import trixie_tools
from tests.support.startup_checks import expected_spans, gzip6, leftovers, spans_in_blob
from tests.support.startup_images import (
    EDGE,
    EDGE_EXPECTED,
    EDGE_SPAN,
    EXPECTED,
    app_context,
    build,
    docker,
    edge_archive,
    import_helper,
    load,
)

pytestmark = pytest.mark.integration

LOCAL = "soci-ci-test/startup-e26:1"
HELPER = "soci-ci-test/recorder-e26:1"
REPO = Path(__file__).resolve().parents[2]
SPAN = 1 << 20


def _engine(tmp_path_factory: Any, *, containerd_store: bool) -> Iterator[str]:
    trixie_tools()  # unpacks dockerd 26 into .tools/trixie
    engine = Dockerd(binary=TRIXIE_DOCKERD, containerd_store=containerd_store)
    try:
        host = engine.start()
        base = import_base_image(host)
        build(host, app_context(tmp_path_factory.mktemp("e26"), base), LOCAL)
        import_helper(host, HELPER, REPO / "soci_ci")
        yield host
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def engine26_classic(tmp_path_factory: Any) -> Iterator[str]:
    yield from _engine(tmp_path_factory, containerd_store=False)


@pytest.fixture(scope="module")
def engine26_containerd(tmp_path_factory: Any) -> Iterator[str]:
    yield from _engine(tmp_path_factory, containerd_store=True)


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingProxy]:
    counting = CountingProxy().start()
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, counting.url)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield counting
    counting.stop()


def saved(docker_host: str, image: str) -> tuple[list[bytes], dict[str, Any]]:
    """The layer blobs of `docker save IMAGE` as the engine stores them, and its inspect."""
    env = {**os.environ, "DOCKER_HOST": docker_host}
    out = subprocess.run(["docker", "save", image], env=env, check=True, capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        blobs = [tar.extractfile(n).read() for n in manifest[0]["Layers"]]  # type: ignore[union-attr]
    inspect: dict[str, Any] = json.loads(docker(docker_host, "image", "inspect", image))[0]
    return blobs, inspect


def test_engine26_classic_store_measures_a_local_image_without_any_registry(
    engine26_classic: str, proxy: CountingProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", engine26_classic)
    assert "26." in docker(engine26_classic, "version", "-f", "{{.Server.Version}}")
    out = tmp_path / "s.json"
    args = [LOCAL, "--ready-log-regex", "^READY$", "--span-size", str(SPAN)]
    assert main(["startup", *args, "--output-json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert proxy.seen == []
    assert data["image_source"] == "engine" and data["computed_locally"] is True
    assert data["recording"]["storage_driver"] == "vfs"
    assert [f["path"] for f in data["files"]] == list(EXPECTED)
    tars, inspect = saved(engine26_classic, LOCAL)  # Engine 26: an OCI layout, plain tars
    assert data["image_id"] == inspect["Id"]
    assert [la["digest"] for la in data["layers"]] == [
        "sha256:" + hashlib.sha256(gzip6(t)).hexdigest() for t in tars
    ]
    by_path = {f["path"]: f for f in data["files"]}
    for path in ("/data/f007", "/data/f250", "/opt/deep/bin/tool"):
        assert by_path[path]["spans"] == expected_spans(tars[1], SPAN, path), path
    assert leftovers(engine26_classic) == []

    # The control: a registry host in the name is asked first, through the proxy.
    docker(engine26_classic, "tag", LOCAL, "registry.invalid/startup/e26:1")
    args[0] = "registry.invalid/startup/e26:1"
    assert main(["startup", *args, "--output-json", str(tmp_path / "r.json")]) == 0
    assert any("registry.invalid:443" in seen for seen in proxy.seen), proxy.seen
    assert json.loads((tmp_path / "r.json").read_text())["image_source"] == "engine"


@pytest.mark.parametrize("recorder", ["local", "helper"])
def test_engine26_containerd_store_records_a_local_image_without_any_registry(
    recorder: str,
    engine26_containerd: str,
    proxy: CountingProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = engine26_containerd
    monkeypatch.setenv("DOCKER_HOST", host)
    assert "io.containerd.snapshotter.v1" in docker(host, "info", "-f", "{{json .DriverStatus}}")
    blobs, inspect = saved(host, LOCAL)
    # The containerd store names a local image by its manifest digest, in RepoDigests too.
    assert inspect["RepoDigests"] == [f"{LOCAL.split(':', maxsplit=1)[0]}@{inspect['Id']}"]
    out = tmp_path / "s.json"
    args = [
        LOCAL,
        "--ready-log-regex",
        "^READY$",
        "--span-size",
        str(SPAN),
        "--min-layer-size",
        "0",
    ]
    args += ["--recorder", recorder]
    if recorder == "helper":
        args += ["--helper-image", HELPER]
    assert main(["startup", *args, "--output-json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert proxy.seen == []
    assert data["image_source"] == "engine" and data["computed_locally"] is True
    assert data["image_id"] == inspect["Id"]
    assert data["recording"]["storage_driver"] == "overlayfs"
    assert data["recording"]["mode"] == recorder
    assert [f["path"] for f in data["files"]] == list(EXPECTED)
    assert "on the engine's compressed layers" in data["ztoc_source"]
    # the store's compressed blobs, kept as they are
    layers = data["layers"]
    assert [la["digest"] for la in layers] == [
        "sha256:" + hashlib.sha256(b).hexdigest() for b in blobs
    ]
    assert [la["size"] for la in layers] == [len(b) for b in blobs]
    digests = [la["digest"] for la in layers]
    for f in data["files"]:
        layer = digests.index(f["layer"])
        assert f["spans"] == spans_in_blob(blobs[layer], SPAN, f["path"]), f["path"]
    by_path = {f["path"]: f for f in data["files"]}
    assert by_path["/data/f007"]["layer"] == digests[1]
    assert by_path["/data/shadow.txt"]["layer"] == digests[4]
    assert leftovers(host) == []


def test_engine26_containerd_store_attributes_the_tricky_cases(
    engine26_containerd: str, proxy: CountingProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The edge image (`docker load`ed: the store keeps its layers as loaded) on overlayfs."""
    host = engine26_containerd
    monkeypatch.setenv("DOCKER_HOST", host)
    load(host, edge_archive(EDGE))
    out = tmp_path / "e.json"
    args = [EDGE, "--ready-log-regex", "^READY$", "--span-size", str(EDGE_SPAN)]
    assert main(["startup", *args, "--min-layer-size", "0", "--output-json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert proxy.seen == []
    assert data["recording"]["storage_driver"] == "overlayfs"
    digests = [la["digest"] for la in data["layers"]]
    assert [(f["path"], digests.index(f["layer"])) for f in data["files"]] == list(EDGE_EXPECTED)
    assert data["not_in_image"] == []
    blobs, _ = saved(host, EDGE)
    for f in data["files"]:
        blob = blobs[digests.index(f["layer"])]
        if blob[:2] == b"\x1f\x8b":  # stored compressed: kept as it is
            assert f["spans"] == spans_in_blob(blob, EDGE_SPAN, f["path"]), f["path"]
        else:  # stored as a tar: gzipped as a push would
            assert f["spans"] == expected_spans(blob, EDGE_SPAN, f["path"]), f["path"]
    assert leftovers(host) == []
