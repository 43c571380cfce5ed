"""ECR push events, the Lambda's settings and its decisions (pure code, recorded payloads)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from soci_ci.errors import InputError, UsageError
from soci_ci.oci import media_types as mt
from soci_ci.oci.store import Fetched
from soci_ci.push.decide import Outcome, decide_by_content, decide_by_event, event_pattern
from soci_ci.push.event import parse_push_event
from soci_ci.push.report import PushSummary, emf_line
from soci_ci.push.settings import PushSettings, Untagged, settings_from_env
from soci_ci.soci import constants as c
from soci_ci.soci.index_manifest import IndexFormat

EVENTS = Path(__file__).resolve().parents[1] / "data" / "ecr_events"


def event(name: str, **detail: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    for key, value in detail.items():
        key = key.replace("_", "-")
        if value is None:
            data["detail"].pop(key, None)
        else:
            data["detail"][key] = value
    return data


def test_recorded_push_is_parsed() -> None:
    push = parse_push_event(event("push.json"))
    assert (push.account, push.region, push.repository, push.tag) == (
        "123456789012",
        "us-west-2",
        "my-repository-name",
        "latest",
    )
    assert push.registry_host == "123456789012.dkr.ecr.us-west-2.amazonaws.com"
    assert push.action == "PUSH" and push.result == "SUCCESS"


def test_china_regions_use_the_cn_domain() -> None:
    data = event("push.json")
    data["region"] = "cn-north-1"
    assert parse_push_event(data).registry_host.endswith(".amazonaws.com.cn")


def test_untagged_and_media_type_fields() -> None:
    push = parse_push_event(event("push-untagged.json"))
    assert push.tag is None and push.manifest_media_type == mt.OCI_MANIFEST
    soci = parse_push_event(event("push-soci-index.json"))
    assert soci.artifact_media_type == c.SOCI_INDEX_V2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"image_digest": "sha256:abc"}, "image-digest"),
        ({"image_digest": "sha512:" + "0" * 128}, "image-digest"),
        ({"repository_name": "../../other"}, "repository-name"),
        ({"repository_name": "Team/App"}, "repository-name"),
        ({"repository_name": "a" * 600}, "longer than 512"),
        ({"image_tag": "bad tag\n::error::x"}, "image-tag"),
        ({"image_tag": 7}, "image-tag"),
        ({"repository_name": None}, "repository-name"),
    ],
)
def test_hostile_or_malformed_events_are_input_errors(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_push_event(event("push.json", **change))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.update({"detail-type": "ECR Image Scan"}),
        lambda e: e.update({"source": "aws.s3"}),
        lambda e: e.update({"account": "12345"}),
        lambda e: e.update({"region": "us-west-2.evil.example"}),
        lambda e: e.update({"detail": []}),
    ],
)
def test_other_events_are_refused(mutate: Any) -> None:
    data = copy.deepcopy(event("push.json"))
    mutate(data)
    with pytest.raises(InputError):
        parse_push_event(data)
    with pytest.raises(InputError):
        parse_push_event([data])


def test_settings_from_env() -> None:
    s = settings_from_env(
        {
            "SOCI_CI_REPOSITORIES": "team/*, app",
            "SOCI_CI_TAG_PATTERNS": "v*",
            "SOCI_CI_EXCLUDE_TAG_PATTERNS": "*-rc*",
            "SOCI_CI_UNTAGGED": "INDEX",
            "SOCI_CI_INDEX_FORMAT": "v1",
            "SOCI_CI_MIN_LAYER_SIZE": "0",
            "SOCI_CI_OPTIMIZATIONS": "xattr",
            "SOCI_CI_WORKERS": "2",
            "SOCI_CI_DEADLINE_MARGIN_SECONDS": "45",
            "SOCI_CI_LAMBDA_REGISTRY": "127.0.0.1:5000",
            "SOCI_CI_SOCI_TAG": "ignored: not a setting",
        }
    )
    assert s.repositories == ("team/*", "app") and s.tags == ("v*",)
    assert s.exclude_tags == ("*-rc*",) and s.untagged is Untagged.INDEX
    assert s.index_format is IndexFormat.V1 and s.min_layer_size == 0 and s.optimize_xattrs
    assert s.workers == 2 and s.deadline_margin == 45 and s.registry_host == "127.0.0.1:5000"
    assert settings_from_env({}) == PushSettings()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SOCI_CI_UNTAGGED", "maybe"),
        ("SOCI_CI_INDEX_FORMAT", "v3"),
        ("SOCI_CI_SPAN_SIZE", "4MiB"),
        ("SOCI_CI_WORKERS", "0"),
        ("SOCI_CI_SOCI_TAG_SUFFIX", "soci"),
        ("SOCI_CI_OPTIMIZATIONS", "zstd"),
        ("SOCI_CI_LAMBDA_REGISTRY", "https://evil/x"),
    ],
)
def test_bad_settings_name_the_variable(key: str, value: str) -> None:
    with pytest.raises(UsageError, match=key):
        settings_from_env({key: value})


def decide(name: str, settings: PushSettings | None = None, **detail: Any) -> str | None:
    skip = decide_by_event(parse_push_event(event(name, **detail)), settings or PushSettings())
    return None if skip is None else f"{skip.outcome}: {skip.reason}"


def test_event_decisions() -> None:
    assert decide("push.json") is None
    assert decide("delete.json") == "skipped: DELETE SUCCESS, not a push"
    assert decide("push-failure.json") == "skipped: PUSH FAILURE, not a push"
    assert decide("push.json", image_tag="1.0-soci") == "skipped: a SOCI-enabled image tag (*-soci)"
    assert decide("push-soci-index.json") == "skipped: a SOCI index (artifact media type)"
    assert decide("push-untagged.json") == "skipped: untagged push (SOCI_CI_UNTAGGED=skip)"
    assert decide("push-untagged.json", PushSettings(untagged=Untagged.INDEX)) is None
    only = PushSettings(repositories=("team/*",), tags=("v*",), exclude_tags=("*-rc*",))
    assert decide("push-media-types.json", only) is None
    assert "repository not in" in str(decide("push.json", only))
    assert "tag not in" in str(decide("push-media-types.json", only, image_tag="latest"))
    assert "EXCLUDE" in str(decide("push-media-types.json", only, image_tag="v2-rc1"))


def fetched(obj: dict[str, Any], media_type: str) -> Fetched:
    return Fetched(
        data=json.dumps(obj).encode(), media_type=media_type, digest="sha256:" + "0" * 64
    )


IMAGE = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": {"mediaType": mt.OCI_CONFIG}}


def test_content_decisions_prevent_loops() -> None:
    assert decide_by_content(fetched(IMAGE, mt.OCI_MANIFEST)) is None
    soci_index = {**IMAGE, "artifactType": c.SOCI_INDEX_V2, "config": {"mediaType": mt.OCI_EMPTY}}
    v1_index = {**IMAGE, "config": {"mediaType": c.SOCI_INDEX_V1}}
    converted = {**IMAGE, "annotations": {c.ANNOTATION_INDEX_DIGEST: "sha256:" + "1" * 64}}
    for obj in (soci_index, v1_index, converted):
        skip = decide_by_content(fetched(obj, mt.OCI_MANIFEST))
        assert skip is not None and skip.outcome is Outcome.SKIPPED
    # An image index listing a SOCI index, with or without artifactType (skopeo drops it).
    entry = {"mediaType": mt.OCI_MANIFEST, "digest": "sha256:" + "2" * 64, "size": 1}
    plain = {"schemaVersion": 2, "manifests": [entry]}
    assert decide_by_content(fetched(plain, mt.OCI_INDEX)) is None
    for soci_entry in (
        {**entry, "artifactType": c.SOCI_INDEX_V2},
        {**entry, "annotations": {c.ANNOTATION_IMAGE_MANIFEST_DIGEST: "sha256:" + "3" * 64}},
    ):
        obj = {"schemaVersion": 2, "manifests": [entry, soci_entry]}
        skip = decide_by_content(fetched(obj, mt.OCI_INDEX))
        assert skip is not None and skip.outcome is Outcome.SKIPPED


def test_non_images_are_not_applicable() -> None:
    helm = {**IMAGE, "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json"}}
    skip = decide_by_content(fetched(helm, mt.OCI_MANIFEST))
    assert skip is not None and skip.outcome is Outcome.NOT_APPLICABLE
    skip = decide_by_content(fetched({}, "application/vnd.docker.distribution.manifest.v1+json"))
    assert skip is not None and skip.outcome is Outcome.NOT_APPLICABLE


def test_event_pattern_prefilters_what_it_can() -> None:
    default = event_pattern(PushSettings())
    assert default["detail"]["action-type"] == ["PUSH"]
    assert "repository-name" not in default["detail"]
    assert default["detail"]["image-tag"] == [{"anything-but": {"suffix": "-soci"}}]
    narrowed = event_pattern(PushSettings(repositories=("team/*", "app"), untagged=Untagged.INDEX))
    assert narrowed["detail"]["repository-name"] == [{"wildcard": "team/*"}, "app"]
    assert {"exists": False} in narrowed["detail"]["image-tag"]
    assert "repository-name" not in event_pattern(PushSettings(repositories=("app-?",)))["detail"]


def test_emf_line_publishes_the_outcome() -> None:
    summary = PushSummary(outcome="indexed", reason="ok", repository="team/app", bytes_read=42)
    record = json.loads(emf_line(summary, namespace="ns", timestamp_ms=1, request_id="r"))
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ns" and ["Repository"] in directive["Dimensions"]
    names = {m["Name"] for m in directive["Metrics"]}
    assert {"ImagesIndexed", "ImagesFailed", "BytesRead", "Seconds"} <= names
    assert all(name in record for name in names)  # every metric has its value in the line
    assert record["ImagesIndexed"] == 1 and record["ImagesFailed"] == 0
    assert record["BytesRead"] == 42 and record["outcome"] == "indexed"
