"""One rule picks the test environments for 'venvship test' and 'venvship tox' (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from venvship.environments import discover
from venvship.errors import InputError
from venvship.ops.build import needed_envs
from venvship.ops.testenvs import in_image, select, tool_of
from venvship.ops.testrun import ignored_test_dirs
from venvship.ops.tox import section
from venvship.render import context
from venvship.settings import load_settings


def write_project(tmp_path: Path, extras: str, tool: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "demo"\nversion = "1"\ndependencies = ["requests"]\n'
        f"[project.optional-dependencies]\n{extras}\n[tool.venvship]\n{tool}\n"
    )
    return tmp_path


def chosen(root: Path, *requested: str):  # type: ignore[no-untyped-def]
    settings = load_settings(root, environ={})
    return select(settings, discover(settings), requested)


@pytest.mark.parametrize(("command", "tool"), [
    (["python", "-m", "pytest"], "pytest"), (["pytest", "-x"], "pytest"), (["py.test"], "pytest"),
    (["/app/bin/python3.11", "-m", "pytest"], "pytest"), (["python", "-m", "unittest"], None),
    (["python", "tests.py"], None), (["nox"], "nox"), (["python", "-m", "Green.cmdline"], "green"),
])
def test_the_tool_a_test_command_needs(command: list[str], tool: str | None) -> None:
    assert tool_of(command) == tool


def test_a_missing_default_env_is_refused_naming_the_one_that_holds_pytest(tmp_path: Path) -> None:
    root = write_project(tmp_path, 'test = ["pytest>=8"]\ndocs = ["sphinx"]')
    with pytest.raises(InputError, match=r"no test environment named 'dev' \(test-envs; known: docs, main, test\)") as exc:
        chosen(root)
    assert exc.value.hint is not None and exc.value.hint.startswith("'test' holds pytest: pass --env test")


def test_an_unknown_env_given_with_env_is_refused(tmp_path: Path) -> None:
    root = write_project(tmp_path, 'test = ["pytest"]')
    with pytest.raises(InputError, match=r"'tests' \(--env;"):
        chosen(root, "tests")


def test_several_holders_are_all_named(tmp_path: Path) -> None:
    root = write_project(tmp_path, 'test = ["pytest"]\nci = ["pytest-cov", "pytest"]')
    with pytest.raises(InputError) as exc:
        chosen(root)
    assert "these hold pytest: ci, test" in (exc.value.hint or "")


def test_no_env_holding_the_tool_names_how_to_declare_one(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        chosen(write_project(tmp_path, 'docs = ["sphinx"]'))
    assert "declare the test tools" in (exc.value.hint or "")


def test_the_chosen_env_must_hold_the_tool_when_another_does(tmp_path: Path) -> None:
    root = write_project(tmp_path, 'test = ["pytest"]\ndocs = ["sphinx"]', 'test-envs = ["docs"]')
    with pytest.raises(InputError, match="runs pytest, but the test environments \\(docs\\) do not hold it") as exc:
        chosen(root)
    assert "'test' does: pass --env test" in (exc.value.hint or "")


def test_a_tool_no_env_pins_is_a_warning(tmp_path: Path) -> None:
    root = write_project(tmp_path, 'docs = ["sphinx"]', 'test-envs = ["docs"]\ntest-command = "ward test"')
    picked = chosen(root)
    assert picked.envs == ("docs",) and picked.locks == ("main", "docs")
    assert picked.warning and "runs ward, which no environment pins" in picked.warning


def test_the_env_that_holds_the_tool_is_used_when_asked_for(tmp_path: Path) -> None:
    root = write_project(tmp_path, 'test = ["pytest"]')
    picked = chosen(root, "test")
    assert (picked.envs, picked.locks, picked.tool, picked.warning) == (("test",), ("main", "test"), "pytest", None)


def test_a_stdlib_runner_needs_no_env_to_hold_it(tmp_path: Path) -> None:
    root = write_project(tmp_path, 'dev = ["coverage"]', 'test-command = "python -m unittest discover"')
    assert chosen(root).warning is None


def test_the_locked_pins_count_not_only_the_inputs(tmp_path: Path) -> None:
    """pytest reached through pytest-cov, as the lock pins it."""
    root = write_project(tmp_path, 'cov = ["pytest-cov"]', 'test-envs = ["cov"]')
    (root / "requirements").mkdir()
    settings = load_settings(root, environ={})
    import venvship.ops.testenvs as te

    assert "pytest" not in te.pinned(settings, discover(settings), ["cov"])
    (root / "requirements" / "cov.txt").write_text(
        "pytest==8.0.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
        "pytest-cov==5.0.0 \\\n    --hash=sha256:" + "1" * 64 + "\n")
    assert {"pytest", "pytest-cov"} <= te.pinned(settings, discover(settings), ["cov"])


def test_tox_takes_the_same_rule(tmp_path: Path) -> None:
    root = write_project(tmp_path, 'test = ["pytest"]')
    settings = load_settings(root, environ={})
    with pytest.raises(InputError, match="no test environment named 'dev'"):
        section(settings, discover(settings))
    sec = section(settings, discover(settings), selected=["test"])
    assert sec.values["deps"].split("\n")[1:] == ["-r requirements/main.txt", "-r requirements/test.txt"]


@pytest.mark.parametrize(("ignore", "expected"), [
    ("tests\n", ["tests"]), ("/tests/\n", ["tests"]), ("tests/*\n", ["tests"]), ("**/test_*.py\n", ["tests"]),
    ("tests\n!tests/test_a.py\n", []), ("*\n!src\n", ["tests"]), ("*.pyc\n.git\n", []),
    ("tests/data\n", []), ("# tests\n", []),
])
def test_test_dirs_that_dockerignore_keeps_out(tmp_path: Path, ignore: str, expected: list[str]) -> None:
    (tmp_path / "tests" / "data").mkdir(parents=True)
    (tmp_path / "tests" / "test_a.py").write_text("")
    (tmp_path / "tests" / "data" / "x.json").write_text("")
    (tmp_path / ".dockerignore").write_text(ignore)
    assert ignored_test_dirs(tmp_path) == expected


def test_no_dockerignore_keeps_nothing_out(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("")
    assert ignored_test_dirs(tmp_path) == []


def test_build_of_the_test_stage_takes_the_same_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from venvship.__main__ import main

    root = write_project(tmp_path, 'test = ["pytest"]')
    assert main(["-C", str(root), "build", "--target", "test"]) == 4
    assert "'test' holds pytest: set test-envs = [\"test\"]" in capsys.readouterr().err


def test_the_image_installs_the_test_envs_that_exist(tmp_path: Path) -> None:
    root = write_project(tmp_path, 'test = ["pytest"]', 'test-envs = ["test", "nope"]')
    settings = load_settings(root, environ={})
    envs = discover(settings)
    assert in_image(settings, envs) == ["test"]  # 'nope' is venvship test's error, not the image's
    assert needed_envs(settings, envs, "test") == ["main", "build", "test"]
    assert context(settings, envs)["test_envs"] == ["test"]
