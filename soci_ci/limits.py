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

# --- the image build (Dockerfile scan, build log) ---
DOCKERFILE_SCAN = 1 * MiB  # bytes of a Dockerfile read to find `FROM` hosts that need a login
BUILD_LOG_LINE = 2000  # characters of one build-log line printed (longer lines are cut)
BUILD_LOG_TAIL = 200  # last build-log lines kept in memory to name a failed build's error
