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
