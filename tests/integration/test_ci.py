"""The shell steps of 'venvship ci github|gitlab', run on this machine in a copy of hello-app:
GitHub's image-name step, 'lock --check', 'test', and the build-and-verify step of pull
requests (its registry cache source is an unreachable loopback registry: BuildKit warns and
builds). Not run here: 'build --push' with '--cache-to type=registry' (the docker driver refuses
cache export; the pipeline uses a docker-container builder, which needs a pulled BuildKit image),
the actions, logins and installs: those are checked against the published schemas only
(tests/unit/test_ci.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from venvship.ops.ci import BUILD_ONLY, LOCK_CHECK, TEST

pytestmark = pytest.mark.docker


def _pipeline(project: Path, provider: str) -> dict:  # type: ignore[type-arg]
    result = run_cli("ci", provider, cwd=project)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # the venvship under test
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **env, "PATH": path}, timeout=1200)


def test_the_pipelines_shell_steps_pass_here(copy_example, tmp_path: Path, engine) -> None:  # type: ignore[no-untyped-def]
    project = copy_example("hello-app")
    github = {step.get("name"): step["run"] for step in _pipeline(project, "github")["jobs"]["image"]["steps"]
              if "run" in step}
    gitlab = _pipeline(project, "gitlab")
    assert gitlab["lock-check"]["script"] == [LOCK_CHECK] and gitlab["test"]["script"] == [TEST]
    assert gitlab["build-verify"]["script"] == [BUILD_ONLY] == [github["Build and verify"]]

    github_env = tmp_path / "github-env"
    github_env.touch()
    names = _bash(github["Image and cache names"], project,
                  {"GITHUB_REPOSITORY": "Acme/Hello-App", "GITHUB_SHA": "0123456789abcdef" * 2 + "01234567",
                   "GITHUB_ENV": str(github_env)})
    assert names.returncode == 0, names.stderr
    assert github_env.read_text().splitlines() == ["IMAGE=ghcr.io/acme/hello-app:0123456789ab",
                                                   "CACHE=ghcr.io/acme/hello-app:buildcache"]

    for name in ("Locks are up to date", "Tests in the image"):
        step = _bash(github[name], project, {})
        assert step.returncode == 0, f"{name}: {step.stdout[-2000:]}{step.stderr[-2000:]}"

    image = f"venvship-test/ci-{uuid.uuid4().hex[:8]}:1"
    try:
        build = _bash(github["Build and verify"], project,
                      {"IMAGE": image, "CACHE": "127.0.0.1:9/venvship-test/no-cache:buildcache"})
        assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-3000:]
        assert engine.image(image) is not None
    finally:
        engine.remove_image(image)
