"""Bounds on untrusted input, defined in one place (SECURITY.md lists them with their reasons).

Everything an image, a registry, a pull request's files or an API answer contains is untrusted:
each reader checks its input against one of these limits before it allocates, loops or writes
what the input declares. A limit that is exceeded ends the run with a one-line error (exit 3 for
bad input, 4 for a registry), never with exit 70.
"""

from __future__ import annotations

MiB = 1 << 20
GiB = 1 << 30

# --- layers and zTOCs (tar and gzip streams) ---
# A layer's metadata is kept in memory until its zTOC is written (the format stores the
# entries last to first), so what it may hold is bounded here; file data is only streamed.

# Entries (files, directories, links) in one layer. Each costs a few hundred bytes of memory.
MAX_TOC_ENTRIES = 500_000
# One PAX header or GNU long name/link entry: Go archive/tar's maxSpecialFileSize.
MAX_TAR_SPECIAL_ENTRY = 1 * MiB
# All PAX headers and GNU long names/links of one layer together (they end up in the zTOC).
MAX_TAR_SPECIAL_TOTAL = 64 * MiB
# PAX records of one layer together (each becomes a zTOC xattr entry: ~150 bytes of memory).
MAX_PAX_RECORDS = 250_000
# Spans of one zTOC (for gzip layers, each is a 32 KiB checkpoint window): 8192 spans of 4 MiB
# = 32 GiB of uncompressed layer at the default span size; a larger layer (or a tiny span size)
# needs a larger --span-size.
MAX_ZTOC_SPANS = 8192
# Checkpoints at uncompressed offset 0 (one per gzip member or empty block before any data).
# Normal layers have one or two; the snapshotter rejects a zTOC with more than one anyway.
MAX_LEADING_CHECKPOINTS = 64
# A zTOC read back (verify, reruns); real ones are far smaller (32 KiB per span, ~150 B a file).
MAX_ZTOC_READ = 512 * MiB

# verify: one Range request reads at most this much of a span (larger spans: several pieces),
# so its memory is a few of these per worker whatever a zTOC declares.
VERIFY_RANGE_PIECE = 16 * MiB
# `verify` alone reads a layer by its spans' Range reads only when every span is at most this
# big, compressed and inflated (a few spans are held at once); else the sequential read.
CHAIN_MAX_SPAN = 8 * MiB
# The last span may run on past uncompressed_archive_size (the tar's end blocks): this far.
CHAIN_MAX_TAIL = 1 * MiB

# --- archives and OCI layouts on disk ---
# `index.json`, `oci-layout` and manifests/indexes read from a layout (registries use 4 MiB).
MAX_LAYOUT_JSON = 4 * MiB
# Entries of one image index and layers of one manifest, wherever they come from (each entry
# is fetched and parsed: a 4 MiB index naming one 4 MiB manifest 40,000 times would cost
# 160 GB of parsing). Real images have tens of platforms and at most a few hundred layers.
MAX_INDEX_MANIFESTS = 1024
MAX_MANIFEST_LAYERS = 1024
# JSON documents read from one layout or archive in one run, together (real runs: well under
# 1 MiB). Bounds the parsing a layout can cause with many large manifests.
MAX_LAYOUT_JSON_TOTAL = 64 * MiB
# Members of an oci-archive tar (an image has a handful of blobs per layer).
MAX_ARCHIVE_MEMBERS = 100_000
# A member name (path inside the archive), and its depth (a layout needs 3: blobs/sha256/HEX).
MAX_ARCHIVE_NAME = 4096
MAX_ARCHIVE_DEPTH = 16
# PAX headers and long names of one archive together.
MAX_ARCHIVE_SPECIAL = 16 * MiB
# Bytes unpacked from one oci-archive to the temporary directory; also refused when the
# temporary directory's file system has less free space than the archive needs.
MAX_ARCHIVE_EXTRACT = 64 * GiB
# A compressed archive may unpack to at most this many times its size (plus 64 MiB): image
# layers are compressed already, so real archives stay near 1x; a decompression bomb does not.
MAX_ARCHIVE_RATIO = 100
# Free space left on the temporary directory's file system after unpacking.
ARCHIVE_FREE_RESERVE = 256 * MiB

# --- registry and API responses ---
# Bodies are streamed and cut at these sizes; a declared Content-Length above a limit fails
# before anything is read (it is checked first, never trusted alone).
REGISTRY_MANIFEST_MAX = 4 * MiB  # a manifest, an index, a referrers answer
REGISTRY_TAG_PAGE_MAX = 4 * MiB  # one page of a tag list
REGISTRY_TAG_PAGES_MAX = 1_000  # pages of a tag list followed
REGISTRY_ERROR_BODY_MAX = 64 * 1024  # an error answer (only its OCI error messages are used)
REGISTRY_TOKEN_BODY_MAX = 1 * MiB  # a token service's answer
REGISTRY_TOKEN_MAX = 64 * 1024  # the token inside it
REGISTRY_RANGE_MAX = 64 * MiB  # one `Range` read (verify reads spans of a few MiB)
REGISTRY_REDIRECTS_MAX = 10  # redirects followed by one request
BODY_SECONDS_MAX = 120.0  # a whole answer read into memory (not a blob): a trickle is cut
GITHUB_BODY_MAX = 16 * MiB  # one GitHub API answer (a page of 100 comments of 64 KiB)
GITHUB_PAGES_MAX = 100  # pages of a comment list followed (10,000 comments)
ERROR_TEXT_MAX = 300  # characters of a server's own error text kept in a message

# CloudWatch Logs read by the probe (a probed image writes what it likes to its log stream).
PROBE_LOG_PAGES_PER_READ = 20  # GetLogEvents pages per stream and poll
PROBE_LOG_EVENTS_PER_STREAM = 2000  # events read from one stream, at most
PROBE_LOG_MESSAGE_CHARS = 64 * 1024  # an event is cut to this before it is parsed

# --- config files and pull-request input ---
# A config file (and the base branch's copy of it) is read up to this size; larger: exit 2.
MAX_CONFIG_BYTES = 256 * 1024
# Nesting of mappings/lists in a config file (the schema needs 5); deeper: exit 2, no recursion.
MAX_CONFIG_DEPTH = 32
# YAML nodes in one config file (keys, values, list items).
MAX_CONFIG_NODES = 50_000
# Schema problems listed per run (each with its line); the rest are counted.
MAX_CONFIG_PROBLEMS = 20
# Characters of an offending value shown in a config error.
MAX_CONFIG_VALUE_CHARS = 60
# Seconds `git cat-file` may take to read the base branch's config from the checkout.
BASE_CONFIG_GIT_SECONDS = 10.0

# --- the image build (Dockerfile scan, build log) ---
DOCKERFILE_SCAN = 1 * MiB  # bytes of a Dockerfile read to find `FROM` hosts that need a login
BUILD_LOG_LINE = 2000  # characters of one build-log line printed (longer lines are cut)
BUILD_LOG_TAIL = 200  # last build-log lines kept in memory to name a failed build's error

# --- startup recording (soci-ci startup) ---

# Files recorded per start: more are not recorded (the report says it was cut).
STARTUP_MAX_FILES = 200_000
# A container's log line is cut here before the ready pattern sees it (also the helper's lines).
STARTUP_MAX_LOG_LINE = 64 << 10
# A zTOC read from the SOCI index, and an image config.
STARTUP_MAX_ZTOC_BYTES = 256 * MiB
STARTUP_MAX_CONFIG_BYTES = 4 * MiB
