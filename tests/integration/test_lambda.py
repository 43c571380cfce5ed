"""The ECR-push Lambda, run the way Lambda runs it: `python -m awslambdaric
soci_ci.lambda_entry.handler` against a local Runtime API fake, with recorded EventBridge
payloads, a local docker-registry standing in for ECR and the ECR token from moto's server.

moto has no registry HTTP API, so the registry's htpasswd holds exactly the user and password
of the token moto issues; the function gets that token through `ecr:GetAuthorizationToken`
(botocore's AWS_ENDPOINT_URL_ECR points it at moto) and sends it to SOCI_CI_LAMBDA_REGISTRY.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from soci_ci.cli import main
from soci_ci.registry.ecr import EcrTokens
from tests.fakes.lambda_runtime import Answer, RuntimeApi
from tests.servers.fault_proxy import FaultProxy, Rule
from tests.servers.moto import Moto
from tests.servers.registry import Registry, RegistryProcess
from tests.support.images import multi_platform
from tests.support.tools import skopeo
from tests.support.vectors import write_layout

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = REPO_ROOT / "tests" / "data" / "ecr_events"
ACCOUNT, REGION = "123456789012", "us-east-1"
ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


@dataclass
class Ecr:
    registry: Registry
    user: str
    password: str
    moto: str

    @property
    def creds(self) -> str:
        return f"{self.user}:{self.password}"

    def digest(self, repo: str, ref: str) -> str | None:
        r = requests.get(
            f"{self.registry.url}/v2/{repo}/manifests/{ref}",
            headers={"Accept": ACCEPT},
            auth=(self.user, self.password),
            timeout=10,
        )
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.headers["Docker-Content-Digest"]

    def manifest(self, repo: str, ref: str) -> dict[str, Any]:
        r = requests.get(
            f"{self.registry.url}/v2/{repo}/manifests/{ref}",
            headers={"Accept": ACCEPT},
            auth=(self.user, self.password),
            timeout=10,
        )
        r.raise_for_status()
        return dict(r.json())

    def tags(self, repo: str) -> list[str]:
        r = requests.get(
            f"{self.registry.url}/v2/{repo}/tags/list", auth=(self.user, self.password), timeout=10
        )
        r.raise_for_status()
        return sorted(r.json().get("tags") or [])

    def push(self, layout: str, repo: str, tag: str) -> str:
        skopeo(
            "copy",
            "--all",
            "--dest-tls-verify=false",
            "--dest-creds",
            self.creds,
            layout,
            f"docker://{self.registry.host}/{repo}:{tag}",
        )
        digest = self.digest(repo, tag)
        assert digest is not None
        return digest


@pytest.fixture(scope="module")
def ecr(moto_server: Moto) -> Iterator[Ecr]:
    creds = EcrTokens(endpoint_url=moto_server.endpoint).get(ECR_HOST)
    assert creds is not None
    process = RegistryProcess()
    registry = process.start_with_user(creds.username, creds.password)
    try:
        yield Ecr(registry, creds.username, creds.password, moto_server.endpoint)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> str:
    layout = tmp_path_factory.mktemp("example") / "layout"
    assert main(["example", f"oci:{layout}:app"]) == 0
    return f"oci:{layout}:app"


def push_event(repo: str, digest: str, tag: str | None, name: str = "push.json") -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    event.update(account=ACCOUNT, region=REGION)
    event["detail"].update({"repository-name": repo, "image-digest": digest})
    if tag is None:
        event["detail"].pop("image-tag", None)
    else:
        event["detail"]["image-tag"] = tag
    return event


class Function:
    """One Lambda execution environment: the runtime interface client polling the fake."""

    def __init__(self, tmp: Path, env: dict[str, str], registry_host: str, moto: str) -> None:
        self.api = RuntimeApi()
        self.api.start()
        self.tmp = Path(tempfile.mkdtemp(prefix="lambda-tmp-", dir=tmp))
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SOCI_CI_")},
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_ENDPOINT_URL_ECR": moto,
            "AWS_REGION": REGION,
            "SOCI_CI_LAMBDA_REGISTRY": registry_host,
            "PYTHONPATH": str(REPO_ROOT),
            "TMPDIR": str(self.tmp),
            "HOME": str(tmp),
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", "soci_ci.lambda_entry.handler"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.count = 0

    def invoke(self, event: Any, *, timeout_seconds: float = 900.0, wait: float = 120) -> Answer:
        self.count += 1
        self.api.invoke(f"req-{self.count}", event, timeout_seconds=timeout_seconds)
        return self.api.wait_for(self.count, wait)[-1]

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM")

    def stop(self) -> tuple[str, str]:
        self.proc.kill()
        out, err = self.proc.communicate(timeout=10)
        self.api.stop()
        return out, err


@pytest.fixture
def function(ecr: Ecr, tmp_path: Path) -> Iterator[Any]:
    made: list[Function] = []

    def make(env: dict[str, str] | None = None, host: str | None = None) -> Function:
        fn = Function(tmp_path, env or {}, host or ecr.registry.host, ecr.moto)
        made.append(fn)
        return fn

    yield make
    for fn in made:
        fn.stop()


def lines_of(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_push_is_indexed_exactly_as_soci_ci_index_writes_it(
    ecr: Ecr, example: str, function: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    digest = ecr.push(example, "team/app", "1.0")
    fn = function({"SOCI_CI_UNTAGGED": "index"})
    answer = fn.invoke(push_event("team/app", digest, "1.0"))
    assert answer.kind == "response", answer.body
    summary = answer.body
    assert summary["outcome"] == "indexed" and summary["soci_tag"] == "1.0-soci"
    assert summary["image_digest"] == digest and summary["bytes_read"] > 10_000_000
    assert ecr.digest("team/app", "1.0-soci") == summary["soci_image_digest"]
    assert ecr.digest("team/app", "1.0") == digest  # the original tag is untouched

    # `soci-ci index` on the same image in another repository writes the same bytes.
    ecr.push(example, "team/cli", "1.0")
    monkeypatch.setenv("SOCI_CI_REGISTRY_USERNAME", ecr.user)
    monkeypatch.setenv("SOCI_CI_REGISTRY_PASSWORD", ecr.password)
    report = tmp_path / "index.json"
    ref = f"docker://{ecr.registry.host}/team/cli:1.0"
    assert main(["index", ref, "--output-json", str(report)]) == 0
    cli = json.loads(report.read_text())
    assert cli["soci_image"]["digest"] == summary["soci_image_digest"]
    assert [i["digest"] for i in cli["soci_indexes"]] == summary["soci_index_digests"]

    # A second delivery of the same event: up to date, no layer read (only the small config).
    again = fn.invoke(push_event("team/app", digest, "1.0")).body
    assert again["outcome"] == "up-to-date" and again["bytes_read"] < 10_000

    # The function's own pushes never index again: the -soci tag, the SOCI index manifest,
    # the rewritten image manifest and the SOCI-enabled image index, pushed by digest.
    soci_image = summary["soci_image_digest"]
    own = [push_event("team/app", soci_image, "1.0-soci"), push_event("team/app", soci_image, None)]
    for entry in ecr.manifest("team/app", soci_image)["manifests"]:
        own.append(push_event("team/app", entry["digest"], None))
    for event in own:
        body = fn.invoke(event).body
        assert body["outcome"] == "skipped", body
        assert body["written"] == 0
    assert ecr.tags("team/app") == ["1.0", "1.0-soci"]

    out, _ = fn.stop()
    records = lines_of(out)
    assert len(records) == 2 + len(own)  # one JSON line (EMF) per image
    assert records[0]["ImagesIndexed"] == 1 and records[0]["_aws"]["CloudWatchMetrics"]
    assert ecr.password not in out


def test_filters_untagged_and_not_applicable(
    ecr: Ecr, example: str, function: Any, tmp_path: Path
) -> None:
    digest = ecr.push(example, "other/app", "2.0")
    fn = function({"SOCI_CI_REPOSITORIES": "team/*", "SOCI_CI_EXCLUDE_TAG_PATTERNS": "*-rc*"})
    skipped = fn.invoke(push_event("other/app", digest, "2.0")).body
    assert skipped["outcome"] == "skipped" and "SOCI_CI_REPOSITORIES" in skipped["reason"]
    untagged = fn.invoke(push_event("team/app", digest, None, "push-untagged.json")).body
    assert untagged["outcome"] == "skipped" and "untagged" in untagged["reason"]
    rc = fn.invoke(push_event("team/app", digest, "2.0-rc1")).body
    assert rc["outcome"] == "skipped"
    deleted = fn.invoke(push_event("team/app", digest, "2.0", "delete.json")).body
    assert deleted["outcome"] == "skipped"
    # Layers below the minimum size: nothing to index, nothing written.
    big = fn.invoke(push_event("other/app", digest, "2.0")).body
    assert big["outcome"] == "skipped"
    small = function({"SOCI_CI_MIN_LAYER_SIZE": str(1 << 30)})
    body = small.invoke(push_event("other/app", digest, "2.0")).body
    assert body["outcome"] == "not-applicable", body
    assert ecr.tags("other/app") == ["2.0"]


def test_untagged_push_indexed_by_digest_when_asked(ecr: Ecr, example: str, function: Any) -> None:
    digest = ecr.push(example, "team/untagged", "x")
    fn = function({"SOCI_CI_UNTAGGED": "index"})
    body = fn.invoke(push_event("team/untagged", digest, None, "push-untagged.json")).body
    expected_tag = digest.split(":")[1][:12] + "-soci"
    assert body["outcome"] == "indexed" and body["soci_tag"] == expected_tag
    assert ecr.digest("team/untagged", expected_tag) == body["soci_image_digest"]


def test_multi_platform_image(ecr: Ecr, function: Any, tmp_path: Path) -> None:
    layout = multi_platform(tmp_path / "mp")
    digest = ecr.push(f"oci:{layout}:v1", "mp/app", "v1")
    body = function().invoke(push_event("mp/app", digest, "v1")).body
    assert body["outcome"] == "indexed" and len(body["soci_index_digests"]) == 2
    platforms = {
        json.dumps(m.get("platform"), sort_keys=True)
        for m in ecr.manifest("mp/app", "v1-soci")["manifests"]
    }
    assert any("arm64" in p for p in platforms) and any("amd64" in p for p in platforms)


def test_deadline_stops_before_writing_and_fails(
    ecr: Ecr, example: str, function: Any, tmp_path: Path
) -> None:
    digest = ecr.push(example, "team/slow", "1.0")
    proxy = FaultProxy(int(ecr.registry.host.split(":")[1]))
    proxy.start()
    try:
        proxy.add(Rule(method="GET", path="/blobs/", action="stall", seconds=4, times=10))
        fn = function({"SOCI_CI_DEADLINE_MARGIN_SECONDS": "1"}, host=proxy.host)
        answer = fn.invoke(push_event("team/slow", digest, "1.0"), timeout_seconds=3.5)
    finally:
        proxy.stop()
    assert answer.kind == "error"
    assert answer.body["errorType"] == "PushFailed"
    assert "nothing was written" in answer.body["errorMessage"]
    assert ecr.tags("team/slow") == ["1.0"]
    out, _ = fn.stop()
    (record,) = lines_of(out)
    assert record["outcome"] == "failed" and record["ImagesFailed"] == 1


def test_registry_faults_are_retried_then_reported(ecr: Ecr, example: str, function: Any) -> None:
    digest = ecr.push(example, "team/flaky", "1.0")
    proxy = FaultProxy(int(ecr.registry.host.split(":")[1]))
    proxy.start()
    try:
        proxy.add(Rule(method="GET", path="/manifests/", action="status", status=503, times=2))
        proxy.add(Rule(method="GET", path="/blobs/", action="reset_response", after=4096))
        fn = function(host=proxy.host)
        body = fn.invoke(push_event("team/flaky", digest, "1.0")).body
        assert body["outcome"] == "indexed", body
        gone = "sha256:" + "e" * 64
        answer = fn.invoke(push_event("team/flaky", gone, "2.0"))
    finally:
        proxy.stop()
    assert answer.kind == "error" and "RegistryError" in answer.body["errorMessage"]
    assert ecr.password not in json.dumps(answer.body)


def test_concurrent_deliveries_converge(
    ecr: Ecr, example: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from soci_ci import lambda_entry

    digest = ecr.push(example, "team/twice", "1.0")
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", ecr.moto)
    monkeypatch.setenv("SOCI_CI_LAMBDA_REGISTRY", ecr.registry.host)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            results.append(lambda_entry.handler(push_event("team/twice", digest, "1.0"), None))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 2
    assert {r["outcome"] for r in results} <= {"indexed", "up-to-date"}
    assert len({r["soci_image_digest"] for r in results}) == 1
    assert ecr.digest("team/twice", "1.0-soci") == results[0]["soci_image_digest"]


def big_layer_layout(root: Path, size: int) -> Path:
    """An OCI layout whose one layer holds `size` bytes of incompressible data (gzip stored
    blocks, so the compressed layer is as large), streamed to disk, never held in memory."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    part = blobs / "layer.partial"
    digest = hashlib.sha256()
    compressor = zlib.compressobj(0, zlib.DEFLATED, 31)
    with part.open("wb") as out:

        def write(data: bytes) -> None:
            digest.update(data)
            out.write(data)

        header = tarfile.TarInfo("data/big.bin")
        header.size = size
        write(compressor.compress(header.tobuf(format=tarfile.PAX_FORMAT)))
        chunk = os.urandom(8 << 20)
        left = size
        while left:
            n = min(left, len(chunk))
            write(compressor.compress(chunk[:n]))
            left -= n
        write(compressor.compress(b"\0" * (1024 + (-size % 512))))
        write(compressor.flush())
    layer_digest = "sha256:" + digest.hexdigest()
    layer_size = part.stat().st_size
    part.rename(blobs / digest.hexdigest())
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest,
                    "size": layer_size,
                }
            ],
        }
    ).encode()
    write_layout(root, {"big": (manifest, "application/vnd.oci.image.manifest.v1+json")}, [config])
    return root


@pytest.mark.slow
def test_two_gigabyte_layer_in_bounded_memory_without_disk(
    ecr: Ecr, function: Any, tmp_path: Path
) -> None:
    layout = big_layer_layout(tmp_path / "big", 2 * 10**9)
    digest = ecr.push(f"oci:{layout}:big", "team/big", "1.0")
    shutil.rmtree(layout)
    fn = function({"SOCI_CI_WORKERS": "1"})
    peak_tmp = [0]
    stop = threading.Event()

    def watch_tmp() -> None:
        while not stop.is_set():
            used = sum(p.stat().st_size for p in fn.tmp.rglob("*") if p.is_file())
            peak_tmp[0] = max(peak_tmp[0], used)
            stop.wait(0.2)

    watcher = threading.Thread(target=watch_tmp)
    watcher.start()
    started = time.monotonic()
    try:
        body = fn.invoke(push_event("team/big", digest, "1.0"), wait=600).body
    finally:
        stop.set()
        watcher.join()
    seconds = time.monotonic() - started
    assert body["outcome"] == "indexed", body
    assert body["bytes_read"] >= 2 * 10**9
    peak = fn.peak_rss_mib()
    print(f"2 GB layer: {seconds:.1f} s, {2e9 / seconds / 1e6:.0f} MB/s, peak RSS {peak:.0f} MiB")
    assert peak < 256, f"peak RSS {peak:.0f} MiB"
    assert peak_tmp[0] < 4 << 20, f"{peak_tmp[0]} bytes in TMPDIR"
