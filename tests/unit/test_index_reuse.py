"""The rerun pre-check on OCI layouts: an equivalent index is found before any layer is read.

A layout that counts `open_blob` calls shows which blobs a run read; everything else is the
same code path as a registry (`tests/integration/test_registry_rerun.py` proves it there).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from soci_ci.app.apply import apply_plan
from soci_ci.app.example import example_layers
from soci_ci.app.index import build_plan
from soci_ci.app.index_model import IndexOptions, IndexReport, Outcome
from soci_ci.oci.digest import sha256_digest
from soci_ci.oci.layout import OciLayout
from soci_ci.oci.manifest import Platform
from soci_ci.soci.index_manifest import IndexFormat
from tests.support.images import multi_platform

TAG = "v1-soci"


class CountingLayout(OciLayout):
    """An OCI layout that records the digest of every blob opened for reading."""

    def __init__(self, root: Path, tag: str | None) -> None:
        super().__init__(root, tag)
        self.opened: list[str] = []

    def open_blob(self, digest: str, size: int) -> AbstractContextManager[BinaryIO]:
        self.opened.append(digest)
        return super().open_blob(digest, size)


@pytest.fixture(scope="module")
def big_layer() -> str:
    big, _ = example_layers()
    return sha256_digest(big)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return multi_platform(tmp_path / "img")


def index(root: Path, **options: Any) -> tuple[IndexReport, list[str]]:
    store = CountingLayout(root, "v1")
    opts = IndexOptions(tag=TAG, workers=1, **options)
    report = build_plan(store, opts, destination=store)
    if report.outcome is not Outcome.NOT_APPLICABLE:
        report = apply_plan(store, report)
    return report, store.opened


def comparable(report: IndexReport) -> dict[str, Any]:
    """The JSON report without what only a full run can know (timings, counts, message)."""
    out = report.to_json()
    for key in ("message", "written", "already_present", "outcome"):
        out.pop(key)
    for z in out["ztocs"]:
        for key in ("spans", "files", "seconds"):
            z.pop(key)
    return out


def test_v2_rerun_reads_no_layer_and_reports_like_a_full_run(image: Path, big_layer: str) -> None:
    first, opened = index(image)
    assert first.outcome is Outcome.INDEXED and big_layer in opened
    second, opened = index(image)
    assert second.outcome is Outcome.UP_TO_DATE
    assert second.message.startswith("already SOCI-enabled: an identical index is present")
    assert "nothing was downloaded" in second.message
    assert big_layer not in opened
    assert not any(d in opened for d in layer_digests(image))  # only image configs were read
    assert second.written == 0 and second.already_present > 0
    assert comparable(second) == comparable(first)
    # --force: the full run, which then finds everything present.
    forced, opened = index(image, reuse=False)
    assert forced.outcome is Outcome.UP_TO_DATE and big_layer in opened
    assert (
        forced.message == "already SOCI-enabled: an identical index is present, nothing was written"
    )
    assert comparable(forced) == comparable(first)


@pytest.mark.parametrize(
    "changed",
    [
        {"span_size": 1 << 20},
        {"build_tool_identifier": "AWS SOCI CLI v0.2"},
        {"platforms": (Platform(os="linux", architecture="amd64"),)},
        {"min_layer_size": 0},
        {"optimize_xattrs": True},
    ],
    ids=["span-size", "build-tool", "platform-subset", "min-layer-size", "xattr-optimization"],
)
def test_other_options_do_a_full_run(image: Path, big_layer: str, changed: dict[str, Any]) -> None:
    index(image)
    again, opened = index(image, **changed)
    assert again.outcome is Outcome.INDEXED and big_layer in opened
    # ...and the run after that one, with the same options, reuses what it wrote.
    third, opened = index(image, **changed)
    assert third.outcome is Outcome.UP_TO_DATE
    assert not set(opened) & set(layer_digests(image))


def test_xattr_optimization_is_reused_when_the_marks_match(image: Path, big_layer: str) -> None:
    first, _ = index(image, optimize_xattrs=True)
    soci_index = json.loads(blob(image, next(iter(first.soci_indexes.values()))).read_bytes())
    assert soci_index["layers"][0]["annotations"]["com.amazon.soci.disable-xattrs"] == "true"
    again, opened = index(image, optimize_xattrs=True)
    assert again.outcome is Outcome.UP_TO_DATE and big_layer not in opened
    # Without the optimization the marks are wrong for this run: full run, new index.
    plain, opened = index(image)
    assert plain.outcome is Outcome.INDEXED and big_layer in opened


def test_missing_ztoc_is_completed_by_a_full_run(image: Path, big_layer: str) -> None:
    first, _ = index(image)
    ztoc = next(z.ztoc_digest for z in first.layers if z.ztoc_digest)
    assert ztoc is not None
    blob(image, ztoc).unlink()
    again, opened = index(image)
    assert again.outcome is Outcome.INDEXED and again.written == 1 and big_layer in opened
    assert blob(image, ztoc).is_file()
    _, opened = index(image)
    assert big_layer not in opened


def test_missing_rewritten_manifest_is_completed(image: Path, big_layer: str) -> None:
    first, _ = index(image)
    rewritten = next(iter(first.manifest_digests.values()))
    blob(image, rewritten).unlink()
    again, opened = index(image)
    assert again.outcome is Outcome.INDEXED and again.written == 1 and big_layer in opened


def test_tag_on_something_unparseable_falls_back(image: Path, big_layer: str) -> None:
    index(image)
    store = OciLayout(image, None)
    junk = b'{"schemaVersion": 2, "manifests": [{"digest": "not a digest"}]}'
    store.push_blob(sha256_digest(junk), junk)
    store.tag(TAG, junk, "application/vnd.oci.image.index.v1+json", sha256_digest(junk))
    again, opened = index(image)
    assert again.outcome is Outcome.INDEXED and big_layer in opened
    assert OciLayout(image, TAG).resolve().digest == again.soci_image_digest


def test_v1_rerun_reads_no_layer(image: Path, big_layer: str) -> None:
    first, _ = index(image, index_format=IndexFormat.V1)
    assert first.outcome is Outcome.INDEXED
    second, opened = index(image, index_format=IndexFormat.V1)
    assert second.outcome is Outcome.UP_TO_DATE and big_layer not in opened
    assert comparable(second) == comparable(first)
    other, opened = index(image, index_format=IndexFormat.V1, span_size=1 << 20)
    assert other.outcome is Outcome.INDEXED and big_layer in opened
    # Both indexes are now listed for each image manifest; each span size finds its own.
    for span_size in (1 << 20, 4 << 20):
        again, opened = index(image, index_format=IndexFormat.V1, span_size=span_size)
        assert again.outcome is Outcome.UP_TO_DATE and big_layer not in opened


def layer_digests(root: Path) -> Iterator[str]:
    top = json.loads((root / "index.json").read_text())["manifests"][0]["digest"]
    for m in json.loads(blob(root, top).read_bytes())["manifests"]:
        for layer in json.loads(blob(root, m["digest"]).read_bytes())["layers"]:
            yield layer["digest"]


def blob(root: Path, digest: str) -> Path:
    return root / "blobs" / "sha256" / digest.split(":")[1]
