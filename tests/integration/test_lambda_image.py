"""The Dockerfile's `lambda` target, built with Debian 13's buildx on the session's trixie base
(pip downloads the pinned wheels), run as Lambda runs a container image: its entrypoint is the
runtime interface client, which polls the Runtime API fake and calls the handler."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.fakes.lambda_runtime import RuntimeApi
from tests.integration.conftest import TRIXIE_BASE, ActionImage
from tests.support.runner import DockerCli

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "data" / "ecr_events"


def test_lambda_target_runs_the_handler(
    action_image: ActionImage,  # imports the trixie base into the engine
    runner_docker: DockerCli,
) -> None:
    tag = f"soci-ci-test/lambda:{uuid.uuid4().hex[:12]}"
    built = runner_docker(
        "buildx",
        "build",
        "--network",
        "host",
        "--target",
        "lambda",
        "--build-arg",
        f"BASE_IMAGE={TRIXIE_BASE}",
        "-t",
        tag,
        "--load",
        str(ROOT),
    )
    assert built.returncode == 0, built.stderr[-4000:]
    api = RuntimeApi()
    api.start()
    name = f"soci-ci-lambda-{uuid.uuid4().hex[:8]}"
    try:
        api.invoke("req-1", json.loads((EVENTS / "delete.json").read_text()))
        api.invoke("req-2", {"detail-type": "something else"})
        proc = subprocess.Popen(
            [
                str(runner_docker.binary),
                "run",
                "--rm",
                "--name",
                name,
                "--network",
                "host",
                "-e",
                f"AWS_LAMBDA_RUNTIME_API={api.address}",
                tag,
            ],
            env=runner_docker.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        answers = api.wait_for(2, timeout=120)
    finally:
        runner_docker("rm", "-f", name)
        api.stop()
        runner_docker("rmi", "-f", tag)
    out, _ = proc.communicate(timeout=60)
    skipped, refused = answers
    assert skipped.kind == "response" and skipped.body["outcome"] == "skipped", skipped.body
    assert refused.kind == "error" and refused.body["errorType"] == "PushFailed"
    record = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    assert record["ImagesSkipped"] == 1  # the EMF line reached the container's stdout
