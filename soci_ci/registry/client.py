"""A small OCI distribution-spec client on `requests`, one registry host per client.

Every request has a timeout; temporary failures (5xx, 429, resets, timeouts) are retried with
capped, jittered backoff honouring `Retry-After` (retry.py); 401 challenges are answered once
(auth.py), and only when the registry's own origin asks: credentials are never sent to another
origin (a redirect target, a cross-host upload `Location` or `Link`). Bodies are read with the
bounds of soci_ci/limits.py. Errors name the registry, repository and what to do, never a
credential or a signed URL (soci_ci/redaction.py); any `requests`/`urllib3` failure becomes a
`RegistryError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin

import requests
import urllib3

from soci_ci import __version__
from soci_ci.errors import RegistryError
from soci_ci.http_body import BodyTooLarge, BodyTooSlow, read_body, read_prefix, skip_body
from soci_ci.limits import (
    BODY_SECONDS_MAX,
    REGISTRY_ERROR_BODY_MAX,
    REGISTRY_MANIFEST_MAX,
    REGISTRY_REDIRECTS_MAX,
    REGISTRY_TAG_PAGE_MAX,
    REGISTRY_TAG_PAGES_MAX,
    REGISTRY_TOKEN_BODY_MAX,
)
from soci_ci.oci import media_types as mt
from soci_ci.oci.digest import check_digest, sha256_digest
from soci_ci.oci.store import Fetched
from soci_ci.registry.auth import Authenticator, CredentialSource, TokenResponse
from soci_ci.registry.blob_stream import BlobStream
from soci_ci.registry.failures import hint_for, request_failure, size_text, status_error
from soci_ci.registry.range_read import read_range_from
from soci_ci.registry.retry import RetryPolicy, is_temporary_status, parse_retry_after
from soci_ci.registry.transport import Transport, origin, redact_url

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join(
    (mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST)
)
MAX_MANIFEST = REGISTRY_MANIFEST_MAX
# Exceptions of an answer cut or garbled in transit, worth another try.
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


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
        self.origin = origin(self.base)
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"soci-ci/{__version__}"
        self.session.max_redirects = REGISTRY_REDIRECTS_MAX
        if self.transport.insecure:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            log.warning("%s: TLS verification is off (--insecure)", host)
        self.auth = Authenticator(host, credentials, self._fetch_token, base_url=self.base)
        self.supports_subject: bool | None = None

    def where(self, repo: str) -> str:
        return f"{self.host}/{repo}"

    def _fetch_token(
        self, realm: str, query: dict[str, str], basic: tuple[str, str] | None
    ) -> TokenResponse:
        """The token service's answer (no redirects followed: credentials stay at the realm)."""
        try:
            response = self.session.get(
                realm,
                params=query,
                auth=basic,
                verify=self.transport.verify,
                timeout=self.transport.timeout,
                stream=True,
                allow_redirects=False,
                headers={"Accept-Encoding": "identity"},
            )
            if response.is_redirect:
                response.close()
                raise RegistryError(
                    f"{self.host}: token service {redact_url(realm)} redirected "
                    f"(HTTP {response.status_code}); credentials are not sent on",
                    hint="configure the registry with the token service's final URL",
                )
            if response.status_code != 200:
                return TokenAnswer(response.status_code, read_prefix(response, 4096))
            body = read_body(response, REGISTRY_TOKEN_BODY_MAX, seconds=BODY_SECONDS_MAX)
            return TokenAnswer(response.status_code, body)
        except BodyTooSlow as exc:
            raise RegistryError(
                f"{self.host}: token service {redact_url(realm)} took more than "
                f"{exc.seconds:.0f} s",
                temporary=True,
                hint="the token service is stalled; the run can be repeated safely",
            ) from None
        except BodyTooLarge:
            raise RegistryError(
                f"{self.host}: token service {redact_url(realm)} answered more than "
                f"{size_text(REGISTRY_TOKEN_BODY_MAX)}",
                hint="check the realm in the registry's WWW-Authenticate header",
            ) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, ValueError) as exc:
            raise RegistryError(
                f"{self.host}: token service {redact_url(realm)} unreachable: {type(exc).__name__}",
                temporary=isinstance(exc, _TRANSIENT),
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
        max_body: int | None = None,
    ) -> requests.Response:
        """One call, retried and authenticated. The answer's body: left to the caller to
        stream (`stream`), read whole up to `max_body` bytes (else a `RegistryError`), or
        (neither) not needed."""
        url = path_or_url if "://" in path_or_url else f"{self.base}{path_or_url}"
        where = self.where(repo)
        own = self.origin is not None and origin(url) == self.origin
        attempt = 0
        challenged = False
        while True:
            hdrs = {"Accept-Encoding": "identity", **(headers or {})}
            auth = self.auth.header(repo, push=push)
            if auth and own:
                hdrs["Authorization"] = auth
            log.debug("%s %s", method, redact_url(url))
            try:
                response = self.session.request(
                    method,
                    url,
                    headers=hdrs,
                    data=data,
                    verify=self.transport.verify,
                    stream=True,
                    allow_redirects=True,
                    timeout=self.transport.timeout,
                )
                status = response.status_code
                if status in ok and max_body is not None and not stream:
                    read_body(response, max_body, seconds=BODY_SECONDS_MAX)
            except BodyTooSlow as exc:
                raise RegistryError(
                    f"{where}: {what}: the registry's answer took more than {exc.seconds:.0f} s",
                    temporary=True,
                    hint="the registry is stalled or very slow; the run can be repeated safely",
                ) from None
            except BodyTooLarge as exc:
                raise RegistryError(
                    f"{where}: {what}: the registry's answer is larger than the "
                    f"{size_text(exc.limit)} limit"
                    + (f" ({size_text(exc.declared)} declared)" if exc.declared else ""),
                    hint="this is not an image soci-ci reads (limits: SECURITY.md)",
                ) from None
            except requests.exceptions.SSLError as exc:
                raise RegistryError(
                    f"{where}: TLS verification failed ({type(exc).__name__})",
                    hint="pass --ca-file with the registry's CA, or --insecure for a test registry",
                ) from None
            except _TRANSIENT as exc:
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
            except (requests.RequestException, urllib3.exceptions.HTTPError, ValueError) as exc:
                raise request_failure(where, what, url, exc) from None
            final_own = self.origin is not None and origin(response.url or url) == self.origin
            if status == 401 and not challenged and final_own:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                challenged = True
                # Another thread may have answered the same challenge since this request left.
                if self.auth.header(repo, push=push) != auth:
                    continue
                if self.auth.answer(challenge, repo, push=push):
                    continue
            if status in ok:
                if not stream and max_body is None:
                    skip_body(response, REGISTRY_ERROR_BODY_MAX)
                return response
            body = read_prefix(response, REGISTRY_ERROR_BODY_MAX)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if is_temporary_status(status) and self.retry.can_retry(attempt):
                self._wait(where, what, f"HTTP {status}", attempt, retry_after)
                attempt += 1
                continue
            if status == 401 and not final_own:
                raise RegistryError(
                    f"{where}: {what}: {redact_url(response.url)} asked for credentials "
                    "after a redirect; the registry's credentials are not sent there",
                    status=status,
                    hint="the registry redirected to another host that wants authentication",
                )
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
            max_body=MAX_MANIFEST,
        )
        data = r.content
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
        """Every tag, following `Link: rel="next"` pages on the registry's own origin only."""
        tags: list[str] = []
        url: str | None = f"{self.base}/v2/{repo}/tags/list?n=1000"
        pages = 0
        while url:
            pages += 1
            if pages > REGISTRY_TAG_PAGES_MAX:
                raise RegistryError(
                    f"{self.where(repo)}: the tag list has more than {REGISTRY_TAG_PAGES_MAX} pages"
                )
            r = self.request(
                "GET", url, repo=repo, what="list tags", max_body=REGISTRY_TAG_PAGE_MAX
            )
            try:
                page = json.loads(r.content).get("tags") or []
            except (ValueError, AttributeError, RecursionError):
                raise RegistryError(f"{self.where(repo)}: tag list is not JSON") from None
            if not isinstance(page, list):
                raise RegistryError(f"{self.where(repo)}: tag list is not a JSON list")
            tags.extend(str(t) for t in page)
            link = r.links.get("next", {}).get("url")
            url = _join(url, link) if link else None
            if url is not None and origin(url) != self.origin:
                raise RegistryError(
                    f"{self.where(repo)}: the tag list continues on another origin "
                    f"({redact_url(url)}); not followed",
                    hint="a registry's Link header must stay on the registry",
                )
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
            max_body=MAX_MANIFEST,
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
        if not location or len(location) > 8192:
            raise RegistryError(
                f"{self.where(repo)}: upload of {digest[:19]} started without a Location header",
                hint=hint_for(502, push=True),
            )
        url = _join(self.base + "/", location)
        if origin(url) is None:
            raise RegistryError(
                f"{self.where(repo)}: upload of {digest[:19]} was sent to an unusable "
                f"Location {redact_url(url)!r}",
                hint=hint_for(502, push=True),
            )
        if origin(url) != self.origin:
            log.warning(
                "%s: upload of %s continues on %s, without the registry's credentials",
                self.where(repo),
                digest[:19],
                redact_url(url).split("?", 1)[0],
            )
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
        """The blob as a stream of exactly `size` bytes (the descriptor's), digest checked."""
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
        """Bytes [start, end) of a blob with one `Range` request (as a lazy loader reads).

        A registry that ignores `Range` (200, the whole blob) is read up to `end` with
        bounded memory and the rest is not downloaded."""
        if end <= start:
            return b""
        where = self.where(repo)
        what = f"read range of {digest[:19]}"
        r = self.request(
            "GET",
            f"/v2/{repo}/blobs/{check_digest(digest)}",
            repo=repo,
            headers={"Range": f"bytes={start}-{end - 1}"},
            ok=(200, 206),
            stream=True,
            what=what,
        )
        try:
            return read_range_from(r, start, end, where=f"{where}: {what}")
        except (requests.RequestException, urllib3.exceptions.HTTPError, ValueError) as exc:
            raise request_failure(where, what, r.url or where, exc) from None
        finally:
            r.close()


def _join(base: str, reference: str) -> str:
    """`urljoin`, with a URL it cannot join as "" (which no origin check accepts)."""
    try:
        return urljoin(base, reference)
    except ValueError:
        return ""
