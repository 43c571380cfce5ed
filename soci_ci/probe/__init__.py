"""The Fargate cold-start probe: the same image with and without SOCI, timed phase by phase."""
