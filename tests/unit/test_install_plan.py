"""venvship install / sync: the pure plan (locks vs interpreter, installed vs locked)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from venvship import lockfile
from venvship.engine import validate_reference
from venvship.environments import discover
from venvship.errors import InputError, LockIntegrityError, StaleLockError, VenvError
from venvship.lockfile import Lock, Pin
from venvship.ops.install import (
    Interpreter,
    compatibility_problems,
    diff,
    interpreter_candidates,
    load_locks,
    lock_names,
    pip_install_argv,
    requirements_text,
    resolve_venv,
    skipped,
    wanted_pins,
)
from venvship.ops.testrun import command_argv, image_tag
from venvship.settings import load_settings

H1 = "sha256:" + "a" * 64
H2 = "sha256:" + "b" * 64
MARKERS_311 = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
               "platform_machine": "x86_64", "implementation_name": "cpython", "os_name": "posix"}


def interp(python: str = "3.11.7", impl: str = "cpython", machine: str = "x86_64") -> Interpreter:
    return Interpreter(command="python3", executable="/usr/bin/python3", implementation=impl,
                       python=python, machine=machine, sys_platform="linux",
                       platform=f"linux-{machine}", prefix="/v", in_venv=True,
                       markers={**MARKERS_311, "python_version": ".".join(python.split(".")[:2])})


def lock(env: str, pins: dict[str, str], python: str = "cpython 3.11.2",
         markers: dict[str, str] | None = None) -> Lock:
    header = {"python": python, "platform": "linux x86_64 (linux-x86_64)"}
    marks = markers or {}
    return Lock(env, header, {n: Pin(n, v, (H1,), marks.get(n)) for n, v in pins.items()}, "")


def example_settings(tmp_path: Path | None = None):  # type: ignore[no-untyped-def]
    return load_settings(tmp_path or EXAMPLES / "hello-app", environ={})


# ---- lock headers against the target interpreter -------------------------------------------
def test_same_minor_version_is_compatible_whatever_the_patch_level() -> None:
    assert compatibility_problems({"main": lock("main", {})}, interp("3.11.9")) == []


@pytest.mark.parametrize(("target", "needle"), [
    (interp("3.9.18"), "cpython 3.11.2"),
    (interp("3.12.1"), "3.12.1"),
    (interp("3.11.7", impl="pypy"), "pypy"),
    (interp("3.11.7", machine="aarch64"), "aarch64"),
])
def test_another_python_or_platform_is_a_problem(target: Interpreter, needle: str) -> None:
    problems = compatibility_problems({"main": lock("main", {})}, target)
    assert len(problems) == 1 and needle in problems[0]


def test_a_lock_without_python_header_is_a_problem() -> None:
    bare = Lock("main", {}, {}, "")
    assert "does not say" in compatibility_problems({"main": bare}, interp())[0]


def test_default_interpreter_is_the_locks_python_first() -> None:
    locks = {"main": lock("main", {})}
    assert interpreter_candidates(None, locks)[:2] == ["python3.11", "python3"]
    assert interpreter_candidates(None, locks)[-1] == sys.executable
    assert interpreter_candidates("/opt/py/bin/python", locks) == ["/opt/py/bin/python"]


# ---- what to install and remove ----------------------------------------------------------------
def test_wanted_pins_skips_pins_for_other_interpreters() -> None:
    locks = {"main": lock("main", {"flask": "3.1.3", "importlib-metadata": "8.0.0"},
                          markers={"importlib-metadata": 'python_version < "3.10"'})}
    assert set(wanted_pins(locks, MARKERS_311)) == {"flask"}


def test_wanted_pins_is_the_union_and_refuses_disagreement() -> None:
    main = lock("main", {"flask": "3.1.3", "click": "8.1.0"})
    dev = lock("dev", {"pytest": "8.0.0", "click": "8.1.0"})
    assert set(wanted_pins({"main": main, "dev": dev}, MARKERS_311)) == {"flask", "click", "pytest"}
    docs = lock("docs", {"click": "8.0.0"})
    with pytest.raises(InputError, match="click"):
        wanted_pins({"main": main, "docs": docs}, MARKERS_311)


def test_diff_installs_missing_and_wrong_versions_only() -> None:
    wanted = wanted_pins({"main": lock("main", {"flask": "3.1.3", "click": "8.1.0", "six": "1.0"})},
                         MARKERS_311)
    plan = diff(wanted, {"flask": "3.0.0", "six": "1.0.0", "pip": "24.0"}, sync=False)
    assert [(p.name, p.version) for p in plan.install] == [("click", "8.1.0"), ("flask", "3.1.3")]
    assert plan.satisfied == ("six",)  # 1.0 == 1.0.0
    assert plan.uninstall == ()


def test_sync_removes_strays_but_keeps_pip_and_the_project() -> None:
    wanted = wanted_pins({"main": lock("main", {"flask": "3.1.3"})}, MARKERS_311)
    installed = {"flask": "3.1.3", "pip": "24.0", "setuptools": "65.5.0", "hello-app": "1.2.0"}
    plan = diff(wanted, installed, sync=True, keep={"Hello_App"})
    assert plan.uninstall == (("setuptools", "65.5.0"),)
    assert plan.install == ()
    assert bool(plan) and not diff(wanted, {"flask": "3.1.3"}, sync=True)


def test_requirements_text_is_a_valid_hashed_lock() -> None:
    pins = [Pin("flask", "3.1.3", (H1, H2)),
            Pin("colorama", "0.4.6", (H1,), 'sys_platform == "win32"')]
    parsed = lockfile.parse(requirements_text(pins), "x")
    assert parsed.pins["flask"].hashes == (H1, H2)
    assert parsed.pins["colorama"].marker == 'sys_platform == "win32"'


def test_pip_never_resolves_and_always_checks_hashes(tmp_path: Path) -> None:
    settings = example_settings()
    argv = pip_install_argv("/v/bin/python", settings, tmp_path / "r.txt")
    assert argv[:4] == ["/v/bin/python", "-m", "pip", "install"]
    for flag in ("--require-hashes", "--no-deps", "--only-binary"):
        assert flag in argv
    assert argv[-2:] == ["-r", str(tmp_path / "r.txt")]


# ---- which locks, and are they usable --------------------------------------------------------
def test_lock_names_bring_the_bases_along() -> None:
    envs = discover(example_settings())
    assert lock_names(envs, []) == ["main"]
    assert lock_names(envs, ["dev"]) == ["main", "dev"]
    with pytest.raises(InputError):
        lock_names(envs, ["nope"])


def test_stale_and_hand_edited_locks_are_refused(copy_example) -> None:  # type: ignore[no-untyped-def]
    project = copy_example()
    settings = example_settings(project)
    envs = discover(settings)
    locks = load_locks(settings, envs, ["main", "build"], allow_stale=False)
    assert set(locks) == {"main", "build"}
    main_in = project / "requirements" / "main.in"
    main_in.write_text(main_in.read_text() + "click>=8\n")
    envs = discover(settings)
    with pytest.raises(StaleLockError, match="inputs changed"):
        load_locks(settings, envs, ["main"], allow_stale=False)
    assert "main" in load_locks(settings, envs, ["main"], allow_stale=True)
    main_txt = project / "requirements" / "main.txt"
    main_txt.write_text(main_txt.read_text().replace("# via flask", "# via me", 1))
    with pytest.raises(LockIntegrityError):
        load_locks(settings, envs, ["main"], allow_stale=True)


def test_venv_paths(tmp_path: Path) -> None:
    assert resolve_venv(Path("a/b/venv"), cwd=tmp_path) == tmp_path / "a" / "b" / "venv"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.txt").write_text("x")
    with pytest.raises(VenvError, match="not a virtual environment"):
        resolve_venv(tmp_path / "data")
    (tmp_path / "file").write_text("x")
    with pytest.raises(VenvError):
        resolve_venv(tmp_path / "file" / "venv")
    with pytest.raises(VenvError, match="not a directory"):
        resolve_venv(tmp_path / "file")


# ---- venvship test ---------------------------------------------------------------------------
def test_test_image_tag_is_valid_and_per_project(copy_example) -> None:  # type: ignore[no-untyped-def]
    a = image_tag(example_settings())
    b = image_tag(example_settings(copy_example()))
    assert validate_reference(a) and a.startswith("venvship-test/hello-app:") and a != b
    assert command_argv(example_settings(), ["-k", "x"])[-2:] == ["-k", "x"]


def test_the_wheel_build_copy_leaves_out_vcs_caches_and_build_output_only() -> None:
    top = Path(".")
    for name in (".git", ".venv", ".tox", "build", "dist", "__pycache__", "x.egg-info"):
        assert skipped(top, name), name
    assert skipped(Path("src"), "hello_app.egg-info") and skipped(Path("src/a"), "m.pyc")
    for rel, name in ((top, "src"), (top, "pyproject.toml"), (Path("src/app"), "build"),
                      (Path("src"), "dist")):
        assert not skipped(rel, name), (rel, name)
