"""A private package index for the integration tests: pypiserver over HTTPS in a container.

* Packages: tiny wheels made here (``vsp-alpha``, ``vsp-beta``, ...: deterministic, fast), plus
  uv and the SBOM library (venvship's tool stages install them from the configured index) and
  flit_core (the test app's build backend), downloaded hash-checked when the server image is built.
* TLS with a CA made for the session (openssl); the server certificate names the container's
  bridge address, which BuildKit's RUN steps reach.
* Optional basic auth (pypiserver's htpasswd), and faults switched at run time
  (``set_mode("500" | "hang" | "index" | "drop N TEXT")``: indexserver/serve.py); ``kill()``
  makes the index disappear.

The server container is started with testcontainers.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import PY311, ROOT

IMAGE = "venvship-test/index:it"
PORT = 8443
FLIT_CORE = (
    "flit-core==3.12.0 "
    "--hash=sha256:e7a0304069ea895172e3c7bb703292e992c5d1555dd1233ab7b5621b5b69e62c"
)
_EPOCH = (2020, 1, 1, 0, 0, 0)


# ---- packages --------------------------------------------------------------------------------
def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _zip(path: Path, files: Mapping[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)
    return path


def wheel(dest: Path, name: str, version: str, *, requires: Sequence[str] = (),
          files: Mapping[str, str] | None = None, entry_points: str = "") -> Path:
    """A pure-Python wheel, byte for byte the same every time."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    content = dict(files or {f"{dist}/__init__.py": f'"""{name}, a venvship test package."""\n'
                                                     f'__version__ = "{version}"\n'})
    content[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires)
    )
    content[f"{info}/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: venvship-tests\nRoot-Is-Purelib: true\n"
                                "Tag: py3-none-any\n")
    if entry_points:
        content[f"{info}/entry_points.txt"] = entry_points
    record = "".join(f"{p},{_record_hash(t.encode())},{len(t.encode())}\n" for p, t in content.items())
    content[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    return _zip(dest / f"{dist}-{version}-py3-none-any.whl", content)


BACKEND = '''\
"""A PEP 517 backend in one module: builds a wheel of the package beside pyproject.toml."""
import base64, hashlib, os, zipfile

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version = open("NAME").read().split()
    dist = name.replace("-", "_")
    info = "%s-%s.dist-info" % (dist, version)
    files = {}
    for root, _, names in os.walk(dist):
        for n in names:
            files[os.path.join(root, n)] = open(os.path.join(root, n), "rb").read()
    files[info + "/METADATA"] = ("Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n" % (name, version)).encode()
    files[info + "/WHEEL"] = b"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    rec = "".join("%s,sha256=%s,%d\\n" % (p, base64.urlsafe_b64encode(hashlib.sha256(d).digest())
                  .rstrip(b"=").decode(), len(d)) for p, d in files.items())
    files[info + "/RECORD"] = (rec + info + "/RECORD,,\\n").encode()
    out = "%s-%s-py3-none-any.whl" % (dist, version)
    with zipfile.ZipFile(os.path.join(wheel_directory, out), "w") as zf:
        for p, d in files.items():
            zf.writestr(zipfile.ZipInfo(p, date_time=(2020, 1, 1, 0, 0, 0)), d)
    return out
'''


def sdist(dest: Path, name: str, version: str, backend: str) -> Path:
    """A source distribution built by ``backend`` (a package on the index). Give it a name of
    its own per session: uv keeps wheels it built from an sdist of the same name and URL."""
    dist = name.replace("-", "_")
    top = f"{dist}-{version}"
    files = {
        f"{top}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{top}/pyproject.toml": (f'[build-system]\nrequires = ["{backend}"]\n'
                                  f'build-backend = "{backend.replace("-", "_")}"\n'),
        f"{top}/NAME": f"{name} {version}\n",
        f"{top}/{dist}/__init__.py": f'__version__ = "{version}"\n',
    }
    path = dest / f"{top}.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size, info.mode, info.mtime = len(data), 0o644, 1577836800
            tf.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    return path


def fake_packages(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for version in ("1.0", "1.1"):
        wheel(dest, "vsp-beta", version)
        wheel(dest, "vsp-alpha", version, requires=["vsp-beta>=1.0"])
    wheel(dest, "vsp-backend", "1.0", files={"vsp_backend.py": BACKEND})


def _tool_patterns(lock: str) -> tuple[str, ...]:
    """Shell globs for the wheels of a tools lock (a wheel's file name spells '-', '_' and '.'
    of the project name its own way: any one character stands for each)."""
    # pins with a marker (tomli ; python_full_version < '3.11') are not downloaded for the index's Python
    names = re.findall(r"(?m)^([A-Za-z0-9][A-Za-z0-9._-]*)==[^;\n]*\\?$", (ROOT / "src/venvship/tools" / lock).read_text())
    return tuple(re.sub(r"[-_.]+", "?", name) + "-*" for name in names)


# What a server publishes unless told otherwise: the tools (uv, and the SBOM stage's library: a
# runtime build installs both from the configured index), the test app's backend, and the 1.0
# releases (the 1.1 releases are there to be published later, e.g. for 'lock --upgrade').
BASE_SET = ("uv-*", *_tool_patterns("sbom.txt"), "flit_core-*", "vsp_alpha-1.0-*", "vsp_beta-1.0-*",
            "vsp_backend-*")


# ---- TLS -------------------------------------------------------------------------------------
def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=venvship test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=directory)
    return directory / "ca.pem"


def server_cert(ca_dir: Path, ip: str, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ext.cnf").write_text(f"subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={ip}", "-keyout", "key.pem",
             "-out", "req.csr", cwd=directory)
    _openssl("x509", "-req", "-in", "req.csr", "-CA", str(ca_dir / "ca.pem"), "-CAkey", str(ca_dir / "ca.key"),
             "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "cert.pem", cwd=directory)
    return directory / "cert.pem", directory / "key.pem"


def ca_bundle(ca_pem: Path, dest: Path, comment: str = "") -> Path:
    """The host's bundle (so public indexes still verify) plus the session CA."""
    host = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")
    parts = [host.read_text()] if host.is_file() else []
    if comment:
        parts.append(f"# {comment}\n")
    parts.append(ca_pem.read_text())
    dest.write_text("".join(parts))
    return dest


# ---- the server image ----------------------------------------------------------------------
def build_image(workdir: Path) -> str:
    """Build (or reuse from BuildKit's cache) the index server image."""
    from venvship.engine import BuildRequest, Engine, Secret

    ctx = workdir / "index-image"
    shutil.copytree(Path(__file__).parent / "indexserver", ctx)
    tools = "".join((ROOT / "src/venvship/tools" / name).read_text().rstrip() + "\n" for name in ("uv.txt", "sbom.txt"))
    (ctx / "published.txt").write_text(tools + FLIT_CORE + "\n")
    fake_packages(ctx / "packages")
    ca = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")  # the host's proxy CA
    Engine().build(BuildRequest(
        context=ctx, dockerfile=ctx / "Dockerfile", tags=(IMAGE,), build_args={"BASE_IMAGE": PY311},
        secrets=(Secret("ca", ca),) if ca.is_file() else (),
    ))
    return IMAGE


# ---- a running server ----------------------------------------------------------------------
@dataclass
class IndexServer:
    container: Any  # testcontainers' DockerContainer
    ip: str
    user: str | None
    password: str | None

    @property
    def url(self) -> str:
        return f"https://{self.ip}:{PORT}/simple/"

    @property
    def wrapped(self) -> Any:
        return self.container.get_wrapped_container()

    def sh(self, script: str) -> str:
        code, out = self.wrapped.exec_run(["sh", "-c", script])
        assert code == 0, out.decode()
        return str(out.decode())

    def publish(self, *patterns: str) -> None:
        """Make packages from /srv/packages-all available (shell globs)."""
        self.sh("cd /srv/packages-all && cp " + " ".join(patterns) + " /packages/")

    def upload(self, *files: Path) -> None:
        """Publish files made by the test (e.g. a one-off sdist nothing has cached yet)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            for path in files:
                tf.add(str(path), path.name)
        self.wrapped.put_archive("/packages", buf.getvalue())

    def set_mode(self, mode: str) -> None:
        self.sh(f"echo {mode} > /srv/mode")

    def log(self) -> str:
        return str(self.wrapped.logs().decode("utf-8", "replace"))

    def requests(self) -> list[str]:
        return [ln for ln in self.log().splitlines() if ln.startswith("vsp-request")]

    def netrc(self, dest: Path) -> Path:
        assert self.user and self.password
        dest.write_text(f"machine {self.ip}\nlogin {self.user}\npassword {self.password}\n")
        dest.chmod(0o600)
        return dest

    def kill(self) -> None:
        self.wrapped.kill()


@contextmanager
def running(image: str, ca_dir: Path, workdir: Path, *, user: str | None = None,
            password: str | None = None, publish: Iterable[str] = BASE_SET) -> Iterator[IndexServer]:
    from testcontainers.core.container import DockerContainer

    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    env = {"VSP_PORT": str(PORT), "VSP_TLS_CERT": "/srv/tls/cert.pem", "VSP_TLS_KEY": "/srv/tls/key.pem"}
    if user and password:
        env.update(VSP_USER=user, VSP_PASSWORD=password)
    container = DockerContainer(image, env=env)
    container.start()
    try:
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        ip = wrapped.attrs["NetworkSettings"]["IPAddress"]
        cert, key = server_cert(ca_dir, ip, workdir / f"tls-{ip}")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            tf.add(str(cert), "cert.pem")
            tf.add(str(key), "key.pem")
        wrapped.put_archive("/srv/tls", buf.getvalue())
        server = IndexServer(container, ip, user, password)
        deadline = time.monotonic() + 30
        while "vsp-ready" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        patterns = list(publish)
        if patterns:
            server.publish(*patterns)
        yield server
    finally:
        container.stop()


# ---- a project that installs from the index only --------------------------------------------
APP_INIT = '''\
"""venvship's test app: everything it needs comes from the local index."""
import vsp_alpha


def main() -> None:
    print("vsp-app with vsp-alpha", vsp_alpha.__version__)
'''


def make_project(dest: Path, index: IndexServer, bundle: Path, *, netrc: Path | None = None,
                 main_in: str = "vsp-alpha\n", dev_in: str | None = "-c main.txt\nvsp-beta\n",
                 extra_settings: str = "") -> Path:
    dest.mkdir(parents=True)
    settings = [f'base-image = "{PY311}"', f'index-url = "{index.url}"', f'ca-bundle = "{bundle}"']
    if netrc is not None:
        settings.append(f'netrc = "{netrc}"')
    (dest / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["flit_core>=3.12,<4"]\nbuild-backend = "flit_core.buildapi"\n\n'
        '[project]\nname = "vsp-app"\nversion = "0.1.0"\ndescription = "A venvship test app."\n'
        'requires-python = ">=3.9"\ndependencies = []\n\n'
        '[project.scripts]\nvsp-app = "vsp_app:main"\n\n'
        "[tool.venvship]\n" + "\n".join(settings) + "\n" + extra_settings
    )
    (dest / "vsp_app").mkdir()
    (dest / "vsp_app/__init__.py").write_text(APP_INIT)
    req = dest / "requirements"
    req.mkdir()
    (req / "main.in").write_text(main_in)
    if dev_in is not None:
        (req / "dev.in").write_text(dev_in)
    return dest
