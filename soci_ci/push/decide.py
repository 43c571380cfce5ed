"""Which pushes get indexed: filters, loop prevention and the untagged policy, in one place.

Two stages. `decide_by_event` needs only the event (and is mirrored, as far as EventBridge can
express it, by `event_pattern`, so most pushes that would be skipped never invoke the Lambda).
`decide_by_content` looks at the pushed manifest itself: whatever the tag, a SOCI index
manifest, a manifest that `soci convert` rewrote (it names its index in
`com.amazon.soci.index-digest`) or an image index that already lists a SOCI index is never
indexed again, so the Lambda's own pushes cannot trigger it in a loop.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from soci_ci.oci import media_types as mt
from soci_ci.oci.store import Fetched
from soci_ci.push.event import EcrPush
from soci_ci.push.settings import PushSettings, Untagged
from soci_ci.soci import constants as c

SOCI_TYPES = frozenset({c.SOCI_INDEX_V1, c.SOCI_INDEX_V2})
IMAGE_CONFIG_TYPES = frozenset({mt.OCI_CONFIG, mt.DOCKER_CONFIG})


class Outcome(StrEnum):
    """What one invocation did (the `outcome` of its summary)."""

    INDEXED = "indexed"
    UP_TO_DATE = "up-to-date"
    NOT_APPLICABLE = "not-applicable"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip:
    outcome: Outcome
    reason: str


def matches(name: str, patterns: tuple[str, ...]) -> bool:
    """Case-sensitive glob match; `*` also crosses `/` (repository namespaces)."""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def decide_by_event(push: EcrPush, settings: PushSettings) -> Skip | None:
    """None when the push should be read; else why it is skipped."""
    if push.action != "PUSH" or push.result != "SUCCESS":
        return Skip(outcome=Outcome.SKIPPED, reason=f"{push.action} {push.result}, not a push")
    if push.artifact_media_type in SOCI_TYPES:
        return Skip(outcome=Outcome.SKIPPED, reason="a SOCI index (artifact media type)")
    if not matches(push.repository, settings.repositories):
        return Skip(outcome=Outcome.SKIPPED, reason="repository not in SOCI_CI_REPOSITORIES")
    if push.tag is None:
        if settings.untagged is Untagged.SKIP:
            return Skip(outcome=Outcome.SKIPPED, reason="untagged push (SOCI_CI_UNTAGGED=skip)")
        return None
    if push.tag.endswith(settings.suffix):
        return Skip(
            outcome=Outcome.SKIPPED, reason=f"a SOCI-enabled image tag (*{settings.suffix})"
        )
    if not matches(push.tag, settings.tags):
        return Skip(outcome=Outcome.SKIPPED, reason="tag not in SOCI_CI_TAG_PATTERNS")
    if matches(push.tag, settings.exclude_tags):
        return Skip(outcome=Outcome.SKIPPED, reason="tag in SOCI_CI_EXCLUDE_TAG_PATTERNS")
    return None


def _object(data: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _soci_entry(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    annotations = entry.get("annotations")
    return entry.get("artifactType") in SOCI_TYPES or (
        isinstance(annotations, dict) and c.ANNOTATION_IMAGE_MANIFEST_DIGEST in annotations
    )


def decide_by_content(root: Fetched) -> Skip | None:
    """None when the manifest is an image to index; else why it is skipped or not applicable."""
    obj = _object(root.data)
    if root.media_type in mt.MANIFEST_TYPES:
        config = obj.get("config")
        config_type = config.get("mediaType") if isinstance(config, dict) else None
        annotations = obj.get("annotations")
        if obj.get("artifactType") in SOCI_TYPES or config_type in SOCI_TYPES:
            return Skip(outcome=Outcome.SKIPPED, reason="a SOCI index manifest")
        if isinstance(annotations, dict) and c.ANNOTATION_INDEX_DIGEST in annotations:
            return Skip(outcome=Outcome.SKIPPED, reason="already SOCI-enabled (index annotation)")
        if config_type not in IMAGE_CONFIG_TYPES:
            shown = str(config_type)[:80]
            return Skip(
                outcome=Outcome.NOT_APPLICABLE, reason=f"not a container image (config {shown})"
            )
        return None
    if root.media_type in mt.INDEX_TYPES:
        manifests = obj.get("manifests")
        if isinstance(manifests, list) and any(_soci_entry(e) for e in manifests):
            return Skip(outcome=Outcome.SKIPPED, reason="already SOCI-enabled (lists a SOCI index)")
        return None
    return Skip(outcome=Outcome.NOT_APPLICABLE, reason=f"not an image ({root.media_type[:80]})")


def event_pattern(settings: PushSettings) -> dict[str, Any]:
    """The EventBridge rule pattern that prefilters what `decide_by_event` would skip.

    EventBridge wildcards know only `*`, so a repository glob using `?` or `[...]` is left to
    the function (the pattern then lets every repository through).
    """
    detail: dict[str, Any] = {"action-type": ["PUSH"], "result": ["SUCCESS"]}
    repos = settings.repositories
    if "*" not in repos and all(set(p).isdisjoint("?[]") for p in repos):
        detail["repository-name"] = [{"wildcard": p} if "*" in p else p for p in repos]
    tag_rule: list[Any] = [{"anything-but": {"suffix": settings.suffix}}]
    if settings.untagged is Untagged.INDEX:
        tag_rule.append({"exists": False})
    detail["image-tag"] = tag_rule
    detail["artifact-media-type"] = [{"anything-but": sorted(SOCI_TYPES)}, {"exists": False}]
    return {"source": ["aws.ecr"], "detail-type": ["ECR Image Action"], "detail": detail}
