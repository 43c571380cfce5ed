"""Platform vectors: what `soci convert` writes for images of other platforms (see README.md).

Stand-alone (standard library only, nothing from soci_ci): the expected bytes are derived from
the upstream-checked example vectors in ../index/example-image by substituting digests and the
platform object, and the platform each case must carry is written out by hand below from
containerd's rules (platforms v1.0.0-rc.4 `Normalize`/`Parse`). Run from this directory:
`python3 generate.py` rewrites every case directory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "index" / "example-image"
CASE0 = EXAMPLE / "min-layer-size-0"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SOCI_V2 = "application/vnd.amazon.soci.index.v2+json"
AMD64 = '{"architecture":"amd64","os":"linux"}'

# name: (platform fields in the image config, the platform soci convert writes, by the rule)
SINGLE = {
    "arm64-v8": ({"architecture": "arm64", "variant": "v8"}, '{"architecture":"arm64","os":"linux"}'),
    "arm64-8": ({"architecture": "arm64", "variant": "8"}, '{"architecture":"arm64","os":"linux"}'),
    "arm64-v9.0": ({"architecture": "arm64", "variant": "v9.0"}, '{"architecture":"arm64","os":"linux","variant":"v9"}'),
    "aarch64": ({"architecture": "aarch64"}, '{"architecture":"arm64","os":"linux"}'),
    "arm-v7": ({"architecture": "arm", "variant": "v7"}, '{"architecture":"arm","os":"linux","variant":"v7"}'),
    "arm-no-variant": ({"architecture": "arm"}, '{"architecture":"arm","os":"linux","variant":"v7"}'),
    "arm-6": ({"architecture": "arm", "variant": "6"}, '{"architecture":"arm","os":"linux","variant":"v6"}'),
    "armhf": ({"architecture": "armhf"}, '{"architecture":"arm","os":"linux","variant":"v7"}'),
    "armel": ({"architecture": "armel"}, '{"architecture":"arm","os":"linux","variant":"v6"}'),
    "x86_64": ({"architecture": "x86_64"}, AMD64),
    "amd64-v1": ({"architecture": "amd64", "variant": "v1"}, AMD64),
    "amd64-v3": ({"architecture": "amd64", "variant": "v3"}, '{"architecture":"amd64","os":"linux","variant":"v3"}'),
    "i386": ({"architecture": "i386"}, '{"architecture":"386","os":"linux"}'),
    "upper-case": ({"architecture": "AMD64", "os": "Linux"}, AMD64),
    "no-os": ({"architecture": "amd64", "os": ""}, AMD64),
    "os-features": ({"architecture": "amd64", "os.features": ["b", "a", "b"]}, '{"architecture":"amd64","os":"linux","os.features":["a","b"]}'),
}

# An image index: each entry keeps the platform it has (soci convert --all-platforms), and with
# --platform the SOCI index carries containerd's Parse of the flag.
MULTI = [
    ("amd64", {"architecture": "amd64"}, AMD64),
    ("arm64", {"architecture": "arm64", "variant": "v8"}, '{"architecture":"arm64","os":"linux","variant":"v8"}'),
    ("arm", {"architecture": "arm", "variant": "v7"}, '{"architecture":"arm","os":"linux","variant":"v7"}'),
]
FILTERED = {  # --platform flag -> (entry it selects, platform written on its SOCI index)
    "linux/arm64": ("arm64", '{"architecture":"arm64","os":"linux"}'),
    "linux/arm64/v8": ("arm64", '{"architecture":"arm64","os":"linux","variant":"v8"}'),
    "linux/arm": ("arm", '{"architecture":"arm","os":"linux"}'),
}


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def desc(data: bytes) -> str:
    return f'"digest":"{sha(data)}","size":{len(data)}'


def image(fields: dict[str, object]) -> tuple[bytes, bytes, bytes]:
    """(config, manifest, converted manifest) of the example image with these config fields."""
    cfg = json.loads((EXAMPLE / "image" / "config.json").read_bytes())
    cfg.update({"os": "linux", **fields})
    config = (json.dumps(cfg, indent=2) + "\n").encode()
    old_config = (EXAMPLE / "image" / "config.json").read_bytes()
    manifest = (EXAMPLE / "image" / "manifest.json").read_bytes()
    manifest = manifest.replace(sha(old_config).encode(), sha(config).encode())
    manifest = manifest.replace(f'"size": {len(old_config)}'.encode(), f'"size": {len(config)}'.encode())
    converted = (CASE0 / "converted_manifest.json").read_bytes()
    old = f'{desc(old_config)}'.encode()
    assert converted.count(old) == 1
    converted = converted.replace(old, desc(config).encode())
    return config, manifest, converted


def write(case: Path, files: dict[str, bytes], facts: dict[str, object]) -> None:
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    for name, data in files.items():
        (case / name).write_bytes(data)
    (case / "expected.json").write_text(json.dumps(facts, indent=1) + "\n")


def single(name: str, fields: dict[str, object], platform: str) -> None:
    config, manifest, converted = image(fields)
    index = (CASE0 / "oci_index.json").read_bytes()
    old_converted = (CASE0 / "converted_manifest.json").read_bytes()
    index = index.replace(desc(old_converted).encode(), desc(converted).encode())
    index = index.replace(sha(old_converted).encode(), sha(converted).encode())
    assert index.count(AMD64.encode()) == 2
    index = index.replace(AMD64.encode(), platform.encode())
    write(
        HERE / name,
        {"config.json": config, "manifest.json": manifest, "converted_manifest.json": converted, "oci_index.json": index},
        {"config_platform": fields, "written_platform": json.loads(platform), "oci_index_size": len(index), "oci_index_digest": sha(index)},
    )


def _entry(data: bytes, media: str, platform: str, annotations: str = "", artifact: str = "") -> str:
    ann = f',"annotations":{annotations}' if annotations else ""
    art = f',"artifactType":"{artifact}"' if artifact else ""
    return f'{{"mediaType":"{media}",{desc(data)}{ann},"platform":{platform}{art}}}'


def multi() -> None:
    soci = (CASE0 / "soci_index_v2.json").read_bytes()
    title = '"org.opencontainers.image.title":"soci-ci example image"'
    images = {name: image(fields) for name, fields, _ in MULTI}
    written = {name: platform for name, _, platform in MULTI}
    source = ",".join(_entry(images[n][1], OCI_MANIFEST, written[n]) for n, _, _ in MULTI)
    source_index = f'{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{source}]}}'.encode()

    def converted_entry(n: str) -> str:
        return _entry(images[n][2], OCI_MANIFEST, written[n], f'{{"com.amazon.soci.index-digest":"{sha(soci)}",{title}}}')

    def soci_entry(n: str, platform: str) -> str:
        ann = f'{{"com.amazon.soci.image-manifest-digest":"{sha(images[n][2])}"}}'
        return _entry(soci, OCI_MANIFEST, platform, ann, SOCI_V2)

    files = {"index.json": source_index, "soci_index_v2.json": soci}
    for n, _, _ in MULTI:
        files[f"{n}.config.json"], files[f"{n}.manifest.json"], files[f"{n}.converted_manifest.json"] = images[n]
    entries = [converted_entry(n) for n, _, _ in MULTI] + [soci_entry(n, written[n]) for n, _, _ in MULTI]
    files["oci_index.all.json"] = f'{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{",".join(entries)}]}}'.encode()
    facts: dict[str, object] = {"all": sha(files["oci_index.all.json"])}
    for flag, (n, platform) in FILTERED.items():
        kept = [converted_entry(m) if m == n else _entry(images[m][1], OCI_MANIFEST, written[m]) for m, _, _ in MULTI]
        data = f'{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{",".join([*kept, soci_entry(n, platform)])}]}}'.encode()
        key = "oci_index." + flag.replace("/", "_") + ".json"
        files[key] = data
        facts[flag] = {"file": key, "selects": n, "soci_index_platform": json.loads(platform)}
    write(HERE / "multi", files, facts)


if __name__ == "__main__":
    for name, (fields, platform) in SINGLE.items():
        single(name, fields, platform)
    multi()
