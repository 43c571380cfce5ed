"""Choose the baseline a regression is measured against, and store default-branch results.

Pure part: `from_arm` (third arm of the same probe) and `from_record` (stored results of the
default branch, with commit and date). Storage edge: `LocalStore` (a directory) and `S3Store`
(boto3; ``endpoint_url`` for moto), keyed by repository + branch + image name. A stored
record is only used when its key matches: never silently an unrelated commit's results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from soci_ci.errors import AwsError, InputError
from soci_ci.probe.model import GATE_PHASE, ArmName, Phase, ProbeResult

RECORD_SCHEMA = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    """Samples of one phase to compare against, and where they come from."""

    label: str  # e.g. "baseline arm (repo@sha256:...)" or "main@abc1234 (2026-11-27)"
    samples: tuple[float, ...]
    commit: str | None = None
    recorded_at: str | None = None
    digest: str | None = None


def gate_sample(phases: Mapping[Phase, float]) -> float | None:
    """The gated metric of one run: pull started -> ready (total minus ENI provisioning).

    Results written before that phase existed give total - provisioning, else total."""
    if GATE_PHASE in phases:
        return phases[GATE_PHASE]
    total, provisioning = phases.get(Phase.TOTAL), phases.get(Phase.PROVISIONING)
    if total is not None and provisioning is not None:
        return max(0.0, round(total - provisioning, 3))
    return total


def samples_of(result: ProbeResult, arm: ArmName, phase: Phase = GATE_PHASE) -> tuple[float, ...]:
    found = result.arm(arm)
    if found is None:
        return ()
    if phase is GATE_PHASE:
        values = (gate_sample(r.phases) for r in found.runs if r.ok)
        return tuple(v for v in values if v is not None)
    return tuple(r.phases[phase] for r in found.runs if r.ok and phase in r.phases)


def from_arm(result: ProbeResult) -> Baseline | None:
    """The optional third arm of the same probe (same cluster, same time window)."""
    arm = result.arm(ArmName.BASELINE)
    if arm is None:
        return None
    return Baseline(
        label=f"baseline arm ({arm.image})",
        samples=samples_of(result, ArmName.BASELINE),
        digest=arm.digest,
        recorded_at=result.run_id,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreKey:
    repository: str  # e.g. "owner/name"
    branch: str
    image: str

    def path(self) -> str:
        parts = (self.repository, self.branch, self.image)
        return "/".join(re.sub(r"[^A-Za-z0-9._-]+", "_", p) for p in parts) + ".json"


def make_record(
    key: StoreKey, result: ProbeResult, *, commit: str, recorded_at: datetime
) -> dict[str, Any]:
    return {
        "schema": RECORD_SCHEMA,
        "repository": key.repository,
        "branch": key.branch,
        "image": key.image,
        "commit": commit,
        "recorded_at": recorded_at.isoformat(),
        "result": result.to_json(),
    }


def from_record(record: Mapping[str, Any], key: StoreKey | None = None) -> Baseline:
    """A stored default-branch record; refuses a record made for another key."""
    if record.get("schema") != RECORD_SCHEMA:
        raise InputError(f"baseline record schema {record.get('schema')!r} is not {RECORD_SCHEMA}")
    if key is not None and (
        record.get("repository"),
        record.get("branch"),
        record.get("image"),
    ) != (key.repository, key.branch, key.image):
        raise InputError(
            f"baseline record is for {record.get('repository')}@{record.get('branch')} "
            f"{record.get('image')}, not {key.repository}@{key.branch} {key.image}"
        )
    try:
        result = ProbeResult.from_json(record["result"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"baseline record has no valid probe result: {exc}") from exc
    commit = str(record.get("commit") or "unknown")
    when = str(record.get("recorded_at") or "unknown date")
    soci = result.arm(ArmName.SOCI)
    return Baseline(
        label=f"{record.get('branch', '?')}@{commit[:12]} ({when})",
        samples=samples_of(result, ArmName.SOCI),
        commit=commit,
        recorded_at=when,
        digest=None if soci is None else soci.digest,
    )


class Store(Protocol):
    def read(self, key: StoreKey) -> Mapping[str, Any] | None: ...
    def write(self, key: StoreKey, record: Mapping[str, Any]) -> None: ...


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, key: StoreKey) -> Mapping[str, Any] | None:
        path = self.root / key.path()
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read baseline {path}: {exc}") from exc
        return data if isinstance(data, dict) else None

    def write(self, key: StoreKey, record: Mapping[str, Any]) -> None:
        path = self.root / key.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)


class S3Store:
    """``s3://bucket/prefix``; ``endpoint_url`` lets tests point at moto."""

    def __init__(self, url: str, *, endpoint_url: str | None = None) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self._client: Any = None

    def _s3(self) -> Any:
        if self._client is None:
            import boto3  # noqa: PLC0415 - heavy, only at the edge

            self._client = boto3.client("s3", endpoint_url=self.endpoint_url)
        return self._client

    def _key(self, key: StoreKey) -> str:
        return f"{self.prefix}/{key.path()}" if self.prefix else key.path()

    def read(self, key: StoreKey) -> Mapping[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            body = self._s3().get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise AwsError(f"S3 read of s3://{self.bucket}/{self._key(key)} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise AwsError(f"S3 read failed: {exc}") from exc
        data = json.loads(body)
        return data if isinstance(data, dict) else None

    def write(self, key: StoreKey, record: Mapping[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        body = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
        try:
            self._s3().put_object(Bucket=self.bucket, Key=self._key(key), Body=body)
        except (BotoCoreError, ClientError) as exc:
            raise AwsError(
                f"S3 write of s3://{self.bucket}/{self._key(key)} failed: {exc}"
            ) from exc


def open_store(location: str, *, endpoint_url: str | None = None) -> Store:
    if location.startswith("s3://"):
        return S3Store(location, endpoint_url=endpoint_url)
    return LocalStore(Path(location))
