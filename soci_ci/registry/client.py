"""A small OCI distribution-spec client on `requests`, one registry host per client.

Every request has a timeout; temporary failures (5xx, 429, resets, timeouts) are retried with
capped, jittered backoff honouring `Retry-After` (retry.py); 401 challenges are answered once
(auth.py). Errors name the registry, repository and what to do, never a credential or a
signed URL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from urllib.parse import urlencode, urljoin

import requests
import urllib3

from soci_ci import __version__
from soci_ci.errors import RegistryError
from soci_ci.oci import media_types as mt
from soci_ci.oci.digest import check_digest, sha256_digest
from soci_ci.oci.store import Fetched
from soci_ci.registry.auth import Authenticator, CredentialSource, TokenResponse
from soci_ci.registry.blob_stream import BlobStream
from soci_ci.registry.failures import hint_for, status_error
from soci_ci.registry.retry import RetryPolicy, is_temporary_status, parse_retry_after
from soci_ci.registry.transport import Transport, redact_url

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join(
    (mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST)
)
MAX_MANIFEST = 4 << 20


class RegistryClient:
    def __init__(
        self,
        host: str,
        *,
        credentials: CredentialSource | None = None,
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.host = host
        self.transport = transport or Transport()
        self.retry = retry or RetryPolicy()
        self.base = self.transport.base_url(host)
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"soci-ci/{__version__}"
        if self.transport.insecure:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            log.warning("%s: TLS verification is off (--insecure)", host)
        self.auth = Authenticator(host, credentials, self._fetch_token)
        self.supports_subject: bool | None = None

    def where(self, repo: str) -> str:
        return f"{self.host}/{repo}"

    def _fetch_token(
        self, realm: str, query: dict[str, str], basic: tuple[str, str] | None
    ) -> TokenResponse:
        try:
            return self.session.get(
                realm,
                params=query,
                auth=basic,
                verify=self.transport.verify,
                timeout=self.transport.timeout,
            )
        except requests.RequestException as exc:
            raise RegistryError(
                f"{self.host}: token service {redact_url(realm)} unreachable: {type(exc).__name__}",
                temporary=True,
                hint="check that the token service is reachable; the run can be repeated safely",
            ) from None

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
        where = self.where(repo)
        attempt = 0
        challenged = False
        while True:
            hdrs = dict(headers or {})
            auth = self.auth.header(repo, push=push)
            if auth:
                hdrs["Authorization"] = auth
            log.debug("%s %s", method, redact_url(url))
            try:
                response = self.session.request(
                    method,
                    url,
                    headers=hdrs,
                    data=data,
                    verify=self.transport.verify,
                    stream=stream,
                    allow_redirects=True,
                    timeout=self.transport.timeout,
                )
            except requests.exceptions.SSLError as exc:
                raise RegistryError(
                    f"{where}: TLS verification failed ({type(exc).__name__})",
                    hint="pass --ca-file with the registry's CA, or --insecure for a test registry",
                ) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not self.retry.can_retry(attempt):
                    raise RegistryError(
                        f"{where}: {what} failed after {attempt + 1} attempts: "
                        f"{type(exc).__name__}",
                        temporary=True,
                        hint="check that the registry is reachable (for a plain-HTTP registry "
                        "pass --plain-http); the run can be repeated safely",
                    ) from None
                self._wait(where, what, type(exc).__name__, attempt, None)
                attempt += 1
                continue
            status = response.status_code
            if status == 401 and not challenged:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                challenged = True
                # Another thread may have answered the same challenge since this request left.
                if self.auth.header(repo, push=push) != auth:
                    continue
                if self.auth.answer(challenge, repo, push=push):
                    continue
            if status in ok:
                return response
            body = b"" if stream else response.content[:65536]
            response.close()
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if is_temporary_status(status) and self.retry.can_retry(attempt):
                self._wait(where, what, f"HTTP {status}", attempt, retry_after)
                attempt += 1
                continue
            raise status_error(where, what, status, body, push=push, retry_after=retry_after)

    def _wait(
        self, where: str, what: str, why: str, attempt: int, retry_after: float | None
    ) -> None:
        delay = self.retry.delay(attempt, retry_after)
        log.warning("%s: %s: %s, retrying in %.1f s", where, what, why, delay)
        self.retry.sleep(delay)

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
            raise RegistryError(f"{self.where(repo)}: manifest {reference} is larger than 4 MiB")
        digest = sha256_digest(data)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(
                f"{self.where(repo)}: manifest {reference} does not match its digest",
                hint="the registry or a proxy altered the manifest; do not use this image",
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
        """Push the exact bytes with their media type (`reference`: a tag or the digest)."""
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
        returned = r.headers.get("Docker-Content-Digest")
        if returned and returned != sha256_digest(data):
            raise RegistryError(
                f"{self.where(repo)}: the registry stored manifest {reference} as {returned[:19]}",
                hint="the registry rewrote the manifest; it cannot hold SOCI indexes as is",
            )
        if "OCI-Subject" in r.headers:
            self.supports_subject = True

    def list_tags(self, repo: str) -> list[str]:
        tags: list[str] = []
        url: str | None = f"/v2/{repo}/tags/list?n=1000"
        while url:
            r = self.request("GET", url, repo=repo, what="list tags")
            try:
                page = json.loads(r.content).get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"{self.where(repo)}: tag list is not JSON") from None
            tags.extend(str(t) for t in page)
            link = r.links.get("next", {}).get("url")
            url = urljoin(self.base + "/", link) if link else None
        return tags

    def referrers(self, repo: str, digest: str) -> Fetched | None:
        """The referrers API answer, or None when the registry does not have the API."""
        r = self.request(
            "GET",
            f"/v2/{repo}/referrers/{check_digest(digest)}",
            repo=repo,
            headers={"Accept": mt.OCI_INDEX},
            ok=(200, 404, 405),
            what=f"list referrers of {digest[:19]}",
        )
        if r.status_code != 200 or "json" not in r.headers.get("Content-Type", ""):
            return None
        return Fetched(data=r.content, media_type=mt.OCI_INDEX, digest=sha256_digest(r.content))

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
        """Monolithic upload (POST, then one PUT with `?digest=`): ECR's chunked PATCH is
        unreliable. With `mount_from`, ask for a cross-repository mount first."""
        check_digest(digest)
        if mount_from and mount_from != repo:
            query = urlencode({"mount": digest, "from": mount_from})
            start = f"/v2/{repo}/blobs/uploads/?{query}"
            r = self.request(
                "POST", start, repo=repo, push=True, ok=(201, 202), what=f"mount {digest[:19]}"
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
            raise RegistryError(
                f"{self.where(repo)}: upload of {digest[:19]} started without a Location header",
                hint=hint_for(502, push=True),
            )
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
        check_digest(digest)

        def open_at(offset: int) -> requests.Response:
            return self.request(
                "GET",
                f"/v2/{repo}/blobs/{digest}",
                repo=repo,
                headers={"Range": f"bytes={offset}-"} if offset else {},
                stream=True,
                ok=(200, 206),
                what=f"download blob {digest[:19]}",
            )

        return BlobStream(
            open_at, where=self.where(repo), digest=digest, size=size, retry=self.retry
        )

    def read_range(self, repo: str, digest: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of a blob with one `Range` request (as a lazy loader reads)."""
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
                f"{self.where(repo)}: short range read of {digest[:19]} "
                f"({len(data)} of {end - start} bytes)",
                temporary=True,
                hint="the run can be repeated safely",
            )
        return data
