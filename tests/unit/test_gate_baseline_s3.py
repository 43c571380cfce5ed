from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from soci_ci.gate.baseline import S3Store, StoreKey, from_record, make_record, open_store
from soci_ci.probe.model import ArmName
from tests.support.probe_results import make_arm, make_result


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="bench")
        yield


@pytest.mark.usefixtures("s3")
def test_s3_roundtrip() -> None:
    store = open_store("s3://bench/soci-ci")
    assert isinstance(store, S3Store)
    key = StoreKey(repository="o/r", branch="main", image="app")
    assert store.read(key) is None
    result = make_result(make_arm(ArmName.SOCI, [5, 6, 7]))
    when = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    store.write(key, make_record(key, result, commit="abc", recorded_at=when))
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="bench")["Contents"]]
    assert keys == ["soci-ci/o_r/main/app.json"]
    record = store.read(key)
    assert record is not None
    assert from_record(record, key).samples == (5, 6, 7)
