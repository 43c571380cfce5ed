"""Debian's `docker-registry` (distribution 2.8) on 127.0.0.1: plain HTTP, Basic auth, TLS, token auth."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.servers.ports import free_port, wait_until


@dataclass(frozen=True, kw_only=True)
class Registry:
    host: str
    url: str
    storage: Path
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None


def self_signed(key: Path, cert: Path, common_name: str) -> None:
    """A self-signed RSA certificate and its key, made with openssl."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={common_name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )


def make_ca_and_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 / localhost, made with openssl."""
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True)

    self_signed(ca_key, ca_crt, "soci-ci test CA")
    run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_crt),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(ext),
        "-out",
        str(crt),
    )
    return ca_crt, crt, key


class RegistryProcess:
    """Start/stop one registry; `auth` is None, "basic" or a dict for token auth."""

    def __init__(
        self, *, tls: bool = False, basic: bool = False, token: dict[str, str] | None = None
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="soci-ci-registry-"))
        self.port = free_port()
        self.tls = tls
        self.basic = basic
        self.token = token
        self.user: tuple[str, str] | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: Registry | None = None

    def start(self) -> Registry:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise FileNotFoundError("docker-registry")
        storage = self.dir / "storage"
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {storage}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
        ]
        ca = None
        if self.tls:
            ca, crt, key = make_ca_and_cert(self.dir)
            lines += ["  tls:", f"    certificate: {crt}", f"    key: {key}"]
        username = password = None
        if self.basic:
            username, password = self.user or ("ci-user", "s3cret-Passw0rd")
            out = subprocess.run(
                ["htpasswd", "-Bbn", username, password], check=True, capture_output=True, text=True
            ).stdout
            (self.dir / "htpasswd").write_text(out)
            lines += [
                "auth:",
                "  htpasswd:",
                "    realm: soci-ci-test",
                f"    path: {self.dir / 'htpasswd'}",
            ]
        if self.token:
            lines += ["auth:", "  token:"] + [f"    {k}: {v}" for k, v in self.token.items()]
        config = self.dir / "config.yml"
        config.write_text("\n".join(lines) + "\n")
        log = (self.dir / "registry.log").open("wb")
        self.proc = subprocess.Popen(
            [binary, "serve", str(config)],
            stdout=log,
            stderr=log,
            env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
        )
        scheme = "https" if self.tls else "http"
        url = f"{scheme}://127.0.0.1:{self.port}"

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError((self.dir / "registry.log").read_text()[-2000:])
            r = requests.get(f"{url}/v2/", timeout=2, verify=str(ca) if ca else True)
            return r.status_code in (200, 401)

        wait_until(up, timeout=20, what="docker-registry")
        self.info = Registry(
            host=f"127.0.0.1:{self.port}",
            url=url,
            storage=storage,
            username=username,
            password=password,
            ca_file=ca,
        )
        return self.info

    def start_with_user(self, username: str, password: str) -> Registry:
        self.basic = True
        self.user = (username, password)
        return self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
