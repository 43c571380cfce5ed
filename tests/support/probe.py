"""The probe's test setups: its images, a `Probe` on the fake ECS + Logs (`make_probe`), and
`soci-ci probe` as a subprocess for the tests against moto and the AWS protocol fake.

The images are digests in an ECR repository that exists nowhere: the probe only names them in
its task definitions (the AWS side is a fake or moto).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from soci_ci.probe.ecs import EcsApi, Retrier
from soci_ci.probe.logs import LogsApi
from soci_ci.probe.model import ArmName
from soci_ci.probe.runner import Arm, Probe
from soci_ci.probe.settings import ProbeSettings
from tests.fakes.ecs import FakeAws, FakeClock, Script

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"
NO_SOCI = f"{REPO}@sha256:{'a' * 64}"
SOCI = f"{REPO}@sha256:{'b' * 64}"
CHECK = f"{REPO}@sha256:{'c' * 64}"
RUN_ID = "soci-ci-probe-20260314142520-abc123"

SOCI_SCRIPT = Script(
    pull_stopped=21.523,  # lazy pull: 2 s instead of 7 s
    started=23.523,
    app_lines=((0.2, "booting"), (3.841, "READY on :8080")),
    snapshotter="soci",
)
PLAIN_SCRIPT = Script(app_lines=((0.05, "booting"), (0.115, "READY on :8080")))


CHECK_IMAGE = CHECK
REQUIRED: dict[str, object] = {
    "execution_role_arn": "arn:aws:iam::123456789012:role/soci-ci-probe-exec",
    "log_group": "/soci-ci/probe",
    "network": {"subnets": ["subnet-0abc"]},
}


def make_probe(
    aws: FakeAws, clock: FakeClock, *, budget: int = 8, **settings: object
) -> tuple[Probe, list[str]]:
    mapping: dict[str, object] = {
        **REQUIRED,
        "runs": 2,
        "concurrency": 2,
        "ready": {"log_regex": "READY"},
    }
    mapping.update(settings)
    lines: list[str] = []
    retrier = Retrier(sleep=clock.sleep, budget=budget)
    base = None
    if mapping.get("task_definition"):
        base = EcsApi(aws.ecs, cluster="default", retrier=retrier).describe_task_definition("x")
    probe = Probe(
        ecs=EcsApi(aws.ecs, cluster="default", retrier=retrier),
        logs=LogsApi(aws.logs, retrier=retrier),
        settings=ProbeSettings.from_mapping(mapping),
        arms=[Arm(name=ArmName.NO_SOCI, image=NO_SOCI), Arm(name=ArmName.SOCI, image=SOCI)],
        region="us-east-1",
        run_id=RUN_ID,
        clock=clock,
        sleep=clock.sleep,
        progress=lines.append,
        poll_seconds=3.0,
        check_image=CHECK_IMAGE,
        base_definition=base,
    )
    return probe, lines


def assert_clean(aws: FakeAws) -> None:
    assert aws.running() == []
    assert aws.active_definitions() == []
    assert all(d["status"] == "DELETE_IN_PROGRESS" for d in aws.definitions.values())


def probe_command(config: Path, *extra: str, images: bool = True) -> list[str]:
    """`soci-ci probe --config CONFIG` with the two images (unless `images` is false)."""
    argv = [sys.executable, "-m", "soci_ci", "probe", "--config", str(config)]
    if images:
        argv += ["--image-no-soci", NO_SOCI, "--image-soci", SOCI]
    return [*argv, *extra]


def run_probe(
    config: Path,
    *extra: str,
    env: Mapping[str, str],
    timeout: float = 240,
    images: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run the probe to its end; the caller asserts on the exit code and output."""
    return subprocess.run(
        probe_command(config, *extra, images=images),
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
