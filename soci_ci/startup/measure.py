"""`soci-ci startup`: read the image's layers and zTOCs, record a start, map reads to fetches."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from soci_ci import limits
from soci_ci.app.index_model import IndexOptions
from soci_ci.app.stores import RegistryOptions, open_store, parse_image_ref
from soci_ci.errors import StartupError
from soci_ci.oci.manifest import Platform
from soci_ci.startup import engine, session
from soci_ci.startup.estimate import EstimateParameters, estimate
from soci_ci.startup.fetch import attribute
from soci_ci.startup.image import ImageLayers, load_layers
from soci_ci.startup.model import RecordingInfo, StartupReport
from soci_ci.startup.order import suggest_order
from soci_ci.startup.prefetch import PrefetchArtifact, prefetch_artifacts

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
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    repo = name.rsplit(":", 1)[0] if ":" in last else name
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


def measure(options: StartupOptions) -> Measured:
    client = engine.connect()
    info = engine.engine_info(client)
    platform = Platform.parse(info.platform)
    index = replace(options.index, platforms=(platform,))
    ref = parse_image_ref(options.image)
    soci_ref = parse_image_ref(options.soci_image) if options.soci_image else None
    with open_store(ref, options.registry) as store:
        if soci_ref is not None:
            with open_store(soci_ref, options.registry) as soci_store:
                layers = load_layers(
                    store, platform, index, soci_source=soci_store, soci_tags=soci_store
                )
        else:
            layers = load_layers(store, platform, index, soci_tags=store)
    image_id = _engine_image(client, options, layers)
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
    notes = list(layers.notes)
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
