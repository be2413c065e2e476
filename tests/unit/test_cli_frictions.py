"""The command line's small frictions (issue 13, item 9): global options after the command,
--help without type placeholders and with a help line for every option, test-command as a
string, --base-image on doctor and test."""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from venvship.__main__ import main
from venvship.cli import PROGRESS, app
from venvship.cli.parsing import GLOBAL_FLAGS, GLOBAL_VALUE_OPTIONS, move_global_options
from venvship.errors import ConfigError
from venvship.settings import load_settings

PLACEHOLDER = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\]|[a-z_]+)>")


def commands() -> dict[str, Any]:
    group: Any = typer.main.get_command(app)
    return {"(root)": group, **group.commands}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["build", "--progress", "plain"], ["--progress", "plain", "build"]),
        (["build", "--progress=plain", "-t", "x"], ["--progress=plain", "build", "-t", "x"]),
        (["lock", "-C", "dir", "--check"], ["-C", "dir", "lock", "--check"]),
        (["lock", "-Cdir", "--debug"], ["-Cdir", "--debug", "lock"]),
        (["--debug", "envs", "--project=d"], ["--debug", "--project=d", "envs"]),
        (["-C", "a", "envs", "-C", "b"], ["-C", "a", "-C", "b", "envs"]),  # the later one wins
        (["test", "--", "--debug", "-C", "x"], ["test", "--", "--debug", "-C", "x"]),  # the tests' own
        (["test", "--env", "dev", "--quiet"], ["test", "--env", "dev", "--quiet"]),
        (["--help"], ["--help"]),
        ([], []),
    ],
)
def test_global_options_after_the_command_move_before_it(argv: list[str], expected: list[str]) -> None:
    assert move_global_options(argv) == expected


def test_global_options_work_after_the_command(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    assert main(["envs", "--project", str(project), "--progress", "plain", "--debug"]) == 0
    assert "main: 1 direct requirement(s)" in capsys.readouterr().out
    assert main(["envs", f"-C{project}", "--progress=quiet"]) == 0
    assert main(["envs", "-C", str(project), "--progress", "bogus"]) == 2
    assert "must be auto, plain or quiet" in capsys.readouterr().err


def test_the_build_failure_hint_names_a_form_that_parses() -> None:
    from venvship.engine import BuildRequest, _build_error

    hint = _build_error("#5 ERROR: boom\n", BuildRequest(Path("."), Path("Dockerfile"))).hint or ""
    flag = re.search(r"--progress[= ]plain", hint)
    assert flag is not None, hint
    assert move_global_options(["build", *flag.group(0).split(" ")])[0].startswith("--progress")


def test_no_command_has_an_option_named_like_a_global_one() -> None:
    for name, command in commands().items():
        if name == "(root)":
            continue
        for param in command.params:
            clash = set(getattr(param, "opts", [])) & set(GLOBAL_VALUE_OPTIONS + GLOBAL_FLAGS)
            assert not clash, f"venvship {name} {clash}: would be taken as the global option"


def test_every_option_of_every_command_has_a_help_line() -> None:
    missing = [f"{name} {param.opts[0] if getattr(param, 'opts', None) else param.name}"
               for name, command in commands().items() for param in command.params
               if not (getattr(param, "help", None) or "").strip()]
    assert not missing, f"options without a help line: {missing}"


@pytest.mark.parametrize("name", sorted(commands()))
def test_help_shows_no_type_placeholders(capsys: pytest.CaptureFixture[str], name: str) -> None:
    argv = ["--help"] if name == "(root)" else [name, "--help"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Usage:" in out
    assert not PLACEHOLDER.search(out), f"venvship {' '.join(argv)}:\n{out}"


def test_doctor_and_test_take_base_image() -> None:
    for name in ("doctor", "test"):
        options = {opt for p in commands()[name].params for opt in getattr(p, "opts", [])}
        assert "--base-image" in options, name


def _settings(project: Path, text: str) -> Any:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + text)
    return load_settings(project, environ={})


def test_test_command_accepts_a_string_split_like_a_shell(project: Path) -> None:
    settings = _settings(project, "test-command = \"python -m pytest -x -k 'not slow'\"\n")
    assert settings.tests.command == ("python", "-m", "pytest", "-x", "-k", "not slow")


def test_test_command_still_accepts_a_list(project: Path) -> None:
    assert _settings(project, 'test-command = ["pytest", "-q"]\n').tests.command == ("pytest", "-q")


def test_test_command_from_the_environment_is_split_like_a_shell(project: Path) -> None:
    settings = load_settings(project, environ={"VENVSHIP_TEST_COMMAND": "pytest -k 'a or b'"})
    assert settings.tests.command == ("pytest", "-k", "a or b")


@pytest.mark.parametrize("value", ['"pytest \'unclosed"', "[]", '""', "[1]"])
def test_a_bad_test_command_is_a_config_error(project: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="test-command"):
        _settings(project, f"test-command = {value}\n")


def test_debug_after_the_separator_is_the_test_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["-C", str(tmp_path), "test", "--", "--debug"]) == 3  # one line, not a traceback
    assert "no pyproject.toml" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        main(["test", "-C", str(tmp_path), "--debug"])


def test_str_list_and_path_options_are_parsed_without_pydantic_and_as_typer_would(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Typer's runtime coercion builds a pydantic adapter per parameter (about 50 ms of imports on
    every command): venvship's commands take str, list[str] and Path values as typer would without
    it, and leave every other type (a float with a minimum) to typer's own coercion. Typer releases
    without runtime coercion (pip's pick on Python 3.9) convert in the command's callback: what the
    command receives is the same in both, and neither imports pydantic to parse."""
    received: dict[str, Any] = {}
    info = next(c for c in app.registered_commands if c.name == "lock")
    real = info.callback
    assert real is not None

    @functools.wraps(real)
    def record(ctx: typer.Context, **kwargs: Any) -> None:
        received.update(kwargs, project=ctx.obj.project, progress=ctx.obj.progress)

    monkeypatch.setattr(info, "callback", record)
    for name in [m for m in sys.modules if m == "pydantic" or m.startswith(("pydantic.", "pydantic_core"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pydantic", None)  # importing it now raises ImportError
    monkeypatch.setitem(sys.modules, "pydantic_core", None)
    app(args=["-C", str(tmp_path), "--progress", "plain", "lock", "-e", "main", "-e", "dev", "--resolver", "uv",
              "-P", "idna"], prog_name="venvship", standalone_mode=False)
    assert received["project"] == tmp_path and isinstance(received["project"], Path)
    assert received["progress"] == PROGRESS["plain"]
    assert received["env"] == ["main", "dev"] and isinstance(received["env"], list)
    assert received["upgrade_package"] == ["idna"] and received["resolver"] == "uv"
    assert received["base_image"] is None and received["check"] is False and received["upgrade"] is False
    monkeypatch.undo()  # pydantic back: typer's own coercion of the float below may use it
    group = typer.main.get_command(app)
    ctx = group.make_context("venvship", ["-C", str(tmp_path), "verify", "img", "--start-timeout", "2.5"])
    verify = group.get_command(ctx, "verify")
    vctx = verify.make_context("verify", ["img", "--start-timeout", "2.5"], parent=ctx)
    assert vctx.params["start_timeout"] == 2.5
    # typer (pydantic) checks the minimum; click's FloatRange in typer releases without coercion
    with pytest.raises(Exception, match=r"greater than or equal to 1|x>=1"):
        verify.make_context("verify", ["img", "--start-timeout", "0.5"], parent=ctx)
