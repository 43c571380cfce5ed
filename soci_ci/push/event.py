"""EventBridge `ECR Image Action` events, parsed into a typed push at the boundary.

The shape is the one ECR sends (AWS docs, "Amazon ECR events and EventBridge"): `account`,
`region`, and in `detail` the `action-type`, `result`, `repository-name`, `image-digest`,
`image-tag` (absent for untagged pushes) and, on newer events, `manifest-media-type` and
`artifact-media-type`. Everything in it is checked before use: the digest and tag syntax, the
repository name and the region decide which registry and repository are read and written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from soci_ci.errors import InputError

DETAIL_TYPE = "ECR Image Action"
SOURCE = "aws.ecr"
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# ECR repository names: lowercase components separated by '/', each with . _ - inside.
_REPOSITORY = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
MAX_REPOSITORY = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class EcrPush:
    """One image push that ECR reported."""

    account: str
    region: str
    repository: str
    digest: str
    tag: str | None  # None for an untagged (digest-only) push
    action: str  # "PUSH", "DELETE", ...
    result: str  # "SUCCESS" or "FAILURE"
    manifest_media_type: str | None = None
    artifact_media_type: str | None = None
    event_id: str | None = None

    @property
    def registry_host(self) -> str:
        """The account's ECR registry in the event's region (China regions use .com.cn)."""
        suffix = "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        return f"{self.account}.dkr.ecr.{self.region}.{suffix}"

    def describe(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest}"


def _field(obj: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InputError(f"ECR event: {key!r} must be a non-empty string")
    if len(value) > 512:
        raise InputError(f"ECR event: {key!r} is longer than 512 characters")
    return value


def _checked(value: str, pattern: re.Pattern[str], key: str) -> str:
    if not pattern.fullmatch(value):
        raise InputError(f"ECR event: {key!r} is not valid ({value[:80]!r})")
    return value


def parse_push_event(event: object) -> EcrPush:
    """The push an EventBridge event describes; InputError for anything else or malformed."""
    if not isinstance(event, Mapping):
        raise InputError("ECR event: the event must be a JSON object")
    if event.get("detail-type") != DETAIL_TYPE or event.get("source") != SOURCE:
        raise InputError(
            f"not an ECR image event (detail-type {str(event.get('detail-type'))[:60]!r}, "
            f"source {str(event.get('source'))[:40]!r})"
        )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InputError("ECR event: 'detail' must be an object")
    repository = _field(detail, "repository-name") or ""
    if len(repository) > MAX_REPOSITORY:
        raise InputError("ECR event: 'repository-name' is too long")
    tag = _field(detail, "image-tag", required=False)
    event_id = event.get("id")
    return EcrPush(
        account=_checked(_field(event, "account") or "", _ACCOUNT, "account"),
        region=_checked(_field(event, "region") or "", _REGION, "region"),
        repository=_checked(repository, _REPOSITORY, "repository-name"),
        digest=_checked(_field(detail, "image-digest") or "", _DIGEST, "image-digest"),
        tag=_checked(tag, _TAG, "image-tag") if tag is not None else None,
        action=_field(detail, "action-type") or "",
        result=_field(detail, "result") or "",
        manifest_media_type=_field(detail, "manifest-media-type", required=False),
        artifact_media_type=_field(detail, "artifact-media-type", required=False),
        event_id=event_id[:128] if isinstance(event_id, str) else None,
    )
