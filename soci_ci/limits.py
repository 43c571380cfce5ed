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

# CloudWatch Logs read by the probe (a probed image writes what it likes to its log stream).
PROBE_LOG_PAGES_PER_READ = 20  # GetLogEvents pages per stream and poll
PROBE_LOG_EVENTS_PER_STREAM = 2000  # events read from one stream, at most
PROBE_LOG_MESSAGE_CHARS = 64 * 1024  # an event is cut to this before it is parsed

# --- config files and pull-request input ---
