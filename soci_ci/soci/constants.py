"""SOCI media types, annotation keys and defaults, defined once (see shared notes 1d/1e)."""

from __future__ import annotations

from soci_ci import __version__

SOCI_INDEX_V1 = "application/vnd.amazon.soci.index.v1+json"
SOCI_INDEX_V2 = "application/vnd.amazon.soci.index.v2+json"
SOCI_PREFETCH = "application/vnd.amazon.soci.prefetch.v1+json"
ZTOC_MEDIA_TYPE = "application/octet-stream"

ANNOTATION_INDEX_DIGEST = "com.amazon.soci.index-digest"
ANNOTATION_IMAGE_MANIFEST_DIGEST = "com.amazon.soci.image-manifest-digest"
ANNOTATION_IMAGE_LAYER_DIGEST = "com.amazon.soci.image-layer-digest"
ANNOTATION_IMAGE_LAYER_MEDIA_TYPE = "com.amazon.soci.image-layer-mediaType"
ANNOTATION_SPAN_SIZE = "com.amazon.soci.span-size"
ANNOTATION_DISABLE_XATTRS = "com.amazon.soci.disable-xattrs"
ANNOTATION_BUILD_TOOL = "com.amazon.soci.build-tool-identifier"

# The 2-byte `{}` config blob every SOCI index manifest points at.
EMPTY_CONFIG = b"{}"
EMPTY_CONFIG_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

DEFAULT_SPAN_SIZE = 1 << 22  # 4 MiB
DEFAULT_MIN_LAYER_SIZE = 10 << 20  # 10 MiB
ZTOC_VERSION = "0.9"
UPSTREAM_BUILD_TOOL = "AWS SOCI CLI v0.2"
DEFAULT_BUILD_TOOL = f"soci-ci v{__version__}"
# Blobs carry no media type of their own; this one only labels the `{}` config in plans.
EMPTY_CONFIG_MEDIA_TYPE = "application/json"
