"""Hash checking in the image build, and how venvship closes pip's sdist build-dependency gap.

* A lock whose hash was altered, with its header recomputed so that venvship's own hand-edit
  check cannot notice: the build's installer refuses the file, and the error names it.
  (A missing hash and an unpinned line are refused before any build: test_bad_input.py,
  lock-hash-missing and lock-unpinned.)
* Binary-only by default; an sdist is built only when ``allow-sdist`` names it, and then every
  one of its build dependencies must come hash-checked from the build lock
  (``--build-constraint requirements/build.txt --require-build-hashes``): one that is not in it
  fails the build, naming it. uv's cache cannot short-cut this (``--refresh-package``).
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import one_error, run_cli
from tests.integration import localindex
from tests.integration.localindex import IndexServer
from venvship import lockfile

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def locked_app(private_index: IndexServer, private_bundle: Path, private_netrc: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = localindex.make_project(tmp_path_factory.mktemp("hashes") / "vsp-app", private_index,
                                      private_bundle, netrc=private_netrc)
    result = run_cli("--progress", "quiet", "lock", cwd=project)
    assert result.returncode == 0, result.stderr[-2000:]
    return project


def test_a_tampered_hash_fails_the_build_naming_the_distribution(locked_app: Path, tmp_path: Path,
                                                                  engine) -> None:  # type: ignore[no-untyped-def]
    project = tmp_path / "vsp-app"
    shutil.copytree(locked_app, project)
    path = project / "requirements/main.txt"
    lock = lockfile.read(path, "main")
    assert lock is not None
    real = lock.pins["vsp-beta"].hashes[0].split(":")[1]
    forged = "0" * 64
    path.write_text(lockfile.render("main", dict(lock.header), lock.body.replace(real, forged)))
    check = run_cli("--progress", "quiet", "lock", "--check", cwd=project)
    assert check.returncode == 0, "venvship's own checks must not see it: only the build's hash check"
    tag = "venvship-test/tampered:it"
    result = run_cli("--progress", "quiet", "build", "--image", tag, cwd=project)
    assert result.returncode == 13, result.stderr[-2000:]
    line = one_error(result.stderr)
    assert "Hash mismatch for `vsp-beta==1.0`" in line, line
    assert "[deps" in line, line  # the step that refused it
    assert engine.image(tag) is None


@pytest.fixture(scope="module")
def one_off_sdist(private_index: IndexServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An sdist no cache has seen, built by vsp-backend (a wheel on the index)."""
    name = f"vsp-sdist-{secrets.token_hex(4)}"
    private_index.upload(localindex.sdist(tmp_path_factory.mktemp("sdist"), name, "1.0", "vsp-backend"))
    return name


@pytest.fixture
def sdist_app(one_off_sdist: str, private_index: IndexServer, private_bundle: Path, private_netrc: Path,
              tmp_path: Path) -> Callable[[str], Path]:
    """A locked app on the private index that needs the one-off sdist, with these build-requires."""

    def make(build_requires: str) -> Path:
        settings = (f'allow-sdist = ["{one_off_sdist}"]\n'
                    + (f'build-requires = ["{build_requires}"]\n' if build_requires else ""))
        project = localindex.make_project(tmp_path / "vsp-app", private_index, private_bundle, netrc=private_netrc,
                                          main_in=f"vsp-alpha\n{one_off_sdist}\n", extra_settings=settings)
        result = run_cli("--progress", "quiet", "lock", cwd=project)
        assert result.returncode == 0, result.stderr[-2000:]
        return project

    return make


def test_an_sdist_build_dependency_outside_the_build_lock_fails_the_build(
    one_off_sdist: str, sdist_app: Callable[[str], Path], engine,  # type: ignore[no-untyped-def]
) -> None:
    project = sdist_app("")
    build_lock = lockfile.read(project / "requirements/build.txt", "build")
    assert build_lock is not None and "vsp-backend" in build_lock.pins  # lock found it
    # A build lock without it (compiled while the sdist was not allowed), built --allow-stale:
    # the build stage must refuse the sdist's unhashed build dependency.
    pyproject = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(pyproject.replace(f'allow-sdist = ["{one_off_sdist}"]\n', ""))
    relock = run_cli("--progress", "quiet", "lock", "--env", "build", cwd=project)
    assert relock.returncode == 0, relock.stderr[-2000:]
    (project / "pyproject.toml").write_text(pyproject)
    build_lock = lockfile.read(project / "requirements/build.txt", "build")
    assert build_lock is not None and "vsp-backend" not in build_lock.pins
    tag = "venvship-test/sdist-unhashed:it"
    result = run_cli("--progress", "quiet", "build", "--image", tag, "--allow-stale", cwd=project)
    assert result.returncode == 13, result.stderr[-2000:]
    line = one_error(result.stderr)
    assert f"Failed to download and build `{one_off_sdist}==1.0`" in line, line
    assert "no trusted hash was provided for: `vsp-backend`" in line, line
    assert engine.image(tag) is None


def test_an_sdist_builds_from_its_hash_checked_build_dependencies(
    one_off_sdist: str, sdist_app: Callable[[str], Path], engine,  # type: ignore[no-untyped-def]
) -> None:
    project = sdist_app("vsp-backend")
    build_lock = lockfile.read(project / "requirements/build.txt", "build")
    assert build_lock is not None and build_lock.pins["vsp-backend"].hashes
    tag = "venvship-test/sdist-hashed:it"
    result = run_cli("--progress", "plain", "build", "--image", tag, cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    try:
        assert re.search(rf"Built(?: wheel for)? `?{re.escape(one_off_sdist)}", result.stderr, re.I), \
            "the sdist was not built in the image build"
        module = one_off_sdist.replace("-", "_")
        code, out = engine.run(tag, ["-c", f"import {module}; print({module}.__version__)"],
                               entrypoint=["/app/bin/python"])
        assert (code, out.strip()) == (0, "1.0")
    finally:
        engine.remove_image(tag)
