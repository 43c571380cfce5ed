"""The pure parts of `soci-ci startup`: layer merge, spans, prefetch, estimate, thresholds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from soci_ci.config.loader import schema
from soci_ci.oci.manifest import Descriptor
from soci_ci.soci.tar_toc import FileMetadata
from soci_ci.soci.verify import Span
from soci_ci.startup import estimate as est
from soci_ci.startup.fetch import attribute, span_ids
from soci_ci.startup.image import ImageLayers, LayerInfo
from soci_ci.startup.markdown import render_startup
from soci_ci.startup.order import suggest_order
from soci_ci.startup.prefetch import artifact_bytes, normalize, prefetch_artifacts
from soci_ci.startup.recorder import Access, in_rootfs
from soci_ci.startup.rootfs import merge_layers
from soci_ci.startup.settings import Overrides, startup_options
from soci_ci.startup.thresholds import Outcome, check_limits, parse_limits


def entry(
    name: str, *, type_: bytes = b"reg", offset: int = 0, size: int = 0, link: str = ""
) -> FileMetadata:
    return FileMetadata(
        name=name.encode(),
        type=type_,
        uncompressed_offset=offset,
        uncompressed_size=size,
        linkname=link.encode(),
        mode=0o644,
        uid=0,
        gid=0,
        uname=b"",
        gname=b"",
        mod_time=b"",
        devmajor=0,
        devminor=0,
        xattrs=[],
    )


def test_merge_respects_whiteouts_opaque_dirs_replacements_and_hardlinks() -> None:
    lower = [
        entry("etc/", type_=b"dir"),
        entry("etc/a"),
        entry("etc/gone"),
        entry("opt/", type_=b"dir"),
        entry("opt/x"),
        entry("var/", type_=b"dir"),
        entry("var/old"),
        entry("lib/", type_=b"dir"),
        entry("lib/data", offset=512, size=10),
        entry("./srv/tree/", type_=b"dir"),
        entry("./srv/tree/f"),
    ]
    upper = [
        entry("etc/.wh.gone"),
        entry("etc/a", size=3),
        entry("var/.wh..wh..opq"),
        entry("var/new"),
        entry("lib/alias", type_=b"hardlink", link="lib/data2"),
        entry("lib/data2", offset=2048, size=7),
        entry("srv/tree"),  # a file where a directory was
    ]
    merged = merge_layers([lower, upper])
    assert merged["etc/a"].layer == 1
    assert merged["etc/a"].entry.uncompressed_size == 3
    assert "etc/gone" not in merged
    assert "var/old" not in merged and merged["var/new"].layer == 1
    assert merged["opt/x"].layer == 0
    assert merged["lib/alias"].entry.uncompressed_offset == 2048  # followed to its data
    assert "srv/tree/f" not in merged and merged["srv/tree"].layer == 1
    assert merged["lib/data"].layer == 0


def test_span_ids_cover_the_bytes_exactly() -> None:
    starts = [0, 100, 200, 300]
    assert list(span_ids(starts, 0, 100)) == [0]
    assert list(span_ids(starts, 99, 2)) == [0, 1]
    assert list(span_ids(starts, 150, 200)) == [1, 2, 3]
    assert list(span_ids(starts, 350, 1000)) == [3]
    assert list(span_ids(starts, 50, 0)) == []


def _span(i: int, c: tuple[int, int]) -> Span:
    return Span(
        c_start=c[0], c_end=c[1], u_start=i * 100, u_end=(i + 1) * 100, digest="", checkpoint=None
    )


def _image() -> ImageLayers:
    indexed = LayerInfo(
        descriptor=Descriptor(
            media_type="application/vnd.oci.image.layer.v1.tar+gzip",
            digest="sha256:" + "1" * 64,
            size=1000,
        ),
        entries=(
            entry("app/a", offset=10, size=50),
            entry("app/b", offset=150, size=120),
            entry("app/c", offset=390, size=5),
        ),
        ztoc_digest="sha256:" + "9" * 64,
        ztoc_size=77,
        spans=tuple(_span(i, (i * 250, (i + 1) * 250)) for i in range(4)),
    )
    small = LayerInfo(
        descriptor=Descriptor(
            media_type="application/vnd.oci.image.layer.v1.tar+gzip",
            digest="sha256:" + "2" * 64,
            size=40,
        ),
        entries=(entry("bin/sh", size=9),),
    )
    return ImageLayers(
        image="r/app:1",
        manifest_digest="sha256:" + "3" * 64,
        platform="linux/amd64",
        diff_ids=(),
        layers=(indexed, small),
        ztoc_source="test",
    )


def test_attribution_counts_spans_once_and_unindexed_layers_whole() -> None:
    accesses = [
        Access(path="/bin/sh", kind="exec"),
        Access(path="/app/b", kind="open"),
        Access(path="/app/a", kind="open"),
        Access(path="/tmp/new", kind="open"),
        Access(path="/app/b", kind="read"),
    ]
    result = attribute(_image(), accesses)
    assert [(f.path, f.spans) for f in result.files] == [
        ("/bin/sh", ()),
        ("/app/b", (1, 2)),
        ("/app/a", (0,)),
    ]
    indexed, small = result.layers
    assert (indexed.spans_read, indexed.fetch_bytes, indexed.requests) == (3, 750, 3)
    assert (small.fetch_bytes, small.requests, small.indexed) == (40, 1, False)
    t = result.totals
    assert (t.image_bytes, t.fetch_bytes, t.fetch_requests, t.startup_files) == (1040, 790, 4, 3)
    assert t.startup_file_bytes == 9 + 120 + 50
    assert result.not_in_image == ("/tmp/new",)
    order = suggest_order(_image(), result)
    # 100-byte spans: packed with their tar headers the files need more spans, not fewer
    assert order["advice"] == "the startup files already sit in 3 span(s): no better order found"


def test_prefetch_artifacts_follow_upstream() -> None:
    # upstream normalizePrefetchSpans: sorted, merged when adjacent or overlapping
    assert normalize([(50, 55), (10, 15), (16, 20), (12, 13)]) == [(10, 20), (50, 55)]
    assert (
        artifact_bytes([(10, 15)])
        == b'{"version":"1.0","prefetch_spans":[{"start_span":10,"end_span":15}]}'
    )
    result = attribute(
        _image(), [Access(path="/app/b", kind="open"), Access(path="/app/c", kind="open")]
    )
    (artifact,) = prefetch_artifacts(_image(), result)
    # tar layer (no checkpoints): offset // span size, end at offset + size as upstream
    assert artifact.spans == ((1, 3),)
    assert artifact.descriptor()["annotations"] == {
        "com.amazon.soci.image-layer-digest": "sha256:" + "1" * 64
    }
    assert json.loads(artifact.data)["prefetch_spans"] == [{"start_span": 1, "end_span": 3}]


def test_estimate_reproduces_the_published_table() -> None:
    p = est.EstimateParameters()
    mb = est.MB
    big = p.fixed_seconds + 478 * mb / (p.bandwidth_mb_per_second * mb)
    small = p.fixed_seconds + 246 * mb / (p.bandwidth_mb_per_second * mb)
    assert big == pytest.approx(36.0, abs=0.01)
    assert small == pytest.approx(23.1, abs=0.01)
    assert p.fixed_seconds + p.soci_fixed_seconds == pytest.approx(17.1, abs=0.01)
    defaults = schema()["properties"]["startup"]["properties"]["estimate"]["properties"]
    assert {k: v["default"] for k, v in defaults.items()} == {
        "bandwidth_mb_per_second": p.bandwidth_mb_per_second,
        "fixed_seconds": p.fixed_seconds,
        "soci_fixed_seconds": p.soci_fixed_seconds,
        "request_latency_seconds": p.request_latency_seconds,
    }


def test_estimate_recommendation() -> None:
    result = attribute(_image(), [Access(path="/app/a", kind="open")])
    e = est.estimate(result, app_seconds=0.5)
    assert e.without_soci.running_to_ready == 0.5
    assert not e.worthwhile  # a 1 kB image: the fixed SOCI cost dominates
    assert e.recommendation.startswith(
        "SOCI not worthwhile: a lazy start needs 28 % of 1.0 kB in 2 request(s)"
    )
    assert e.to_json()["label"].startswith("estimate")


def test_thresholds_are_exact_absolute_and_relative() -> None:
    limits = parse_limits(
        [
            {"metric": "fetch_bytes", "max": 1000},
            {"metric": "fetch_bytes", "max_increase_percent": 10},
            {"metric": "fetch_requests", "max_increase": 2},
        ]
    )
    totals = {"fetch_bytes": 1000.0, "fetch_requests": 13.0}
    checks = check_limits(totals, limits, {"fetch_bytes": 900.0, "fetch_requests": 10.0})
    assert [c.outcome for c in checks] == [Outcome.PASS, Outcome.FAIL, Outcome.FAIL]
    assert checks[1].message == (
        "fetch_bytes 1000 vs 900 on the base branch (+11.1 %; allowed +10 %)"
    )
    checks = check_limits(
        {"fetch_bytes": 909.0, "fetch_requests": 12.0},
        limits,
        {"fetch_bytes": 900.0, "fetch_requests": 10.0},
    )
    assert [c.outcome for c in checks] == [Outcome.PASS] * 3
    missing = check_limits(totals, limits, None)
    assert [c.outcome for c in missing] == [
        Outcome.PASS,
        Outcome.NOT_EVALUATED,
        Outcome.NOT_EVALUATED,
    ]


def test_comment_section_whole_text() -> None:
    report = {
        "image": "r/app:1",
        "recording": {"ready_by": "log"},
        "totals": {
            "image_bytes": 412_000_000,
            "fetch_bytes": 24_720_000,
            "fetch_requests": 37,
            "fetch_percent": 6.0,
            "startup_files": 120,
            "startup_file_bytes": 30_000_000,
        },
        "files": [
            {"path": "/usr/lib/libjvm.so", "size": 20_000_000},
            {"path": "/app/a|b", "size": 10},
        ],
        "estimate": {
            "recommendation": "SOCI worthwhile: x",
            "without_soci": {"created_to_running": 32.3, "running_to_ready": 1.0, "total": 33.3},
            "with_soci": {"created_to_running": 17.2, "running_to_ready": 3.0, "total": 20.2},
        },
        "layer_order": {"advice": "fine"},
    }
    limits = parse_limits([{"metric": "fetch_bytes", "max_increase_percent": 10}])
    base = {
        "image_bytes": 410_000_000,
        "fetch_bytes": 24_000_000,
        "fetch_requests": 40,
        "fetch_percent": 5.85,
        "startup_files": 120,
        "startup_file_bytes": 30_000_000,
    }
    checks = check_limits(report["totals"], limits, base, baseline_label="main@abc")  # type: ignore[arg-type]
    text = render_startup(
        report,
        baseline=base,
        baseline_label="main@abc",
        checks=checks,
        measured={"soci": {"total": 21.0}},
    )
    assert text == (
        "### Startup working set: `r/app:1`\n\n"
        "Recorded on the local Docker engine (exact, no AWS): every file the container read "
        "before it was ready (log), mapped to the spans a lazy SOCI start fetches.\n\n"
        "| | this run | main@abc | change |\n|---|---:|---:|---:|\n"
        "| image (compressed) | 412 MB | 410 MB | +0.5 % |\n"
        "| fetched by a lazy start | 25 MB | 24 MB | +3.0 % |\n"
        "| fetch requests | 37 | 40 | -7.5 % |\n"
        "| share of the image a lazy start needs | 6.0 % | 5.8 % | +2.6 % |\n"
        "| files read before ready | 120 | 120 | +0.0 % |\n"
        "| bytes of those files | 30 MB | 30 MB | +0.0 % |\n\n"
        "Largest files read at start:\n- `/usr/lib/libjvm.so` 20 MB\n- `/app/a\\|b` 10 B\n\n"
        "**SOCI worthwhile: x**\n\n"
        "Estimate (a model calibrated on published Fargate figures, not a measurement; "
        "docs/startup.md):\n\n"
        "| | created → running (s) | running → ready (s) | total (s) | measured total (s) | error |\n"
        "|---|---:|---:|---:|---:|---:|\n"
        "| without SOCI | 32.3 | 1.0 | 33.3 | – | – |\n"
        "| with SOCI | 17.2 | 3.0 | 20.2 | 21.0 | -0.8 s |\n\n"
        "Layer order (suggestion only): fine\n\n"
        "| threshold | result |\n|---|---|\n"
        "| ✅ `startup.fetch_bytes +10 % vs base` | fetch_bytes 24720000 vs 24000000 on main@abc "
        "(+3.0 %; allowed +10 %) |\n"
    )


def test_in_rootfs_needs_the_same_inode_through_real_directories(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    (layer / "etc").mkdir(parents=True)
    (layer / "etc" / "passwd").write_text("x")
    st = (layer / "etc" / "passwd").stat()
    key = (st.st_dev, st.st_ino)
    assert in_rootfs([str(layer)], "/etc/passwd", key)
    assert not in_rootfs([str(layer)], "/etc/passwd", (st.st_dev, st.st_ino + 1))
    assert not in_rootfs([str(layer)], "/etc/../etc/passwd", key)
    assert not in_rootfs([str(layer)], "etc/passwd", key)
    # A symlinked directory in a layer never leads to a match outside it.
    other = tmp_path / "other"
    other.mkdir()
    (other / "passwd").write_text("y")
    os.symlink(other, layer / "link")
    st2 = (other / "passwd").stat()
    assert not in_rootfs([str(layer)], "/link/passwd", (st2.st_dev, st2.st_ino))


def test_options_precedence_flag_then_startup_then_probe() -> None:
    probe = {"command": ["serve"], "environment": {"A": "1"}, "ready": {"log_regex": "probe"}}
    opts = startup_options("r/app:1", probe=probe, startup={"ready_log_regex": "startup"})
    assert opts.ready.log_regex is not None and opts.ready.log_regex.pattern == "startup"
    assert opts.run.command == ("serve",) and opts.run.environment == {"A": "1"}
    assert opts.run.network == "none"
    opts = startup_options(
        "r/app:1",
        probe=probe,
        overrides=Overrides(ready_log_regex="flag", environment={"A": "2"}, command=("x",)),
    )
    assert opts.ready.log_regex is not None and opts.ready.log_regex.pattern == "flag"
    assert opts.run.environment == {"A": "2"} and opts.run.command == ("x",)
    bare = startup_options("r/app:1")
    assert bare.ready.log_regex is None and bare.ready.after_seconds == 10.0


def test_the_recorder_limit_matches_limits_py() -> None:
    from soci_ci import limits
    from soci_ci.startup import recorder

    assert recorder.MAX_FILES == limits.STARTUP_MAX_FILES


def test_the_runner_network_is_refused() -> None:
    from soci_ci.errors import StartupError
    from soci_ci.startup.engine import RunSpec, create_target

    with pytest.raises(StartupError, match="network 'host' is not allowed"):
        create_target(object(), "img", RunSpec(network="host"), "x")


@pytest.mark.parametrize("path", ["/etc/passwd", "/a b/new\nline", "/caf\udce9", "/x|`y`"])
def test_helper_lines_carry_any_path(path: str) -> None:
    from soci_ci.startup.recorder import decode_line, encode_access

    line = encode_access(Access(path=path, kind="exec"))
    assert "\n" not in line
    assert decode_line(line) == ("file", "exec", path)
    assert decode_line("file open zz") == ("", "", "")
    assert decode_line("end 1") == ("end", "1", "")


def test_the_runner_network_is_refused_before_anything_runs() -> None:
    from soci_ci.errors import UsageError

    with pytest.raises(UsageError, match="network 'host' is not allowed"):
        startup_options("r/app:1", startup={"network": "host"})


def test_startup_builds_its_ztocs_with_the_inflate_library_of_soci_ci_inflate() -> None:
    from soci_ci.cli import build_parser
    from soci_ci.cli.environment import read_environment
    from soci_ci.cli.startup import build_options
    from soci_ci.soci.zlib_binding import InflateBackend

    args = build_parser().parse_args(["startup", "r/app:1"])
    for given, backend in (("zlib", InflateBackend.ZLIB), (None, InflateBackend.AUTO)):
        args.environment = read_environment({"SOCI_CI_INFLATE": given} if given else {})
        assert build_options(args).index.inflate is backend
