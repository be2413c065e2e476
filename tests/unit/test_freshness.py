"""Lock status judged in one place: freshness.judge's typed problems, and how lock --check and
install word them."""

from __future__ import annotations

from pathlib import Path

import pytest

from venvship import lockfile
from venvship.environments import discover
from venvship.freshness import (
    Damaged,
    InputsChanged,
    Missing,
    OtherBaseImage,
    OtherInterpreter,
    PinConflict,
    ToAdopt,
    interpreter_problems,
    judge,
    pin_conflicts,
)
from venvship.interpreter import Interpreter
from venvship.lockfile import Lock, Pin
from venvship.ops.install import compatibility_problems
from venvship.ops.lock import check_lines
from venvship.settings import load_settings

H = "sha256:" + "a" * 64
ALL = ["main", "dev", "build"]


def settings_of(project: Path, **overrides: str):  # type: ignore[no-untyped-def]
    return load_settings(project, overrides, environ={})


def relock(path: Path, env: str, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in ``env``'s lock body, as if 'venvship lock' had written it."""
    lock = lockfile.read(path, env)
    assert lock is not None and old in lock.body
    header = {k: v for k, v in lock.header.items() if k != "body-sha256"}
    lockfile.write_atomically({path: lockfile.render(env, header, lock.body.replace(old, new))})


def test_the_examples_locks_are_usable(copy_example) -> None:  # type: ignore[no-untyped-def]
    settings = settings_of(copy_example())
    envs = discover(settings)
    main = lockfile.read(settings.lock_path("main"), "main")
    assert main is not None
    target = Interpreter.from_header(main.header)
    verdict = judge(settings, envs, ALL, target=target, adoption=True)
    assert verdict.problems == () and set(verdict.locks) == set(ALL) and verdict.first() is None


def test_missing_damaged_and_changed_inputs(copy_example) -> None:  # type: ignore[no-untyped-def]
    project = copy_example()
    (project / "requirements" / "build.txt").unlink()
    dev = project / "requirements" / "dev.txt"
    dev.write_text(dev.read_text().replace("# via", "# via me and", 1))
    main_in = project / "requirements" / "main.in"
    main_in.write_text(main_in.read_text() + "click>=8\n")
    settings = settings_of(project)
    verdict = judge(settings, discover(settings), ALL)
    damaged = verdict.problems[1]
    assert verdict.problems == (InputsChanged("main"), damaged, Missing("build"))
    assert isinstance(damaged, Damaged) and damaged.env == "dev" and "body hash mismatch" in damaged.error.message
    assert set(verdict.locks) == {"main"}
    assert verdict.first(Missing, Damaged) is damaged


def test_pins_to_adopt_or_a_damaged_lock(copy_example) -> None:  # type: ignore[no-untyped-def]
    project = copy_example()
    (project / "requirements" / "main.txt").write_text("flask==3.1.3\n")  # not venvship's
    settings = settings_of(project)
    envs = discover(settings)
    [adopt] = judge(settings, envs, ["main"], adoption=True).problems
    assert isinstance(adopt, ToAdopt) and "was not written by venvship" in adopt.message
    [damaged] = judge(settings, envs, ["main"]).problems  # install and build do not adopt: refused
    assert isinstance(damaged, Damaged) and "has no hash" in damaged.error.message


def test_another_base_image_interpreter_or_layered_pin(copy_example) -> None:  # type: ignore[no-untyped-def]
    project = copy_example()
    relock(project / "requirements" / "dev.txt", "dev", "blinker==1.9.0", "blinker==1.8.2")
    settings = settings_of(project, base_image="other:1")
    envs = discover(settings)
    target = Interpreter("cpython", "3.12.1", "linux", "x86_64", "linux-x86_64")
    problems = judge(settings, envs, ["main", "dev"], target=target).problems
    assert OtherBaseImage("main", "venvship-local/python:3.11-bookworm", "other:1") in problems
    conflict = PinConflict("dev", "main", "blinker", "1.8.2", "1.9.0")
    assert conflict in problems
    other = [p for p in problems if isinstance(p, OtherInterpreter)]
    assert [p.env for p in other] == ["main", "dev"]
    assert other[0].python_differs and not other[0].platform_differs
    assert check_lines(conflict, "requirements/dev.txt") == ["dev: pins blinker==1.8.2 but main pins 1.9.0"]
    assert check_lines(other[0], "requirements/main.txt") == ["main: compiled for Python cpython 3.11.2, the base image has 3.12.1"]
    assert judge(settings, envs, ["dev"]).first(PinConflict) is None  # main not among the names


def lock(python: str = "cpython 3.11.2", platform: str = "linux x86_64 (linux-x86_64)") -> Lock:
    return Lock("main", {"python": python, "platform": platform}, {}, "")


@pytest.mark.parametrize(("target", "python", "platform", "install_says"), [
    (Interpreter("cpython", "3.11.9", "linux", "x86_64"), False, False, None),  # another patch level fits
    (Interpreter("cpython", "3.12.1", "linux", "x86_64"), True, False,
     "main: compiled for cpython 3.11.2, the target interpreter is cpython 3.12.1"),
    (Interpreter("pypy", "3.11.7", "linux", "x86_64"), True, False, "the target interpreter is pypy 3.11.7"),
    (Interpreter("cpython", "3.11.7", "linux", "aarch64"), False, True,
     "main: compiled for linux x86_64, the target interpreter runs on linux aarch64"),
    (Interpreter("cpython", "3.9.2", "darwin", "arm64"), True, True, "the target interpreter is cpython 3.9.2"),
])
def test_one_interpreter_rule_worded_by_each_caller(target: Interpreter, python: bool, platform: bool,
                                                    install_says: str | None) -> None:
    found = interpreter_problems({"main": lock()}, target)
    assert [(p.python_differs, p.platform_differs) for p in found] == ([(python, platform)] if found else [])
    assert bool(found) == (python or platform)
    install = compatibility_problems({"main": lock()}, target)
    assert (install_says is None and install == []) or (len(install) == 1 and install_says in install[0])
    if found:  # lock --check says both, install the first
        assert len(check_lines(found[0], "requirements/main.txt")) == python + platform


def test_a_header_that_does_not_say_is_a_problem() -> None:
    target = Interpreter("cpython", "3.11.2", "linux", "x86_64")
    [problem] = interpreter_problems({"main": lock(python="")}, target)
    assert problem.locked is None and problem.python_differs and problem.platform_differs
    assert compatibility_problems({"main": lock(python="")}, target) == [
        "main: the lock's header does not say which Python it is for"]


def test_the_layered_pin_rule() -> None:
    base = Lock("main", {}, {"flask": Pin("flask", "3.1.3", (H,)), "click": Pin("click", "8.3.0", (H,))}, "")
    dev = Lock("dev", {}, {"flask": Pin("flask", "3.1.3", (H,)), "click": Pin("click", "8.2.0", (H,)),
                           "pytest": Pin("pytest", "8.4.0", (H,))}, "")
    assert pin_conflicts("dev", dev, "main", base) == [PinConflict("dev", "main", "click", "8.2.0", "8.3.0")]
    assert pin_conflicts("main", base, "main", base) == []
