"""The steps of `build_plan`, each on its own: select, (reuse), build zTOCs, make the plan.

`make_plan` is pure: it is fed zTOC bytes that no layer produced, so what it writes is the
plan's own doing (order, one zTOC per layer digest, the SOCI index listing each zTOC).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from soci_ci.app.example import example_layers
from soci_ci.app.index import build_plan, read_selection
from soci_ci.app.index_model import IndexOptions, IndexReport, Outcome, Selection
from soci_ci.app.write_plan import make_plan
from soci_ci.app.ztoc_build import BuiltZtoc, build_ztocs
from soci_ci.oci import media_types as mt
from soci_ci.oci.digest import sha256_digest
from soci_ci.oci.layout import OciLayout
from soci_ci.oci.manifest import Index, Manifest, load_json
from soci_ci.soci import constants as c
from tests.support.images import multi_platform

OPTIONS = IndexOptions(tag="v1-soci", workers=1)


def _base(selection: Selection) -> IndexReport:
    return IndexReport(
        outcome=Outcome.NOT_APPLICABLE,
        image="test",
        index_format=OPTIONS.index_format,
        original_digest=selection.root_digest,
        original_media_type=selection.root_media_type,
    )


def _fake_ztocs(selection: Selection) -> dict[str, BuiltZtoc]:
    return {
        digest: BuiltZtoc(
            layer=job.layer,
            data=b"zTOC of " + digest.encode(),
            digest=sha256_digest(b"zTOC of " + digest.encode()),
            spans=1,
            files=2,
            seconds=0.0,
            disable_xattrs=False,
        )
        for digest, job in selection.jobs.items()
    }


def test_selection_reads_no_layer_and_makes_one_job_per_layer_digest(tmp_path: Path) -> None:
    big, small = example_layers()
    selection = read_selection(OciLayout(multi_platform(tmp_path), "v1"), OPTIONS)
    assert [str(t.platform) for t in selection.targets] == ["linux/amd64", "linux/arm64"]
    assert list(selection.jobs) == [sha256_digest(big)]  # both platforms list it: one job
    amd, arm = selection.rows
    assert [(layer.digest, reason is None) for layer, reason in amd] == [
        (sha256_digest(big), True),
        (sha256_digest(small), False),
    ]
    assert [reason is None for _, reason in arm] == [False, True]


def test_the_plan_is_made_from_the_ztocs_alone_children_first(tmp_path: Path) -> None:
    selection = read_selection(OciLayout(multi_platform(tmp_path), "v1"), OPTIONS)
    built = _fake_ztocs(selection)
    report = make_plan(_base(selection), selection, built, OPTIONS, existing=None)
    assert report.outcome is Outcome.INDEXED and report.plan is not None
    items = report.plan.items
    (ztoc,) = built.values()
    assert [i.media_type for i in items[:2]] == [c.EMPTY_CONFIG_MEDIA_TYPE, c.ZTOC_MEDIA_TYPE]
    assert items[1].data == ztoc.data  # once, though two platforms list the layer
    assert [i.what for i in items[2:4]] == ["SOCI index (linux/amd64)", "SOCI index (linux/arm64)"]
    for item in items[2:4]:
        listed = Manifest.from_json(load_json(item.data, "SOCI index"))
        assert [(d.digest, d.size) for d in listed.layers or ()] == [(ztoc.digest, ztoc.size)]
    written = {i.digest for i in items}
    for position, item in enumerate(items):  # every child is written before its parent
        if item.media_type == mt.OCI_INDEX:
            children = Index.from_json(load_json(item.data, "index")).manifests or ()
            known = {i.digest for i in items[:position]}
            assert all(d.digest in known or d.digest not in written for d in children)
    assert report.plan.tags == (("v1-soci", items[-1]),)
    assert items[-1].what == "SOCI-enabled image index"
    assert report.soci_image_digest == items[-1].digest


def test_no_qualifying_layer_is_not_applicable_with_a_note_per_platform(tmp_path: Path) -> None:
    options = replace(OPTIONS, min_layer_size=1 << 40)
    selection = read_selection(OciLayout(multi_platform(tmp_path), "v1"), options)
    assert not selection.jobs
    report = make_plan(_base(selection), selection, {}, options, existing=None)
    assert report.outcome is Outcome.NOT_APPLICABLE and report.plan is None
    assert report.message.startswith("SOCI not applicable: no layer qualifies")
    assert [n for n in report.notes if "no layer to index" in n] == [
        "linux/amd64: no layer to index, no SOCI index for this platform",
        "linux/arm64: no layer to index, no SOCI index for this platform",
    ]


def test_the_steps_in_order_are_build_plan(tmp_path: Path) -> None:
    store = OciLayout(multi_platform(tmp_path), "v1")
    selection = read_selection(store, OPTIONS)
    built = build_ztocs(store, selection.jobs, OPTIONS)
    stepwise = make_plan(_base(selection), selection, built, OPTIONS, existing=None)
    whole = build_plan(store, OPTIONS)
    assert whole.plan == stepwise.plan
    assert [replace(r, seconds=None) for r in whole.layers] == [
        replace(r, seconds=None) for r in stepwise.layers
    ]
