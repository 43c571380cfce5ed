"""The gate: thresholds, significance and the pass/fail/neutral verdict."""
