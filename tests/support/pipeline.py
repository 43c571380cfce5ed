"""A fake `soci_ci.app.pipeline.Steps` for the pipeline's unit tests: typed results, no I/O.

Each call is recorded with its options; a step can be made to raise (an error or a bug).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soci_ci.app.build import BuiltImage
from soci_ci.app.index_model import IndexReport, LayerReport, Outcome
from soci_ci.app.measure import GateResult, run_gate
from soci_ci.app.options import (
    BuildOptions,
    GateOptions,
    IndexImageOptions,
    ProbeOptions,
    VerifyImageOptions,
)
from soci_ci.app.verify import IndexCheck, VerifyReport
from soci_ci.build.docker_tools import DockerTools
from soci_ci.build.engine import BuildResult
from soci_ci.gate.baseline import StoreKey
from soci_ci.probe.model import ArmName, ProbeResult
from soci_ci.soci.index_manifest import IndexFormat
from soci_ci.soci.verify import LayerCheck
from tests.support.probe_results import make_arm, make_result

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
DIGEST_C = "sha256:" + "c" * 64
# What a run hands the build's docker processes; the fake steps never start one.
NO_DOCKER = DockerTools(environ={}, config_dir=Path("/nonexistent/.docker"))


def index_report(image: str, *, soci_digest: str | None = DIGEST_B) -> IndexReport:
    layers = (
        LayerReport(
            platform="linux/amd64",
            digest="sha256:1",
            media_type="x",
            size=9,
            ztoc_digest="sha256:z",
        ),
        LayerReport(
            platform="linux/amd64", digest="sha256:2", media_type="x", size=1, skipped="small"
        ),
        LayerReport(
            platform="linux/amd64", digest="sha256:3", media_type="x", size=1, skipped="small"
        ),
    )
    return IndexReport(
        outcome=Outcome.INDEXED,
        image=image,
        index_format=IndexFormat.V2,
        original_digest=DIGEST_A,
        original_media_type="application/vnd.oci.image.manifest.v1+json",
        soci_image_digest=soci_digest,
        soci_indexes={"linux/amd64": DIGEST_C},
        tag="x-soci",
        layers=layers,
    )


def verify_report(image: str, *, problem: str | None = None) -> VerifyReport:
    layer = LayerCheck(layer="sha256:1", layer_size=9, ztoc="sha256:z", spans=1)
    if problem:
        layer.problems.append(problem)
    check = IndexCheck(
        platform="linux/amd64", image_digest=DIGEST_A, index_digest=DIGEST_C, index_format="v2"
    )
    check.layers.append(layer)
    return VerifyReport(image=image, indexes=(check,))


def probe_result() -> ProbeResult:
    return make_result(
        make_arm(ArmName.NO_SOCI, [40, 41, 40.5]), make_arm(ArmName.SOCI, [30, 31, 32])
    )


@dataclass
class FakeSteps:
    """Plays the steps; ``raises`` maps a step name to the exception it raises."""

    raises: dict[str, BaseException] = field(default_factory=dict)
    verify_problem: str | None = None
    pushed: bool = True
    engine: bool = False  # no Docker engine: `startup.enabled: auto` skips the step
    calls: list[tuple[str, object]] = field(default_factory=list)
    stored: list[tuple[str, StoreKey, str]] = field(default_factory=list)

    def _call(self, name: str, options: object) -> None:
        self.calls.append((name, options))
        if name in self.raises:
            raise self.raises[name]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def options(self, name: str) -> object:
        return next(options for step, options in self.calls if step == name)

    def build(self, options: BuildOptions) -> BuiltImage:
        self._call("build", options)
        repository = options.spec.tags[0].rpartition(":")[0]
        pushed = {options.spec.tags[0]: DIGEST_A} if self.pushed else {}
        result = BuildResult(image_id="sha256:id", tags=options.spec.tags, pushed=pushed)
        return BuiltImage(result=result, reference=f"{repository}@{DIGEST_A}" if pushed else None)

    def index(self, options: IndexImageOptions) -> IndexReport:
        self._call("index", options)
        return index_report(options.image)

    def verify(self, options: VerifyImageOptions) -> VerifyReport:
        self._call("verify", options)
        return verify_report(options.image, problem=self.verify_problem)

    def probe(self, options: ProbeOptions) -> ProbeResult:
        self._call("probe", options)
        return probe_result()

    def gate(self, options: GateOptions, result: ProbeResult | None) -> GateResult:
        self._call("gate", options)
        return run_gate(options, result)

    def engine_reachable(self) -> bool:
        return self.engine

    def startup(self, step: Any) -> Any:
        self._call("startup", step)
        raise AssertionError("the unit tests run no startup step")

    def store_baseline(
        self, store: str, key: StoreKey, result: ProbeResult, *, commit: str
    ) -> None:
        self._call("store_baseline", key)
        self.stored.append((store, key, commit))
