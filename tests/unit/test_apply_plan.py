"""Writing a plan: blobs concurrently, then manifests in order, tags last; present objects kept."""

from __future__ import annotations

import threading

from soci_ci.app.apply import UP_TO_DATE_MESSAGE, apply_plan
from soci_ci.app.index_model import IndexReport, Outcome, Plan, PlanItem
from soci_ci.oci.digest import sha256_digest
from soci_ci.soci.index_manifest import IndexFormat


class RecordingSink:
    """An ImageSink that logs every write; blob writes wait for each other at a barrier."""

    def __init__(self, blobs: int, present: set[str] | None = None) -> None:
        self.events: list[str] = []
        self.present = set(present or ())
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(blobs, timeout=10) if blobs > 1 else None

    def _log(self, event: str) -> None:
        with self._lock:
            self.events.append(event)

    def has_blob(self, digest: str) -> bool:
        return digest in self.present

    def push_blob(self, digest: str, data: bytes) -> None:
        if self._barrier is not None:
            self._barrier.wait()  # raises BrokenBarrierError if blobs were written one by one
        self._log(f"blob {data.decode()}")

    def has_manifest(self, digest: str) -> bool:
        return digest in self.present

    def push_manifest(self, data: bytes, media_type: str, digest: str) -> None:
        self._log(f"manifest {data.decode()}")

    def tag(self, tag: str, data: bytes, media_type: str, digest: str) -> bool:
        self._log(f"tag {tag}")
        return True


def item(name: str, *, manifest: bool) -> PlanItem:
    data = name.encode()
    return PlanItem(
        digest=sha256_digest(data), data=data, media_type="x", is_manifest=manifest, what=name
    )


def report(items: list[PlanItem], tag: PlanItem | None) -> IndexReport:
    return IndexReport(
        outcome=Outcome.INDEXED,
        image="img",
        index_format=IndexFormat.V2,
        original_digest="sha256:" + "0" * 64,
        original_media_type="x",
        plan=Plan(items=tuple(items), tags=(("v1-soci", tag),) if tag else ()),
    )


def test_blobs_in_parallel_then_manifests_in_order_then_the_tag() -> None:
    ztocs = [item(f"ztoc{i}", manifest=False) for i in range(4)]
    index, image, top = (item(n, manifest=True) for n in ("index", "image", "top"))
    plan = [ztocs[0], ztocs[1], index, ztocs[2], ztocs[3], image, top]
    sink = RecordingSink(blobs=4)
    out = apply_plan(sink, report(plan, top))
    assert sorted(sink.events[:4]) == [f"blob ztoc{i}" for i in range(4)]
    assert sink.events[4:] == ["manifest index", "manifest image", "manifest top", "tag v1-soci"]
    assert (out.written, out.already_present) == (8, 0)


def test_present_objects_are_counted_not_written() -> None:
    ztoc, index = item("ztoc", manifest=False), item("index", manifest=True)
    sink = RecordingSink(blobs=1, present={ztoc.digest, index.digest})
    out = apply_plan(sink, report([ztoc, index], None))
    assert sink.events == []
    assert out.outcome is Outcome.UP_TO_DATE and out.message == UP_TO_DATE_MESSAGE
    assert out.already_present == 2
