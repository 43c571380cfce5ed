"""Org-wide indexing on ECR pushes: the event, the settings, the decisions (pure code)."""
