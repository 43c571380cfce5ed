"""soci-ci: fast, verified SOCI indexes and Fargate cold-start gates for CI."""

from __future__ import annotations

__version__ = "0.1.0"
