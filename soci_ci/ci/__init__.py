"""CI integration: GitHub Actions and CodeBuild environments, outputs and the PR comment.

``github_env`` and ``codebuild_env`` parse environments (pure); ``github_output`` writes the
runner's file commands and workflow commands; ``github_api`` is the HTTP edge for the sticky
comment; ``secrets`` reads the GitHub token from the environment or AWS Secrets Manager.
"""
