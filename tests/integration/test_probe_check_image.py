"""The check image for real: built from this machine's static busybox, pushed by digest to a
local registry, checked with skopeo, run by a real Docker engine against a local stand-in for
the Task Metadata endpoint: it reports, then ends at its deadline with exit code 1."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from soci_ci.app.open_image import open_registry_image
from soci_ci.app.options import RegistryOptions
from soci_ci.probe import check_image
from soci_ci.probe.logs import parse_snapshotter
from soci_ci.probe.model import Snapshotter
from tests.servers.registry import Registry
from tests.support.tools import require, skopeo

pytestmark = pytest.mark.integration

DOCUMENT = {
    "Cluster": "default",
    "TaskARN": "arn:aws:ecs:us-east-1:123456789012:task/default/0123",
    "Containers": [
        {"Name": "app", "KnownStatus": "RUNNING", "Snapshotter": "soci"},
        {"Name": "soci-ci-check", "KnownStatus": "RUNNING", "Snapshotter": "overlayfs"},
    ],
}


@pytest.fixture
def metadata_endpoint() -> Iterator[tuple[str, list[str]]]:
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            paths.append(self.path)
            body = json.dumps(DOCUMENT, indent=1).encode()  # multi-line, as the agent sends
            self.send_response(200 if self.path == "/v4/abc/task" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v4/abc", paths
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_check_image_pushed_and_run(
    registry: Registry, docker_engine: str, metadata_endpoint: tuple[str, list[str]]
) -> None:
    require("busybox")
    image = check_image.build(check_image.find_busybox("X86_64"))
    assert check_image.build(check_image.find_busybox("X86_64")) == image  # deterministic
    ref = image.reference(f"{registry.host}/probe/app")
    check_image.push(image, open_registry_image(ref, RegistryOptions()))
    check_image.push(image, open_registry_image(ref, RegistryOptions()))  # again: no error
    inspected = json.loads(skopeo("inspect", "--no-tags", "--tls-verify=false", f"docker://{ref}"))
    assert inspected["Digest"] == image.manifest.digest
    assert (inspected["Architecture"], inspected["Os"]) == ("amd64", "linux")

    url, paths = metadata_endpoint
    env = {**os.environ, "DOCKER_HOST": docker_engine}
    started = time.monotonic()
    done = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "host",
            "-e",
            f"ECS_CONTAINER_METADATA_URI_V4={url}",
            "-e",
            f"{check_image.DEADLINE_ENV}=5",
            "--entrypoint",
            check_image.ENTRYPOINT[0],
            ref,
            *check_image.ENTRYPOINT[1:],
            check_image.SCRIPT,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr  # essential container exits: ECS stops the task
    lines = done.stdout.splitlines()
    assert lines[-1] == check_image.DEADLINE_LINE
    reports = [line for line in lines if line.startswith(check_image.REPORT_PREFIX)]
    assert len(reports) >= 2 and set(paths) == {"/v4/abc/task"}
    assert json.loads(reports[0].removeprefix(check_image.REPORT_PREFIX)) == DOCUMENT
    assert parse_snapshotter(reports, "app") is Snapshotter.SOCI
    assert elapsed < 120
