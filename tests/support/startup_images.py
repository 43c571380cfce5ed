"""Images with known startup reads, built by the test dockerd (nothing is pulled).

`app_context` writes a build context whose start reads exactly `EXPECTED` (in that order):
a shell entrypoint that reads 3 of 300 data files, a file shadowed by an upper layer, a
whited-out file it tries (and fails) to read, and a dynamically linked binary from a deep
layer whose interpreter and libc come from the host. `helper_rootfs` is a root filesystem
with the host's Python (and only the recorder of this package), to run the recording helper.
"""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

DATA_FILES = 300
DATA_SIZE = 40_000
READ = ("f007", "f123", "f250")
TOOL = "/usr/bin/true"  # dynamically linked: ld.so, then libc
INTERPRETER = "/lib64/ld-linux-x86-64.so.2"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"

EXPECTED = (
    "/bin/busybox",
    "/entry.sh",
    "/data/f007",
    "/data/f123",
    "/data/f250",
    "/data/shadow.txt",
    "/opt/deep/bin/tool",
    INTERPRETER,
    LIBC,
)

SHADOW_UPPER = "upper layer version\n"
APP_SPAN = 1 << 20  # the span size the app image is indexed with (tests/integration/conftest.py)
LOCAL = "soci-ci-test/startup-local:1"  # the app image built in the engine, never pushed
ENTRY = """\
cat /data/f007 /data/f123 > /dev/null
cat /data/f250 > /dev/null
cat /data/shadow.txt
cat /data/gone.txt 2>/dev/null || true
/opt/deep/bin/tool
echo READY
exec sleep 1000
"""


def app_context(directory: Path, base_image: str) -> Path:
    ctx = directory / "ctx"
    root = ctx / "root"
    (root / "data").mkdir(parents=True)
    (root / "opt" / "deep" / "bin").mkdir(parents=True)
    rng = random.Random(14)
    for i in range(DATA_FILES):
        (root / "data" / f"f{i:03d}").write_bytes(rng.randbytes(DATA_SIZE))
    (root / "data" / "shadow.txt").write_text("lower\n")
    (root / "data" / "gone.txt").write_text("whited out\n")
    tool = root / "opt" / "deep" / "bin" / "tool"
    tool.write_bytes(Path(TOOL).read_bytes())
    tool.chmod(0o755)
    (ctx / "ld.so").write_bytes(Path(INTERPRETER).read_bytes())
    (ctx / "ld.so").chmod(0o755)  # the kernel execs the interpreter too
    (ctx / "libc.so.6").write_bytes(Path(LIBC).read_bytes())
    # Another size: the vfs driver's layer diff compares sizes and times, not contents.
    (ctx / "shadow.txt").write_text(SHADOW_UPPER)
    (ctx / "entry.sh").write_text(ENTRY)
    (ctx / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        "COPY root/ /\n"
        f"COPY ld.so {INTERPRETER}\n"
        f"COPY libc.so.6 {LIBC}\n"
        "COPY shadow.txt /data/shadow.txt\n"
        "RUN rm /data/gone.txt\n"
        "COPY entry.sh /entry.sh\n"
        'ENTRYPOINT ["/bin/sh", "/entry.sh"]\n'
    )
    return ctx


def build(docker_host: str, ctx: Path, tag: str) -> None:
    env = {**os.environ, "DOCKER_HOST": docker_host, "DOCKER_BUILDKIT": "0"}
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, str(ctx)], env=env, check=True, capture_output=True
    )


def docker(docker_host: str, *args: str) -> str:
    env = {**os.environ, "DOCKER_HOST": docker_host}
    done = subprocess.run(["docker", *args], env=env, check=True, capture_output=True, text=True)
    return done.stdout


def _libraries(binary: str) -> set[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    return set(re.findall(r"(/\S+\.so[.\d]*)", out))


def helper_rootfs(package: Path) -> bytes:
    """/usr/bin/python3 with its stdlib and libraries, plus soci_ci's recorder modules."""
    with tempfile.TemporaryDirectory() as compiled:
        return _helper_rootfs(package, compiled)


def _helper_rootfs(package: Path, compiled: str) -> bytes:
    python = os.path.realpath("/usr/bin/python3")
    stdlib = Path("/usr/lib/python3.11")
    files = {python, *_libraries(python)}
    for so in (stdlib / "lib-dynload").glob("*.so"):
        if so.name.startswith(("_ctypes.", "_json.", "select.", "_struct.")):
            files.add(str(so))
            files |= _libraries(str(so))
    skip = {
        "test",
        "idlelib",
        "tkinter",
        "ensurepip",
        "lib2to3",
        "pydoc_data",
        "site-packages",
        "dist-packages",
        "__pycache__",
        "turtledemo",
        "unittest",
        "distutils",
    }
    members: dict[str, str] = {}  # name in the image -> file on this machine
    for path in sorted(files):
        members[path.lstrip("/")] = os.path.realpath(path)
    members["usr/bin/python3"] = python
    for root, dirs, names in os.walk(stdlib):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in names:
            full = Path(root, name)
            if full.suffix == ".py" or (full.suffix == ".pyc" and ".opt-" not in full.name):
                members[str(full).lstrip("/")] = str(full)
    for name in (
        "__init__.py",
        "startup/__init__.py",
        "startup/recorder.py",
        "startup/fanotify.py",
        "startup/snapshots.py",
    ):
        members[f"opt/soci/soci_ci/{name}"] = str(package / name)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, source in sorted(members.items()):
            tar.add(source, arcname=name)
        info = tarfile.TarInfo("tmp")
        info.type, info.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(info)
    return buf.getvalue()


def import_helper(docker_host: str, name: str, package: Path) -> str:
    env = {**os.environ, "DOCKER_HOST": docker_host}
    subprocess.run(
        ["docker", "import", "--change", "ENV PYTHONPATH=/opt/soci", "-", name],
        input=helper_rootfs(package),
        env=env,
        check=True,
        capture_output=True,
    )
    return name


# -- an image whose layers are written here, byte by byte, and `docker load`ed ---------------
# Each layer is a tar made by `tarfile` from declarative entries, so the tricky cases are
# exactly what the OCI spec describes (an opaque directory, a file replaced by a directory and
# back, a file deleted and re-added, hard links, symbolic links), whatever the storage driver
# of the engine would write itself. The engine applies them (`docker load`), runs them, and
# `docker save`s them back byte for byte (tar-split).
EDGE_LONG = "long/" + "/".join(["a-directory-name-of-forty-characters-xxx"] * 4) + "/file"  # PAX
EDGE_BIG = 300_000  # bytes of the files whose spans are checked (several 64 KiB spans)
EDGE_START = """\
cat /opq/new /swap /readd
cat /opq/old 2>/dev/null || true
cat /abs-link /rel-link /linkdir/other.txt > /dev/null
cat /hl/copy /hl/link > /dev/null
cat "/odd names/ünï cödé.txt" "/$EDGE_LONG" > /dev/null
cat /etc/hosts /etc/resolv.conf /etc/hostname > /dev/null
cat /proc/self/status /sys/devices/system/cpu/online > /dev/null
head -c 16 /dev/urandom > /dev/null
cat /secret 2>/dev/null || echo "not root: /secret unreadable"
echo READY
exec sleep 1000
"""
# (path, layer index) of every image file the start reads, in first-access order; not
# /opq/old (under the opaque directory), /secret (not readable by USER), /etc/hosts,
# /etc/resolv.conf, /etc/hostname (the engine's bind mounts), /proc, /sys, /dev
EDGE_EXPECTED = (
    # read while the container starts (the engine and runc resolve the user, as containerd
    # does on a lazy start), whatever the storage driver
    ("/etc/passwd", 1),
    ("/etc/group", 1),
    ("/bin/busybox", 0),
    ("/start.sh", 3),
    ("/opq/new", 2),
    ("/swap", 3),
    ("/readd", 3),
    ("/real/dir/target.txt", 1),
    ("/real/dir/other.txt", 1),
    ("/hl/copy", 3),
    ("/hl/link", 1),
    ("/odd names/ünï cödé.txt", 2),
    (f"/{EDGE_LONG}", 2),
)
EDGE_USER = "app"  # not root: /secret (mode 0600) cannot be read
EDGE = "soci-ci-test/startup-edge:1"  # the edge image's tag
EDGE_SPAN = 64 << 10  # small spans: the files span several


def _entry(name: str, data: bytes | None = None, **kw: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = 0o644, 1_700_000_000
    for key, value in kw.items():
        setattr(info, key, value)
    if data is not None:
        info.size = len(data)
    return info, data or b""


def _dir(name: str) -> tuple[tarfile.TarInfo, bytes]:
    return _entry(name, None, type=tarfile.DIRTYPE, mode=0o755)


def _symlink(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    return _entry(name, None, type=tarfile.SYMTYPE, linkname=target, mode=0o777)


def _hardlink(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    return _entry(name, None, type=tarfile.LNKTYPE, linkname=target)


def _tar(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def edge_layers() -> list[bytes]:
    rng = random.Random(1414)
    big = rng.randbytes(EDGE_BIG)
    l1 = _tar(
        [
            _dir("opq"),
            _entry("opq/old", b"hidden by the opaque directory above\n"),
            _entry("opq/keep", b"also hidden\n"),
            _entry("swap", b"file, then a directory, then a file again: v1\n"),
            _entry("readd", b"deleted above, then added again: v1\n"),
            _dir("real"),
            _dir("real/dir"),
            _entry("real/dir/pad", rng.randbytes(EDGE_BIG)),
            _entry("real/dir/target.txt", big),
            _entry("real/dir/other.txt", rng.randbytes(EDGE_BIG // 3)),
            _dir("hl"),
            _entry("hl/orig", rng.randbytes(EDGE_BIG)),
            _hardlink("hl/link", "hl/orig"),
            _entry("secret", b"readable by root only\n", mode=0o600),
            _entry("etc/passwd", b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\n"),
            _entry("etc/group", b"root:x:0:\napp:x:1000:\n"),
            _entry("etc/hosts", b"127.0.0.1 image-hosts\n"),
            _entry("etc/resolv.conf", b"nameserver 192.0.2.1\n"),
            _entry("etc/hostname", b"image-hostname\n"),
        ]
    )
    l2 = _tar(
        [
            _dir("opq"),
            _entry("opq/.wh..wh..opq", b""),
            _entry("opq/new", b"new in the opaque directory\n"),
            _dir("swap"),
            _entry("swap/inner", b"inside the directory that replaced a file\n"),
            _entry(".wh.readd", b""),
            _symlink("abs-link", "/real/dir/target.txt"),
            _symlink("rel-link", "real/dir/target.txt"),
            _symlink("linkdir", "real/dir"),
            _dir("odd names"),
            *(_dir(EDGE_LONG.rsplit("/", i)[0]) for i in range(EDGE_LONG.count("/"), 0, -1)),
            _entry("odd names/ünï cödé.txt", b"a name with spaces and UTF-8\n"),
            _entry(EDGE_LONG, b"a name longer than 100 bytes: a PAX header\n"),
        ]
    )
    l3 = _tar(
        [
            _entry("swap", b"a file again: v3\n"),
            _entry("readd", b"added again: v3\n"),
            _dir("hl"),
            _entry("hl/orig", rng.randbytes(EDGE_BIG)),  # `RUN ln /hl/orig /hl/copy`: copied up
            _hardlink("hl/copy", "hl/orig"),
            _entry("start.sh", EDGE_START.encode()),
        ]
    )
    return [_base_layer(), l1, l2, l3]


def _base_layer() -> bytes:
    from tests.servers.dockerd import busybox_rootfs_tar

    return busybox_rootfs_tar()


def edge_archive(tag: str) -> bytes:
    """A `docker load` archive (the legacy format) of the edge image, tagged `tag`."""
    import hashlib
    import json

    layers = edge_layers()
    diff_ids = ["sha256:" + hashlib.sha256(la).hexdigest() for la in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "User": EDGE_USER,
                "Entrypoint": ["/bin/sh", "-c", "exec /bin/sh /start.sh"],
                "Env": ["PATH=/bin", f"EDGE_LONG={EDGE_LONG}"],
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    members = [("config.json", config)]
    members += [(f"l{i}/layer.tar", la) for i, la in enumerate(layers)]
    manifest = [
        {
            "Config": "config.json",
            "RepoTags": [tag],
            "Layers": [f"l{i}/layer.tar" for i in range(len(layers))],
        }
    ]
    members.append(("manifest.json", json.dumps(manifest).encode()))
    return _tar([_entry(name, data) for name, data in members])


def load(docker_host: str, archive: bytes) -> None:
    env = {**os.environ, "DOCKER_HOST": docker_host}
    subprocess.run(
        ["docker", "load", "-q"], input=archive, env=env, check=True, capture_output=True
    )
