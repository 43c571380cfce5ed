"""The Bearer/Basic challenge flow with a fake token service (no sockets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from soci_ci.errors import RegistryError
from soci_ci.registry.auth import (
    Authenticator,
    Challenge,
    Credentials,
    Scheme,
    basic_header,
    parse_challenge,
)

SECRET = "s3cr3t-pa55"
CREDS = Credentials(username="ci", password=SECRET, source="test")


@dataclass
class Answer:
    status_code: int
    body: Any

    def json(self) -> Any:
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


class FakeTokenService:
    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, str], tuple[str, str] | None]] = []

    def __call__(self, realm: str, query: dict[str, str], basic: tuple[str, str] | None) -> Answer:
        self.calls.append((realm, query, basic))
        return (
            self.answers.pop(0) if self.answers else Answer(200, {"token": f"t{len(self.calls)}"})
        )


class Fixed:
    def __init__(self, creds: Credentials | None) -> None:
        self.creds = creds

    def get(self, host: str) -> Credentials | None:
        return self.creds


BEARER = 'Bearer realm="https://auth.example/token",service="reg.example",scope="repository:a:pull"'


def test_parse_challenge() -> None:
    assert parse_challenge(BEARER) == Challenge(
        scheme=Scheme.BEARER,
        params={
            "realm": "https://auth.example/token",
            "service": "reg.example",
            "scope": "repository:a:pull",
        },
    )
    assert parse_challenge('basic Realm="x y"') == Challenge(
        scheme=Scheme.BASIC, params={"realm": "x y"}
    )
    assert parse_challenge("Bearer realm=https://t.example/x, service=svc").params == {
        "realm": "https://t.example/x",
        "service": "svc",
    }
    assert parse_challenge("Negotiate abc").scheme is Scheme.OTHER


def test_bearer_pull_and_push_scopes_are_separate_and_cached() -> None:
    service = FakeTokenService()
    auth = Authenticator("reg.example", Fixed(CREDS), service)
    assert auth.header("team/app", push=False) is None
    assert auth.answer(BEARER, "team/app", push=False)
    assert auth.header("team/app", push=False) == "Bearer t1"
    assert auth.header("team/app", push=True) is None
    assert auth.answer(BEARER, "team/app", push=True)
    assert auth.header("team/app", push=True) == "Bearer t2"
    assert service.calls == [
        (
            "https://auth.example/token",
            {"scope": "repository:team/app:pull", "service": "reg.example"},
            ("ci", SECRET),
        ),
        (
            "https://auth.example/token",
            {"scope": "repository:team/app:pull,push", "service": "reg.example"},
            ("ci", SECRET),
        ),
    ]


def test_push_token_serves_pulls_and_same_token_twice_is_not_retried() -> None:
    service = FakeTokenService(
        Answer(200, {"access_token": "same"}), Answer(200, {"token": "same"})
    )
    auth = Authenticator("reg.example", None, service)
    assert auth.answer(BEARER, "r", push=True)
    assert auth.header("r", push=False) == "Bearer same"
    assert not auth.answer(BEARER, "r", push=True)  # nothing new: give up, no loop
    assert service.calls[0][2] is None  # anonymous token request


def test_basic_challenge_needs_credentials() -> None:
    assert not Authenticator("h", None, FakeTokenService()).answer(
        'Basic realm="r"', "r", push=False
    )
    auth = Authenticator("h", Fixed(CREDS), FakeTokenService())
    assert auth.answer('Basic realm="r"', "r", push=False)
    assert auth.header("r", push=False) == basic_header(CREDS) == "Basic Y2k6czNjcjN0LXBhNTU="


@pytest.mark.parametrize(
    ("answer", "message", "temporary"),
    [
        (Answer(401, {}), "reg.example/r: the token service refused push access (HTTP 401)", False),
        (Answer(503, {}), "reg.example/r: the token service answered HTTP 503", True),
        (
            Answer(200, ValueError("no json")),
            "reg.example/r: the token service sent no token",
            False,
        ),
        (Answer(200, {"token": ""}), "reg.example/r: the token service sent no token", False),
    ],
)
def test_token_service_failures(answer: Answer, message: str, temporary: bool) -> None:
    auth = Authenticator("reg.example", Fixed(CREDS), FakeTokenService(answer))
    with pytest.raises(RegistryError) as info:
        auth.answer(BEARER, "r", push=True)
    assert (str(info.value), info.value.temporary) == (message, temporary)
    assert SECRET not in str(info.value) + info.value.hint


def test_credentials_repr_hides_the_secret() -> None:
    assert SECRET not in repr(CREDS)
