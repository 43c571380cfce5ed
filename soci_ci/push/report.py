"""The summary an invocation returns and the one JSON log line it prints per image.

The line is CloudWatch Embedded Metric Format: the `_aws` member tells CloudWatch Logs to
publish `ImagesIndexed`, `ImagesUpToDate`, `ImagesSkipped`, `ImagesNotApplicable`,
`ImagesFailed`, `BytesRead` and `Seconds` as metrics (per `Repository` and in total), with no
API call and no extra permission; the other members are the structured log fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from soci_ci.push.event import EcrPush

OUTCOME_METRICS = {
    "indexed": "ImagesIndexed",
    "up-to-date": "ImagesUpToDate",
    "skipped": "ImagesSkipped",
    "not-applicable": "ImagesNotApplicable",
    "failed": "ImagesFailed",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PushSummary:
    outcome: str  # an Outcome value, or "failed"
    reason: str
    repository: str | None = None
    image_digest: str | None = None
    image_tag: str | None = None
    soci_tag: str | None = None
    soci_image_digest: str | None = None
    soci_index_digests: tuple[str, ...] = ()
    written: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    error_type: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "outcome": self.outcome,
            "reason": self.reason,
            "repository": self.repository,
            "image_digest": self.image_digest,
            "image_tag": self.image_tag,
            "soci_tag": self.soci_tag,
            "soci_image_digest": self.soci_image_digest,
            "soci_index_digests": list(self.soci_index_digests),
            "written": self.written,
            "bytes_read": self.bytes_read,
            "seconds": round(self.seconds, 3),
        }
        if self.error_type:
            out["error_type"] = self.error_type
        return out | self.extra


def summary_for(push: EcrPush | None, **fields: Any) -> PushSummary:
    where: dict[str, Any] = {}
    if push is not None:
        where = {"repository": push.repository, "image_digest": push.digest, "image_tag": push.tag}
    return PushSummary(**(where | fields))


def emf_line(summary: PushSummary, *, namespace: str, timestamp_ms: int, request_id: str) -> str:
    """One JSON line: the structured log record and its metrics (Embedded Metric Format)."""
    metrics = dict.fromkeys(OUTCOME_METRICS.values(), 0)
    metrics[OUTCOME_METRICS.get(summary.outcome, "ImagesFailed")] = 1
    record: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["Repository"], []],
                    "Metrics": [{"Name": n, "Unit": "Count"} for n in metrics]
                    + [
                        {"Name": "BytesRead", "Unit": "Bytes"},
                        {"Name": "Seconds", "Unit": "Seconds"},
                    ],
                }
            ],
        },
        "Repository": summary.repository or "-",
        "request_id": request_id,
        **metrics,
        "BytesRead": summary.bytes_read,
        "Seconds": round(summary.seconds, 3),
        **summary.to_json(),
    }
    return json.dumps(record, separators=(",", ":"), sort_keys=False)
