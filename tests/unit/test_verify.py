"""`soci-ci verify` accepts good indexes and catches broken ones."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from soci_ci.cli import main
from soci_ci.oci.digest import sha256_digest
from soci_ci.oci.manifest import Descriptor
from soci_ci.soci.verify import BlobReader, verify_layer
from soci_ci.soci.zlib_binding import Inflater
from soci_ci.soci.ztoc import Compression, build_ztoc
from soci_ci.soci.ztoc_reader import parse_ztoc
from tests.support.layers import Entry, build_tar, gz
from tests.support.vectors import vectors_dir

pytestmark = pytest.mark.usefixtures("inflater")  # the commands read SOCI_CI_INFLATE


def layer_and_ztoc(inflater: Inflater, span: int = 65536) -> tuple[bytes, bytes]:
    tar = build_tar(
        [Entry(name=f"f{i}".encode(), data=(f"{i} " * 20000).encode()) for i in range(20)]
    )
    layer = gz(tar.data)
    built = build_ztoc(
        io.BytesIO(layer), compression=Compression.GZIP, span_size=span, inflater=inflater
    )
    return layer, built.data


def check(layer: bytes, ztoc: bytes, inflater: Inflater) -> list[str]:
    desc = Descriptor(
        media_type="application/vnd.oci.image.layer.v1.tar+gzip",
        digest=sha256_digest(layer),
        size=len(layer),
    )
    reader = BlobReader(open_stream=lambda: io.BytesIO(layer), read_range=lambda a, b: layer[a:b])
    return verify_layer(
        desc, ztoc, sha256_digest(ztoc), reader, sample=None, inflater=inflater
    ).problems


def test_good_index_passes(inflater: Inflater) -> None:
    assert check(*layer_and_ztoc(inflater), inflater) == []


def test_wrong_span_digest_is_found(inflater: Inflater) -> None:
    layer, ztoc = layer_and_ztoc(inflater)
    digest_at = ztoc.find(b"sha256:") + 7
    broken = (
        ztoc[:digest_at]
        + (b"0" if ztoc[digest_at : digest_at + 1] != b"0" else b"1")
        + ztoc[digest_at + 1 :]
    )
    assert any("digest mismatch" in p for p in check(layer, broken, inflater))


def test_shuffled_checkpoint_is_found(inflater: Inflater) -> None:
    layer, ztoc = layer_and_ztoc(inflater)
    blob = parse_ztoc(ztoc).checkpoints_blob
    start = ztoc.find(blob)
    second_in = 12 + 32785  # in_offset of checkpoint 1
    mutated = bytearray(blob)
    mutated[second_in : second_in + 8] = (
        int.from_bytes(blob[second_in : second_in + 8], "little") + 3
    ).to_bytes(8, "little")
    broken = ztoc[:start] + bytes(mutated) + ztoc[start + len(blob) :]
    assert check(layer, broken, inflater)


def test_wrong_layer_bytes_are_found(inflater: Inflater) -> None:
    layer, ztoc = layer_and_ztoc(inflater)
    other, _ = layer_and_ztoc(inflater)
    problems = check(
        layer[:-8] + b"\x00" * 8, ztoc, inflater
    )  # the gzip trailer (CRC, size) zeroed
    assert any("digest mismatch" in p for p in problems)
    assert any("does not decompress" in p and "incorrect data check" in p for p in problems)
    assert check(other, ztoc, inflater) == []


def test_garbage_ztoc_is_a_problem_not_a_crash(inflater: Inflater) -> None:
    layer, _ = layer_and_ztoc(inflater)
    assert check(layer, b"\xff" * 64, inflater)


def test_syncflush_vector_is_flagged_like_the_snapshotter(inflater: Inflater) -> None:
    """Upstream builds this zTOC, but span 0 is empty: the snapshotter rejects it."""
    layer = (vectors_dir() / "layers" / "entries_syncflush.tar.gz").read_bytes()
    ztoc = build_ztoc(
        io.BytesIO(layer), compression=Compression.GZIP, span_size=65536, inflater=inflater
    ).data
    assert any("ErrNonMonotonicCheckpoints" in p for p in check(layer, ztoc, inflater))


def test_verify_command_exit_codes(tmp_path: Path) -> None:
    root = tmp_path / "img"
    assert main(["example", f"oci:{root}:t"]) == 0
    assert main(["verify", f"oci:{root}:t"]) == 3  # not indexed yet: clear input error
    assert main(["index", f"oci:{root}:t"]) == 0
    out = tmp_path / "v.json"
    assert main(["verify", f"oci:{root}:t-soci", "--output-json", str(out)]) == 0
    report = json.loads(out.read_text())
    files = report["indexes"][0]["layers"][0]["files"]
    assert files and all(
        f["ok"] and 0 < f["fetched"] <= report["indexes"][0]["layers"][0]["layer_size"]
        for f in files
    )
    # Swap the zTOC blob for one with a wrong digest list: verify must fail with exit 1.
    index = json.loads(
        (root / "blobs" / "sha256" / report["indexes"][0]["soci_index"].split(":")[1]).read_bytes()
    )
    ztoc_digest = index["layers"][0]["digest"]
    path = root / "blobs" / "sha256" / ztoc_digest.split(":")[1]
    data = path.read_bytes()
    at = data.find(b"sha256:") + 7
    path.write_bytes(data[:at] + (b"a" if data[at : at + 1] != b"a" else b"b") + data[at + 1 :])
    assert main(["verify", f"oci:{root}:t-soci"]) == 3  # blob no longer matches its digest


@pytest.mark.parametrize("sample", ["1", "3"])
def test_sample(tmp_path: Path, sample: str) -> None:
    root = tmp_path / "img"
    main(["example", f"oci:{root}:t"])
    main(["index", f"oci:{root}:t"])
    out = tmp_path / "v.json"
    assert (
        main(["verify", f"oci:{root}:t-soci", "--sample", sample, "--output-json", str(out)]) == 0
    )
    assert len(json.loads(out.read_text())["indexes"][0]["layers"][0]["files"]) == int(sample)


def test_v1_index_verified_through_referrers_tag(tmp_path: Path) -> None:
    root = tmp_path / "img"
    main(["example", f"oci:{root}:t"])
    assert main(["index", f"oci:{root}:t", "--format", "v1"]) == 0
    assert main(["verify", f"oci:{root}:t"]) == 0


def test_working_set_by_layer_and_by_path_when_no_layer_matches(tmp_path: Path) -> None:
    from soci_ci.app.options import VerifyImageOptions
    from soci_ci.app.steps import verify_image

    root = tmp_path / "img"
    assert main(["example", f"oci:{root}:t"]) == 0
    assert main(["index", f"oci:{root}:t"]) == 0
    image = f"oci:{root}:t-soci"
    everything = verify_image(VerifyImageOptions(image=image))
    layer = everything.indexes[0].layers[0]
    first, second = (f.name for f in layer.files[:2])
    by_layer = verify_image(
        VerifyImageOptions(image=image, working_set={layer.layer: ("/" + first,)})
    )
    assert [f.name for f in by_layer.indexes[0].layers[0].files] == [first]
    elsewhere = {"sha256:" + "0" * 64: ("/" + second,)}  # a digest of no layer of the image
    by_path = verify_image(VerifyImageOptions(image=image, working_set=elsewhere))
    assert [f.name for f in by_path.indexes[0].layers[0].files] == [second]
    assert by_layer.ok and by_path.ok
