"""Every case of shared/vectors, byte for byte, through the API and the command."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from soci_ci.cli import main
from soci_ci.errors import LayerError
from soci_ci.soci.zlib_binding import Inflater
from soci_ci.soci.ztoc import build_ztoc, sniff_compression
from soci_ci.soci.ztoc_reader import parse_ztoc
from tests.support.vectors import vectors_dir

pytestmark = pytest.mark.usefixtures("inflater")  # the commands read SOCI_CI_INFLATE

UPSTREAM_TOOL = "AWS SOCI CLI v0.2"


def _cases() -> list[Path]:
    try:
        root = vectors_dir()
    except pytest.skip.Exception:
        return []
    return sorted(p for p in (root / "expected").glob("*/span-*") if p.is_dir())


CASES = _cases()


@pytest.fixture(params=CASES, ids=[f"{p.parent.name}@{p.name}" for p in CASES])
def case(request: pytest.FixtureRequest, vectors: Path) -> tuple[Path, dict[str, object], bytes]:
    path: Path = request.param
    expected = json.loads((path / "expected.json").read_text())
    layer = (vectors / "layers" / str(expected["layer"])).read_bytes()
    return path, expected, layer


def test_vector_cases_exist(vectors: Path) -> None:
    assert len(CASES) >= 39


def test_api_matches_vector(
    case: tuple[Path, dict[str, object], bytes], inflater: Inflater
) -> None:
    path, expected, layer = case
    span = int(str(expected["span_size"]))
    if "error" in expected:
        with pytest.raises(LayerError):
            build_ztoc(
                io.BytesIO(layer),
                compression=sniff_compression(layer[:4]),
                span_size=span,
                build_tool_identifier=UPSTREAM_TOOL,
                inflater=inflater,
            )
        return
    built = build_ztoc(
        io.BytesIO(layer),
        compression=sniff_compression(layer[:4]),
        span_size=span,
        build_tool_identifier=UPSTREAM_TOOL,
        inflater=inflater,
    )
    assert built.data == (path / "ztoc.bin").read_bytes()
    assert built.digest == expected["ztoc_digest"]
    parsed = parse_ztoc(built.data)
    assert parsed.checkpoints_blob == (path / "checkpoints.bin").read_bytes()
    assert parsed.span_digests == expected["span_digests"]
    assert parsed.max_span_id == expected["max_span_id"]
    assert parsed.uncompressed_archive_size == expected["uncompressed_archive_size"]
    names = [e["name"].encode("utf-8", "surrogateescape") for e in expected["toc_entries"]]  # type: ignore[attr-defined]
    assert [e.name for e in parsed.entries] == names


def test_command_matches_vector(
    case: tuple[Path, dict[str, object], bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    vectors: Path,
) -> None:
    path, expected, _ = case
    out = tmp_path / "out.ztoc"
    rc = main(
        [
            "ztoc",
            str(vectors / "layers" / str(expected["layer"])),
            "--output",
            str(out),
            "--span-size",
            str(expected["span_size"]),
            "--build-tool-identifier",
            UPSTREAM_TOOL,
        ]
    )
    captured = capsys.readouterr()
    if "error" in expected:
        assert rc == 3
        assert not out.exists()
        assert list(tmp_path.iterdir()) == []
        assert captured.err.startswith("error: ")
        assert len(captured.err.splitlines()) == 2  # the error line and its hint
        return
    assert rc == 0
    assert out.read_bytes() == (path / "ztoc.bin").read_bytes()
    assert captured.out == f"{expected['ztoc_digest']} {expected['ztoc_size']}\n"


def test_time_zone_does_not_change_bytes(vectors: Path, tmp_path: Path) -> None:
    case = vectors / "expected" / "entries.tar.gz" / "span-65536"
    out = tmp_path / "ny.ztoc"
    env = {**os.environ, "TZ": "America/New_York"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "soci_ci",
            "ztoc",
            str(vectors / "layers" / "entries.tar.gz"),
            "--output",
            str(out),
            "--span-size",
            "65536",
            "--build-tool-identifier",
            UPSTREAM_TOOL,
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    assert out.read_bytes() == (case / "ztoc.bin").read_bytes()


def test_default_build_tool_names_soci_ci(vectors: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.ztoc"
    assert main(["ztoc", str(vectors / "layers" / "tiny.tar.gz"), "-o", str(out)]) == 0
    assert parse_ztoc(out.read_bytes()).build_tool_identifier.startswith("soci-ci v")


def test_media_type_overrides_sniffing(vectors: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.ztoc"
    layer = vectors / "layers" / "tiny.tar.gz"
    # Declared as an uncompressed tar, the gzip bytes are not a tar: a clean error.
    rc = main(
        [
            "ztoc",
            str(layer),
            "-o",
            str(out),
            "--media-type",
            "application/vnd.oci.image.layer.v1.tar",
        ]
    )
    assert rc == 3
    assert not out.exists()
