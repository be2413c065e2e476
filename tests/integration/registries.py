"""Local registries for the integration tests: Debian's ``docker-registry`` (distribution 2.8,
installed by scripts/setup-docker), started by the test with its own config file, never a pulled
image and never the packaged service.

* plain HTTP on 127.0.0.1 (the engines treat 127.0.0.0/8 as an insecure registry), or
* TLS with a certificate from a CA made for the test, on an address outside 127.0.0.0/8 (the
  first engine's docker0 address: for a loopback address the engine would skip verification), and
  basic auth from an htpasswd file (bcrypt, apache2-utils' htpasswd). The engine trusts the CA
  through ``/etc/docker/certs.d/HOST:PORT/ca.crt`` for this registry only, removed afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CERTS_D = Path("/etc/docker/certs.d")
MANIFESTS = ", ".join(("application/vnd.docker.distribution.manifest.v2+json",
                       "application/vnd.docker.distribution.manifest.list.v2+json",
                       "application/vnd.oci.image.manifest.v1+json",
                       "application/vnd.oci.image.index.v1+json"))


@dataclass(frozen=True)
class Registry:
    host: str  # "HOST:PORT", what image references start with
    ca: Path | None = None  # the CA that signed its certificate (TLS), None: plain HTTP
    user: str | None = None
    password: str | None = None

    def get(self, path: str, accept: str = MANIFESTS) -> tuple[int, dict[str, str], bytes]:
        """GET https?://HOST:PORT/v2/PATH from this registry only (no proxy), with its credentials."""
        headers = {"Accept": accept}
        if self.user is not None:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if self.ca is not None:
            handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(self.ca))))
        opener = urllib.request.build_opener(*handlers)
        scheme = "https" if self.ca is not None else "http"
        request = urllib.request.Request(f"{scheme}://{self.host}/v2/{path}", headers=headers)
        try:
            with opener.open(request, timeout=10) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), b""

    def digest(self, repository: str, tag: str) -> str | None:
        status, headers, _ = self.get(f"{repository}/manifests/{tag}")
        return headers.get("Docker-Content-Digest") if status == 200 else None

    def manifest(self, repository: str, reference: str) -> dict[str, object] | None:
        status, _, body = self.get(f"{repository}/manifests/{reference}")
        return json.loads(body) if status == 200 else None


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def docker0_address() -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True).stdout
    return out.split("inet ", 1)[1].split("/", 1)[0] if "inet " in out else ""


@contextlib.contextmanager
def serve(directory: Path, *, address: str = "127.0.0.1", tls: tuple[Path, Path] | None = None,
          htpasswd: Path | None = None) -> Iterator[str]:
    """Run docker-registry with a config file of its own in ``directory``; yield 'HOST:PORT'."""
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is missing: run scripts/setup-docker"
    port = _free_port(address)
    (directory / "data").mkdir(parents=True)
    lines = ["version: 0.1", "log:", "  level: warn", "storage:", "  filesystem:",
             f"    rootdirectory: {directory / 'data'}", "http:", f"  addr: {address}:{port}"]
    if tls is not None:
        lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
    if htpasswd is not None:
        lines += ["auth:", "  htpasswd:", "    realm: venvship-test", f"    path: {htpasswd}"]
    config = directory / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    log = (directory / "registry.log").open("wb")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not start: {(directory / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield f"{address}:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def plain(directory: Path) -> Iterator[Registry]:
    """An HTTP registry on 127.0.0.1 without auth."""
    with serve(directory) as host:
        yield Registry(host)


@contextlib.contextmanager
def secured(directory: Path, user: str, password: str) -> Iterator[Registry]:
    """A TLS + basic-auth registry on the docker0 address. The engine does NOT trust its CA yet:
    :func:`trusted` installs it in /etc/docker/certs.d for this registry only."""
    from tests.integration import localindex

    address = docker0_address()
    assert address, "the first engine's docker0 bridge has no address"
    ca_dir = directory / "ca"
    localindex.make_ca(ca_dir)
    cert = localindex.server_cert(ca_dir, address, directory / "server")
    htpasswd = directory / "htpasswd"
    made = subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True)
    htpasswd.write_text(made.stdout)
    with serve(directory / "registry", address=address, tls=cert, htpasswd=htpasswd) as host:
        yield Registry(host, ca_dir / "ca.pem", user, password)


@contextlib.contextmanager
def trusted(registry: Registry) -> Iterator[Path]:
    """The engine trusts ``registry``'s CA (certs.d/HOST:PORT/ca.crt) until the block ends."""
    assert registry.ca is not None
    where = CERTS_D / registry.host
    assert not where.exists(), f"{where} exists already"
    where.mkdir(parents=True)
    try:
        shutil.copyfile(registry.ca, where / "ca.crt")
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)
        with contextlib.suppress(OSError):
            CERTS_D.rmdir()  # only when no other registry's directory is left
