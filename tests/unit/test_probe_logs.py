from __future__ import annotations

import json

from soci_ci.probe.logs import parse_snapshotter
from soci_ci.probe.model import Snapshotter

TASK_DOCUMENT = {
    "Cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/default",
    "TaskARN": "arn:aws:ecs:us-east-1:123456789012:task/default/0123",
    "Family": "soci-ci-probe-soci",
    "Revision": "3",
    "PullStartedAt": "2026-03-14T14:25:39.75Z",
    "Containers": [
        {"Name": "soci-ci-snapshotter", "Image": "busybox", "Snapshotter": "overlayfs"},
        {"Name": "app", "Image": "x@sha256:b", "Snapshotter": "soci"},
    ],
}


def test_document_on_one_line() -> None:
    assert parse_snapshotter([json.dumps(TASK_DOCUMENT)], "app") is Snapshotter.SOCI
    assert (
        parse_snapshotter([json.dumps(TASK_DOCUMENT)], "soci-ci-snapshotter")
        is Snapshotter.OVERLAYFS
    )


def test_document_split_over_events() -> None:
    text = json.dumps(TASK_DOCUMENT, indent=1)
    half = len(text) // 2
    assert parse_snapshotter([text[:half], text[half:]], "app") is Snapshotter.SOCI


def test_unknown_cases() -> None:
    assert parse_snapshotter([], "app") is Snapshotter.UNKNOWN
    assert parse_snapshotter(["wget: bad address"], "app") is Snapshotter.UNKNOWN
    # truncated inside the app entry: the sidecar's value must not be taken
    broken = json.dumps(TASK_DOCUMENT)[:-20]
    assert parse_snapshotter([broken], "app") is Snapshotter.UNKNOWN
    only = '{"Containers":[{"Name":"app","Snapshotter":"soci"'
    assert parse_snapshotter([only], "app") is Snapshotter.SOCI
    assert (
        parse_snapshotter(['{"Containers":[{"Name":"app","Snapshotter":"zfs"}]}'], "app")
        is Snapshotter.UNKNOWN
    )
