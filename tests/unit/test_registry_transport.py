"""Scheme, TLS verification and URL redaction."""

from __future__ import annotations

from soci_ci.registry.transport import Transport, is_loopback, redact_url


def test_loopback_hosts_default_to_plain_http() -> None:
    t = Transport()
    assert [t.base_url(h) for h in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000")] == [
        "http://127.0.0.1:5000",
        "http://localhost:5000",
        "http://[::1]:5000",
    ]
    assert t.base_url("registry.example") == "https://registry.example"
    assert not is_loopback("127.example.com")


def test_tls_options_change_scheme_and_verification() -> None:
    assert Transport(plain_http=True).base_url("reg.example") == "http://reg.example"
    assert Transport(ca_file="/ca.pem").base_url("127.0.0.1:5000") == "https://127.0.0.1:5000"
    assert Transport(ca_file="/ca.pem").verify == "/ca.pem"
    assert Transport(insecure=True, ca_file="/ca.pem").verify is False
    assert Transport().verify is True
    assert Transport(read_timeout=7).timeout == (10.0, 7)


def test_redact_url_removes_userinfo_and_signatures() -> None:
    url = (
        "https://user:pw@bucket.s3.amazonaws.com/blob?X-Amz-Signature=abc&X-Amz-Credential=k"
        "&partNumber=2&_state=secret"
    )
    assert redact_url(url) == (
        "https://bucket.s3.amazonaws.com/blob?X-Amz-Signature=***&X-Amz-Credential=***"
        "&partNumber=2&_state=***"
    )
    assert redact_url("http://127.0.0.1:5000/v2/a/blobs/sha256:00") == (
        "http://127.0.0.1:5000/v2/a/blobs/sha256:00"
    )
