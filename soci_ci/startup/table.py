"""The readable table `soci-ci startup` prints (pure)."""

from __future__ import annotations

from soci_ci.startup.model import StartupReport

MB = 1_000_000


def human(n: int) -> str:
    if n >= 10 * MB:
        return f"{n / MB:.0f} MB"
    if n >= MB:
        return f"{n / MB:.1f} MB"
    if n >= 1000:
        return f"{n / 1000:.1f} kB"
    return f"{n} B"


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def render_table(report: StartupReport, *, top: int = 10) -> str:
    r = report.result
    t = r.totals
    lines = [
        f"startup of {report.image} ({report.platform}, {report.manifest_digest[:19]})",
        f"ready by {report.recording.ready_by} after {report.recording.ready_seconds:.2f} s "
        f"({report.recording.mode} recorder, {report.recording.driver}); "
        f"zTOCs: {report.ztoc_source}",
    ]
    if report.computed_locally:
        lines.append(
            f"local image {report.image_id[:19]} (from the Docker engine, not a registry): "
            "COMPUTED LOCALLY: layer digests, compressed sizes and spans (layers gzipped as a "
            "push would)"
        )
    lines += [
        "",
        f"{'layer':<14} {'size':>9} {'zTOC':>5} {'spans':>11} {'files':>6} {'fetch':>9} {'req':>5}",
    ]
    for la in r.layers:
        spans = f"{la.spans_read}/{la.spans}" if la.indexed else "-"
        lines.append(
            f"{_short(la.digest):<14} {human(la.size):>9} {'yes' if la.indexed else 'no':>5} "
            f"{spans:>11} {la.files_read:>6} {human(la.fetch_bytes):>9} {la.requests:>5}"
        )
    lines.append(
        f"{'total':<14} {human(t.image_bytes):>9} {'':>5} {'':>11} {t.startup_files:>6} "
        f"{human(t.fetch_bytes):>9} {t.fetch_requests:>5}"
    )
    lines.append(
        f"a lazy start fetches {human(t.fetch_bytes)} of {human(t.image_bytes)} "
        f"({100 * t.fetch_share:.1f} %) in {t.fetch_requests} request(s); "
        f"{t.startup_files} file(s), {human(t.startup_file_bytes)} read"
    )
    largest = sorted(r.files, key=lambda f: -f.size)[:top]
    if largest:
        lines += ["", f"largest files read at start (of {len(r.files)}):"]
        lines += [f"  {human(f.size):>9}  {f.path}  [{_short(f.layer)}]" for f in largest]
    est = report.estimate
    if est:
        w, s = est["without_soci"], est["with_soci"]
        lines += [
            "",
            f"estimate (a model, not a measurement): without SOCI {w['total']:.1f} s, "
            f"with SOCI {s['total']:.1f} s",
            est["recommendation"],
        ]
    order = report.layer_order
    if order:
        lines.append(f"layer order: {order['advice']}")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines) + "\n"
