"""Versions from VCS tags (setuptools-scm) although .git never enters the build context."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.integration.conftest import git
from venvship import lockfile

pytestmark = pytest.mark.docker


def test_setuptools_scm_version_is_handed_to_the_build(scm_project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    project = scm_project
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
