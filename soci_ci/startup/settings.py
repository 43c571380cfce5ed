"""StartupOptions from the config (probe and startup sections) and explicit overrides.

One place for the defaults and precedence: a flag beats `startup.*`, which beats the probe's
settings (`probe.command`, `probe.environment`, `probe.ready.log_regex`), which beat the
image's own entrypoint, command and environment. Without any ready condition the container
counts as ready 10 s after it started, or when its health check passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from soci_ci.app.index_model import IndexOptions
from soci_ci.app.options import RegistryOptions
from soci_ci.errors import ConfigError, UsageError
from soci_ci.startup.engine import NETWORKS, RunSpec
from soci_ci.startup.estimate import EstimateParameters
from soci_ci.startup.measure import StartupOptions
from soci_ci.startup.session import ReadyRule, RecorderMode
from soci_ci.startup.source import SourceMode
from soci_ci.user_regex import compile_user_regex

DEFAULT_TIMEOUT = 120.0
DEFAULT_READY_AFTER = 10.0
MAX_TIMEOUT = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Overrides:
    """What the command line says (None: not given)."""

    ready_log_regex: str | None = None
    ready_after: float | None = None
    timeout: float | None = None
    entrypoint: tuple[str, ...] | None = None
    command: tuple[str, ...] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    network: str | None = None
    recorder: str | None = None
    helper_image: str | None = None
    span_size: int | None = None
    min_layer_size: int | None = None
    image_source: str | None = None


def startup_options(
    image: str,
    *,
    soci_image: str | None = None,
    probe: Mapping[str, Any] | None = None,
    startup: Mapping[str, Any] | None = None,
    overrides: Overrides | None = None,
    registry: RegistryOptions | None = None,
    index: IndexOptions | None = None,
    pull: bool = True,
    engine_image: str | None = None,
) -> StartupOptions:
    probe = probe or {}
    startup = startup or {}
    o = overrides or Overrides()
    env = {str(k): str(v) for k, v in (probe.get("environment") or {}).items()}
    env.update(o.environment)
    command = o.command
    if command is None and probe.get("command") is not None:
        command = tuple(str(c) for c in probe["command"])
    ready_cfg = probe.get("ready") or {}
    pattern: str | None
    if o.ready_log_regex is not None:
        pattern, key = o.ready_log_regex, "--ready-log-regex"
    elif startup.get("ready_log_regex") is not None:
        pattern, key = startup["ready_log_regex"], "startup.ready_log_regex"
    else:
        pattern, key = ready_cfg.get("log_regex"), "probe.ready.log_regex"
    after = o.ready_after if o.ready_after is not None else startup.get("ready_after_seconds")
    timeout = o.timeout if o.timeout is not None else startup.get("timeout_seconds")
    timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    if not 0 < timeout <= MAX_TIMEOUT:
        raise UsageError(f"the startup timeout must be in (0, {MAX_TIMEOUT:g}] seconds")
    if after is not None and float(after) < 0:
        raise UsageError("--ready-after must not be negative")
    if not pattern and after is None:
        after = DEFAULT_READY_AFTER
    rule = ReadyRule(
        log_regex=compile_user_regex(str(pattern), key=key) if pattern else None,
        health=True,
        after_seconds=None if after is None else float(after),
        timeout_seconds=timeout,
    )
    base = index or IndexOptions()
    span = o.span_size if o.span_size is not None else base.span_size
    minimum = o.min_layer_size if o.min_layer_size is not None else base.min_layer_size
    if span <= 0 or minimum < 0:
        raise UsageError("--span-size must be positive and --min-layer-size not negative")
    try:
        params = EstimateParameters(**dict(startup.get("estimate") or {}))
        recorder = RecorderMode(o.recorder or startup.get("recorder") or "auto")
        source = SourceMode(o.image_source or "auto")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"startup: {exc}") from None
    network = o.network or str(startup.get("network") or "none")
    if network not in NETWORKS:
        raise UsageError(
            f"network {network!r} is not allowed for the recorded container "
            f"(one of {', '.join(NETWORKS)})"
        )
    return StartupOptions(
        image=image,
        soci_image=soci_image,
        run=RunSpec(
            entrypoint=o.entrypoint,
            command=command,
            environment=env,
            user=o.user,
            network=network,
        ),
        ready=rule,
        recorder=recorder,
        helper_image=o.helper_image or startup.get("helper_image"),
        index=IndexOptions(
            span_size=int(span),
            min_layer_size=int(minimum),
            build_tool_identifier=base.build_tool_identifier,
            inflate=base.inflate,  # SOCI_CI_INFLATE, as `soci-ci index` uses it
        ),
        estimate=params,
        registry=registry or RegistryOptions(),
        pull=pull,
        image_source=source,
        engine_image=engine_image,
    )


def json_argv(text: str | None, flag: str) -> tuple[str, ...] | None:
    """A JSON array of strings (or one plain string) from the command line."""
    import json  # noqa: PLC0415

    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return (text,)
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{flag}: expected a JSON array of strings")
    return tuple(value)
