"""`soci-ci startup`: read the image's layers and zTOCs, record a start, map reads to fetches."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from soci_ci import limits
from soci_ci.app.index_model import IndexOptions
from soci_ci.app.open_image import open_image
from soci_ci.app.options import RegistryOptions
from soci_ci.errors import InputError, RegistryError, StartupError
from soci_ci.oci.image_ref import Transport, parse_image_ref, split_reference
from soci_ci.oci.layout import OciLayout
from soci_ci.oci.manifest import Platform
from soci_ci.startup import engine, session
from soci_ci.startup.estimate import EstimateParameters, estimate
from soci_ci.startup.fetch import attribute
from soci_ci.startup.image import ImageLayers, load_layers, registry_diff_ids
from soci_ci.startup.model import RecordingInfo, StartupReport
from soci_ci.startup.order import suggest_order
from soci_ci.startup.prefetch import PrefetchArtifact, prefetch_artifacts
from soci_ci.startup.saved_image import save_layout
from soci_ci.startup.source import Origin, SourceMode, choose_source

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class StartupOptions:
    image: str  # registry reference (or docker://REF); what the engine runs
    soci_image: str | None = None  # where the SOCI index is, when not in `image`
    run: engine.RunSpec = field(default_factory=engine.RunSpec)
    ready: session.ReadyRule = field(default_factory=session.ReadyRule)
    recorder: session.RecorderMode = session.RecorderMode.AUTO
    helper_image: str | None = None
    index: IndexOptions = field(default_factory=IndexOptions)
    estimate: EstimateParameters = field(default_factory=EstimateParameters)
    registry: RegistryOptions = field(default_factory=RegistryOptions)
    pull: bool = True
    image_source: SourceMode = SourceMode.AUTO
    engine_image: str | None = None  # the engine's id of IMAGE (the pipeline's build)


@dataclass(frozen=True, slots=True, kw_only=True)
class Measured:
    report: StartupReport
    layers: ImageLayers
    prefetch: tuple[PrefetchArtifact, ...]


def _engine_image(client: Any, options: StartupOptions, layers: ImageLayers) -> str:
    """The engine's image with exactly the analysed layers (pulled by digest when needed)."""
    ref = options.image.removeprefix("docker://")
    wanted = list(layers.diff_ids)
    candidates = [ref]
    repo, _, _ = split_reference(ref)
    candidates.append(f"{repo}@{layers.manifest_digest}")
    for attempt, candidate in enumerate(candidates):
        try:
            data = engine.local_image(client, candidate, pull=options.pull and attempt > 0)
        except StartupError:
            if attempt == len(candidates) - 1:
                raise
            continue
        if list((data.get("RootFS") or {}).get("Layers") or []) == wanted:
            return str(data["Id"])
        log.info("the engine's %s has other layers than the registry's", candidate)
    raise StartupError(
        f"the Docker engine's image {ref} does not have the layers of {layers.image} "
        f"({layers.manifest_digest})",
        hint="pull or push the image again so that the engine and the registry agree",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Resolved:
    layers: ImageLayers
    image_id: str  # what the engine runs
    origin: Origin
    notes: tuple[str, ...] = ()


class _UseEngine(Exception):
    """The registry cannot give IMAGE with the engine's layers; the message says why."""


LOCAL_ZTOCS = "built as `soci-ci index` would, on layers gzip-compressed here (nothing pushed)"
# The containerd image store keeps compressed layers: none is gzipped here.
STORED_ZTOCS = "built as `soci-ci index` would, on the engine's compressed layers (nothing pushed)"
LOCAL_NOTE = (
    "local image (not read from a registry): layer digests, compressed sizes and spans are "
    "computed locally (each layer gzip-compressed as a push would, zTOCs built by soci-ci)"
)
# The registry check before falling back to the engine's image: quick retries, short reads.
PROBE_RETRY_BASE = 0.05
PROBE_TIMEOUT = 15.0


def _layers_of(local: dict[str, Any]) -> list[str]:
    return [str(d) for d in (local.get("RootFS") or {}).get("Layers") or []]


def _local_platform(local: dict[str, Any], fallback: Platform) -> Platform:
    arch = str(local.get("Architecture") or "")
    if not arch:
        return fallback
    variant = local.get("Variant")
    text = f"{local.get('Os') or 'linux'}/{arch}" + (f"/{variant}" if variant else "")
    return Platform.parse(text)


def _from_engine(
    client: Any, options: StartupOptions, local: dict[str, Any], platform: Platform
) -> _Resolved:
    """The engine's image, exported (`docker save`) into a temporary layout and read as the
    registry's would be; the temporary directory is removed whatever happens."""
    image_id = str(local["Id"])
    own_platform = _local_platform(local, platform)
    index = replace(options.index, platforms=(own_platform,))
    work = Path(tempfile.mkdtemp(prefix="soci-ci-startup-"))
    try:
        log.info("reading the Docker engine's image %s (%s)", options.image, image_id[:19])
        saved = save_layout(
            engine.save_image(client, image_id),
            work,
            diff_ids=_layers_of(local),
            platform=own_platform,
        )
        layers = load_layers(OciLayout(work, None), own_platform, index)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    source = LOCAL_ZTOCS if saved.gzipped_here else STORED_ZTOCS
    layers = replace(layers, image=options.image.removeprefix("docker://"), ztoc_source=source)
    return _Resolved(
        layers=layers,
        image_id=image_id,
        origin=Origin.ENGINE,
        notes=(f"{LOCAL_NOTE}; {saved.gzipped_here} of {len(saved.layers)} layer(s) gzipped here",),
    )


def _check_registry(options: StartupOptions, platform: Platform, local: dict[str, Any]) -> None:
    """Raise `_UseEngine` unless the registry holds IMAGE with the engine's layers."""
    quick = replace(
        options.registry,
        retry_base=PROBE_RETRY_BASE,
        timeout=min(options.registry.timeout, PROBE_TIMEOUT),
    )
    try:
        with open_image(parse_image_ref(options.image), quick) as store:
            found = registry_diff_ids(store, platform)
    except (RegistryError, InputError) as exc:
        raise _UseEngine(f"the registry cannot give it ({exc.message})") from None
    if list(found) != _layers_of(local):
        raise _UseEngine("the registry's image has other layers (a local build not pushed?)")


def _from_registry(
    client: Any, options: StartupOptions, platform: Platform, local: dict[str, Any] | None
) -> _Resolved:
    index = replace(options.index, platforms=(platform,))
    ref = parse_image_ref(options.image)
    soci_ref = parse_image_ref(options.soci_image) if options.soci_image else None
    try:
        with open_image(ref, options.registry) as store:
            if soci_ref is not None:
                with open_image(soci_ref, options.registry) as soci_store:
                    layers = load_layers(
                        store, platform, index, soci_source=soci_store, soci_tags=soci_store
                    )
            else:
                layers = load_layers(store, platform, index, soci_tags=store)
    except RegistryError as exc:
        if local is None and ref.transport is Transport.DOCKER and _not_found(exc):
            raise StartupError(
                f"image {options.image} is neither in the Docker engine nor in its registry "
                f"({exc.message})",
                hint="build it (docker build -t NAME .), pull it, or push it; "
                "--image-source engine|registry forces where it is read",
            ) from None
        raise
    if local is not None and _layers_of(local) == list(layers.diff_ids):
        image_id = str(local["Id"])
    else:
        image_id = _engine_image(client, options, layers)
    return _Resolved(layers=layers, image_id=image_id, origin=Origin.REGISTRY)


def _not_found(exc: RegistryError) -> bool:
    codes = {"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "NOT_FOUND"}
    return exc.status == 404 or bool(codes & set(exc.codes)) or (exc.temporary and not exc.status)


def resolve_image(client: Any, options: StartupOptions, platform: Platform) -> _Resolved:
    """IMAGE's layers and zTOCs, and the engine's image to run (the rule: `source`)."""
    ref = parse_image_ref(options.image)
    local = None
    if ref.transport is Transport.DOCKER:
        local = engine.find_image(client, options.engine_image or ref.raw)
        if local is None and options.engine_image:
            local = engine.find_image(client, ref.raw)
    choice = choose_source(
        options.image_source,
        ref,
        in_engine=local is not None,
        repo_digests=[str(d) for d in (local or {}).get("RepoDigests") or []],
        image_id=str((local or {}).get("Id") or ""),
        soci_image=options.soci_image is not None,
    )
    log.info("startup: %s: read from the %s (%s)", options.image, choice.origin, choice.reason)
    if choice.origin is Origin.ENGINE:
        if local is None:
            raise StartupError(
                f"the Docker engine has no image {options.image}",
                hint="build or load it first, or drop --image-source engine",
            )
        return _from_engine(client, options, local, platform)
    if choice.fallback and local is not None:
        try:
            _check_registry(options, platform, local)
        except _UseEngine as why:
            log.info("startup: measuring the Docker engine's image: %s", why)
            resolved = _from_engine(client, options, local, platform)
            return replace(resolved, notes=(*resolved.notes, f"read from the engine: {why}"))
    return _from_registry(client, options, platform, local)


def measure(options: StartupOptions) -> Measured:
    client = engine.connect()
    info = engine.engine_info(client)
    platform = Platform.parse(info.platform)
    resolved = resolve_image(client, options, platform)
    layers, image_id = resolved.layers, resolved.image_id
    recording = session.record(
        client,
        image_id,
        options.run,
        options.ready,
        mode=options.recorder,
        helper_image=options.helper_image,
    )
    result = attribute(layers, recording.accesses)
    est = estimate(
        result,
        app_seconds=recording.ready_seconds,
        index_bytes=layers.soci_index_size,
        parameters=options.estimate,
    )
    notes = [*layers.notes, *resolved.notes]
    if recording.overflow:
        notes.append(
            "the event queue overflowed or more than "
            f"{limits.STARTUP_MAX_FILES} files were read: some reads are missing"
        )
    if result.not_in_image:
        notes.append(
            f"{len(result.not_in_image)} file(s) read at start are not in the image "
            "(written by the container itself): not counted"
        )
    report = StartupReport(
        image=layers.image,
        manifest_digest=layers.manifest_digest,
        image_source=str(resolved.origin),
        image_id=image_id,
        computed_locally=resolved.origin is Origin.ENGINE,
        platform=layers.platform,
        ztoc_source=layers.ztoc_source,
        recording=RecordingInfo(
            mode=str(recording.mode),
            driver=recording.driver,
            ready_by=str(recording.ready_by),
            ready_seconds=recording.ready_seconds,
            overflow=recording.overflow,
        ),
        result=result,
        estimate=est.to_json(),
        layer_order=suggest_order(layers, result),
        notes=tuple(notes),
    )
    return Measured(
        report=report, layers=layers, prefetch=tuple(prefetch_artifacts(layers, result))
    )
