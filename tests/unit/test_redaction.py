"""The one redaction every error message goes through (soci_ci/redaction.py)."""

from __future__ import annotations

import time

import pytest

from soci_ci.errors import RegistryError, UsageError
from soci_ci.redaction import redact, redact_url, remember_secret, server_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET https://u:p@s3.example/x?X-Amz-Signature=abc&X-Amz-Credential=AK%2F1&partNumber=2",
            "GET https://s3.example/x?X-Amz-Signature=***&X-Amz-Credential=***&partNumber=2",
        ),
        (
            "https://acct.blob.example/c?sv=2020&se=2030&sig=abc%3D&sp=r",
            "https://acct.blob.example/c?sv=***&se=***&sig=***&sp=***",
        ),
        ("Authorization: Bearer abc.def.ghi and more", "Authorization: *** and more"),
        ('{"Authorization": "Basic dXNlcjpwYXNz"}', '{"Authorization": "***"}'),
        ("got Basic dXNlcjpwYXNzd29yZA== back", "got Basic *** back"),
        ('{"token": "zzz", "x": 1}', '{"token": "***", "x": 1}'),
        (
            "ftp://evil/x?sig=1&Signature=2 token=abc",
            "ftp://evil/x?sig=***&Signature=*** token=***",
        ),
        ("reference 'user:pw@reg.example/app:1'", "reference 'reg.example/app:1'"),
        ("jwt eyJhbGciOiJSUzI1.eyJzdWIiOiIxMjM0.c2lnbmF0dXJl", "jwt ***"),
        ("gh ghp_" + "a" * 36 + " aws AKIAABCDEFGHIJKLMNOP", "gh *** aws ***"),
        ("a\nb\r\n::error ::x\x1b[31m", "a b ::error ::x [31m"),
        # Ordinary words stay: the token service, Bearer realm, KEY=VALUE, tags and digests.
        ("the token service refused pull access", "the token service refused pull access"),
        ('Bearer realm="https://a/token"', 'Bearer realm="https://a/token"'),
        ("expected KEY=VALUE", "expected KEY=VALUE"),
        ("reg.example/app:1.0@sha256:abc", "reg.example/app:1.0@sha256:abc"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_known_secrets_are_redacted_everywhere() -> None:
    remember_secret("s3cr3t-value-xyz")
    remember_secret("ab")  # too short to redact without eating words
    assert redact("pw s3cr3t-value-xyz; ab") == "pw ***; ab"
    assert "s3cr3t-value-xyz" not in str(RegistryError("reflected s3cr3t-value-xyz"))
    assert "pw@" not in UsageError("bad 'u:pw@h.example/r'").message


def test_server_text_is_short_and_one_line() -> None:
    text = server_text("x" * 1000 + "\n::warning::y")
    assert len(text) == 300 and text.endswith("…") and "\n" not in text


def test_redact_url_of_an_unparsable_url() -> None:
    assert redact_url("http://[::1/x?Signature=abc") == "http://[::1/x"


@pytest.mark.parametrize(
    "text", [",a:" * 40_000, "x://" + "a" * 100_000, "https://a/?" + "token=1&" * 20_000]
)
def test_redaction_is_fast_on_hostile_text(text: str) -> None:
    start = time.monotonic()
    out = redact(text)
    assert time.monotonic() - start < 3
    assert len(out) < 2 * 64 * 1024  # only the first 64 KiB are looked at
