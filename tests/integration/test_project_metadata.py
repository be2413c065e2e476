"""The project's metadata from its PEP 517 backend (issue 13 item 3): setup.py, setup.cfg and
Poetry projects lock their real requirements, under their real name; the answer is recorded
next to the locks, and lock --check notices a file defining it changing. Fixtures are reduced
from corpus apps (flower: setup.py reading requirements/*.txt; datasette: an extra that cannot
live with main)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import PY311, one_error, run_cli, write_tree
from tests.integration.conftest import lock, versions
from venvship.settings import load_settings

pytestmark = pytest.mark.docker


def locked_main(project: Path) -> tuple[set[str], str]:
    """Lock: the names in the main lock and the app's name as venvship reads it."""
    result = lock(project)
    assert result.returncode == 0, result.stderr
    return set(versions(project, "main")), load_settings(project, environ={}).project_name


SETTINGS = f'[tool.venvship]\nbase-image = "{PY311}"\nrequirements-dir = "locks"\n'


def test_setup_py_reading_requirements_files(tmp_path: Path) -> None:
    """flower: setup.py reads requirements/default.txt; main had 0 requirements and the folder's
    name. An extra pinning an old version (min) is reported by name, the rest is locked."""
    project = write_tree(tmp_path / "checkout", {
        "pyproject.toml": SETTINGS,
        "setup.py": """\
            from setuptools import setup, find_packages

            def get_requirements(filename):
                return open('requirements/' + filename).read().splitlines()

            setup(
                name='flowerish',
                version='2.0.1',
                packages=find_packages(exclude=['tests', 'tests.*']),
                install_requires=get_requirements('default.txt'),
                extras_require={'test': get_requirements('test.txt'), 'min': ['six==1.15.0']},
            )
            """,
        "requirements/default.txt": "six\n",
        "requirements/test.txt": "iniconfig\n",
        "flowerish/__init__.py": "",
    })
    result = lock(project)
    assert result.returncode == 0, result.stderr
    assert set(versions(project, "main", "locks")) == {"six"}
    assert set(versions(project, "test", "locks")) == {"iniconfig"}
    assert not (project / "locks/min.txt").exists()
    assert "'min' was not locked" in result.stderr and 'ignore-envs = ["min"]' in result.stderr
    assert "(locks/main.txt, via" in result.stderr, result.stderr
    record = json.loads((project / "locks/project-metadata.json").read_text())
    assert record["name"] == "flowerish" and "requirements/default.txt" in record["sources"]
    assert load_settings(project, environ={}).project_name == "flowerish"
    envs = run_cli("envs", cwd=project)
    assert "main: 1 direct requirement(s) from setup.py via setuptools" in envs.stdout, envs.stdout

    check = run_cli("lock", "--check", cwd=project)
    assert check.returncode == 7 and "min: locks/min.txt is missing" in check.stderr, check.stderr
    (project / "pyproject.toml").write_text(SETTINGS + 'ignore-envs = ["min"]\n')
    check = run_cli("lock", "--check", cwd=project)
    assert check.returncode == 0, check.stderr

    # asked for explicitly, the odd extra fails the run (and writes nothing)
    (project / "pyproject.toml").write_text(SETTINGS)
    before = {p.name: p.read_bytes() for p in (project / "locks").iterdir()}
    explicit = lock(project, "--env", "min")
    assert explicit.returncode == 6, explicit.stderr
    assert "'min' requires six==1.15.0" in one_error(explicit.stderr)
    assert {p.name: p.read_bytes() for p in (project / "locks").iterdir()} == before

    # standalone (base = ""), it locks on its own
    (project / "pyproject.toml").write_text(SETTINGS + '[tool.venvship.environments.min]\nbase = ""\n')
    alone = lock(project, "--env", "min")
    assert alone.returncode == 0, alone.stderr
    assert versions(project, "min", "locks") == {"six": "1.15.0"}

    # a file setup.py reads changes: noticed without asking the backend
    (project / "requirements/default.txt").write_text("six\niniconfig\n")
    check = run_cli("lock", "--check", cwd=project)
    assert check.returncode == 7
    assert "project metadata: requirements/default.txt changed" in check.stderr, check.stderr
    again = lock(project)
    assert again.returncode == 0, again.stderr
    assert set(versions(project, "main", "locks")) == {"six", "iniconfig"}


def test_a_lock_never_overwrites_a_file_the_metadata_is_read_from(tmp_path: Path) -> None:
    project = write_tree(tmp_path / "app", {
        "pyproject.toml": f'[tool.venvship]\nbase-image = "{PY311}"\n',
        "setup.py": """\
            from setuptools import setup
            setup(name='readsreqs', version='1.0', py_modules=[],
                  extras_require={'test': open('requirements/test.txt').read().split()})
            """,
        "requirements/test.txt": "iniconfig\n",
    })
    result = lock(project)
    assert result.returncode == 3, result.stderr
    assert "would overwrite requirements/test.txt" in one_error(result.stderr)
    assert 'requirements-dir = "locks"' in result.stderr
    assert (project / "requirements/test.txt").read_text() == "iniconfig\n"


def test_poetry_dependencies_come_from_poetry_core(tmp_path: Path) -> None:
    project = write_tree(tmp_path / "folder-name", {
        "pyproject.toml": f"""\
            [build-system]
            requires = ["poetry-core>=1.0"]
            build-backend = "poetry.core.masonry.api"

            [tool.poetry]
            name = "poetic"
            version = "0.3.0"
            description = ""
            authors = ["A <a@example.org>"]

            [tool.poetry.dependencies]
            python = ">=3.9"
            six = "^1.16"

            [tool.venvship]
            base-image = "{PY311}"
            """,
        "poetic/__init__.py": "",
    })
    assert locked_main(project) == ({"six"}, "poetic")


def test_a_setup_cfg_project_builds_and_verifies_under_its_own_name(tmp_path: Path) -> None:
    """setup.cfg only: its install_requires reach the image and verify finds the app by the
    name the backend gave, not the folder's."""
    project = write_tree(tmp_path / "checkout", {
        "pyproject.toml": f"""\
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [tool.venvship]
            base-image = "{PY311}"
            app-module = "cfgapp"
            """,
        "setup.cfg": """\
            [metadata]
            name = cfgapp
            version = 1.2.0

            [options]
            packages = cfgapp
            install_requires = file: requirements.in

            [options.extras_require]
            test = iniconfig
            """,
        "requirements.in": "six\n",
        "cfgapp/__init__.py": "import six\n",
    })
    result = lock(project)
    assert result.returncode == 0, result.stderr
    assert set(versions(project, "main")) == {"six"}
    record = json.loads((project / "requirements/project-metadata.json").read_text())
    assert "requirements.in" in record["sources"], record
    tag = f"venvship-test/cfgapp:{uuid.uuid4().hex[:8]}"
    try:
        built = run_cli("--progress", "quiet", "build", "--image", tag, cwd=project)
        assert built.returncode == 0, built.stderr[-3000:]
        assert "verified" in built.stdout
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)


def test_a_backend_without_the_metadata_hook_is_read_from_its_wheel(tmp_path: Path) -> None:
    """prepare_metadata_for_build_wheel is optional (PEP 517): an in-tree backend (backend-path)
    without it is asked for a wheel, whose METADATA names the requirements."""
    project = write_tree(tmp_path / "checkout", {
        "pyproject.toml": f"""\
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "nometa"
            backend-path = ["_backend"]

            [tool.venvship]
            base-image = "{PY311}"
            """,
        "_backend/nometa.py": """\
            # setuptools' hooks, all but prepare_metadata_for_build_wheel
            from setuptools.build_meta import build_sdist, build_wheel, get_requires_for_build_wheel  # noqa: F401
            """,
        "setup.cfg": """\
            [metadata]
            name = nometa-app
            version = 0.1

            [options]
            py_modules = nometa_app
            install_requires = six
            """,
        "nometa_app.py": "",
    })
    assert locked_main(project) == ({"six"}, "nometa-app")


def test_a_backend_that_cannot_answer_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    project = write_tree(tmp_path / "broken", {
        "pyproject.toml": f'[tool.venvship]\nbase-image = "{PY311}"\n',
        "setup.py": "raise SystemExit('setup.py: the vendored sources are missing')\n",
    })
    result = lock(project)
    assert result.returncode == 5, result.stderr
    error = one_error(result.stderr)
    assert "could not give the project's metadata" in error and "vendored sources are missing" in error, error
    assert not (project / "requirements").exists()
