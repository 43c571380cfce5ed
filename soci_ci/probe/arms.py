"""Which images the probe compares (pure): from explicit references or an index report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soci_ci.errors import ProbeError
from soci_ci.oci.image_ref import repository_of
from soci_ci.probe.model import ArmName
from soci_ci.probe.runner import Arm
from soci_ci.probe.task_definition import check_pinned


def from_refs(*, no_soci: str, soci: str, baseline: str | None = None) -> list[Arm]:
    arms = [Arm(name=ArmName.NO_SOCI, image=no_soci), Arm(name=ArmName.SOCI, image=soci)]
    if baseline:
        arms.append(Arm(name=ArmName.BASELINE, image=baseline))
    for arm in arms:
        check_pinned(arm.image)
    return arms


def from_index_report(report: Mapping[str, Any], *, baseline: str | None = None) -> list[Arm]:
    """Arms of a SOCI index v2 build: original digest vs SOCI-enabled digest, same repo."""
    try:
        repository = repository_of(str(report["image"]))
        original = str(report["original_image"]["digest"])
    except (KeyError, TypeError) as exc:
        raise ProbeError(
            f"not a `soci-ci index --output-json` report (missing {exc})",
            hint="pass the file written by `soci-ci index --output-json`",
        ) from exc
    soci = report.get("soci_image") or {}
    if not soci.get("digest"):
        raise ProbeError(
            "the index report has no SOCI-enabled image digest (v1 index or nothing indexed)",
            hint="probe a v2 index, or pass --image-no-soci and --image-soci explicitly",
        )
    return from_refs(
        no_soci=f"{repository}@{original}",
        soci=f"{repository}@{soci['digest']}",
        baseline=baseline,
    )
