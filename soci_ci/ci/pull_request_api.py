"""Ask GitHub which repositories a pull request joins (CodeBuild's fork check; an edge).

``GET /repos/{repo}/pulls/{n}`` with the run's token, sent to the API host only, no redirect
followed, the answer read up to `MAX_PULL_REQUEST_BYTES`. Any failure answers None: the caller
keeps treating the pull request as untrusted.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

from soci_ci.ci.context import PullRequestLookup
from soci_ci.ci.github_env import PullRequest, parse_pull_request
from soci_ci.errors import SociCiError

log = logging.getLogger(__name__)

MAX_PULL_REQUEST_BYTES = 4 << 20  # a pull request object is a few KiB; bodies can be long
_SECONDS = 20.0


def github_lookup(*, api_url: str, token: str | None) -> PullRequestLookup:
    """A `PullRequestLookup` through the REST API (None for every question without a token)."""

    def lookup(repository: str, number: int) -> PullRequest | None:
        if not token:
            return None
        import requests  # noqa: PLC0415 - only on CodeBuild pull requests

        url = f"{api_url.rstrip('/')}/repos/{quote(repository, safe='/')}/pulls/{number}"
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "soci-ci",
        }
        try:
            with requests.get(
                url, headers=headers, timeout=_SECONDS, stream=True, allow_redirects=False
            ) as response:
                if response.status_code != 200:
                    log.warning(
                        "pull request #%d: GitHub answered HTTP %d", number, response.status_code
                    )
                    return None
                body = bytearray()
                for chunk in response.iter_content(65536):
                    body += chunk
                    if len(body) > MAX_PULL_REQUEST_BYTES:
                        return None
            data = json.loads(body)
        except (requests.RequestException, ValueError) as exc:
            log.warning("pull request #%d: GitHub lookup failed: %s", number, type(exc).__name__)
            return None
        if not isinstance(data, dict):
            return None
        try:
            return parse_pull_request({"pull_request": data, "number": number})
        except SociCiError:
            return None

    return lookup
