"""Secrets: a private index behind a password and a custom CA. Lock and build succeed, and the
password (in the netrc) and a canary line of the CA bundle appear nowhere: not in any layer of
``docker save``, not in ``docker history --no-trunc``, not in the image config, not in a lock.

Both reach BuildKit only as secrets (``venvship_netrc``, ``venvship_ca``), mounted for one RUN.
"""

from __future__ import annotations

import base64
import io
import json
import ssl
import subprocess
import tarfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.integration import localindex
from tests.integration.localindex import IndexServer

pytestmark = pytest.mark.docker
TAG = "venvship-test/private-index:it"
FRESH = "vsp-fresh"


@pytest.fixture(scope="module")
def built(private_index: IndexServer, private_bundle: Path, private_netrc: Path,
          tmp_path_factory: pytest.TempPathFactory, engine) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    # A wheel new to this run (a version never published before): no cache on the engine can hold
    # it, so the build must download it from the private index (uv's cache outlives a session, and
    # the index's address comes back with every session).
    fresh = localindex.wheel(tmp_path_factory.mktemp("fresh"), FRESH, f"1.{uuid.uuid4().int % 10**9}")
    private_index.upload(fresh)
    project = localindex.make_project(tmp_path_factory.mktemp("secrets") / "vsp-app", private_index,
                                      private_bundle, netrc=private_netrc, main_in=f"vsp-alpha\n{FRESH}\n")
    lock = run_cli("--progress", "quiet", "lock", cwd=project)
    assert lock.returncode == 0, lock.stderr[-2000:]
    build = run_cli("--progress", "quiet", "build", "--image", TAG, cwd=project)
    assert build.returncode == 0, build.stderr[-2000:]
    yield project
    engine.remove_image(TAG)


def _get(url: str, bundle: Path, auth: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=str(bundle)), timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_the_index_really_needs_the_password_and_the_ca(built: Path, private_index: IndexServer,
                                                        private_bundle: Path, canaries: dict[str, str]) -> None:
    url = private_index.url + "vsp-alpha/"
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=10)  # the system CAs only
    assert _get(url, private_bundle) == 401
    assert _get(url, private_bundle, ("vsp", canaries["password"])) == 200
    fresh = FRESH.replace("-", "_")
    served = [ln for ln in private_index.requests() if '" 200 ' in ln and f"/packages/{fresh}-" in ln]
    assert served, "the build never downloaded from the private index"


def leaks(data: bytes, needles: list[bytes], where: str) -> Iterator[str]:
    """Every place under ``data`` (a file, or a tar of tars of ... ) holding a needle."""
    for needle in needles:
        if needle in data:
            yield f"{where}: {needle.decode()}"
    if not tarfile.is_tarfile(io.BytesIO(data)):
        return
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        yield from members(archive, needles, where)


def members(archive: tarfile.TarFile, needles: list[bytes], where: str) -> Iterator[str]:
    for member in archive:
        for needle in needles:
            if needle in member.name.encode():
                yield f"{where}!{member.name} (name): {needle.decode()}"
        if member.isfile():
            extracted = archive.extractfile(member)
            if extracted is not None:
                yield from leaks(extracted.read(), needles, f"{where}!{member.name}")


def test_the_leak_scanner_finds_a_planted_secret(canaries: dict[str, str]) -> None:
    """The control: a canary inside a gzipped layer inside an image tar is found."""
    def tar(files: dict[str, bytes], mode: str = "w") -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode=mode) as tf:
            for name, content in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
        return buf.getvalue()

    layer = tar({"root/.netrc": f"password {canaries['password']}\n".encode()}, "w:gz")
    image = tar({"blobs/sha256/abc": layer, "index.json": b"{}"})
    found = list(leaks(image, [canaries["password"].encode()], "image.tar"))
    assert found == [f"image.tar!blobs/sha256/abc!root/.netrc: {canaries['password']}"]


def test_no_secret_in_any_layer_the_history_or_the_config(built: Path, canaries: dict[str, str],
                                                          tmp_path: Path, engine) -> None:  # type: ignore[no-untyped-def]
    needles = [v.encode() for v in canaries.values()]
    saved = tmp_path / "image.tar"
    subprocess.run(["docker", "save", "--output", str(saved), TAG], check=True)
    assert saved.stat().st_size > 10_000_000
    known = b"vsp-app with vsp-alpha"  # in the app's source, so in a layer: the scan sees it
    with tarfile.open(saved) as archive:
        found = list(members(archive, [*needles, known], "docker save"))
    assert any("vsp_app/__init__.py: vsp-app with vsp-alpha" in f for f in found), found
    assert [f for f in found if known.decode() not in f] == []
    history = subprocess.run(["docker", "history", "--no-trunc", "--format", "{{json .}}", TAG],
                             check=True, capture_output=True, text=True).stdout
    assert "/opt/venvship/user/" in history  # the runtime stage's steps are there to be read
    assert list(leaks(history.encode(), needles, "docker history")) == []
    config: Any = engine.image(TAG)
    assert list(leaks(json.dumps(config).encode(), needles, "docker image inspect")) == []


def test_no_secret_in_the_locks(built: Path, canaries: dict[str, str]) -> None:
    needles = [v.encode() for v in canaries.values()]
    lock_files = sorted((built / "requirements").glob("*.txt"))
    assert {p.name for p in lock_files} >= {"main.txt", "dev.txt", "build.txt"}
    for path in lock_files:
        assert list(leaks(path.read_bytes(), needles, str(path))) == []
