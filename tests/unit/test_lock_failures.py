"""How resolver failures become one-line errors (issue 13 item 7)."""

from __future__ import annotations

from pathlib import Path

from venvship.environments import Environment, EnvironmentSet, InputLine
from venvship.errors import LayeringConflictError, ResolutionError
from venvship.ops import lock

UV_NO_WHEELS = """\
  × No solution found when resolving dependencies:
  ╰─▶ Because all versions of uwsgi have no usable wheels and you require uwsgi, we can conclude
      that your requirements are unsatisfiable.

      hint: Wheels are required for `uwsgi` because building from source is disabled for all
      packages (i.e., with `--no-build`)
"""


def envs() -> EnvironmentSet:
    return EnvironmentSet({
        "main": Environment("main", (InputLine("six", "pyproject.toml"),), "pyproject.toml"),
        "server": Environment("server", (InputLine("uwsgi", "pyproject.toml"),), "pyproject.toml", "main"),
    })


def test_an_sdist_only_package_is_a_resolution_error_naming_allow_sdist(tmp_path: Path) -> None:
    plan = lock.LockPlan(compile=("main", "server"), constraints_only=())
    error = lock._failure("server", UV_NO_WHEELS, envs(), plan, tmp_path)
    assert type(error) is ResolutionError and not isinstance(error, LayeringConflictError)
    assert error.exit_code == 5
    assert "uwsgi has no usable wheel" in error.message
    assert error.hint is not None and 'allow-sdist = ["uwsgi"]' in error.hint and "build-packages" in error.hint


def test_the_package_is_read_from_each_wording() -> None:
    assert lock.sdist_only_package("Because uwsgi==2.0.28 has no usable wheels and you") == "uwsgi"
    assert lock.sdist_only_package("Because all versions of py-spy have no usable wheels") == "py-spy"
    assert lock.sdist_only_package("Because flask was not found in the package registry") is None
