"""Adopting projects as they are laid out: the build backend's hooks in the lock stage.

Small fixtures, each reduced from a corpus app (../shared/corpus), locked for real in the base
image against PyPI.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import PY311, one_error, run_cli, write_tree
from tests.integration.conftest import lock, versions

pytestmark = pytest.mark.docker


def test_flat_setuptools_project_locks_setup_requires_from_its_own_tree(tmp_path: Path) -> None:
    """Radicale's layout (setuptools, metadata in pyproject, flat) printed 'running egg_info' into
    build.in (exit 5); a setup.py reading a file of its tree lost its setup_requires."""
    project = write_tree(tmp_path / "flatapp", {
        "pyproject.toml": f"""\
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "flatapp"
            version = "1.0"
            dependencies = ["six"]

            [tool.setuptools]
            packages = ["flatapp"]

            [tool.venvship]
            base-image = "{PY311}"
            """,
        "setup.py": """\
            import os
            from setuptools import setup

            if os.path.exists("build/marker"):  # venvship's default ignores keep build/ out
                raise SystemExit("an ignored file reached the lock stage")
            with open("flatapp/build-requires.txt") as fh:
                setup(setup_requires=fh.read().split())
            """,
        "flatapp/__init__.py": "",
        "flatapp/build-requires.txt": "tomli-w\n",
        "build/marker": "stale build output\n",
    })
    result = lock(project)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr
    build = versions(project, "build")
    assert "tomli-w" in build and "setuptools" in build, build
    assert set(versions(project, "main")) == {"six"}
    check = run_cli("lock", "--check", cwd=project)
    assert check.returncode == 0, check.stderr


def test_a_backend_printing_to_stdout_does_not_reach_the_build_lock(tmp_path: Path) -> None:
    """setuptools prints 'running egg_info' from get_requires_for_build_wheel: that was read as a
    requirement ("Couldn't parse requirement in in/build.in", exit 5)."""
    project = write_tree(tmp_path / "radicale-like", {
        "pyproject.toml": f"""\
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "radicale-like"
            version = "1.0"
            dependencies = ["six"]

            [tool.setuptools.packages.find]
            exclude = ["tests"]

            [tool.venvship]
            base-image = "{PY311}"
            """,
        "radicale_like/__init__.py": "",
    })
    result = lock(project)
    assert result.returncode == 0, result.stderr
    assert set(versions(project, "build")) == {"setuptools"}


def hatch_app(root: Path, dependencies: list[str], settings: str = "") -> Path:
    deps = ", ".join(f'"{d}"' for d in dependencies)
    return write_tree(root, {
        "pyproject.toml": f"""\
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "hatch-app"
            version = "1.0"
            dependencies = [{deps}]

            [project.optional-dependencies]
            server = ["uwsgi"]

            [tool.venvship]
            base-image = "{PY311}"
            {settings}
            """,
        "src/hatch_app/__init__.py": "",
    })


def test_an_sdist_only_package_is_named_with_the_setting_that_allows_it(tmp_path: Path) -> None:
    """uwsgi publishes no wheel: the layered 'server' env failed with exit 6 (a layering conflict)
    and uv's text; it is a resolution error naming allow-sdist."""
    project = hatch_app(tmp_path / "app", ["six"])
    # locking everything, the extra is reported by name with the advice and the rest is locked
    everything = lock(project)
    assert everything.returncode == 0, everything.stderr
    assert "'server' was not locked" in everything.stderr and 'allow-sdist = ["uwsgi"]' in everything.stderr
    assert not (project / "requirements/server.txt").exists()
    # asked for by name, it fails the run: a resolution error (5), not a layering conflict (6)
    result = lock(project, "--env", "server")
    assert result.returncode == 5, result.stderr
    error = one_error(result.stderr)
    assert "'server'" in error and "uwsgi has no usable wheel" in error, error
    assert 'allow-sdist = ["uwsgi"]' in result.stderr and "build-packages" in result.stderr
    assert not (project / "requirements/server.txt").exists()


def test_the_build_requirements_of_an_allowed_sdist_are_locked_and_the_image_builds(
        tmp_path: Path, engine) -> None:  # type: ignore[no-untyped-def]
    """A hatchling app depending on docopt (an sdist built by setuptools): build.txt lacked
    setuptools and the build stage failed on its missing hash."""
    project = hatch_app(tmp_path / "app", ["docopt"], 'allow-sdist = ["docopt"]')
    result = lock(project, "--env", "main", "--env", "build")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr
    assert {"hatchling", "setuptools"} <= set(versions(project, "build"))
    # the build lock alone: the sdist is pinned by main's lock, which this run leaves alone
    alone = lock(project, "--env", "build", "--upgrade")
    assert alone.returncode == 0, alone.stderr
    assert {"hatchling", "setuptools"} <= set(versions(project, "build"))
    tag = f"venvship-test/sdist-build-requires:{uuid.uuid4().hex[:8]}"
    try:
        built = run_cli("--progress", "plain", "build", "--image", tag, "--no-verify", cwd=project)
        assert built.returncode == 0, built.stderr[-3000:]
        code, out = engine.run(tag, ["python", "-c", "import docopt; print(docopt.__version__)"])
        assert code == 0 and out.strip(), out
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)


def test_a_build_hook_requirement_whose_marker_is_false_is_not_demanded(tmp_path: Path) -> None:
    """mkdocs' hatch build hook asks for "setuptools; python_version >= '3.12'": on 3.11 lock
    rightly left it out, and the build stage refused to build without it."""
    project = write_tree(tmp_path / "hookapp", {
        "pyproject.toml": f"""\
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "hookapp"
            version = "1.0"

            [tool.hatch.build.hooks.custom]
            dependencies = ["six", "tomli-w; python_version >= '3.12'"]

            [tool.venvship]
            base-image = "{PY311}"
            """,
        "hatch_build.py": """\
            from hatchling.builders.hooks.plugin.interface import BuildHookInterface


            class CustomBuildHook(BuildHookInterface):
                def initialize(self, version, build_data):
                    import six  # noqa: F401  (the hook's own dependency, from build.txt)
            """,
        "src/hookapp/__init__.py": "",
    })
    result = lock(project)
    assert result.returncode == 0, result.stderr
    build = versions(project, "build")
    assert "six" in build and "tomli-w" not in build, build
    tag = f"venvship-test/hookapp:{uuid.uuid4().hex[:8]}"
    try:
        built = run_cli("--progress", "quiet", "build", "--image", tag, cwd=project)
        assert built.returncode == 0, built.stderr[-3000:]
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)
