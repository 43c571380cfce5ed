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

# --- archives and OCI layouts on disk ---

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
