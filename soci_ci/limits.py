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
