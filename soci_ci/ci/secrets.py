"""The GitHub token: from the environment, else from AWS Secrets Manager.

``GITHUB_TOKEN`` (or the action input ``github-token``) wins. In CodeBuild, a secret id in
``SOCI_CI_GITHUB_TOKEN_SECRET`` (a name or ARN; a JSON secret may hold it under ``token``
or ``GITHUB_TOKEN``) is read with boto3; ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` or
``endpoint_url`` points it at moto in tests. The value is never logged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from soci_ci.errors import AwsError

TOKEN_ENV = ("INPUT_GITHUB-TOKEN", "INPUT_GITHUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN")
SECRET_ID_ENV = "SOCI_CI_GITHUB_TOKEN_SECRET"  # noqa: S105 - a variable name
_JSON_KEYS = ("token", "GITHUB_TOKEN", "github_token")


def token_from_env(environ: Mapping[str, str]) -> str | None:
    for key in TOKEN_ENV:
        value = environ.get(key, "").strip()
        if value:
            return value
    return None


def token_from_secret_string(text: str) -> str:
    """The token inside a secret: the plain string, or a JSON object's ``token`` key."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return stripped
        if isinstance(data, dict):
            for key in _JSON_KEYS:
                value = data.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()
        raise AwsError(
            "the GitHub token secret is JSON without a `token` key",
            hint='store the token as a plain string or as {"token": "..."}',
        )
    return stripped


def token_from_secrets_manager(
    secret_id: str, *, region: str | None = None, endpoint_url: str | None = None
) -> str:
    import boto3  # noqa: PLC0415 - heavy, only when a secret is configured
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        client: Any = boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint_url)
        answer = client.get_secret_value(SecretId=secret_id)
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(
            f"could not read the GitHub token secret {secret_id!r}: {type(exc).__name__}",
            hint="the role needs secretsmanager:GetSecretValue on that secret",
        ) from exc
    text = answer.get("SecretString")
    if not isinstance(text, str) or not text.strip():
        raise AwsError(f"the secret {secret_id!r} has no string value")
    return token_from_secret_string(text)


def resolve_token(
    environ: Mapping[str, str], *, secret_id: str | None = None, region: str | None = None
) -> str | None:
    token = token_from_env(environ)
    if token is not None:
        return token
    secret = secret_id or environ.get(SECRET_ID_ENV, "").strip() or None
    if secret is None:
        return None
    return token_from_secrets_manager(
        secret,
        region=region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
        endpoint_url=environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or None,
    )
