"""`soci-ci run`: build -> push -> index -> verify -> probe -> gate, as typed calls.

Each step is optional by config and recorded as ran / skipped (with the reason) / failed.
A step is one call of its entry point (`soci_ci.app.steps`, `soci_ci.app.build`,
`soci_ci.app.measure`) through `Steps`, with typed options built from the config and the
results of the steps before it; its result is kept in the `RunState`. A failed step (an
error, or an unexpected exception: a bug, exit 70) stops the steps after it (skipped:
"<step> failed") and the summary is still returned, so the report is always written. A
fork pull request ends neutral before anything needs a secret.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from soci_ci.app.build import BuiltImage, build_image
from soci_ci.app.index_model import IndexOptions, IndexReport
from soci_ci.app.measure import GateResult, run_gate, store_baseline
from soci_ci.app.options import (
    BuildOptions,
    GateOptions,
    IndexImageOptions,
    ProbeImages,
    ProbeOptions,
    RegistryOptions,
    VerifyImageOptions,
    build_spec,
    gate_options,
    index_image_options,
)
from soci_ci.app.probe_step import run_probe
from soci_ci.app.run_model import (
    STEPS,
    Failure,
    RunState,
    RunSummary,
    StepName,
    StepRecord,
    StepStatus,
)
from soci_ci.app.steps import index_image, verify_image
from soci_ci.app.verify import VerifyReport
from soci_ci.build.docker_tools import DockerTools
from soci_ci.build.spec import check_reference
from soci_ci.ci.context import CiContext, expand_tags
from soci_ci.config.model import Config
from soci_ci.errors import ExitCode, SociCiError
from soci_ci.gate.baseline import StoreKey
from soci_ci.gate.verdict import Verdict
from soci_ci.oci.image_ref import parse_image_ref
from soci_ci.probe.model import ProbeResult
from soci_ci.redaction import redact
from soci_ci.soci.zlib_binding import InflateBackend

if TYPE_CHECKING:
    from soci_ci.startup.step import StartupStep, StartupStepResult

log = logging.getLogger(__name__)

FORK_REASON = (
    "fork pull request: no AWS credentials or secrets are available to forks, so nothing "
    "was built or measured; a maintainer can rerun it from a branch of this repository"
)


class Steps(Protocol):
    """The step entry points the pipeline calls (`AppSteps`; a fake in the unit tests)."""

    def build(self, options: BuildOptions) -> BuiltImage: ...
    def index(self, options: IndexImageOptions) -> IndexReport: ...
    def verify(self, options: VerifyImageOptions) -> VerifyReport: ...
    def probe(self, options: ProbeOptions) -> ProbeResult: ...
    def gate(self, options: GateOptions, result: ProbeResult | None) -> GateResult: ...
    def store_baseline(
        self, store: str, key: StoreKey, result: ProbeResult, *, commit: str
    ) -> None: ...
    def engine_reachable(self) -> bool: ...
    def startup(self, step: StartupStep) -> StartupStepResult: ...


class AppSteps:
    """The real steps: the same functions the single commands call."""

    def build(self, options: BuildOptions) -> BuiltImage:
        return build_image(options)

    def index(self, options: IndexImageOptions) -> IndexReport:
        return index_image(options)

    def verify(self, options: VerifyImageOptions) -> VerifyReport:
        return verify_image(options)

    def probe(self, options: ProbeOptions) -> ProbeResult:
        return run_probe(options)

    def gate(self, options: GateOptions, result: ProbeResult | None) -> GateResult:
        return run_gate(options, result)

    def store_baseline(
        self, store: str, key: StoreKey, result: ProbeResult, *, commit: str
    ) -> None:
        store_baseline(store, key, result, commit=commit)

    def engine_reachable(self) -> bool:
        from soci_ci.startup.step import engine_reachable  # noqa: PLC0415 - Docker SDK lazily

        return engine_reachable()

    def startup(self, step: StartupStep) -> StartupStepResult:
        from soci_ci.startup.step import run_startup_step  # noqa: PLC0415

        return run_startup_step(step)


def default_config() -> Config:
    """The schema's defaults (a run without a config file)."""
    from soci_ci.config.loader import load_config_text  # noqa: PLC0415 - jsonschema lazily

    return load_config_text("version: 1\n")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """One run: the resolved config and what `soci-ci run` takes besides config keys."""

    config: Config = field(default_factory=default_config)
    image: str | None = None  # an existing image: no build
    build_platforms: tuple[str, ...] = ()  # empty: the engine's own platform
    cache_from: tuple[str, ...] = ()  # buildx --cache-from / --cache-to specs
    cache_to: tuple[str, ...] = ()
    build_secrets: tuple[str, ...] = ()  # buildx --secret specs (id=ID,env=VAR): no values
    docker: DockerTools  # the build's docker CLI/SDK and their environment (build secrets)
    registry: RegistryOptions = field(default_factory=RegistryOptions)
    # Paths of the run (from the config; `soci_ci.app.run_trust.confine_paths` resolves them
    # inside the workspace before the pipeline starts).
    context: Path = Path()
    dockerfile: str = "Dockerfile"
    junit: Path | None = None
    # startup: None = when a Docker engine is reachable; its sections as validated
    startup: bool | None = None
    startup_config: Mapping[str, Any] = field(default_factory=dict)
    probe_config: Mapping[str, Any] = field(default_factory=dict)
    startup_limits: tuple[Mapping[str, Any], ...] = ()
    work_dir: Path | None = Path(".soci-ci")  # each step's JSON result, for people; None: none
    inflate: InflateBackend = InflateBackend.AUTO  # the inflate library (SOCI_CI_INFLATE)


MAX_REASON = 300  # characters of a step's detail or a failure's reason in the report


def reason_of(exc: BaseException) -> str:
    """The report's reason for ``exc``: one redacted line (`soci_ci.redaction`); a bug also
    names its type."""
    if isinstance(exc, SociCiError):
        return redact(str(exc), limit=MAX_REASON)
    return redact(f"internal error: {type(exc).__name__}: {exc}", limit=MAX_REASON)


# Startup runs before verify so that verify reads exactly the files the application reads at
# start; the report lists the steps in their usual order (`STEPS`).
EXECUTION_ORDER = (
    StepName.BUILD,
    StepName.INDEX,
    StepName.STARTUP,
    StepName.VERIFY,
    StepName.PROBE,
    StepName.GATE,
)


class _Skip(Exception):
    """A step does not apply; the message says why."""


class Pipeline:
    def __init__(
        self,
        options: RunOptions,
        ctx: CiContext,
        steps: Steps,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.config = options.config
        self.ctx = ctx
        self.steps = steps
        self.clock = clock
        self.state = RunState(image_ref=options.image)

    def run(self) -> RunSummary:
        state = self.state
        if self.ctx.fork:
            for name in STEPS:
                state.steps.append(StepRecord(name=name, status=StepStatus.SKIPPED, detail="fork"))
            reason = self.ctx.fork_reason or FORK_REASON
            return self._summary(Verdict.NEUTRAL, reason, ExitCode.OK)
        plan: dict[StepName, Callable[[], str]] = {
            StepName.BUILD: self._build,
            StepName.INDEX: self._index,
            StepName.VERIFY: self._verify,
            StepName.STARTUP: self._startup,
            StepName.PROBE: self._probe,
            StepName.GATE: self._gate,
        }
        for name in EXECUTION_ORDER:
            if state.failure is not None:
                self._record(name, StepStatus.SKIPPED, f"{state.failure.step} failed")
                continue
            self._execute(name, plan[name])
        state.steps.sort(key=lambda record: STEPS.index(StepName(record.name)))
        return self._verdict()

    def _record(self, name: str, status: StepStatus, detail: str, seconds: float = 0.0) -> None:
        detail = redact(detail, limit=MAX_REASON)
        if status is StepStatus.SKIPPED:
            log.info("run: %s skipped: %s", name, detail)
        self.state.steps.append(
            StepRecord(name=name, status=status, detail=detail, seconds=seconds)
        )

    def _execute(self, name: StepName, step: Callable[[], str]) -> None:
        start = self.clock()
        try:
            detail = step()
        except _Skip as skip:
            self._record(name, StepStatus.SKIPPED, str(skip))
            return
        except SociCiError as exc:
            self._fail(name, exc.exit_code, exc, start)
            return
        except Exception as exc:  # a bug: still reported, exit 70
            log.debug("run: %s raised", name, exc_info=True)
            self._fail(name, ExitCode.INTERNAL, exc, start)
            return
        self._record(name, StepStatus.RAN, detail, round(self.clock() - start, 3))

    def _fail(self, name: StepName, code: ExitCode, exc: BaseException, start: float) -> None:
        message = reason_of(exc)
        hint = exc.hint if isinstance(exc, SociCiError) else "rerun with --debug and report it"
        log.error("error: %s: %s", name, message)
        if hint:
            log.error("hint: %s", hint)
        self.state.failure = Failure(step=name, code=code, message=message)
        self._record(name, StepStatus.FAILED, message, round(self.clock() - start, 3))

    def _write(self, name: str, data: dict[str, Any]) -> None:
        """The step's result as JSON in the work directory, for people and later jobs."""
        work = self.options.work_dir
        if work is None:
            return
        work.mkdir(parents=True, exist_ok=True)
        (work / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    # -- the steps: each raises _Skip (with the reason) or returns its detail ---------------
    def _build(self) -> str:
        image = self.config.image
        if self.options.image:
            raise _Skip(f"using the existing image {self.options.image}")
        if not image.repository:
            raise _Skip("no image.repository in the config")
        tags = tuple(
            check_reference(f"{image.repository}:{t}") for t in expand_tags(image.tags, self.ctx)
        )
        options = BuildOptions(
            docker=self.options.docker,
            spec=build_spec(
                image,
                context=self.options.context,
                dockerfile=self.options.dockerfile,
                tags=tags,
                platforms=self.options.build_platforms,
                labels=self._source_labels(),
                secrets=self.options.build_secrets,
                cache_from=self.options.cache_from,
                cache_to=self.options.cache_to,
            ),
            builder=image.builder,
            registry=self.options.registry,
        )
        log.info(
            "run: build %s from %s (build args: %s)",
            ", ".join(tags),
            options.spec.context,
            ", ".join(options.spec.build_args) or "none",  # names only: values may be secret
        )
        built = self.steps.build(options)
        self.state.built = built
        self.state.image_ref = built.reference
        self._write("build", built.to_json())
        return f"pushed {built.reference}" if built.reference else "built (not pushed)"

    def _source_labels(self) -> dict[str, str]:
        """Which commit the image is built from. On a GitHub pull request the checkout is the
        merge commit (GITHUB_SHA) while `{sha}` in the tags is the PR head: say both."""
        ctx = self.ctx
        built = ctx.built_sha or ctx.sha
        if not built:
            return {}
        labels = {"org.opencontainers.image.revision": built}
        if ctx.sha and ctx.sha != built:
            labels["dev.soci-ci.tag-commit"] = ctx.sha
            log.info(
                "run: build: the checkout is %s (the merge commit of PR #%s); the tags' {sha} "
                "is the PR head %s; label org.opencontainers.image.revision names %s",
                built[:12],
                ctx.pr_number,
                ctx.sha[:12],
                built[:12],
            )
        return labels

    def _index(self) -> str:
        soci = self.config.soci
        if not soci.enabled:
            raise _Skip("disabled (soci.enabled: false)")
        image = self.state.image_ref
        if not image:
            raise _Skip("no image in a registry")
        options = index_image_options(
            image, soci, self.options.registry, inflate=self.options.inflate
        )
        # Keep what the layer reads proved, so that verify reads no layer again.
        options = replace(options, index=replace(options.index, record_for_verify=True))
        report = self.steps.index(options)
        self.state.index = report
        if report.original_digest:
            # image-ref is always repository@digest, also for an `image` input given by tag
            self.state.image_ref = parse_image_ref(image).at(report.original_digest)
        if report.soci_image_digest:
            self.state.soci_image_ref = parse_image_ref(image).at(report.soci_image_digest)
        self._write("index", report.to_json())
        ztocs = sum(1 for layer in report.layers if layer.ztoc_digest)
        skipped = sum(1 for layer in report.layers if layer.skipped)
        return f"{report.outcome}: {ztocs} zTOC(s), {skipped} layer(s) skipped"

    def _verify(self) -> str:
        verify = self.config.soci.verify
        if not verify.enabled:
            raise _Skip("disabled (soci.verify.enabled: false)")
        if not self.state.soci_image_ref:
            raise _Skip("no SOCI-enabled image was written")
        report = self.steps.verify(
            VerifyImageOptions(
                image=self.state.soci_image_ref,
                sample=verify.sample or None,
                seed=verify.seed,
                records=self.state.index.records if self.state.index is not None else None,
                working_set=self._working_set(),
                registry=self.options.registry,
                inflate=self.options.inflate,
            )
        )
        self.state.verify = report
        self._write("verify", report.to_json())
        if not report.ok:
            raise _CheckFailed(_first_problem(report))
        return "index matches the layers"

    def _working_set(self) -> dict[str, tuple[str, ...]] | None:
        """The files the application read at start, by layer digest (None: not measured)."""
        startup = self.state.startup
        return None if startup is None else dict(startup.working_set)

    def _startup(self) -> str:
        """The local startup working set (`soci_ci.startup`), a typed call."""
        opts = self.options
        if opts.startup is False:
            raise _Skip("disabled (startup.enabled: false)")
        # The build's own image in the engine: run as it is (no pull), or measured from the
        # engine when no registry holds it (soci_ci.startup.source).
        built = self.state.built.result.image_id if self.state.built is not None else None
        image = self.state.image_ref or built
        if not image:
            raise _Skip("no image")
        if opts.startup is None and not self.steps.engine_reachable():
            raise _Skip("no Docker engine reachable (startup.enabled: auto)")
        from soci_ci.startup.settings import startup_options  # noqa: PLC0415
        from soci_ci.startup.step import StartupStep  # noqa: PLC0415
        from soci_ci.startup.thresholds import parse_limits  # noqa: PLC0415

        ctx = self.ctx
        step = StartupStep(
            options=startup_options(
                image,
                soci_image=self.state.soci_image_ref,
                probe=opts.probe_config,
                startup=opts.startup_config,
                registry=opts.registry,
                index=IndexOptions(inflate=opts.inflate),
                engine_image=built or None,
            ),
            limits=parse_limits(opts.startup_limits),
            store=self.config.baseline.store,
            repository=ctx.repository,
            branch=ctx.branch,
            base_branch=ctx.base_ref or ctx.branch,
            image_name=self.config.image.repository or parse_image_ref(image).repository,
            commit=ctx.sha,
            pull_request=ctx.pr_number is not None,
            output_json=None if opts.work_dir is None else opts.work_dir / "startup.json",
        )
        if opts.work_dir is not None:
            opts.work_dir.mkdir(parents=True, exist_ok=True)
        result = self.steps.startup(step)
        self.state.startup = result
        return str(result.detail)

    def _probe(self) -> str:
        probe = self.config.probe
        if not probe.enabled:
            raise _Skip("disabled (probe.enabled: false)")
        index, image = self.state.index, self.state.image_ref
        if index is None or not self.state.soci_image_ref or not image:
            raise _Skip("needs a SOCI-enabled image from the index step")
        images = ProbeImages(
            no_soci=parse_image_ref(image).at(index.original_digest),
            soci=self.state.soci_image_ref,
            baseline=probe.settings.baseline_image,
        )
        result = self.steps.probe(
            ProbeOptions(
                images=images,
                settings=probe.settings,
                poll_seconds=probe.poll_seconds,
                registry=self.options.registry,
            )
        )
        self.state.probe = result
        self._write("probe", result.to_json())
        runs = sum(len(arm.runs) for arm in result.arms)
        detail = f"{runs} task(s) in {result.region or '?'}"
        stored = self._store_baseline(result)
        return f"{detail}; {stored}" if stored else detail

    def _store_baseline(self, result: ProbeResult) -> str:
        """Branch runs (not PRs) record their results for later PRs' regression checks."""
        location = self.config.baseline.store
        ctx = self.ctx
        if not location or ctx.pr_number is not None:
            return ""
        repository = self.config.image.repository
        if not (ctx.repository and ctx.branch and repository):
            return "baseline not stored: repository or branch unknown"
        key = StoreKey(repository=ctx.repository, branch=ctx.branch, image=repository)
        try:
            self.steps.store_baseline(location, key, result, commit=ctx.sha or "unknown")
        except SociCiError as exc:
            log.warning("baseline not stored: %s", exc)
            return f"baseline not stored: {reason_of(exc)}"
        return f"baseline stored for {ctx.branch}"

    def _gate(self) -> str:
        if self.state.probe is None:
            raise _Skip("no cold-start measurement to judge")
        if not self.config.has_thresholds:
            raise _Skip("no thresholds in the config")
        branch = self.ctx.base_ref or self.ctx.branch
        repository = self.config.image.repository
        key = None
        if self.ctx.repository and branch and repository:
            key = StoreKey(repository=self.ctx.repository, branch=branch, image=repository)
        index = self.state.index
        options = gate_options(
            self.config,
            key=key,
            index_digest=(
                next(iter(index.soci_indexes.values()), None) if index is not None else None
            ),
        )
        gate = self.steps.gate(options, self.state.probe)
        self.state.gate = gate
        self._write("gate", gate.outcome.to_json())
        return gate.outcome.reason

    # -- verdict -----------------------------------------------------------------------
    def _verdict(self) -> RunSummary:
        state = self.state
        if state.failure is not None:
            failure = state.failure
            reason = f"the {failure.step} step failed: {failure.message}"
            if failure.code is ExitCode.CHECK_FAILED:
                return self._summary(Verdict.FAIL, reason, ExitCode.CHECK_FAILED)
            return self._summary(Verdict.ERROR, reason, failure.code)
        if state.startup is not None and state.startup.failed:
            names = ", ".join(c.name for c in state.startup.checks if c.outcome == "fail")
            reason = f"startup threshold(s) failed: {names}"
            if state.gate is not None and state.gate.outcome.verdict is Verdict.FAIL:
                reason += f"; {state.gate.outcome.reason}"
            return self._summary(Verdict.FAIL, reason, ExitCode.CHECK_FAILED)
        if state.gate is not None:
            verdict = state.gate.outcome.verdict
            code = ExitCode.CHECK_FAILED if verdict is Verdict.FAIL else ExitCode.OK
            return self._summary(verdict, state.gate.outcome.reason, code)
        ran = [s.name for s in state.steps if s.status is StepStatus.RAN]
        gate = next(s for s in state.steps if s.name == StepName.GATE)
        reason = f"no thresholds evaluated ({gate.detail})"
        if ran:
            reason += "; " + ", ".join(ran) + " succeeded"
        return self._summary(Verdict.NEUTRAL, reason, ExitCode.OK)

    def _summary(self, verdict: Verdict, reason: str, code: ExitCode) -> RunSummary:
        summary = RunSummary.of(self.state, verdict, reason, code, self.ctx.describe())

        def clean(ref: str | None) -> str | None:
            return None if ref is None else redact(ref)

        return replace(
            summary,
            image_ref=clean(summary.image_ref),
            soci_image_ref=clean(summary.soci_image_ref),
        )


class _CheckFailed(SociCiError):
    """A check found a problem (verify): a result, reported as a failed check (exit 1)."""

    exit_code = ExitCode.CHECK_FAILED


def _first_problem(report: VerifyReport) -> str:
    problems: Iterable[str] = (
        p
        for idx in report.indexes
        for p in (*idx.problems, *(lp for layer in idx.layers for lp in layer.problems))
    )
    first = next(iter(problems), None)
    return f"the SOCI index does not match the layers: {first}" if first else "verify failed"


def setup_failure(exc: BaseException, ctx: CiContext) -> RunSummary:
    """The summary of a run that could not start (bad config, bad input, a bug)."""
    code = exc.exit_code if isinstance(exc, SociCiError) else ExitCode.INTERNAL
    reason = reason_of(exc)
    state = RunState()
    for name in STEPS:
        state.steps.append(StepRecord(name=name, status=StepStatus.SKIPPED, detail="not started"))
    state.failure = Failure(step="setup", code=code, message=reason)
    return RunSummary.of(state, Verdict.ERROR, reason, code, ctx.describe())
