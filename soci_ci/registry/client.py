"""A small OCI distribution-spec client on `requests`.

Auth: anonymous, Basic, and the Bearer challenge flow (`WWW-Authenticate`, separate pull and
push scopes, tokens cached per scope). Transport: HTTPS with system or custom CA, plain HTTP
for loopback hosts or on request. Every request has a timeout; temporary failures (5xx,
429, resets, timeouts) are retried with capped, jittered exponential backoff honouring
`Retry-After`; blob downloads resume with `Range` after a reset. Errors name the registry,
repository and what to do, never a credential.
"""

from __future__ import annotations

import base64
import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin

import requests
import urllib3

from soci_ci import __version__
from soci_ci.errors import RegistryError
from soci_ci.oci import media_types as mt
from soci_ci.oci.digest import check_digest, sha256_digest
from soci_ci.oci.store import Fetched
from soci_ci.registry.credentials import CredentialSource

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join(
    (mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST)
)
MAX_MANIFEST = 4 << 20
TEMPORARY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    attempts: int = 6
    base: float = 0.5
    cap: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.cap)
        backoff: float = min(self.cap, self.base * 2**attempt)
        return backoff * random.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Transport:
    plain_http: bool = False
    ca_file: str | None = None
    insecure: bool = False  # skip TLS verification
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


def is_loopback(host: str) -> bool:
    return bool(_LOOPBACK.match(host))


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _oci_errors(response: requests.Response) -> tuple[tuple[str, ...], str]:
    try:
        body = response.json()
        errors = body.get("errors") or []
        codes = tuple(str(e.get("code", "")) for e in errors)
        message = "; ".join(str(e.get("message", "")) for e in errors if e.get("message"))
        return codes, message
    except (ValueError, AttributeError):
        return (), ""


class RegistryClient:
    """One registry host; repository-scoped calls."""

    def __init__(
        self,
        host: str,
        *,
        credentials: CredentialSource | None = None,
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.host = host
        self.transport = transport or Transport()
        self.retry = retry or RetryPolicy()
        # Loopback registries speak plain HTTP unless a CA or --insecure says they use TLS.
        tls_hint = bool(self.transport.ca_file or self.transport.insecure)
        plain = self.transport.plain_http or (is_loopback(host) and not tls_hint)
        scheme = "http" if plain else "https"
        self.base = f"{scheme}://{host}"
        self.credentials = credentials
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"soci-ci/{__version__}"
        # Passed on every request: a session-level `verify` loses against REQUESTS_CA_BUNDLE.
        self._verify: bool | str = True
        if self.transport.insecure:
            self._verify = False
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            log.warning("%s: TLS verification is off (--insecure)", host)
        elif self.transport.ca_file:
            self._verify = self.transport.ca_file
        self._auth: dict[tuple[str, bool], str] = {}
        self.supports_subject: bool | None = None

    # -- plumbing --------------------------------------------------------------------------
    def _where(self, repo: str) -> str:
        return f"{self.host}/{repo}"

    def _authorize(self, challenge: str, repo: str, push: bool) -> bool:
        """Answer a 401 challenge; False when there is nothing new to try."""
        scheme, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE.findall(params_text))
        creds = self.credentials.get(self.host) if self.credentials else None
        key = (repo, push)
        if scheme.lower() == "basic":
            if creds is None:
                return False
            token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
            value = f"Basic {token}"
        elif scheme.lower() == "bearer":
            realm = params.get("realm")
            if not realm:
                return False
            scope = f"repository:{repo}:{'pull,push' if push else 'pull'}"
            query = {"service": params.get("service", ""), "scope": scope}
            auth = (creds.username, creds.password) if creds else None
            try:
                r = self.session.get(
                    realm,
                    params=query,
                    auth=auth,
                    verify=self._verify,
                    timeout=(self.transport.connect_timeout, self.transport.read_timeout),
                )
            except requests.RequestException as exc:
                raise RegistryError(
                    f"{self._where(repo)}: token service unreachable: {type(exc).__name__}",
                    temporary=True,
                ) from None
            if r.status_code in (401, 403):
                raise RegistryError(
                    f"{self._where(repo)}: the token service refused "
                    f"{'push' if push else 'pull'} access (HTTP {r.status_code})",
                    status=r.status_code,
                    hint="check the registry credentials (docker login, or --username/--password)",
                )
            if r.status_code != 200:
                raise RegistryError(
                    f"{self._where(repo)}: token service answered HTTP {r.status_code}",
                    status=r.status_code,
                    temporary=r.status_code in TEMPORARY_STATUS,
                )
            try:
                body = r.json()
            except ValueError:
                raise RegistryError(f"{self._where(repo)}: token service sent no JSON") from None
            token = body.get("token") or body.get("access_token")
            if not token:
                raise RegistryError(f"{self._where(repo)}: token service sent no token")
            value = f"Bearer {token}"
        else:
            return False
        if self._auth.get(key) == value:
            return False
        self._auth[key] = value
        return True

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        repo: str,
        push: bool = False,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        stream: bool = False,
        ok: tuple[int, ...] = (200,),
        what: str,
    ) -> requests.Response:
        url = path_or_url if "://" in path_or_url else f"{self.base}{path_or_url}"
        attempt = 0
        authorized_once = False
        while True:
            hdrs = dict(headers or {})
            auth = self._auth.get((repo, push)) or (
                self._auth.get((repo, True)) if not push else None
            )
            if auth:
                hdrs["Authorization"] = auth
            try:
                response = self.session.request(
                    method,
                    url,
                    headers=hdrs,
                    data=data,
                    verify=self._verify,
                    stream=stream,
                    allow_redirects=True,
                    timeout=(self.transport.connect_timeout, self.transport.read_timeout),
                )
            except requests.exceptions.SSLError as exc:
                raise RegistryError(
                    f"{self._where(repo)}: TLS verification failed ({type(exc).__name__})",
                    hint="pass --ca-file with the registry's CA, or --insecure for a test registry",
                ) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt + 1 >= self.retry.attempts:
                    raise RegistryError(
                        f"{self._where(repo)}: {what} failed after {attempt + 1} attempts: "
                        f"{type(exc).__name__}",
                        temporary=True,
                        hint="check that the registry is reachable; the run can be repeated safely",
                    ) from None
                delay = self.retry.delay(attempt, None)
                log.warning(
                    "%s: %s: %s, retrying in %.1f s",
                    self._where(repo),
                    what,
                    type(exc).__name__,
                    delay,
                )
                self.retry.sleep(delay)
                attempt += 1
                continue
            if response.status_code == 401 and not authorized_once:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                authorized_once = True
                if self._authorize(challenge, repo, push):
                    continue
                raise RegistryError(
                    f"{self._where(repo)}: {what}: authentication required (HTTP 401)",
                    status=401,
                    hint="log in (docker login / DOCKER_CONFIG) or pass --username/--password",
                )
            if response.status_code in ok:
                return response
            codes, message = _oci_errors(response) if not stream else ((), "")
            response.close()
            temporary = response.status_code in TEMPORARY_STATUS
            if temporary and attempt + 1 < self.retry.attempts:
                delay = self.retry.delay(attempt, _retry_after(response))
                log.warning(
                    "%s: %s: HTTP %d, retrying in %.1f s",
                    self._where(repo),
                    what,
                    response.status_code,
                    delay,
                )
                self.retry.sleep(delay)
                attempt += 1
                continue
            raise RegistryError(
                f"{self._where(repo)}: {what} failed: HTTP {response.status_code}"
                + (f" {','.join(codes)}" if codes else "")
                + (f": {message}" if message else ""),
                status=response.status_code,
                codes=codes,
                temporary=temporary,
                hint=_hint(response.status_code, push),
            )

    # -- manifests ---------------------------------------------------------------------
    def get_manifest(self, repo: str, reference: str) -> Fetched:
        r = self.request(
            "GET",
            f"/v2/{repo}/manifests/{reference}",
            repo=repo,
            headers={"Accept": MANIFEST_ACCEPT},
            what=f"fetch manifest {reference}",
        )
        data = r.content
        if len(data) > MAX_MANIFEST:
            raise RegistryError(f"{self._where(repo)}: manifest {reference} is larger than 4 MiB")
        digest = sha256_digest(data)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(
                f"{self._where(repo)}: manifest {reference} does not match its digest"
            )
        media_type = r.headers.get("Content-Type", "").split(";")[0].strip()
        return Fetched(data=data, media_type=media_type, digest=digest)

    def has_manifest(self, repo: str, reference: str) -> bool:
        r = self.request(
            "HEAD",
            f"/v2/{repo}/manifests/{reference}",
            repo=repo,
            headers={"Accept": MANIFEST_ACCEPT},
            ok=(200, 404),
            what=f"check manifest {reference}",
        )
        return r.status_code == 200

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> None:
        r = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            repo=repo,
            push=True,
            headers={"Content-Type": media_type},
            data=data,
            ok=(200, 201),
            what=f"push manifest {reference}",
        )
        if "OCI-Subject" in r.headers:
            self.supports_subject = True

    # -- blobs -------------------------------------------------------------------------
    def has_blob(self, repo: str, digest: str) -> bool:
        r = self.request(
            "HEAD",
            f"/v2/{repo}/blobs/{check_digest(digest)}",
            repo=repo,
            ok=(200, 404),
            what=f"check blob {digest[:19]}",
        )
        return r.status_code == 200

    def upload_blob(
        self, repo: str, digest: str, data: bytes, *, mount_from: str | None = None
    ) -> None:
        """Monolithic upload (POST, then one PUT): ECR's chunked PATCH is unreliable."""
        check_digest(digest)
        if mount_from and mount_from != repo:
            query = urlencode({"mount": digest, "from": mount_from})
            r = self.request(
                "POST",
                f"/v2/{repo}/blobs/uploads/?{query}",
                repo=repo,
                push=True,
                ok=(201, 202),
                what=f"mount blob {digest[:19]}",
            )
            if r.status_code == 201:
                return
        else:
            r = self.request(
                "POST",
                f"/v2/{repo}/blobs/uploads/",
                repo=repo,
                push=True,
                ok=(202,),
                what=f"start upload of {digest[:19]}",
            )
        location = r.headers.get("Location")
        if not location:
            raise RegistryError(f"{self._where(repo)}: upload started without a Location header")
        url = urljoin(self.base + "/", location)
        url += ("&" if "?" in url else "?") + urlencode({"digest": digest})
        self.request(
            "PUT",
            url,
            repo=repo,
            push=True,
            data=data,
            ok=(201, 204),
            headers={"Content-Type": "application/octet-stream"},
            what=f"upload blob {digest[:19]}",
        )

    def open_blob(self, repo: str, digest: str, size: int) -> BlobStream:
        return BlobStream(self, repo, check_digest(digest), size)

    def read_range(self, repo: str, digest: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        r = self.request(
            "GET",
            f"/v2/{repo}/blobs/{check_digest(digest)}",
            repo=repo,
            headers={"Range": f"bytes={start}-{end - 1}"},
            ok=(200, 206),
            what=f"read range of {digest[:19]}",
        )
        data = r.content
        if r.status_code == 200:
            data = data[start:end]
        if len(data) != end - start:
            raise RegistryError(
                f"{self._where(repo)}: short range read of {digest[:19]}", temporary=True
            )
        return data

    def referrers(self, repo: str, digest: str) -> Fetched | None:
        """The referrers API answer, or None when the registry does not have the API."""
        r = self.request(
            "GET",
            f"/v2/{repo}/referrers/{digest}",
            repo=repo,
            headers={"Accept": mt.OCI_INDEX},
            ok=(200, 404, 405),
            what=f"list referrers of {digest[:19]}",
        )
        if r.status_code != 200 or "json" not in r.headers.get("Content-Type", ""):
            return None
        return Fetched(data=r.content, media_type=mt.OCI_INDEX, digest=sha256_digest(r.content))


class BlobStream:
    """A blob download as a file-like object; resumes with `Range` after a connection reset."""

    def __init__(self, client: RegistryClient, repo: str, digest: str, size: int) -> None:
        self._client = client
        self._repo = repo
        self._digest = digest
        self._size = size
        self._pos = 0
        self._resumes = 0
        self._response: requests.Response | None = None
        self._iter: Iterator[bytes] | None = None
        self._pending = b""

    def _open(self) -> None:
        headers = {"Range": f"bytes={self._pos}-"} if self._pos else {}
        r = self._client.request(
            "GET",
            f"/v2/{self._repo}/blobs/{self._digest}",
            repo=self._repo,
            headers=headers,
            stream=True,
            ok=(200, 206),
            what=f"download blob {self._digest[:19]}",
        )
        # A server that ignores Range sends the whole blob: drop what we already have.
        skip = self._pos if self._pos and r.status_code == 200 else 0
        self._response = r
        self._iter = r.iter_content(1 << 20)
        while skip:
            chunk = next(self._iter, b"")
            if not chunk:
                break
            skip -= len(chunk)
            if skip < 0:
                self._pending = chunk[skip:]
                skip = 0

    def _next_chunk(self) -> bytes:
        while True:
            if self._pending:
                chunk, self._pending = self._pending, b""
                return chunk
            if self._pos >= self._size:
                return b""
            if self._iter is None:
                self._open()
            assert self._iter is not None
            try:
                chunk = next(self._iter, b"")
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.ConnectionError,
                requests.Timeout,
            ) as exc:
                chunk = b""
                log.warning(
                    "%s/%s: download of %s interrupted at byte %d (%s), resuming",
                    self._client.host,
                    self._repo,
                    self._digest[:19],
                    self._pos,
                    type(exc).__name__,
                )
            if chunk:
                return chunk
            # The stream ended early (or broke): resume from where we are.
            self.close()
            self._resumes += 1
            if self._resumes > self._client.retry.attempts:
                raise RegistryError(
                    f"{self._client.host}/{self._repo}: download of {self._digest[:19]} kept "
                    f"failing at byte {self._pos} of {self._size}",
                    temporary=True,
                )
            self._client.retry.sleep(self._client.retry.delay(self._resumes - 1, None))

    def readinto(self, view: memoryview) -> int:
        chunk = self._next_chunk()
        n = min(len(chunk), len(view))
        view[:n] = chunk[:n]
        if n < len(chunk):
            self._pending = chunk[n:]
        self._pos += n
        return n

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            parts = []
            while chunk := self._next_chunk():
                parts.append(chunk)
                self._pos += len(chunk)
            return b"".join(parts)
        chunk = self._next_chunk()
        out, self._pending = chunk[:n], chunk[n:]
        self._pos += len(out)
        return out

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
        self._response = None
        self._iter = None

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _hint(status: int, push: bool) -> str:
    if status in (401, 403):
        return (
            "the credentials lack "
            + ("push" if push else "pull")
            + " permission on this repository (for ECR: ecr:BatchGetImage/PutImage, "
            "ecr:InitiateLayerUpload ...)"
        )
    if status == 404:
        return "check the repository and tag; the repository must exist (ECR does not create it)"
    if status == 429:
        return "the registry is throttling; retry later or lower the concurrency"
    if status >= 500:
        return "the registry failed; the run can be repeated safely"
    return "see the registry's error message above"
