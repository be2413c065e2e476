"""The layer groups' installs against a flaky index: a wheel download cut mid-body (what a flaky
proxy does) is fetched again by uv (each group's step installs from the index); a wheel that
cannot be fetched fails the build with one line naming it. Before the groups fetched with uv, one
`wheels` step fetched them with pip, which does not retry a body cut short (venvship retried it).

The index is the local pypiserver (tests/integration/localindex.py) in mode ``drop N TEXT``: the
first N downloads of the wheel whose path holds TEXT send half the body and drop the connection.
The project pins 18 tiny wheels (layer groups from 16), made for this run: their hashes are new,
so uv's cache (a cache mount shared by every build on the engine) holds none of them.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import one_error, run_cli, snapshot
from tests.integration import localindex
from tests.integration.localindex import IndexServer

pytestmark = pytest.mark.docker

FILLERS = [f"vsp-fill-{i:02d}" for i in range(16)]
FLAKY = "vsp-fill-07"


@pytest.fixture(scope="module")
def server(index_image: str, test_ca: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    with localindex.running(index_image, test_ca, tmp_path_factory.mktemp("flaky-index")) as srv:
        yield srv


@pytest.fixture(scope="module")
def version(server: IndexServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The fillers' version: new for each run (new files, new hashes)."""
    version = f"1.{secrets.randbelow(10**9)}"
    dest = tmp_path_factory.mktemp("fillers")
    server.upload(*(localindex.wheel(dest, name, version) for name in FILLERS))
    return version


def downloads(server: IndexServer, seen: int, name: str) -> tuple[int, int]:
    """(dropped, served) downloads of ``name``'s wheel among the requests after the first ``seen``."""
    file = re.escape(name.replace("-", "_")) + r"-[^ /]*\.whl"
    lines = server.log().splitlines()[seen:]
    dropped = sum(1 for ln in lines if re.match(rf"vsp-request dropped /packages/{file} ", ln))
    served = sum(1 for ln in lines if re.match(rf'vsp-request "GET /packages/{file} HTTP/1\.[01]" 200 ', ln))
    return dropped, served


def test_a_dropped_wheel_download_is_fetched_again_and_a_lost_one_is_named(
        server: IndexServer, version: str, private_bundle: Path, tmp_path: Path) -> None:
    project = localindex.make_project(tmp_path / "vsp-app", server, private_bundle,
                                      main_in="vsp-alpha\n" + "".join(f"{n}\n" for n in FILLERS), dev_in=None)
    locked = run_cli("--progress", "quiet", "lock", cwd=project)
    assert locked.returncode == 0, locked.stderr[-2000:]
    dockerfile = run_cli("dockerfile", cwd=project)
    assert " AS deps-" in dockerfile.stdout, dockerfile.stderr[-2000:]  # 18 pins: layer groups
    flaky_wheel = f"{FLAKY.replace('-', '_')}-{version}-"
    tag = f"venvship-test/wheel-fetch:{uuid.uuid4().hex[:12]}"
    try:
        # Lost: cut more times than uv tries. uv asks again after each cut (its own retries), then
        # the build fails with one line naming the wheel; the other wheels are served.
        seen = len(server.log().splitlines())
        server.set_mode(f"drop 50 {flaky_wheel}")
        locks = snapshot(project / "requirements")
        lost = run_cli("--progress", "plain", "build", "--image", tag, cwd=project)
        assert lost.returncode == 13, lost.stderr[-3000:]
        assert snapshot(project / "requirements") == locks  # the failed build leaves the locks as they were
        assert image_id(tag) is None  # and tags nothing
        line = one_error(lost.stderr)
        assert re.search(rf"in \[deps-[a-z0-9-]+ 1/1\]: error: Failed to download `{FLAKY}=={re.escape(version)}`", line), line
        assert not any(n in line for n in FILLERS if n != FLAKY), line
        dropped, served = downloads(server, seen, FLAKY)
        assert dropped >= 2 and served == 0, server.log()[-3000:]
        assert all(downloads(server, seen, name)[0] == 0 for name in FILLERS if name != FLAKY), server.log()[-3000:]

        # Flaky: dropped once. uv fetches it again and the build passes.
        seen = len(server.log().splitlines())
        server.set_mode(f"drop 1 {flaky_wheel}")
        built = run_cli("--progress", "plain", "build", "--image", tag, cwd=project)
        assert built.returncode == 0, built.stderr[-3000:]
        assert downloads(server, seen, FLAKY) == (1, 1), server.log()[-3000:]
        run = subprocess.run(["docker", "run", "--rm", "--entrypoint", "/app/bin/python", tag, "-c",
                              f"import {FLAKY.replace('-', '_')} as m; print(m.__version__)"],
                             capture_output=True, text=True, timeout=120)
        assert run.stdout.strip() == version, run.stderr

        # Lost again once the tag exists: it stays on the image built above.
        built_id = image_id(tag)
        server.set_mode(f"drop 50 {flaky_wheel}")
        again = run_cli("--progress", "plain", "build", "--no-cache", "--image", tag, cwd=project)
        assert again.returncode == 13, again.stderr[-3000:]
        assert image_id(tag) == built_id and built_id is not None
        assert snapshot(project / "requirements") == locks
    finally:
        server.set_mode("index")
        subprocess.run(["docker", "image", "rm", "--force", tag], capture_output=True)


def image_id(ref: str) -> str | None:
    proc = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None
