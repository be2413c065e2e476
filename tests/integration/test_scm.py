"""Versions from VCS tags (setuptools-scm) although .git never enters the build context."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli
from venvship import lockfile

pytestmark = pytest.mark.docker


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


def test_setuptools_scm_version_is_handed_to_the_build(copy_example, engine) -> None:  # type: ignore[no-untyped-def]
    project = copy_example()
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    text = text.replace('requires = ["setuptools>=69", "wheel"]', 'requires = ["setuptools>=69", "setuptools-scm>=8"]')
    text = text.replace('version = "1.2.0"', 'dynamic = ["version"]')
    pyproject.write_text(text + "\n[tool.setuptools_scm]\n")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "first")
    git(project, "tag", "v2.3.4")

    locked = run_cli("--progress", "quiet", "lock", "--env", "build", cwd=project)
    assert locked.returncode == 0, locked.stderr
    build_lock = lockfile.read(project / "requirements/build.txt", "build")
    assert build_lock is not None and "setuptools-scm" in build_lock.pins

    tag = "venvship-test/scm:it"
    result = run_cli("--progress", "quiet", "build", "--image", tag, "--no-verify", cwd=project)
    assert result.returncode == 0, result.stderr[-2000:]
    probe = ["-c", "import importlib.metadata as m; print(m.version('hello-app'))"]
    assert engine.run(tag, probe, entrypoint=["/app/bin/python"])[1].strip() == "2.3.4"
    assert engine.image(tag)["Config"]["Labels"]["org.opencontainers.image.version"] == "2.3.4"

    (project / "NEWS").write_text("one more commit\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "second")
    result = run_cli("--progress", "quiet", "build", "--image", tag, "--no-verify", cwd=project)
    assert result.returncode == 0, result.stderr[-2000:]
    version = engine.run(tag, probe, entrypoint=["/app/bin/python"])[1].strip()
    assert version.startswith("2.3.5.dev1+g"), version
    engine.remove_image(tag)
