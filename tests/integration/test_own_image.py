"""venvship's own image, dogfooded (issue 18): venvship's own locks (requirements/*.txt, made by
'venvship lock' at the repository root) are current, Dockerfile.build (rendered by venvship from
its own [tool.venvship] and .venvship/templates/Dockerfile.j2) builds and verifies, and the image
runs: '--version', and 'lock --check' on examples/hello-app through the engine's socket as its
non-root user (--group-add the socket's group)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT, run_cli
from venvship import __version__

pytestmark = pytest.mark.docker

RELOCK = ("venvship's own locks are stale: pyproject.toml's dependencies (or the base image) changed "
          "since requirements/*.txt were made. Re-lock at the repository root and commit them: "
          "'.venv/bin/venvship lock && git add requirements/'")


def test_venvships_own_locks_are_current() -> None:
    result = run_cli("lock", "--check", cwd=ROOT)
    assert result.returncode == 0, f"{RELOCK}\n{result.stdout}{result.stderr}"


@pytest.fixture(scope="module")
def own_image(engine) -> Iterator[str]:  # type: ignore[no-untyped-def]
    tag = f"venvship-test/self-{uuid.uuid4().hex[:8]}:1"
    # --check-reproducible: Dockerfile.build is reproducible too (issue 16), checked with a --no-cache build.
    result = run_cli("build", "--quiet", "--check-reproducible", "--image", tag, cwd=ROOT)
    try:
        assert result.returncode == 0, f"{result.stderr[-3000:]}\n(if the locks are stale: {RELOCK})"
        yield tag
    finally:
        engine.remove_image(tag)


def _socket(engine) -> Path:  # type: ignore[no-untyped-def]
    host = engine.endpoint().host
    if not host.startswith("unix://"):
        pytest.skip(f"the engine is not reached through a unix socket ({host})")
    return Path(host.removeprefix("unix://"))


def test_the_image_runs_its_version(own_image: str) -> None:
    out = subprocess.run(["docker", "run", "--rm", own_image, "--version"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"venvship {__version__}"


def test_the_image_checks_a_projects_locks_through_the_socket(own_image: str, engine) -> None:  # type: ignore[no-untyped-def]
    socket = _socket(engine)
    run = ["docker", "run", "--rm", "-v", f"{socket}:/var/run/docker.sock",
           "-v", f"{EXAMPLES / 'hello-app'}:/src:ro", "-w", "/src"]
    group = ["--group-add", str(os.stat(socket).st_gid)]
    checked = subprocess.run([*run, *group, own_image, "lock", "--check"], capture_output=True, text=True,
                             timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "locks are up to date: main" in checked.stdout + checked.stderr
    user = subprocess.run([*run, "--entrypoint", "id", own_image, "-u"], capture_output=True, text=True)
    assert user.stdout.strip() != "0", "the image runs as root"
    if os.stat(socket).st_gid != 0 and os.stat(socket).st_mode & 0o006 == 0:
        # Without the socket's group the non-root user is refused: --group-add is what makes it work.
        refused = subprocess.run([*run, own_image, "lock", "--check"], capture_output=True, text=True, timeout=300)
        assert refused.returncode == 10, refused.stdout + refused.stderr
        assert "Permission denied" in refused.stderr
