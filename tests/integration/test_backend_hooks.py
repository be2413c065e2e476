"""Adopting projects as they are laid out: the build backend's hooks in the lock stage.

Small fixtures, each reduced from a corpus app (../shared/corpus), locked for real in the base
image against PyPI.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import PY311, run_cli
from venvship import lockfile

pytestmark = pytest.mark.docker


def lock(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--progress", "quiet", "lock", *args, cwd=project)


def versions(project: Path, env: str) -> dict[str, str]:
    parsed = lockfile.read(project / "requirements" / f"{env}.txt", env)
    assert parsed is not None
    return parsed.versions


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_flat_setuptools_project_locks_setup_requires_from_its_own_tree(tmp_path: Path) -> None:
    """Radicale's layout (setuptools, metadata in pyproject, flat) printed 'running egg_info' into
    build.in (exit 5); a setup.py reading a file of its tree lost its setup_requires."""
    project = write(tmp_path / "flatapp", {
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
    project = write(tmp_path / "radicale-like", {
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
