"""Issue 13 item 9 (last point): the rendered Dockerfile builds with plain ``docker buildx build``,
as its header promises, for a project versioned by git tags (setuptools-scm): the header names
the build argument, and forgetting it fails with a line that says which one."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import run_cli
from venvship.settings import load_settings

pytestmark = pytest.mark.docker


def test_plain_buildx_build_of_a_setuptools_scm_project(scm_project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    project = scm_project
    rendered = run_cli("dockerfile", "--output", "Dockerfile", cwd=project)
    assert rendered.returncode == 0, rendered.stderr
    header = (project / "Dockerfile").read_text().split("\nARG ", 1)[0]
    assert "--build-arg VENVSHIP_APP_VERSION=X.Y.Z" in header

    ca = load_settings(project, environ={}).index.ca_bundle_path()
    secret = ["--secret", f"id=venvship_ca,src={ca}"] if ca else []
    tag = f"venvship-test/plain-buildx:{uuid.uuid4().hex[:10]}"

    def buildx(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "buildx", "build", "--progress", "plain", *secret, *args,
                               "-t", tag, "--load", "."], cwd=project, capture_output=True,
                              text=True, timeout=1200)

    try:
        forgot = buildx()
        assert forgot.returncode != 0
        assert "pass --build-arg VENVSHIP_APP_VERSION=X.Y.Z" in forgot.stderr, forgot.stderr[-3000:]
        done = buildx("--build-arg", "VENVSHIP_APP_VERSION=2.3.4", "--build-arg", "VENVSHIP_VERSION=2.3.4")
        assert done.returncode == 0, done.stderr[-3000:]
        probe = ["-c", "import importlib.metadata as m; print(m.version('hello-app'))"]
        assert engine.run(tag, probe, entrypoint=["/app/bin/python"])[1].strip() == "2.3.4"
        assert engine.image(tag)["Config"]["Labels"]["org.opencontainers.image.version"] == "2.3.4"
    finally:
        if engine.image(tag):
            engine.remove_image(tag)
