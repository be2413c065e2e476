"""The layer groups' ``wheels`` step against a flaky index: a wheel download cut mid-body (what a
flaky proxy does) is fetched again, only the pins still missing, 3 attempts in all; a pin that
cannot be fetched in 3 attempts fails the build with one line naming it. pip does not retry a
body cut short itself: the base image's pip 23 takes the half file and refuses it on its hash
(a pip with the incomplete-download check stops on it), so one cut failed the build before.

The index is the local pypiserver (tests/integration/localindex.py) in mode ``drop N TEXT``: the
first N downloads of the wheel whose path holds TEXT send half the body and drop the connection.
The project pins 18 tiny wheels (layer groups from 16), made for this run: their hashes are new,
so the wheel store (a cache mount shared by every build on the engine) holds none of them.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import one_error, run_cli
from tests.integration import buildkit, localindex
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
    assert " AS wheels\n" in dockerfile.stdout, dockerfile.stderr[-2000:]  # 18 pins: layer groups
    flaky_wheel = f"{FLAKY.replace('-', '_')}-{version}-"
    tag = f"venvship-test/wheel-fetch:{uuid.uuid4().hex[:12]}"
    try:
        # Lost: cut more times than there are attempts. pip asks once an attempt (it does not
        # retry a cut body itself: without venvship's retry one cut fails the build); the others
        # are fetched and kept in the store; the one line names the lost pin alone.
        seen = len(server.log().splitlines())
        server.set_mode(f"drop 3 {flaky_wheel}")
        lost = run_cli("--progress", "plain", "build", "--image", tag, cwd=project)
        assert lost.returncode == 13, lost.stderr[-3000:]
        line = one_error(lost.stderr)
        assert "[wheels " in line and f"venvship: error: no wheel fetched for: {FLAKY}=={version}" in line, line
        assert not any(n in line for n in FILLERS if n != FLAKY), line
        assert downloads(server, seen, FLAKY) == (3, 0), server.log()[-3000:]
        for name in FILLERS:
            if name != FLAKY:
                dropped, served = downloads(server, seen, name)
                assert dropped == 0 and served >= 1, (name, server.log()[-3000:])
        fetched_again = [t for t in buildkit.output(lost.stderr, "wheels") if "fetching again" in t]
        assert len(fetched_again) == 2, buildkit.output(lost.stderr, "wheels")

        # Flaky: dropped once. The second attempt fetches it (and nothing else: the rest is in the
        # store) and the build passes; the step's log says so.
        seen = len(server.log().splitlines())
        server.set_mode(f"drop 1 {flaky_wheel}")
        built = run_cli("--progress", "plain", "build", "--image", tag, cwd=project)
        assert built.returncode == 0, built.stderr[-3000:]
        said = buildkit.output(built.stderr, "wheels")
        assert (f"venvship: a wheel fetch failed; fetching again in 2 s (attempt 2 of 3): {FLAKY}=={version}"
                in said), said
        assert any(t.startswith("pip (attempt 1): ") for t in said), said  # why, from pip
        assert downloads(server, seen, FLAKY) == (1, 1), server.log()[-3000:]
        for name in FILLERS:
            if name != FLAKY:
                assert downloads(server, seen, name) == (0, 0), (name, server.log()[-3000:])
        run = subprocess.run(["docker", "run", "--rm", "--entrypoint", "/app/bin/python", tag, "-c",
                              f"import {FLAKY.replace('-', '_')} as m; print(m.__version__)"],
                             capture_output=True, text=True, timeout=120)
        assert run.stdout.strip() == version, run.stderr
    finally:
        server.set_mode("index")
        subprocess.run(["docker", "image", "rm", "--force", tag], capture_output=True)
