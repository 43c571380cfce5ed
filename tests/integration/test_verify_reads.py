"""How often verify reads a layer, counted at a proxy in front of Debian's docker-registry.

`run` reads each indexable layer once for index + verify (the zTOC build's record is the
truth), then only the spans, once each, by Range; `soci-ci verify` alone reads the layer once
itself, through its spans' Range reads. A registry that serves other bytes for a range is
caught; one that ignores Range is read in bounded memory or refused with exit 4 (RLIMIT_AS on
a subprocess).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from soci_ci.app.index_model import IndexOptions
from soci_ci.app.options import IndexImageOptions, VerifyImageOptions
from soci_ci.app.steps import index_image, verify_image
from tests.servers.fault_proxy import FaultProxy, Rule
from tests.servers.registry import Registry
from tests.support.registry_images import push_example

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def layer_requests(proxy: FaultProxy, layer: str) -> tuple[int, int, int]:
    """(whole-blob GETs, Range GETs, response bytes) of the layer blob since the last clear."""
    whole = ranged = 0
    for (method, path, _), headers in zip(proxy.log, proxy.headers, strict=True):
        if method == "GET" and path.endswith(f"/blobs/{layer}"):
            if "Range" in headers:
                ranged += 1
            else:
                whole += 1
    return whole, ranged, proxy.bytes_sent


@pytest.fixture
def indexed(
    registry: Registry, proxy: FaultProxy, tmp_path: Path, request: pytest.FixtureRequest
) -> dict[str, Any]:
    """The example image indexed the way `run` does it (index then verify share `records`)."""
    repo = "reads/" + request.node.name.lower().replace("_", "-")[:60]
    push_example(tmp_path, f"{registry.host}/{repo}:1")
    proxy.log.clear()
    proxy.headers.clear()
    proxy.bytes_sent = 0
    options = IndexImageOptions(
        image=f"{proxy.host}/{repo}:1", index=IndexOptions(record_for_verify=True)
    )
    indexed = index_image(options)
    records = dict(indexed.records)
    report = indexed.to_json()
    layer = report["ztocs"][0]["layer"]
    whole, ranged, sent = layer_requests(proxy, layer)
    assert (whole, ranged) == (1, 0)
    return {
        "records": records,
        "layer": layer,
        "size": report["ztocs"][0]["layer_size"],
        "soci": f"{proxy.host}/{repo}@{report['soci_image']['digest']}",
        "index_bytes": sent,
    }


def verify(
    proxy: FaultProxy, ref: str, *, sample: int | None = None, records: Any = None
) -> tuple[int, dict[str, Any]]:
    """The verify step as `run` calls it (typed options); exit code 1 on a problem."""
    proxy.log.clear()
    proxy.headers.clear()
    proxy.bytes_sent = 0
    report = verify_image(VerifyImageOptions(image=ref, sample=sample, records=records))
    return (0 if report.ok else 1), report.to_json()


def test_run_reads_each_layer_once_then_each_span_once(
    proxy: FaultProxy, tmp_path: Path, indexed: dict[str, Any]
) -> None:
    assert indexed["layer"] in indexed["records"]
    code, report = verify(proxy, indexed["soci"], records=indexed["records"])
    assert code == 0
    lc = report["indexes"][0]["layers"][0]
    whole, ranged, sent = layer_requests(proxy, indexed["layer"])
    assert whole == 0  # no second download: the index step's read is the truth
    assert lc["truth"] == "record" and lc["sequential_bytes"] == 0
    assert ranged == lc["range_requests"] == lc["spans"] + 1  # each span once, + gzip header
    # index + verify of the run: within 2x the indexed bytes (manifests and zTOC included).
    assert indexed["index_bytes"] + sent <= 2.0 * indexed["size"] + 400_000
    assert lc["range_bytes"] <= indexed["size"] + 8 * lc["spans"]


def test_verify_alone_reads_the_layer_once(
    proxy: FaultProxy, tmp_path: Path, indexed: dict[str, Any]
) -> None:
    code, report = verify(proxy, indexed["soci"])
    assert code == 0
    lc = report["indexes"][0]["layers"][0]
    whole, ranged, sent = layer_requests(proxy, indexed["layer"])
    # No sequential download: each span's one Range read, chained, is the truth; the layer's
    # bytes cross the wire once (+ the gzip header twice, a shared byte per span boundary).
    assert whole == 0 and lc["truth"] == "ranges" and lc["sequential_bytes"] == 0
    assert ranged == lc["spans"] + 2
    assert indexed["size"] <= lc["range_bytes"] <= indexed["size"] + lc["spans"] + 64
    assert sent <= 1.05 * indexed["size"] + 400_000  # manifests and zTOC included
    code, report = verify(proxy, indexed["soci"], sample=2)
    whole, ranged, _ = layer_requests(proxy, indexed["layer"])
    lc = report["indexes"][0]["layers"][0]
    assert code == 0 and whole == 1 and len(lc["files"]) == 2
    assert ranged - 1 <= sum(f["requests"] for f in lc["files"])


def test_registry_serving_other_bytes_for_a_range_fails_verify(
    proxy: FaultProxy, tmp_path: Path, indexed: dict[str, Any]
) -> None:
    proxy.add(Rule("GET", f"/blobs/{indexed['layer']}", "corrupt_range", times=100))
    for records in (indexed["records"], None):
        code, report = verify(proxy, indexed["soci"], records=records)
        assert code == 1
        problems = report["indexes"][0]["layers"][0]["problems"]
        assert any("gave other bytes than the layer" in p for p in problems), problems


def test_registry_ignoring_range_stays_bounded(
    proxy: FaultProxy, tmp_path: Path, indexed: dict[str, Any]
) -> None:
    proxy.add(Rule("GET", f"/blobs/{indexed['layer']}", "ignore_range", times=10_000))
    limit = 1 << 30

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run(
        [sys.executable, "-m", "soci_ci", "verify", indexed["soci"]],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "MALLOC_ARENA_MAX": "2"},
        cwd=REPO,
        preexec_fn=cap,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 4), done.stdout[-1500:] + done.stderr[-1500:]
    if done.returncode == 4:
        assert len(done.stderr.strip().splitlines()[0]) < 400


def test_soci_ci_run_pipeline_reads_the_layer_once(
    registry: Registry, proxy: FaultProxy, tmp_path: Path
) -> None:
    """The run pipeline as `soci-ci run` drives it: index then verify, one layer download,
    and the comment's lazy-loading section from verify."""
    from soci_ci.app.pipeline import AppSteps, Pipeline, RunOptions
    from soci_ci.ci.context import CiContext, Provider
    from tests.support.pipeline import NO_DOCKER

    push_example(tmp_path, f"{registry.host}/reads/pipeline:1")
    options = RunOptions(
        image=f"{proxy.host}/reads/pipeline:1",
        work_dir=tmp_path / "work",
        startup=False,
        docker=NO_DOCKER,
    )
    ctx = CiContext(provider=Provider.GITHUB, repository="o/r", pr_number=1, sha="a" * 40)
    proxy.log.clear()
    proxy.headers.clear()
    summary = Pipeline(options, ctx, AppSteps()).run()
    assert summary.exit_code == 0, summary.reason
    index = json.loads((tmp_path / "work" / "index.json").read_text())
    layer = index["ztocs"][0]["layer"]
    whole, ranged, _ = layer_requests(proxy, layer)
    assert whole == 1 and ranged == index["ztocs"][0]["spans"] + 1
    assert summary.lazy_start is not None and summary.lazy_start.layers_indexed == 1
    from soci_ci.report.run import render_markdown

    comment = render_markdown(summary)
    assert "### Lazy loading (from verify)" in comment
    assert "| layers indexed / skipped | 1 / 1 |" in comment
