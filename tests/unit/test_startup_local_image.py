"""Local images for `soci-ci startup`: the three `docker save` formats, and the engine/registry rule.

The archives are laid out as the engines write them (moby `image/tarexport/save.go`: the
legacy `<id>/layer.tar` format before Engine 25, an OCI layout with uncompressed
`blobs/sha256/<diff id>` after; the containerd image store's blobs are its compressed ones),
generated here from declarative layers. The real engine's archive is read in
tests/integration/test_startup_local.py.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from soci_ci.errors import InputError
from soci_ci.oci import media_types as mt
from soci_ci.oci.image_ref import parse_image_ref
from soci_ci.oci.layout import OciLayout
from soci_ci.oci.manifest import Manifest, Platform
from soci_ci.startup.saved_image import LayerKind, save_layout
from soci_ci.startup.source import Origin, SourceMode, choose_source
from tests.support.layers import Entry, build_tar, gz, gz_members

AMD64 = Platform.parse("linux/amd64")


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


LAYERS = [
    build_tar([Entry(name=b"bin/app", data=b"\x7fELF" + bytes(3000))]).data,
    build_tar([Entry(name=b"etc/conf", data=b"x = 1\n")]).data,
    bytes(1024),  # an empty layer: only the end-of-archive blocks
]
DIFF_IDS = [sha(layer) for layer in LAYERS]
CONFIG = json.dumps(
    {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": DIFF_IDS}}
).encode()


def archive(members: list[tuple[str, bytes | str]]) -> bytes:
    """A tar of regular members (bytes) and symbolic links (str: the target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, body in members:
            info = tarfile.TarInfo(name)
            if isinstance(body, str):
                info.type, info.linkname = tarfile.SYMTYPE, body
                tar.addfile(info)
            else:
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def legacy_archive() -> bytes:
    ids = [f"{i:064x}" for i in range(1, 4)]
    cfg = sha(CONFIG).removeprefix("sha256:")
    members: list[tuple[str, bytes | str]] = [(f"{cfg}.json", CONFIG)]
    for layer_id, layer in zip(ids, LAYERS, strict=True):
        members += [(f"{layer_id}/VERSION", b"1.0"), (f"{layer_id}/json", b"{}")]
        members.append((f"{layer_id}/layer.tar", layer))
    manifest = [
        {
            "Config": f"{cfg}.json",
            "RepoTags": ["myapp:1"],
            "Layers": [f"{i}/layer.tar" for i in ids],
        }
    ]
    members.append(("manifest.json", json.dumps(manifest).encode()))
    return archive(members)


def oci_archive(layers: list[bytes], *, link_last: bool = False) -> bytes:
    """Engine >= 25: blobs named by digest; `layers` as stored (plain or compressed)."""
    members: list[tuple[str, bytes | str]] = []
    names = []
    for layer in layers:
        name = f"blobs/sha256/{sha(layer).removeprefix('sha256:')}"
        members.append((name, layer))
        names.append(name)
    if link_last:  # a member that is a symbolic link to the blob
        members.append(("old/layer.tar", f"../{names[-1]}"))
        names[-1] = "old/layer.tar"
    cfg = f"blobs/sha256/{sha(CONFIG).removeprefix('sha256:')}"
    members.append((cfg, CONFIG))
    members.append(("blobs/sha256/" + "ab" * 32, b'{"id": "legacy v1 json"}'))
    members.append(("index.json", b'{"schemaVersion": 2, "manifests": []}'))
    members.append(("manifest.json", json.dumps([{"Config": cfg, "Layers": names}]).encode()))
    members.append(("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'))
    return archive(members)


def chunks(data: bytes, size: int = 777) -> Iterator[bytes]:
    """The engine's stream, in awkward pieces."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("fmt", ["legacy", "oci", "oci-link"])
def test_uncompressed_layers_are_gzipped_as_a_push_would(fmt: str, tmp_path: Path) -> None:
    data = legacy_archive() if fmt == "legacy" else oci_archive(LAYERS, link_last=fmt == "oci-link")
    saved = save_layout(chunks(data), tmp_path / "w", diff_ids=DIFF_IDS, platform=AMD64)
    assert [la.kind for la in saved.layers] == [LayerKind.TAR] * 3
    assert saved.gzipped_here == 3
    layout = OciLayout(saved.layout, None)
    root = layout.resolve()
    assert root.digest == saved.manifest_digest
    manifest = Manifest.from_json(json.loads(root.data))
    assert manifest.config.digest == sha(CONFIG)
    assert [d.media_type for d in manifest.layers or ()] == [mt.OCI_LAYER_GZIP] * 3
    for desc, original in zip(manifest.layers or (), LAYERS, strict=True):
        blob = layout.blob_path(desc.digest).read_bytes()
        assert sha(blob) == desc.digest and len(blob) == desc.size
        assert gzip.decompress(blob) == original
        level6 = zlib.compressobj(6, zlib.DEFLATED, 31)
        assert blob == level6.compress(original) + level6.flush()
    # only the image's blobs are left: three layers, the config and the manifest
    assert len(list((saved.layout / "blobs" / "sha256").iterdir())) == 5
    assert not list(saved.layout.glob("layer-*"))


def test_compressed_blobs_of_the_containerd_store_are_kept_as_they_are(tmp_path: Path) -> None:
    stored = [gz(LAYERS[0]), gz_members(LAYERS[1], 3), gz(LAYERS[2], level=1)]
    saved = save_layout(
        chunks(oci_archive(stored)), tmp_path / "w", diff_ids=DIFF_IDS, platform=AMD64
    )
    assert [la.kind for la in saved.layers] == [LayerKind.GZIP] * 3
    assert saved.gzipped_here == 0
    assert [la.digest for la in saved.layers] == [sha(s) for s in stored]
    assert [la.diff_id for la in saved.layers] == DIFF_IDS


def test_a_layer_that_is_not_the_configs_is_refused(tmp_path: Path) -> None:
    other = build_tar([Entry(name=b"bin/app", data=b"changed")]).data
    stored = [gz(LAYERS[0]), gz(other), gz(LAYERS[2])]
    with pytest.raises(InputError, match="diff id"):
        save_layout(chunks(oci_archive(stored)), tmp_path / "w", diff_ids=DIFF_IDS, platform=AMD64)


def test_an_archive_without_the_engines_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no image with the engine's layers"):
        save_layout(chunks(legacy_archive()), tmp_path / "w", diff_ids=DIFF_IDS[:2], platform=AMD64)
    with pytest.raises(InputError, match=r"no manifest\.json"):
        save_layout(
            chunks(archive([("x", b"{}")])), tmp_path / "v", diff_ids=DIFF_IDS, platform=AMD64
        )


def test_a_truncated_gzip_blob_is_refused(tmp_path: Path) -> None:
    stored = [gz(LAYERS[0])[:-20], gz(LAYERS[1]), gz(LAYERS[2])]
    with pytest.raises(InputError, match="corrupt"):
        save_layout(chunks(oci_archive(stored)), tmp_path / "w", diff_ids=DIFF_IDS, platform=AMD64)


@pytest.mark.parametrize(
    ("mode", "ref", "in_engine", "digests", "soci", "origin", "fallback"),
    [
        # built here, never pushed: the engine, no registry contacted
        ("auto", "myapp:1", True, [], False, Origin.ENGINE, False),
        ("auto", "sha256:" + "a" * 64, True, [], False, Origin.ENGINE, False),
        # pulled from Docker Hub: its registry first
        ("auto", "python:3.12", True, ["python@sha256:" + "b" * 64], False, Origin.REGISTRY, True),
        # a registry host in the name: the registry first, the engine when it fails or differs
        ("auto", "localhost:5000/app:1", True, [], False, Origin.REGISTRY, True),
        ("auto", "reg.example/app:1", True, [], False, Origin.REGISTRY, True),
        # not in the engine: the registry (the engine pulls it), as before
        ("auto", "myapp:1", False, [], False, Origin.REGISTRY, False),
        ("auto", "reg.example/app:1", True, [], True, Origin.REGISTRY, False),
        ("auto", "oci:/tmp/layout:1", False, [], False, Origin.REGISTRY, False),
        ("engine", "reg.example/app:1", True, [], False, Origin.ENGINE, False),
        ("registry", "myapp:1", True, [], False, Origin.REGISTRY, False),
    ],
)
def test_the_rule_for_engine_or_registry(
    mode: str,
    ref: str,
    in_engine: bool,
    digests: list[str],
    soci: bool,
    origin: Origin,
    fallback: bool,
) -> None:
    choice = choose_source(
        SourceMode(mode),
        parse_image_ref(ref),
        in_engine=in_engine,
        repo_digests=digests,
        soci_image=soci,
    )
    assert (choice.origin, choice.fallback) == (origin, fallback)


# `GET /v1.45/images/NAME/json` of Debian 13's dockerd 26.1 (fields the rule reads). Containerd
# image store: the id is the manifest digest and RepoDigests name it under every tag, built
# here, pushed or pulled alike. Classic store: the id is the config digest; RepoDigests list
# manifest digests, only after a pull or push.
_C_ID = "sha256:a7c31fe9cbecc713eefe5755313c46f0e2dd3f8d4f97ea17a0dc6e7d0d7203d0"
_CONTAINERD_BUILT = {"Id": _C_ID, "RepoTags": ["bb:2", "bb:3"], "RepoDigests": [f"bb@{_C_ID}"] * 2}
_CONTAINERD_PUSHED = {
    "Id": _C_ID,
    "RepoTags": ["127.0.0.1:42499/app/bb:2", "bb:2", "bb:3"],
    "RepoDigests": [f"127.0.0.1:42499/app/bb@{_C_ID}", f"bb@{_C_ID}", f"bb@{_C_ID}"],
}
_CLASSIC_BUILT = {"Id": "sha256:" + "c" * 64, "RepoTags": ["bb:2"], "RepoDigests": []}
_CLASSIC_PULLED = {
    "Id": "sha256:" + "c" * 64,
    "RepoTags": ["bb:2"],
    "RepoDigests": ["bb@sha256:" + "d" * 64],  # the registry's manifest digest
}


@pytest.mark.parametrize(
    ("ref", "inspect", "origin", "fallback"),
    [
        ("bb:2", _CONTAINERD_BUILT, Origin.ENGINE, False),  # never pushed: no registry
        ("bb:3", _CONTAINERD_BUILT, Origin.ENGINE, False),
        ("bb:2", _CONTAINERD_PUSHED, Origin.ENGINE, False),  # its own name, not a record
        ("127.0.0.1:42499/app/bb:2", _CONTAINERD_PUSHED, Origin.REGISTRY, True),
        ("bb:2", _CLASSIC_BUILT, Origin.ENGINE, False),
        ("bb:2", _CLASSIC_PULLED, Origin.REGISTRY, True),  # pulled: its registry first
    ],
)
def test_the_rule_reads_both_image_stores_inspect(
    ref: str, inspect: dict[str, object], origin: Origin, fallback: bool
) -> None:
    digests = inspect["RepoDigests"]
    assert isinstance(digests, list)
    choice = choose_source(
        SourceMode.AUTO,
        parse_image_ref(ref),
        in_engine=True,
        repo_digests=[str(d) for d in digests],
        image_id=str(inspect["Id"]),
    )
    assert (choice.origin, choice.fallback) == (origin, fallback)
