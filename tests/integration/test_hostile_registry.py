"""Hostile registries and token services on loopback: where credentials go, bounded bodies,
every failure a one-line exit 4 with nothing secret in it.

Each case runs `soci-ci` as a subprocess (time limit, and an address-space limit where memory
is the point) against `HostileServer`s: 127.0.0.1 is the registry the credentials are for,
127.0.0.2 / 127.0.0.3 play other hosts. Every server records the headers it got, so the tests
assert that no secret reached the wrong host, not only that none was printed.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers.hostile_http import Answer, HostileServer, Seen, ServerPool, endless
from tests.support.bounded import Outcome, base_env, run_bounded, soci_ci_command

pytestmark = pytest.mark.integration
USER = "ci-user"
SECRET = "pa55-Secret-value-42"
BASIC = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
SIGNATURE = "5ec7e75160ba1c0ffee0dd5ec7e75160"
GiB = 1 << 30
UNLIMITED = 64 * GiB  # the address-space cap where memory is not the point


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    memory: int | None = None,
    stdin: str | None = None,
) -> tuple[Outcome, float]:
    """`soci-ci ARGS` in a bounded subprocess; `memory` caps its address space (RLIMIT_AS)."""
    base = {
        **base_env(Path(os.environ.get("HOME", "/tmp"))),
        "SOCI_CI_RETRY_BASE_SECONDS": "0",
        "DOCKER_CONFIG": "/nonexistent-docker-config",
        "NO_PROXY": "*",
    }
    done = run_bounded(
        soci_ci_command(*args),
        env={**base, **(env or {})},
        seconds=timeout,
        memory=memory if memory is not None else UNLIMITED,
        stdin=(stdin or "").encode(),
    )
    return done, done.seconds


def one_error_line(done: Outcome) -> str:
    errors = done.error_lines()
    assert len(errors) == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return errors[0]


def assert_no_secret(done: Outcome, *servers: HostileServer) -> None:
    for text in (done.stdout, done.stderr):
        for secret in (SECRET, BASIC.split()[1], SIGNATURE):
            assert secret not in text, text
    for server in servers:
        assert server.authorizations() == [], server.seen


def index(image: str, **kw: object) -> tuple[Outcome, float]:
    return run_cli("index", image, "--format", "v2", **kw)  # type: ignore[arg-type]


def creds_env(host: str | None = None) -> dict[str, str]:
    env = {"SOCI_CI_REGISTRY_USERNAME": USER, "SOCI_CI_REGISTRY_PASSWORD": SECRET}
    if host is not None:
        env["SOCI_CI_REGISTRY_HOST"] = host
    return env


def basic_registry(seen_ok: Callable[[Seen], Answer] | None = None) -> Callable[[Seen], Answer]:
    """401 Basic until the right credentials come, then `seen_ok` (default: 404)."""

    def handle(seen: Seen) -> Answer:
        if seen.authorization != BASIC:
            return Answer(401, {"WWW-Authenticate": 'Basic realm="registry"'})
        if seen_ok is not None:
            return seen_ok(seen)
        return Answer(404, {"Content-Type": "application/json"}, b'{"errors":[]}')

    return handle


# -- explicit credentials are bound to one host ----------------------------------------------


def test_explicit_credentials_go_only_to_the_named_host(
    serve: ServerPool,
) -> None:
    other = serve(basic_registry(), bind="127.0.0.2")
    done, seconds = index(f"{other.host}/app:1", env=creds_env("127.0.0.1:5000"))
    assert done.returncode == 4, done.stderr
    assert "authentication required" in one_error_line(done)
    assert_no_secret(done, other)
    assert seconds < 30


def test_explicit_credentials_reach_the_named_host(serve: ServerPool) -> None:
    named = serve(basic_registry(), bind="127.0.0.2")
    for env in (creds_env(named.host), creds_env(f"https://{named.host}/")):
        done, _ = index(f"{named.host}/app:1", env=env)
        assert done.returncode == 4 and "HTTP 404" in one_error_line(done), done.stderr
    assert named.authorizations() == [BASIC, BASIC]
    assert SECRET not in done.stderr


def test_localhost_and_127_0_0_1_are_different_hosts(serve: ServerPool) -> None:
    registry = serve(basic_registry())
    done, _ = index(f"localhost:{registry.port}/app:1", env=creds_env(registry.host))
    assert done.returncode == 4, done.stderr
    assert_no_secret(done, registry)


def test_without_a_named_host_the_commands_image_host_gets_them(
    serve: ServerPool,
) -> None:
    registry = serve(basic_registry())
    done, _ = index(f"{registry.host}/app:1", env=creds_env())
    assert done.returncode == 4 and "HTTP 404" in one_error_line(done), done.stderr
    assert registry.authorizations() == [BASIC]
    # --registry (the flag) names the host as SOCI_CI_REGISTRY_HOST does, and wins over it.
    other = serve(basic_registry(), bind="127.0.0.3")
    done, _ = run_cli(
        "index", f"{other.host}/app:1", "--registry", registry.host, env=creds_env(other.host)
    )
    assert done.returncode == 4
    assert_no_secret(done, other)


def test_an_invalid_registry_host_is_a_usage_error() -> None:
    done, _ = index("127.0.0.1:1/app:1", env=creds_env("user:pw@evil.example/path"))
    assert done.returncode == 2
    assert "invalid SOCI_CI_REGISTRY_HOST" in one_error_line(done)  # names the variable
    assert "pw@" not in done.stderr


# -- token realms, redirects ----------------------------------------------------------------


def token_service(seen: Seen) -> Answer:
    return Answer(200, {"Content-Type": "application/json"}, b'{"token":"tok-1234567890"}')


def bearer_registry(realm: str) -> Callable[[Seen], Answer]:
    def handle(seen: Seen) -> Answer:
        if seen.authorization == "Bearer tok-1234567890":
            return Answer(404, body=b"{}")
        return Answer(401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="reg"'})

    return handle


def test_no_credentials_to_a_plain_http_realm_from_a_tls_registry(
    serve: ServerPool, tmp_path: Path
) -> None:
    tokens = serve(token_service, bind="127.0.0.2")
    registry = serve(bearer_registry(f"{tokens.url}/token"), tls_dir=tmp_path)
    assert registry.cert is not None
    done, _ = run_cli(
        "index", f"{registry.host}/app:1", "--ca-file", str(registry.cert),
        env=creds_env(registry.host),
    )  # fmt: skip
    assert done.returncode == 4, done.stderr
    assert "is plain HTTP; credentials are not sent there" in one_error_line(done)
    assert tokens.seen == []
    assert_no_secret(done, registry)


def test_no_credentials_to_a_plain_http_realm_on_another_loopback_host(
    serve: ServerPool,
) -> None:
    tokens = serve(token_service, bind="127.0.0.2")
    registry = serve(bearer_registry(f"{tokens.url}/token"))
    done, _ = index(f"{registry.host}/app:1", env=creds_env(registry.host))
    assert done.returncode == 4
    assert "plain HTTP" in one_error_line(done)
    assert tokens.seen == []


def test_a_plain_http_loopback_registry_may_use_a_realm_on_its_own_host(
    serve: ServerPool,
) -> None:
    tokens = serve(token_service)
    registry = serve(bearer_registry(f"{tokens.url}/token"))
    done, _ = index(f"{registry.host}/app:1", env=creds_env(registry.host))
    assert done.returncode == 4 and "HTTP 404" in one_error_line(done), done.stderr
    assert tokens.authorizations() == [BASIC]
    assert "tok-1234567890" not in done.stderr


def test_no_credentials_to_a_redirect_targets_challenge(
    serve: ServerPool,
) -> None:
    target_tokens = serve(token_service, bind="127.0.0.3")
    target = serve(bearer_registry(f"{target_tokens.url}/token"), bind="127.0.0.2")
    target_basic = serve(lambda s: Answer(401, {"WWW-Authenticate": "Basic"}), bind="127.0.0.2")

    def registry_for(where: HostileServer) -> Callable[[Seen], Answer]:
        def handle(seen: Seen) -> Answer:
            return Answer(307, {"Location": f"{where.url}/elsewhere{seen.path}"})

        return handle

    for redirect_to in (target, target_basic):
        registry = serve(registry_for(redirect_to))
        done, _ = index(f"{registry.host}/app:1", env=creds_env(registry.host))
        assert done.returncode == 4, done.stderr
        assert "after a redirect; the registry's credentials are not sent there" in (
            one_error_line(done)
        )
        assert_no_secret(done, redirect_to, target_tokens)
    assert target_tokens.seen == []


def test_authorization_is_stripped_on_a_cross_host_redirect(
    serve: ServerPool,
) -> None:
    elsewhere = serve(lambda s: Answer(404, body=b"{}"), bind="127.0.0.2")
    registry = serve(basic_registry(lambda s: Answer(307, {"Location": f"{elsewhere.url}/m"})))
    done, _ = index(f"{registry.host}/app:1", env=creds_env(registry.host))
    assert done.returncode == 4
    assert registry.authorizations() == [BASIC]
    assert len(elsewhere.seen) == 1
    assert_no_secret(done, elsewhere)


# -- error text -----------------------------------------------------------------------------


def test_reflected_secrets_and_signed_urls_are_redacted(
    serve: ServerPool,
) -> None:
    def reflect(seen: Seen) -> Answer:
        message = (
            f"denied for Authorization: {seen.authorization} (token={SECRET}) see "
            f"https://{USER}:{SECRET}@s3.example/b?X-Amz-Signature={SIGNATURE}&X-Amz-Credential=AK"
            f"\n::error ::injected"
        )
        body = json.dumps({"errors": [{"code": "DENIED", "message": message}]}).encode()
        return Answer(403, {"Content-Type": "application/json"}, body)

    registry = serve(basic_registry(reflect))
    done, _ = index(f"{registry.host}/app:1", env=creds_env(registry.host))
    assert done.returncode == 4
    line = one_error_line(done)
    assert "HTTP 403 DENIED" in line and "X-Amz-Signature=***" in line
    assert "\n::error ::injected" not in done.stderr
    assert_no_secret(done)


def test_user_info_in_a_reference_is_not_printed() -> None:
    done, _ = index(f"{USER}:{SECRET}@127.0.0.1:1/app:1")
    assert done.returncode == 2
    one_error_line(done)
    assert_no_secret(done)


# -- failures of requests/urllib3 become exit 4 ---------------------------------------------

HOSTILE_ANSWERS: dict[str, tuple[Callable[[Seen], Answer], str]] = {
    "redirect to ftp with a signature": (
        lambda s: Answer(
            302, {"Location": f"ftp://127.0.0.2/x?X-Amz-Signature={SIGNATURE}&sig={SIGNATURE}"}
        ),
        "unsupported URL scheme",
    ),
    "redirect loop": (lambda s: Answer(302, {"Location": s.path}), "too many redirects"),
    "invalid redirect URL": (
        lambda s: Answer(302, {"Location": f"http://[::1/x?Signature={SIGNATURE}"}),
        "invalid URL",
    ),
    "undecodable gzip body": (
        lambda s: Answer(200, {"Content-Encoding": "gzip"}, b"not gzip at all" * 10),
        "cannot be decoded",
    ),
    "broken chunked body": (
        lambda s: Answer(200, {"Transfer-Encoding": "chunked"}, [b"zz\r\nxx\r\n"]),
        "failed after",
    ),
    "declared 2 GiB manifest": (
        lambda s: Answer(200, {}, b"{}", content_length=2 * GiB),
        "larger than the 4 MiB limit (2 GiB declared)",
    ),
    "endless manifest": (
        lambda s: Answer(200, {}, endless(b"[" * (1 << 20))),
        "larger than the 4 MiB limit",
    ),
    "endless error body": (lambda s: Answer(500, {}, endless()), "HTTP 500"),
    "deeply nested error body": (lambda s: Answer(403, {}, b"[" * 60_000), "HTTP 403"),
}


@pytest.mark.parametrize("case", HOSTILE_ANSWERS)
def test_hostile_answers_end_in_one_line_exit_4_bounded(serve: ServerPool, case: str) -> None:
    handler, expected = HOSTILE_ANSWERS[case]
    registry = serve(basic_registry(handler))
    done, seconds = index(
        f"{registry.host}/app:1", env=creds_env(registry.host), memory=1 * GiB, timeout=120
    )
    assert done.returncode == 4, done.stderr
    assert expected in one_error_line(done)
    assert_no_secret(done)
    assert seconds < 60
    assert registry.sent < 64 << 20  # what the client read before it stopped


def test_an_endless_token_answer_is_cut(serve: ServerPool) -> None:
    tokens = serve(lambda s: Answer(200, {}, endless(b" " * (1 << 20))))
    registry = serve(bearer_registry(f"{tokens.url}/token"))
    done, seconds = index(f"{registry.host}/app:1", env=creds_env(registry.host), memory=GiB)
    assert done.returncode == 4
    assert "answered more than 1 MiB" in one_error_line(done)
    assert tokens.sent < 64 << 20 and seconds < 60


def test_a_deeply_nested_manifest_is_bad_input(serve: ServerPool) -> None:
    registry = serve(lambda s: Answer(200, {}, b'{"a":' * 500_000))
    done, seconds = index(f"{registry.host}/app:1", memory=GiB)
    assert done.returncode == 3, done.stderr
    assert "nested too deeply" in one_error_line(done)
    assert seconds < 30
