"""The lock stage compiles environments that need nothing from each other at the same time
(issue 17: the lock overhead)."""

from __future__ import annotations

from venvship.environments import BUILD_ENV, Environment, EnvironmentSet, InputLine
from venvship.ops import lock


def _envs() -> EnvironmentSet:
    line = (InputLine("six", "pyproject.toml"),)
    return EnvironmentSet({
        "main": Environment("main", line, "pyproject.toml"),
        "dev": Environment("dev", line, "requirements/dev.in", "main"),
        "docs": Environment("docs", line, "pyproject.toml", "main"),
        "extra": Environment("extra", line, "pyproject.toml", "dev"),
        BUILD_ENV: Environment(BUILD_ENV, line, "pyproject.toml"),
    })


def test_an_environment_waits_for_its_base_and_the_others_run_together() -> None:
    plan = lock.LockPlan(compile=("main", "dev", "docs", "extra", BUILD_ENV), constraints_only=())
    assert lock.compile_waves(_envs(), plan, sdists=False) == [["main", BUILD_ENV], ["dev", "docs"], ["extra"]]


def test_with_allowed_sdists_the_build_environment_waits_for_every_other_lock() -> None:
    """Their pins name the sdists whose build requirements go into the build lock."""
    plan = lock.LockPlan(compile=("main", "dev", "docs", "extra", BUILD_ENV), constraints_only=())
    assert lock.compile_waves(_envs(), plan, sdists=True) == [["main"], ["dev", "docs"], ["extra"], [BUILD_ENV]]


def test_a_base_taken_from_its_existing_lock_is_not_waited_for() -> None:
    plan = lock.LockPlan(compile=("dev", "docs"), constraints_only=("main",))
    assert lock.compile_waves(_envs(), plan, sdists=False) == [["dev", "docs"]]
