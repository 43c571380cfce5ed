"""`soci-ci run`: build -> push -> index -> verify -> probe -> gate -> report.

Each step is optional by config and recorded as ran / skipped (with the reason) / failed.
Steps are the documented commands run in-process through a ``StepRunner`` (the CLI hands in
one that dispatches to ``soci_ci.cli``), exchanging their ``--output-json`` files in a work
directory; so `soci-ci run` does exactly what the single commands do. A failed step stops the
steps after it (skipped: "<step> failed"), and the report is still written. A fork pull
request ends neutral before anything needs a secret.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from soci_ci.ci.context import CiContext, expand_tags
from soci_ci.ci.run_report import RunSummary, StepRecord, StepStatus, Verdict
from soci_ci.errors import ExitCode, SociCiError
from soci_ci.soci.verify import LazyStartSummary

log = logging.getLogger(__name__)

STEPS = ("build", "index", "verify", "startup", "probe", "gate")
CONFIG_COPY = "config.resolved.json"  # JSON is YAML: `soci-ci probe/gate --config` read it
FORK_REASON = (
    "fork pull request: no AWS credentials or secrets are available to forks, so nothing "
    "was built or measured; a maintainer can rerun it from a branch of this repository"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepOutcome:
    code: int
    message: str = ""


StepRunner = Callable[[list[str]], StepOutcome]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """The resolved settings of one run (config file + environment + flags)."""

    config_path: Path | None = None  # the user's file (named in reports)
    # The resolved settings (file + environment + flags, before defaults): what probe and gate
    # read, from CONFIG_COPY in the work directory. None: they read config_path.
    settings: Mapping[str, Any] | None = None
    repository: str | None = None
    image: str | None = None  # an existing image: no build
    context: Path = Path()
    dockerfile: str = "Dockerfile"
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()  # empty: the engine's own platform
    tags: tuple[str, ...] = ("{sha}",)
    cache_from: tuple[str, ...] = ()  # buildx --cache-from / --cache-to specs
    cache_to: tuple[str, ...] = ()
    build_secrets: tuple[str, ...] = ()  # buildx --secret specs (id=ID,env=VAR): no values
    build: bool = True
    soci: bool = True
    soci_format: str = "v2"
    soci_tag: str | None = None
    soci_platforms: tuple[str, ...] = ()  # empty: every platform of the image
    build_tool_identifier: str | None = None
    span_size: int | None = None
    min_layer_size: int | None = None
    verify: bool = True
    verify_sample: int | None = None
    # startup: None = when a Docker engine is reachable; its sections as the loader gave them
    startup: bool | None = None
    startup_config: Mapping[str, Any] = field(default_factory=dict)
    probe_config: Mapping[str, Any] = field(default_factory=dict)
    startup_limits: tuple[Mapping[str, Any], ...] = ()
    probe: bool = False
    gate: bool = True  # False when the config has no `thresholds` section
    ecs_endpoint: str | None = None  # test seam: SOCI_CI_ECS_ENDPOINT (moto)
    # The one host explicit registry credentials go to (SOCI_CI_REGISTRY_HOST); None: the
    # repository's host (or, with no repository, the host of the given image).
    registry_host: str | None = None
    baseline_store: str | None = None  # s3://bucket/prefix or a directory: default-branch results
    comment: bool = True
    summary: bool = True
    junit: Path | None = None
    work_dir: Path = Path(".soci-ci")


@dataclass(slots=True, kw_only=True)
class _State:
    image_ref: str | None = None
    image_digest: str | None = None
    soci_image_ref: str | None = None
    soci_index_digest: str | None = None
    index_json: Path | None = None
    probe_json: Path | None = None
    probe_markdown: str | None = None
    gate_markdown: str | None = None
    gate_junit: str | None = None
    gate_verdict: Verdict | None = None
    startup: Any = None  # soci_ci.startup.step.StartupStepResult
    gate_reason: str = ""
    medians: dict[str, dict[str, float]] = field(default_factory=dict)
    failed: str | None = None
    failed_code: int = 0
    steps: list[StepRecord] = field(default_factory=list)
    lazy_start: LazyStartSummary | None = None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _repo_of(reference: str) -> str:
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


class Pipeline:
    def __init__(
        self,
        options: RunOptions,
        ctx: CiContext,
        runner: StepRunner,
        *,
        clock: Callable[[], float] = time.monotonic,
        gate_available: Callable[[], bool] = lambda: find_spec("soci_ci.gate") is not None,
        engine_available: Callable[[], bool] | None = None,
    ) -> None:
        self.options = options
        self.ctx = ctx
        self.runner = runner
        self.clock = clock
        self.gate_available = gate_available
        self.engine_available = engine_available
        self.state = _State()
        self.work = options.work_dir

    def run(self) -> tuple[RunSummary, int]:
        state = self.state
        if self.ctx.fork:
            for name in STEPS:
                state.steps.append(StepRecord(name=name, status=StepStatus.SKIPPED, detail="fork"))
            reason = self.ctx.fork_reason or FORK_REASON
            return self._summary(Verdict.NEUTRAL, reason), int(ExitCode.OK)
        self.work.mkdir(parents=True, exist_ok=True)
        for name in STEPS:
            method: Callable[[], tuple[list[str] | None, str]] = getattr(
                self, f"_plan_{name}", lambda: (None, "")
            )
            if state.failed is not None:
                self._skip(name, f"{state.failed} failed")
                continue
            if name == "startup":
                self._startup()
                continue
            argv, reason = method()
            if argv is None:
                self._skip(name, reason)
                continue
            self._execute(name, argv)
        return self._verdict()

    def _skip(self, name: str, reason: str) -> None:
        log.info("run: %s skipped: %s", name, reason)
        self.state.steps.append(StepRecord(name=name, status=StepStatus.SKIPPED, detail=reason))

    def _credentials_host(self) -> str | None:
        if self.options.registry_host or not self.options.repository:
            return self.options.registry_host
        from soci_ci.registry.reference import parse_reference  # noqa: PLC0415

        try:
            return parse_reference(self.options.repository).registry
        except SociCiError:
            return None

    def _execute(self, name: str, argv: list[str]) -> None:
        host = self._credentials_host() if name in ("build", "index", "verify") else None
        if host:
            argv = [*argv, "--registry", host]
        log.info("run: %s: soci-ci %s", name, " ".join(argv))
        start = self.clock()
        outcome = self.runner(argv)
        seconds = round(self.clock() - start, 3)
        after: Callable[[StepOutcome], str] = getattr(self, f"_after_{name}")
        if outcome.code == ExitCode.CHECK_FAILED and name == "gate":
            detail = after(outcome)
            record = StepRecord(name=name, status=StepStatus.RAN, detail=detail, seconds=seconds)
        elif outcome.code != 0:
            detail = outcome.message or f"exit code {outcome.code}"
            record = StepRecord(name=name, status=StepStatus.FAILED, detail=detail, seconds=seconds)
            self.state.failed, self.state.failed_code = name, outcome.code
        else:
            record = StepRecord(
                name=name, status=StepStatus.RAN, detail=after(outcome), seconds=seconds
            )
        self.state.steps.append(record)

    def _config_file(self) -> Path | None:
        """The config the probe and gate steps read: the resolved settings, else the file."""
        if self.options.settings is None:
            return self.options.config_path
        path = self.work / CONFIG_COPY
        path.write_text(json.dumps(self.options.settings, indent=2) + "\n", encoding="utf-8")
        return path

    # -- build -------------------------------------------------------------------------
    def _plan_build(self) -> tuple[list[str] | None, str]:
        opts = self.options
        if opts.image:
            self.state.image_ref = opts.image
            return None, f"using the existing image {opts.image}"
        if not opts.build:
            return None, "disabled (build: false)"
        if not opts.repository:
            return None, "no image.repository in the config"
        argv = ["build", "--context", str(opts.context), "--file", opts.dockerfile]
        for tag in expand_tags(opts.tags, self.ctx):
            argv += ["--tag", f"{opts.repository}:{tag}"]
        for key, value in opts.build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        for key, value in {**self._source_labels(), **opts.labels}.items():
            argv += ["--label", f"{key}={value}"]
        if opts.target:
            argv += ["--target", opts.target]
        for platform in opts.platforms:
            argv += ["--platform", platform]
        for flag, values in (
            ("--cache-from", opts.cache_from),
            ("--cache-to", opts.cache_to),
            ("--secret", opts.build_secrets),
        ):
            for value in values:
                argv += [flag, value]
        return [*argv, "--output-json", str(self.work / "build.json")], ""

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

    def _after_build(self, outcome: StepOutcome) -> str:
        data = _read_json(self.work / "build.json")
        ref = data.get("reference")
        self.state.image_ref = ref if isinstance(ref, str) else None
        digest = data.get("digest")
        self.state.image_digest = digest if isinstance(digest, str) else None
        return f"pushed {ref}" if ref else "built (not pushed)"

    # -- index -------------------------------------------------------------------------
    def _plan_index(self) -> tuple[list[str] | None, str]:
        opts = self.options
        if not opts.soci:
            return None, "disabled (soci.enabled: false)"
        if not self.state.image_ref:
            return None, "no image in a registry"
        argv = ["index", self.state.image_ref, "--format", opts.soci_format]
        if opts.soci_tag:
            argv += ["--tag", opts.soci_tag]
        if opts.span_size is not None:
            argv += ["--span-size", str(opts.span_size)]
        if opts.min_layer_size is not None:
            argv += ["--min-layer-size", str(opts.min_layer_size)]
        for platform in opts.soci_platforms:
            argv += ["--platform", platform]
        if opts.build_tool_identifier:
            argv += ["--build-tool-identifier", opts.build_tool_identifier]
        self.state.index_json = self.work / "index.json"
        return [*argv, "--output-json", str(self.state.index_json)], ""

    def _after_index(self, outcome: StepOutcome) -> str:
        assert self.state.index_json is not None
        data = _read_json(self.state.index_json)
        original = data.get("original_image") or {}
        if isinstance(original.get("digest"), str):
            self.state.image_digest = original["digest"]
            # image-ref is always repository@digest, also for an `image` input given by tag
            self.state.image_ref = f"{_repo_of(self.state.image_ref or '')}@{original['digest']}"
        soci = data.get("soci_image") or {}
        repo = _repo_of(self.state.image_ref or "")
        if isinstance(soci.get("digest"), str):
            self.state.soci_image_ref = f"{repo}@{soci['digest']}"
        indexes = data.get("soci_indexes") or []
        if indexes and isinstance(indexes[0].get("digest"), str):
            self.state.soci_index_digest = indexes[0]["digest"]
        outcome_text = data.get("outcome", "indexed")
        return f"{outcome_text}: {len(data.get('ztocs') or [])} zTOC(s), " + (
            f"{len(data.get('skipped_layers') or [])} layer(s) skipped"
        )

    # -- verify ------------------------------------------------------------------------
    def _plan_verify(self) -> tuple[list[str] | None, str]:
        if not self.options.verify:
            return None, "disabled (soci.verify.enabled: false)"
        if not self.state.soci_image_ref:
            return None, "no SOCI-enabled image was written"
        argv = ["verify", self.state.soci_image_ref]
        if self.options.verify_sample is not None:
            argv += ["--sample", str(self.options.verify_sample)]
        return [*argv, "--output-json", str(self.work / "verify.json")], ""

    def _after_verify(self, outcome: StepOutcome) -> str:
        self.state.lazy_start = LazyStartSummary.from_json(_read_json(self.work / "verify.json"))
        return "index matches the layers"

    # -- startup (a typed call of soci_ci.startup.step, not a command line) -------------
    def _startup(self) -> None:
        opts = self.options
        if opts.startup is False:
            self._skip("startup", "disabled (startup.enabled: false)")
            return
        if not self.state.image_ref:
            self._skip("startup", "no image in a registry")
            return
        from soci_ci.startup import step as startup_step  # noqa: PLC0415 - Docker SDK lazily

        reachable = self.engine_available or startup_step.engine_reachable
        if opts.startup is None and not reachable():
            self._skip("startup", "no Docker engine reachable (startup.enabled: auto)")
            return
        start = self.clock()
        try:
            result = startup_step.run_startup_step(self._startup_step(startup_step))
        except SociCiError as exc:
            detail = " ".join(str(exc).split())
            log.warning("run: startup failed: %s", detail)
            self.state.steps.append(
                StepRecord(
                    name="startup",
                    status=StepStatus.FAILED,
                    detail=detail,
                    seconds=round(self.clock() - start, 3),
                )
            )
            self.state.failed, self.state.failed_code = "startup", int(exc.exit_code)
            return
        self.state.startup = result
        self.state.steps.append(
            StepRecord(
                name="startup",
                status=StepStatus.RAN,
                detail=result.detail,
                seconds=round(self.clock() - start, 3),
            )
        )

    def _registry_login(self) -> Any:
        """The explicit registry login (`registry`/`username`/`password`) for the typed steps,
        bound to the same one host the command-line steps get with --registry."""
        import os  # noqa: PLC0415

        from soci_ci.app.stores import RegistryOptions  # noqa: PLC0415

        username = os.environ.get("SOCI_CI_REGISTRY_USERNAME") or None
        return RegistryOptions(
            username=username,
            password=os.environ.get("SOCI_CI_REGISTRY_PASSWORD") if username else None,
            credentials_host=self._credentials_host() if username else None,
        )

    def _startup_step(self, startup_step: Any) -> Any:
        from soci_ci.startup.settings import startup_options  # noqa: PLC0415
        from soci_ci.startup.thresholds import parse_limits  # noqa: PLC0415

        opts, ctx = self.options, self.ctx
        options = startup_options(
            str(self.state.image_ref),
            soci_image=self.state.soci_image_ref,
            probe=opts.probe_config,
            startup=opts.startup_config,
            registry=self._registry_login(),
        )
        return startup_step.StartupStep(
            options=options,
            limits=parse_limits(opts.startup_limits),
            store=opts.baseline_store,
            repository=ctx.repository,
            branch=ctx.branch,
            base_branch=ctx.base_ref or ctx.branch,
            image_name=opts.repository or _repo_of(str(self.state.image_ref)),
            commit=ctx.sha,
            pull_request=ctx.pr_number is not None,
            output_json=self.work / "startup.json",
        )

    # -- probe -------------------------------------------------------------------------
    def _plan_probe(self) -> tuple[list[str] | None, str]:
        if not self.options.probe:
            return None, "disabled (probe.enabled: false)"
        if self.state.index_json is None or not self.state.soci_image_ref:
            return None, "needs a SOCI-enabled image from the index step"
        self.state.probe_json = self.work / "probe.json"
        argv = ["probe", "--index-json", str(self.state.index_json)]
        config = self._config_file()
        if config is not None:
            argv += ["--config", str(config)]
        if self.options.ecs_endpoint:
            argv += ["--endpoint-url", self.options.ecs_endpoint, "--poll-seconds", "0.05"]
        return [
            *argv,
            "--output-json",
            str(self.state.probe_json),
            "--output-markdown",
            str(self.work / "probe.md"),
        ], ""

    def _after_probe(self, outcome: StepOutcome) -> str:
        assert self.state.probe_json is not None
        data = _read_json(self.state.probe_json)
        for arm in data.get("arms") or []:
            stats = arm.get("stats") or {}
            self.state.medians[str(arm.get("name"))] = {
                phase: float(value["median"])
                for phase, value in stats.items()
                if isinstance(value, dict) and isinstance(value.get("median"), int | float)
            }
        self.state.probe_markdown = _read_text(self.work / "probe.md")
        runs = sum(len(arm.get("runs") or []) for arm in data.get("arms") or [])
        detail = f"{runs} task(s) in {data.get('region', '?')}"
        stored = self._store_baseline(data)
        return f"{detail}; {stored}" if stored else detail

    def _store_baseline(self, data: Mapping[str, Any]) -> str:
        """Branch runs (not PRs) record their results for later PRs' regression checks."""
        location = self.options.baseline_store
        ctx = self.ctx
        if not location or ctx.pr_number is not None:
            return ""
        if not (ctx.repository and ctx.branch and self.options.repository):
            return "baseline not stored: repository or branch unknown"
        from soci_ci.gate.baseline import StoreKey, make_record, open_store  # noqa: PLC0415
        from soci_ci.probe.model import ProbeResult  # noqa: PLC0415

        key = StoreKey(repository=ctx.repository, branch=ctx.branch, image=self.options.repository)
        try:
            result = ProbeResult.from_json(data)
            record = make_record(
                key, result, commit=ctx.sha or "unknown", recorded_at=datetime.now(UTC)
            )
            open_store(location).write(key, record)
        except (SociCiError, KeyError, TypeError, ValueError) as exc:
            log.warning("baseline not stored: %s", exc)
            return f"baseline not stored: {exc}"
        return f"baseline stored for {ctx.branch}"

    # -- gate --------------------------------------------------------------------------
    def _plan_gate(self) -> tuple[list[str] | None, str]:
        if self.state.probe_json is None:
            return None, "no cold-start measurement to judge"
        if not self.options.gate:
            return None, "no thresholds in the config"
        if not self.gate_available():
            return None, "the gate is not available in this build"
        config = self._config_file()
        if config is None:
            return None, "no config file with thresholds"
        argv = [
            "gate",
            "--config",
            str(config),
            "--results",
            str(self.state.probe_json),
            "--markdown-out",
            str(self.work / "gate.md"),
            "--junit",
            str(self.work / "gate-junit.xml"),
            "--json-out",
            str(self.work / "gate.json"),
        ]
        if self.state.soci_index_digest:
            argv += ["--index-digest", self.state.soci_index_digest]
        branch = self.ctx.base_ref or self.ctx.branch
        if self.ctx.repository and branch and self.options.repository:
            argv += ["--baseline-key", f"{self.ctx.repository}:{branch}:{self.options.repository}"]
        return argv, ""

    def _after_gate(self, outcome: StepOutcome) -> str:
        data = _read_json(self.work / "gate.json")  # richer verdict when the gate writes one
        default = "fail" if outcome.code == ExitCode.CHECK_FAILED else "pass"
        verdict = str(data.get("verdict") or default)
        self.state.gate_verdict = (
            Verdict(verdict) if verdict in {v.value for v in Verdict} else Verdict.NEUTRAL
        )
        self.state.gate_reason = str(
            data.get("reason")
            or ("a threshold failed" if default == "fail" else "no threshold failed")
        )
        self.state.gate_markdown = _read_text(self.work / "gate.md")
        self.state.gate_junit = _read_text(self.work / "gate-junit.xml")
        return self.state.gate_reason

    # -- verdict -----------------------------------------------------------------------
    def _verdict(self) -> tuple[RunSummary, int]:
        state = self.state
        if state.failed is not None:
            failed = next(s for s in state.steps if s.status is StepStatus.FAILED)
            reason = f"the {failed.name} step failed: {failed.detail}"
            if state.failed == "verify" and state.failed_code == ExitCode.CHECK_FAILED:
                return self._summary(Verdict.FAIL, reason), int(ExitCode.CHECK_FAILED)
            return self._summary(Verdict.ERROR, reason), state.failed_code
        if state.startup is not None and state.startup.failed:
            names = ", ".join(c.name for c in state.startup.checks if c.outcome == "fail")
            reason = f"startup threshold(s) failed: {names}"
            if state.gate_verdict is Verdict.FAIL:
                reason += f"; {state.gate_reason}"
            return self._summary(Verdict.FAIL, reason), int(ExitCode.CHECK_FAILED)
        if state.gate_verdict is not None:
            code = ExitCode.CHECK_FAILED if state.gate_verdict is Verdict.FAIL else ExitCode.OK
            return self._summary(state.gate_verdict, state.gate_reason), int(code)
        ran = [s.name for s in state.steps if s.status is StepStatus.RAN]
        gate = next(s for s in state.steps if s.name == "gate")
        reason = f"no thresholds evaluated ({gate.detail})"
        if ran:
            reason += "; " + ", ".join(ran) + " succeeded"
        return self._summary(Verdict.NEUTRAL, reason), int(ExitCode.OK)

    def _summary(self, verdict: Verdict, reason: str) -> RunSummary:
        state = self.state
        return RunSummary(
            steps=tuple(state.steps),
            verdict=verdict,
            reason=reason,
            image_ref=state.image_ref,
            image_digest=state.image_digest,
            soci_image_ref=state.soci_image_ref,
            soci_index_digest=state.soci_index_digest,
            medians=state.medians,
            probe_markdown=state.probe_markdown,
            gate_markdown=state.gate_markdown,
            gate_junit=state.gate_junit,
            startup_markdown=(
                state.startup.markdown(state.medians) if state.startup is not None else None
            ),
            context_line=self.ctx.describe(),
            lazy_start=state.lazy_start,
        )
