"""The typed options of each step: what `soci-ci run` and the single commands hand to `app`.

The command line (``soci_ci.cli``) and the pipeline (`soci_ci.app.pipeline`) both build these
and call the same entry points (`soci_ci.app.steps`), so a setting exists in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from soci_ci.app.index_model import IndexOptions
from soci_ci.build.docker_tools import DockerTools
from soci_ci.build.spec import BuildSpec
from soci_ci.config.model import (
    BaselineSource,
    Builder,
    Config,
    ImageConfig,
    Optimization,
    SociConfig,
    Thresholds,
)
from soci_ci.gate.baseline import StoreKey
from soci_ci.oci.manifest import Platform
from soci_ci.probe.settings import ProbeSettings
from soci_ci.registry.auth import Credentials
from soci_ci.registry.docker_config import DockerConfig
from soci_ci.soci.constants import DEFAULT_BUILD_TOOL
from soci_ci.soci.layer_record import LayerRecord
from soci_ci.soci.zlib_binding import InflateBackend

DEFAULT_POLL_SECONDS = 3.0
DEFAULT_GATE_NAME = "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryOptions:
    plain_http: bool = False
    ca_file: str | None = None
    insecure: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    credentials_host: str | None = None  # the one host username/password go to (--registry)
    timeout: float = 60.0
    retry_base: float = 0.5
    # The Docker config directory whose logins other hosts use (DOCKER_CONFIG, ~/.docker, from
    # the environment module); None: no Docker config is read.
    docker_config: Path | None = None

    def docker_logins(self) -> DockerConfig | None:
        """The Docker config's logins and credential helpers, if a directory is named."""
        return DockerConfig(self.docker_config / "config.json") if self.docker_config else None

    def credentials(self) -> Credentials | None:
        """The explicit login (``--username`` + password), if one was given."""
        if self.username is None:
            return None
        return Credentials(
            username=self.username, password=self.password or "", source="--username/--password"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildOptions:
    spec: BuildSpec
    docker: DockerTools  # the docker CLI and the environment of its processes
    builder: Builder = Builder.AUTO
    registry: RegistryOptions = field(default_factory=RegistryOptions)


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexImageOptions:
    image: str  # any reference `parse_image_ref` takes
    index: IndexOptions = field(default_factory=IndexOptions)  # tag None: the tag policy's default
    overwrite_tag: bool = False
    registry: RegistryOptions = field(default_factory=RegistryOptions)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyImageOptions:
    image: str
    sample: int | None = None  # files per layer; None: every file
    seed: int = 0
    paths: tuple[str, ...] | None = None  # exactly these files (`--file`), instead of a sample
    # What this run's index step proved about the layers (`IndexReport.records`): verify then
    # reads no layer again.
    records: Mapping[str, LayerRecord] | None = field(default=None, repr=False)
    # `run` with a startup working set: per layer digest, exactly the files the application
    # read from that layer at start (a layer not named: none of its files); wins over paths.
    working_set: Mapping[str, tuple[str, ...]] | None = None
    registry: RegistryOptions = field(default_factory=RegistryOptions)
    inflate: InflateBackend = InflateBackend.AUTO  # the inflate library (SOCI_CI_INFLATE)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeImages:
    """The images the probe compares: `repository@digest` each."""

    no_soci: str
    soci: str
    baseline: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeOptions:
    images: ProbeImages
    settings: ProbeSettings = field(default_factory=ProbeSettings)
    region: str | None = None  # None: probe.region, then boto3's chain
    poll_seconds: float = DEFAULT_POLL_SECONDS
    registry: RegistryOptions = field(default_factory=RegistryOptions)  # to push the check image


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineChoice:
    """Where the gate's baseline comes from: a record file, the third arm or the store."""

    source: BaselineSource = BaselineSource.AUTO
    record_file: Path | None = None  # `--baseline FILE`
    store: str | None = None  # s3://bucket/prefix or a directory
    key: StoreKey | None = None  # whose default-branch record the store holds


@dataclass(frozen=True, slots=True, kw_only=True)
class GateOptions:
    thresholds: Thresholds
    has_thresholds: bool = True
    config_name: str = "<config>"
    baseline: BaselineChoice = BaselineChoice()
    name: str = DEFAULT_GATE_NAME
    neutral_reason: str | None = None
    index_digest: str | None = None
    chart: bool = True


def index_options(soci: SociConfig) -> IndexOptions:
    """The index settings of ``soci`` (config file, action, flags of `soci-ci index`)."""
    options = IndexOptions(
        index_format=soci.format,
        span_size=soci.span_size,
        min_layer_size=soci.min_layer_size,
        platforms=tuple(Platform.parse(p) for p in soci.platforms),
        build_tool_identifier=soci.build_tool_identifier or DEFAULT_BUILD_TOOL,
        tag=soci.tag,
        optimize_xattrs=Optimization.XATTR in soci.optimizations,
        reuse=not soci.force,
    )
    return replace(options, workers=soci.workers) if soci.workers else options


def index_image_options(
    image: str,
    soci: SociConfig,
    registry: RegistryOptions,
    *,
    inflate: InflateBackend = InflateBackend.AUTO,
) -> IndexImageOptions:
    return IndexImageOptions(
        image=image,
        index=replace(index_options(soci), inflate=inflate),
        overwrite_tag=soci.overwrite_tag,
        registry=registry,
    )


def build_spec(
    image: ImageConfig,
    *,
    context: Path,
    dockerfile: str,
    tags: tuple[str, ...],
    platforms: tuple[str, ...],
    labels: Mapping[str, str] | None = None,
    secrets: tuple[str, ...] = (),
    cache_from: tuple[str, ...] = (),
    cache_to: tuple[str, ...] = (),
) -> BuildSpec:
    """What to build from the ``image`` section; ``context`` and ``dockerfile`` as confined
    to the workspace; ``tags`` are full `repository:tag` names."""
    return BuildSpec(
        context=context,
        dockerfile=dockerfile,
        tags=tags,
        build_args=image.build_args,
        labels={**(labels or {}), **image.labels},  # the config's own labels win
        target=image.target,
        platform=",".join(platforms) or None,
        network=image.network,
        pull=image.pull,
        push=True,
        secrets=secrets,
        cache_from=cache_from,
        cache_to=cache_to,
    )


def gate_options(
    config: Config,
    *,
    key: StoreKey | None = None,
    record_file: Path | None = None,
    name: str = DEFAULT_GATE_NAME,
    neutral_reason: str | None = None,
    index_digest: str | None = None,
) -> GateOptions:
    return GateOptions(
        thresholds=config.thresholds,
        has_thresholds=config.has_thresholds,
        config_name=config.source,
        baseline=BaselineChoice(
            source=config.baseline.source,
            record_file=record_file,
            store=config.baseline.store,
            key=key,
        ),
        name=name,
        neutral_reason=neutral_reason,
        index_digest=index_digest,
        chart=config.report.chart,
    )
