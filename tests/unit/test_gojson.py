"""Go encoding/json compatible output."""

from __future__ import annotations

from soci_ci.oci.gojson import NULL, Ordered, marshal


def test_html_safe_and_control_escapes() -> None:
    text = 'a<b>&"\\\n\r\t\b\f\x01\u2028\u2029é'
    assert marshal(text) == (
        '"a\\u003cb\\u003e\\u0026\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u2028\\u2029é"'.encode()
    )


def test_invalid_utf8_becomes_replacement_character() -> None:
    assert marshal(b"x\xffy".decode("utf-8", "surrogateescape")) == '"x\ufffdy"'.encode()


def test_struct_order_omitempty_and_sorted_maps() -> None:
    value = Ordered(
        ("b", 1), ("a", None), ("m", {"z": "1", "B": "2", "a": "3"}), ("n", NULL), ("l", [])
    )
    assert marshal(value) == b'{"b":1,"m":{"B":"2","a":"3","z":"1"},"n":null,"l":[]}'
