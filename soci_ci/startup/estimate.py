"""A cold-start estimate from the startup figures: a model, labelled as such, not a measurement.

Without SOCI a task pulls the whole image before it runs; with SOCI it fetches the image
manifest, the SOCI index and the zTOCs, pulls layers without a zTOC whole, starts, and the
application then waits for the spans it reads:

    without:  created->running = fixed + image_bytes / bandwidth
              running->ready   = app
    with:     created->running = fixed + soci_fixed + (index + zTOC bytes + unindexed bytes)
                                 / bandwidth + (2 + zTOCs + unindexed layers) * latency
              running->ready   = app + span requests * latency + span bytes / bandwidth

`app` is the application's own start (the local recording's time to ready). The parameters
are calibrated on the published Fargate measurement (docs/startup.md): a 478 MB image took
36.0 s created->running without SOCI and 17.1 s with it; a 246 MB one 23.1 s without. The two
without-SOCI rows give bandwidth and fixed exactly: (478 - 246) MB / (36.0 - 23.1) s =
17.98 MB/s, and 36.0 - 478 / 17.98 = 9.42 s; the first image's SOCI row gives soci_fixed =
17.1 - 9.42 = 7.68 s (all its layers were indexed). The per-request latency cannot be separated
from bandwidth with that table; its default (20 ms, a first-byte time of a Range request to a
registry in the same region) is an assumption, stated as such. All four can be set in the config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from soci_ci.startup.model import StartupFiles
from soci_ci.startup.table import human

MB = 1_000_000
PUBLISHED = {  # the published Fargate measurement the defaults are fitted on
    "large_image_mb": 478,
    "large_without_soci_seconds": 36.0,
    "large_with_soci_seconds": 17.1,
    "small_image_mb": 246,
    "small_without_soci_seconds": 23.1,
}
_B = (PUBLISHED["large_image_mb"] - PUBLISHED["small_image_mb"]) / (
    PUBLISHED["large_without_soci_seconds"] - PUBLISHED["small_without_soci_seconds"]
)
_FIXED = PUBLISHED["large_without_soci_seconds"] - PUBLISHED["large_image_mb"] / _B
_SOCI_FIXED = PUBLISHED["large_with_soci_seconds"] - _FIXED
WORTHWHILE_SECONDS = 1.0  # SOCI is recommended when it saves at least this
WORTHWHILE_SHARE = 0.10  # ... and at least this share of the cold start


@dataclass(frozen=True, slots=True, kw_only=True)
class EstimateParameters:
    bandwidth_mb_per_second: float = round(_B, 3)
    fixed_seconds: float = round(_FIXED, 3)
    soci_fixed_seconds: float = round(_SOCI_FIXED, 3)
    request_latency_seconds: float = 0.02


@dataclass(frozen=True, slots=True, kw_only=True)
class Arm:
    created_to_running: float
    running_to_ready: float

    @property
    def total(self) -> float:
        return round(self.created_to_running + self.running_to_ready, 3)


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    without_soci: Arm
    with_soci: Arm
    parameters: EstimateParameters
    worthwhile: bool
    recommendation: str

    @property
    def saving_seconds(self) -> float:
        return round(self.without_soci.total - self.with_soci.total, 3)

    def to_json(self) -> dict[str, Any]:
        def arm(a: Arm) -> dict[str, float]:
            return {
                "created_to_running": a.created_to_running,
                "running_to_ready": a.running_to_ready,
                "total": a.total,
            }

        return {
            "label": "estimate from a model (docs/startup.md), not a measurement",
            "parameters": asdict(self.parameters),
            "without_soci": arm(self.without_soci),
            "with_soci": arm(self.with_soci),
            "saving_seconds": self.saving_seconds,
            "worthwhile": self.worthwhile,
            "recommendation": self.recommendation,
        }


def estimate(
    result: StartupFiles,
    *,
    app_seconds: float,
    index_bytes: int = 0,
    parameters: EstimateParameters | None = None,
) -> Estimate:
    p = parameters or EstimateParameters()
    bandwidth = p.bandwidth_mb_per_second * MB
    latency = p.request_latency_seconds
    t = result.totals
    unindexed = [la for la in result.layers if not la.indexed]
    indexed = [la for la in result.layers if la.indexed]
    without = Arm(
        created_to_running=round(p.fixed_seconds + t.image_bytes / bandwidth, 3),
        running_to_ready=round(app_seconds, 3),
    )
    upfront_bytes = index_bytes + t.ztoc_bytes + sum(la.size for la in unindexed)
    upfront_requests = 2 + len(indexed) + len(unindexed)
    span_requests = sum(la.requests for la in indexed)
    span_bytes = sum(la.fetch_bytes for la in indexed)
    with_soci = Arm(
        created_to_running=round(
            p.fixed_seconds
            + p.soci_fixed_seconds
            + upfront_bytes / bandwidth
            + upfront_requests * latency,
            3,
        ),
        running_to_ready=round(app_seconds + span_requests * latency + span_bytes / bandwidth, 3),
    )
    saving = without.total - with_soci.total
    worthwhile = bool(indexed) and saving >= max(
        WORTHWHILE_SECONDS, WORTHWHILE_SHARE * without.total
    )
    needs = (
        f"a lazy start needs {100 * t.fetch_share:.0f} % of {human(t.image_bytes)} "
        f"in {t.fetch_requests} request(s)"
    )
    if not indexed:
        text = f"SOCI not worthwhile: no layer has a zTOC, so the whole image is pulled ({needs})"
    elif worthwhile:
        text = f"SOCI worthwhile: {needs}; estimated {saving:.1f} s faster cold start"
    else:
        text = (
            f"SOCI not worthwhile: {needs}; the estimated saving is {saving:.1f} s "
            f"(below {WORTHWHILE_SECONDS:g} s or {100 * WORTHWHILE_SHARE:.0f} % of the cold start)"
        )
    return Estimate(
        without_soci=without,
        with_soci=with_soci,
        parameters=p,
        worthwhile=worthwhile,
        recommendation=text,
    )
