"""`soci-ci index/verify REF` against Debian's docker-registry, cross-checked with skopeo."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
import requests

from soci_ci.cli import main
from soci_ci.oci.digest import sha256_digest
from tests.servers.registry import Registry, make_ca_and_cert
from tests.servers.token_server import TokenServer
from tests.support.registry_images import push_example
from tests.support.tools import skopeo

pytestmark = pytest.mark.integration


def manifest_bytes(
    registry: Registry, repo: str, ref: str, auth: tuple[str, str] | None = None
) -> bytes:
    r = requests.get(
        f"{registry.url}/v2/{repo}/manifests/{ref}",
        timeout=10,
        auth=auth,
        headers={
            "Accept": "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
        },
        verify=str(registry.ca_file) if registry.ca_file else True,
    )
    r.raise_for_status()
    return r.content


def test_index_in_registry_equals_offline_bytes(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = push_example(tmp_path, f"{registry.host}/team/app:1.0")
    offline = tmp_path / "offline.json"
    online = tmp_path / "online.json"
    assert main(["index", f"oci:{layout}:app", "--output-json", str(offline)]) == 0
    assert (
        main(["index", f"docker://{registry.host}/team/app:1.0", "--output-json", str(online)]) == 0
    )
    a, b = json.loads(offline.read_text()), json.loads(online.read_text())
    assert a["soci_image"]["digest"] == b["soci_image"]["digest"]
    assert b["soci_image"]["tag"] == "1.0-soci"
    # Every manifest the registry holds is byte-identical to the offline layout's blob.
    index = manifest_bytes(registry, "team/app", "1.0-soci")
    assert sha256_digest(index) == b["soci_image"]["digest"]
    for m in json.loads(index)["manifests"]:
        pushed = manifest_bytes(registry, "team/app", m["digest"])
        assert pushed == (layout / "blobs" / "sha256" / m["digest"].split(":")[1]).read_bytes()
    for z in b["ztocs"]:
        r = requests.get(f"{registry.url}/v2/team/app/blobs/{z['digest']}", timeout=10)
        assert r.content == (layout / "blobs" / "sha256" / z["digest"].split(":")[1]).read_bytes()
    # The original tag is untouched; skopeo (independent client) sees and copies the result.
    assert (
        sha256_digest(manifest_bytes(registry, "team/app", "1.0")) == b["original_image"]["digest"]
    )
    skopeo(
        "copy",
        "--all",
        "--src-tls-verify=false",
        f"docker://{registry.host}/team/app:1.0-soci",
        f"oci:{tmp_path / 'back'}:x",
    )
    raw = skopeo(
        "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/team/app:1.0-soci"
    )
    assert raw == index
    # Rerun: nothing is pushed, and the report says so.
    capsys.readouterr()
    assert main(["index", f"{registry.host}/team/app:1.0", "--output-json", str(online)]) == 0
    assert json.loads(online.read_text())["outcome"] == "up-to-date"
    # Lazy reads through HTTP Range requests.
    verify = tmp_path / "verify.json"
    assert main(["verify", f"{registry.host}/team/app:1.0-soci", "--output-json", str(verify)]) == 0
    layer = json.loads(verify.read_text())["indexes"][0]["layers"][0]
    # One Range request per span a file touches: small files one, the 12 MiB binary several.
    assert layer["ok"] and all(f["requests"] >= 1 for f in layer["files"])
    assert max(f["requests"] for f in layer["files"]) > 1
    assert min(f["fetched"] for f in layer["files"]) < layer["layer_size"] / 4


def test_v1_index_uses_the_referrers_tag_on_a_registry_without_the_api(
    registry: Registry, tmp_path: Path
) -> None:
    push_example(tmp_path, f"{registry.host}/team/v1app:1")
    out = tmp_path / "r.json"
    assert (
        main(
            ["index", f"{registry.host}/team/v1app:1", "--format", "v1", "--output-json", str(out)]
        )
        == 0
    )
    report = json.loads(out.read_text())
    tag = "sha256-" + report["original_image"]["digest"].split(":")[1]
    referrers = json.loads(manifest_bytes(registry, "team/v1app", tag))
    assert [m["digest"] for m in referrers["manifests"]] == [report["soci_indexes"][0]["digest"]]
    assert main(["verify", f"{registry.host}/team/v1app:1"]) == 0


def test_basic_auth_and_no_secret_in_output(
    registry_basic: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    creds = f"{registry_basic.username}:{registry_basic.password}"
    push_example(tmp_path, f"{registry_basic.host}/secure/app:1", f"--dest-creds={creds}")
    ref = f"{registry_basic.host}/secure/app:1"
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty-docker-config"))
    assert main(["index", ref]) == 4  # no credentials: a clear registry error
    err = capsys.readouterr().err
    assert "authentication required" in err and "secure/app" in err
    config = tmp_path / "docker"
    config.mkdir()
    token = base64.b64encode(creds.encode()).decode()
    (config / "config.json").write_text(
        json.dumps({"auths": {registry_basic.host: {"auth": token}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    assert main(["--debug", "index", ref]) == 0
    assert (
        main(["--debug", "verify", f"{registry_basic.host}/secure/app:1-soci", "--sample", "3"])
        == 0
    )
    out = capsys.readouterr()
    assert registry_basic.password
    for text in (out.out, out.err):
        assert registry_basic.password not in text and token not in text


def test_wrong_password_is_a_clear_error(
    registry_basic: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOCI_CI_REGISTRY_PASSWORD", "not-the-password")
    assert main(["index", f"{registry_basic.host}/secure/none:1", "--username", "ci-user"]) == 4
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not-the-password" not in err


def test_tls_with_custom_ca(
    registry_tls: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    push_example(tmp_path, f"{registry_tls.host}/tls/app:1")
    ref = f"docker://{registry_tls.host}/tls/app:1"
    # 127.0.0.1 defaults to plain HTTP: against a TLS-only registry that fails clearly.
    assert main(["index", ref]) == 4
    assert "error: " in capsys.readouterr().err
    assert main(["index", ref, "--insecure"]) == 0  # TLS without verification
    assert (
        main(
            [
                "verify",
                f"{registry_tls.host}/tls/app:1-soci",
                "--ca-file",
                str(registry_tls.ca_file),
                "--sample",
                "2",
            ]
        )
        == 0
    )
    other = tmp_path / "other-ca"
    other.mkdir()
    wrong_ca, _, _ = make_ca_and_cert(other)
    assert main(["verify", f"{registry_tls.host}/tls/app:1-soci", "--ca-file", str(wrong_ca)]) == 4
    assert "TLS verification failed" in capsys.readouterr().err


def test_bearer_token_flow_with_separate_scopes(
    token_registry: tuple[Registry, TokenServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry, server = token_registry
    push_example(
        tmp_path, f"{registry.host}/tok/app:1", f"--dest-creds={server.username}:{server.password}"
    )
    caplog.set_level(logging.DEBUG)
    # Anonymous: pull tokens only, so the first push is refused with a clear error.
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    server.issued.clear()
    assert main(["--debug", "index", f"{registry.host}/tok/app:1"]) == 4
    err = capsys.readouterr().err
    error = next(line for line in err.splitlines() if line.startswith("error: "))
    assert f"{registry.host}/tok/app" in error and "401" in error
    assert server.issued and not any(t in err or t in caplog.text for t in server.issued)
    assert manifest_tags(registry, "tok/app") == ["1"]  # original intact, nothing tagged
    monkeypatch.setenv("SOCI_CI_REGISTRY_PASSWORD", server.password)
    server.requests.clear()
    server.issued.clear()
    assert (
        main(["--debug", "index", f"{registry.host}/tok/app:1", "--username", server.username]) == 0
    )
    scopes = {scope for scope, _ in server.requests}
    assert "repository:tok/app:pull" in scopes
    assert "repository:tok/app:pull,push" in scopes
    monkeypatch.delenv("SOCI_CI_REGISTRY_PASSWORD")
    assert (
        main(["--debug", "verify", f"{registry.host}/tok/app:1-soci", "--sample", "2"]) == 0
    )  # anonymous pull
    out = capsys.readouterr()
    secrets = [server.password, *server.issued]
    for text in (out.out, out.err, caplog.text):
        assert not any(secret in text for secret in secrets)


def manifest_tags(registry: Registry, repo: str) -> list[str]:
    """Tags through our own client (the token registry needs a pull token)."""
    from soci_ci.registry.client import RegistryClient

    return sorted(RegistryClient(registry.host).list_tags(repo))
