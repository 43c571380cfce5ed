"""The index and verify steps: one entry point each, shared by the commands and `run`.

`index_image` builds the SOCI index of an image and writes what the destination lacks;
`verify_image` checks a SOCI index the way the snapshotter reads it. Both take their typed
options (`soci_ci.app.options`) and return typed reports; printing is the CLI's job.
"""

from __future__ import annotations

from dataclasses import replace

from soci_ci.app import verify as verify_mod
from soci_ci.app.apply import apply_plan
from soci_ci.app.index import build_plan
from soci_ci.app.index_model import IndexReport, Outcome
from soci_ci.app.open_image import open_image
from soci_ci.app.options import IndexImageOptions, VerifyImageOptions
from soci_ci.app.tag_policy import soci_tag
from soci_ci.app.verify import VerifyReport
from soci_ci.errors import UsageError
from soci_ci.oci.image_ref import parse_image_ref
from soci_ci.soci.zlib_binding import load_inflater

MAX_WORKERS = 64


def check_index_options(options: IndexImageOptions) -> None:
    index = options.index
    if index.span_size <= 0:
        raise UsageError("--span-size (soci.span_size) must be positive")
    if index.min_layer_size < 0:
        raise UsageError("--min-layer-size (soci.min_layer_size) must not be negative")
    if not 1 <= index.workers <= MAX_WORKERS:
        raise UsageError(f"--workers (soci.workers) must be between 1 and {MAX_WORKERS}")


def index_image(options: IndexImageOptions) -> IndexReport:
    """Index ``options.image`` and write the result beside it (the tag policy applies)."""
    check_index_options(options)
    ref = parse_image_ref(options.image)
    index = options.index
    tag = soci_tag(ref, index.index_format, index.tag, overwrite=options.overwrite_tag)
    plan_options = replace(index, tag=tag)
    with open_image(ref, options.registry) as store:
        report = build_plan(store, plan_options, destination=store)
        if report.outcome is not Outcome.NOT_APPLICABLE:
            report = apply_plan(store, report)
    return report


def verify_image(options: VerifyImageOptions) -> VerifyReport:
    """Check every SOCI index of ``options.image``; the report says whether all is well."""
    if options.sample is not None and options.sample <= 0:
        raise UsageError("--sample must be positive")
    ref = parse_image_ref(options.image)
    with open_image(ref, options.registry) as store:
        return verify_mod.verify_image(
            store,
            store,
            sample=options.sample,
            seed=options.seed,
            records=options.records,
            paths=options.paths,
            working_set=options.working_set,
            inflater=load_inflater(options.inflate),
        )
