from __future__ import annotations

import pytest

from soci_ci.ci.secrets import resolve_token, token_from_env, token_from_secret_string
from soci_ci.errors import AwsError


def test_token_from_env_order() -> None:
    assert token_from_env({"GITHUB_TOKEN": "b", "INPUT_GITHUB-TOKEN": "a"}) == "a"
    assert token_from_env({"GITHUB_TOKEN": " ", "GH_TOKEN": "c"}) == "c"
    assert token_from_env({}) is None


def test_secret_string_plain_or_json() -> None:
    assert token_from_secret_string(" ghp_x \n") == "ghp_x"
    assert token_from_secret_string('{"token": "ghp_y"}') == "ghp_y"
    assert token_from_secret_string('{"GITHUB_TOKEN": "ghp_z"}') == "ghp_z"
    with pytest.raises(AwsError, match="without a `token` key"):
        token_from_secret_string('{"other": "v"}')


def test_no_token_and_no_secret_is_none() -> None:
    assert resolve_token({}) is None
