"""The one exception tree of soci-ci, with exit codes and a hint of what to do.

Every error a user can cause or meet ends in exactly one of these, raised (or translated
with ``raise ... from exc``) where it enters the program. The CLI prints
``error: <message>`` plus ``hint: <hint>`` on stderr and exits with ``exit_code``.
A failed threshold is a *result*, not an exception (exit code 1 comes from the verdict).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from soci_ci.redaction import redact


class ExitCode(IntEnum):
    """Documented process exit codes (README, "Exit codes")."""

    OK = 0  # success; also gate verdict pass or neutral
    CHECK_FAILED = 1  # a gate threshold failed, or `verify` found a mismatch
    USAGE = 2  # bad command line, invalid config file
    INPUT = 3  # bad layer, image, manifest or layout (corrupt, hostile, unsupported)
    REGISTRY = 4  # registry refused or failed (auth, not found, 5xx after retries)
    BUILD = 5  # docker build / push failed
    AWS = 6  # AWS API error (ECS, ECR, Logs, S3), throttled after retries, probe setup failed
    GITHUB = 7  # GitHub API error while reporting
    STARTUP = 8  # `startup`: the container could not be run or watched, or never became ready
    INTERNAL = 70  # a bug in soci-ci (EX_SOFTWARE)
    INTERRUPTED = 130  # SIGINT / SIGTERM; cleanup ran


class SociCiError(Exception):
    """Root of every expected failure: a one-line message and a hint."""

    exit_code: ExitCode = ExitCode.INTERNAL
    default_hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # Every message goes through the one redaction (soci_ci/redaction.py): no credential,
        # user info or signed-URL parameter survives, whatever text reached it.
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class UsageError(SociCiError):
    exit_code = ExitCode.USAGE
    default_hint = "run `soci-ci COMMAND --help` for the accepted options"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigProblem:
    """One problem of a config file: where (file as the repository names it, 1-based line,
    dotted key path) and what, in one short line (values are shortened)."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(SociCiError):
    """An invalid setting or config file; ``problems`` lists each one (file, line, key)."""

    exit_code = ExitCode.USAGE
    default_hint = (
        "fix the config file; `soci-ci run --explain` shows every setting and the "
        "configuration reference of soci-ci's documentation (docs/config.md) lists the keys"
    )

    def __init__(
        self, message: str, *, hint: str | None = None, problems: tuple[ConfigProblem, ...] = ()
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems


class InputError(SociCiError):
    """A layer, manifest, image or layout that cannot be indexed or read."""

    exit_code = ExitCode.INPUT


class LayerError(InputError):
    """A layer blob is corrupt or uses a tar/gzip feature the SOCI format cannot express."""

    default_hint = (
        "the official soci CLI rejects this layer too; rebuild it with a standard tar/gzip"
    )


class RegistryError(SociCiError):
    """The registry answered with an error or could not be reached.

    ``temporary`` marks failures worth retrying (5xx, 429, resets, timeouts).
    The message never contains a credential; URLs are redacted before they get here.
    """

    exit_code = ExitCode.REGISTRY

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        codes: tuple[str, ...] = (),
        temporary: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.codes = codes
        self.temporary = temporary
        self.retry_after = retry_after


class BuildError(SociCiError):
    exit_code = ExitCode.BUILD
    default_hint = "see the build log above; the same Dockerfile must build with `docker build`"


class AwsError(SociCiError):
    exit_code = ExitCode.AWS
    default_hint = "check the AWS region, credentials and the IAM policy in the README"

    def __init__(self, message: str, *, hint: str | None = None, throttled: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.throttled = throttled


class ProbeError(AwsError):
    """The cold-start probe could not run (setup, not a failed task: those are results)."""


class GitHubError(SociCiError):
    exit_code = ExitCode.GITHUB
    default_hint = "check the token's permissions (pull-requests: write) in the workflow"


class StartupError(SociCiError):
    """`soci-ci startup` could not run or watch the container, or it never became ready."""

    exit_code = ExitCode.STARTUP
    default_hint = "run the image with `docker run` to see how it starts; see docs/startup.md"


class Interrupted(SociCiError):
    exit_code = ExitCode.INTERRUPTED
    default_hint = "cleanup ran; rerun the command to finish the job"
