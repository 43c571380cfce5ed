"""The base branch's copy of the config file, for `soci_ci.config.trust` (an edge: git, HTTP).

First from the checkout's own git objects (``git cat-file`` at the base commit, when the clone
has it: ``fetch-depth: 0`` or a fetched base), else from GitHub's contents API at the base
commit (or branch) with the run's token. Reads are bounded (`MAX_CONFIG_BYTES`), git runs
with a timeout and without hooks, pager or the repository's fsmonitor, the API request sends
the token only to the API host and follows no redirect. The outcome is one of: the text, "the
base has no such file" (``text=None, found=True``), or unavailable with the reason.
"""

from __future__ import annotations

import logging
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from soci_ci.limits import BASE_CONFIG_GIT_SECONDS, MAX_CONFIG_BYTES

log = logging.getLogger(__name__)

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_BRANCH = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._/-]{0,200}$")
_API_SECONDS = 20.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseConfig:
    text: bytes | None  # None: the base branch has no config file at that path (if found)
    found: bool  # False: could not be determined; ``source`` says why
    source: str


def _valid_ref(sha: str | None, branch: str | None) -> tuple[str | None, str | None]:
    good_sha = sha if sha and _SHA.match(sha) else None
    good_branch = (
        branch
        if branch and _BRANCH.match(branch) and ".." not in branch and not branch.endswith(".lock")
        else None
    )
    return good_sha, good_branch


def _git(
    workspace: Path, *args: str, search_path: str
) -> subprocess.CompletedProcess[bytes] | None:
    command = [
        "git",
        "--no-pager",
        "-c",
        f"safe.directory={workspace}",
        "-c",
        "core.fsmonitor=false",
        "-c",
        "core.hooksPath=/dev/null",
        "-C",
        str(workspace),
        *args,
    ]
    try:
        return subprocess.run(
            command,
            capture_output=True,
            timeout=BASE_CONFIG_GIT_SECONDS,
            check=False,
            env={
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_TERMINAL_PROMPT": "0",
                "PATH": search_path,
            },
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("base config: git unavailable: %s", type(exc).__name__)
        return None


def from_git(
    workspace: Path, relpath: str, revision: str, *, search_path: str
) -> BaseConfig | None:
    """The file at ``revision`` from the checkout's objects; None when git cannot tell.
    ``search_path`` is the PATH git is found on (and all git gets of the environment)."""
    probe = _git(workspace, "cat-file", "-t", f"{revision}^{{commit}}", search_path=search_path)
    if probe is None or probe.returncode != 0 or probe.stdout.strip() != b"commit":
        return None
    listing = _git(
        workspace, "ls-tree", "-z", "--full-name", revision, "--", relpath, search_path=search_path
    )
    if listing is None or listing.returncode != 0:
        return None
    entry = listing.stdout.split(b"\0", 1)[0]
    if not entry:
        return BaseConfig(text=None, found=True, source=f"git {revision[:12]} (no config file)")
    meta = entry.split(b"\t", 1)[0].split()
    if len(meta) != 3 or meta[0] not in (b"100644", b"100755") or meta[1] != b"blob":
        return BaseConfig(text=None, found=True, source=f"git {revision[:12]} (not a file)")
    blob = meta[2].decode("ascii", "replace")
    size = _git(workspace, "cat-file", "-s", blob, search_path=search_path)
    if size is None or size.returncode != 0 or not size.stdout.strip().isdigit():
        return None
    if int(size.stdout) > MAX_CONFIG_BYTES:
        return BaseConfig(text=b"x" * (MAX_CONFIG_BYTES + 1), found=True, source="git (too big)")
    content = _git(workspace, "cat-file", "blob", blob, search_path=search_path)
    if content is None or content.returncode != 0:
        return None
    return BaseConfig(text=content.stdout, found=True, source=f"git {revision[:12]}")


def from_github(*, api_url: str, repository: str, relpath: str, ref: str, token: str) -> BaseConfig:
    """The file at ``ref`` through ``GET /repos/{repo}/contents/{path}`` (raw), bounded."""
    import requests  # noqa: PLC0415 - only on pull requests

    url = (
        f"{api_url.rstrip('/')}/repos/{quote(repository, safe='/')}/contents/"
        f"{quote(relpath, safe='/')}?ref={quote(ref, safe='')}"
    )
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github.raw+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "soci-ci",
    }
    where = f"GitHub API at {ref[:12]}"
    try:
        with requests.get(
            url, headers=headers, timeout=_API_SECONDS, stream=True, allow_redirects=False
        ) as response:
            if response.status_code == 404:
                return BaseConfig(
                    text=None,
                    found=True,
                    source=f"{where}: no such file (HTTP 404; also what a token without "
                    "`contents: read` gets for a private repository)",
                )
            if response.status_code != 200:
                return BaseConfig(
                    text=None,
                    found=False,
                    source=f"{where}: HTTP {response.status_code} (the token needs "
                    "`contents: read`)",
                )
            body = bytearray()
            for chunk in response.iter_content(65536):
                body += chunk
                if len(body) > MAX_CONFIG_BYTES:
                    break
    except requests.RequestException as exc:
        return BaseConfig(text=None, found=False, source=f"{where}: {type(exc).__name__}")
    return BaseConfig(text=bytes(body), found=True, source=where)


def fetch_base_config(
    *,
    workspace: Path,
    relpath: str,
    base_sha: str | None,
    base_branch: str | None,
    repository: str | None,
    api_url: str,
    token: str | None,
    search_path: str,
) -> BaseConfig:
    """The base branch's config (see the module docstring); never raises."""
    sha, branch = _valid_ref(base_sha, base_branch)
    revisions = [sha] if sha else []
    if branch:
        revisions.append(f"refs/remotes/origin/{branch}")
    for revision in revisions:
        found = from_git(workspace, relpath, revision, search_path=search_path)
        if found is not None:
            return found
    ref = sha or branch
    if ref is None:
        return BaseConfig(text=None, found=False, source="the base commit is unknown")
    if not (token and repository):
        return BaseConfig(
            text=None,
            found=False,
            source="the checkout lacks the base commit and no GitHub token was given",
        )
    return from_github(
        api_url=api_url, repository=repository, relpath=relpath, ref=ref, token=token
    )
