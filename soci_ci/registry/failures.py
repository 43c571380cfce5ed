"""Registry answers turned into `RegistryError`s that say where it failed and what to do."""

from __future__ import annotations

import json

import requests

from soci_ci.errors import RegistryError
from soci_ci.redaction import redact_url, server_text
from soci_ci.registry.retry import is_temporary_status


def parse_oci_errors(body: bytes) -> tuple[tuple[str, ...], str]:
    """OCI error codes and messages from a distribution-spec error body (`{"errors": [...]}`)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return (), ""
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return (), ""
    items = [e for e in errors if isinstance(e, dict)]
    codes = tuple(server_text(str(e["code"]), limit=40) for e in items[:5] if e.get("code"))
    message = "; ".join(str(e["message"])[:200] for e in items[:5] if e.get("message"))
    return codes, server_text(message)


def hint_for(status: int, *, push: bool) -> str:
    if status == 401:
        return "log in (docker login / DOCKER_CONFIG) or pass --username with a password"
    if status == 403:
        access = "push" if push else "pull"
        return (
            f"the credentials lack {access} permission on this repository (for ECR: "
            "ecr:BatchGetImage, ecr:GetDownloadUrlForLayer; to push also ecr:PutImage, "
            "ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload)"
        )
    if status == 404:
        return "check the repository and tag; the repository must exist (ECR does not create it)"
    if status == 429:
        return "the registry is throttling; retry later or lower the concurrency"
    if status >= 500:
        return "the registry failed; the run can be repeated safely"
    return "see the registry's error message"


def status_error(
    where: str,
    what: str,
    status: int,
    body: bytes,
    *,
    push: bool,
    retry_after: float | None = None,
) -> RegistryError:
    codes, message = parse_oci_errors(body)
    text = f"{where}: {what} failed: HTTP {status}"
    if codes:
        text += " " + ",".join(codes)
    if message:
        text += f": {message}"
    if status == 401:
        text = f"{where}: {what}: authentication required (HTTP 401)"
    return RegistryError(
        text,
        status=status,
        codes=codes,
        temporary=is_temporary_status(status),
        retry_after=retry_after,
        hint=hint_for(status, push=push),
    )


def size_text(n: int) -> str:
    """A byte count for messages: 4 MiB, 2 GiB, 300 bytes."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            value = n / (1 << shift)
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


_FAILURES: tuple[tuple[type[BaseException], str], ...] = (
    (requests.exceptions.TooManyRedirects, "too many redirects"),
    (requests.exceptions.InvalidSchema, "redirected to an unsupported URL scheme"),
    (requests.exceptions.MissingSchema, "redirected to a URL without a scheme"),
    (requests.exceptions.InvalidURL, "an invalid URL"),
    (requests.exceptions.InvalidHeader, "an invalid header"),
    (requests.exceptions.ContentDecodingError, "a body that cannot be decoded"),
    (requests.exceptions.ChunkedEncodingError, "a broken chunked body"),
    (ValueError, "an invalid URL or header"),
)


def request_failure(where: str, what: str, url: str, exc: BaseException) -> RegistryError:
    """Any `requests`/`urllib3` failure as a `RegistryError`: its kind and the redacted URL,
    never the exception's own text (it may hold a signed redirect URL)."""
    kind = next((text for cls, text in _FAILURES if isinstance(exc, cls)), "an unusable answer")
    return RegistryError(
        f"{where}: {what} failed: {kind} ({type(exc).__name__}) at {redact_url(url)}",
        hint="the registry (or a proxy) answered in a way soci-ci does not follow; "
        "run with --debug for the request log",
    )
