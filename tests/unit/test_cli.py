"""The command line in-process: help, version, and one-line errors with distinct exit codes."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperGroup

from tests.conftest import one_error
from venvship import __version__
from venvship.__main__ import main
from venvship.cli import State, app


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert (code, out.strip()) == (0, f"venvship {__version__}")
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("lock", "dockerfile", "build", "verify", "envs", "doctor"):
        assert command in out


def test_usage_error_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "lock", "--no-such-flag")
    assert code == 2 and "No such option" in err


@pytest.mark.parametrize(
    ("mutate", "args", "code", "needle"),
    [
        (lambda p: ((p / "pyproject.toml").unlink(), [f.unlink() for f in (p / "requirements").glob("*.in")]),
         ["envs"], 3, "no pyproject.toml or requirements.txt"),
        (lambda p: (p / "pyproject.toml").write_text("[tool.venvship]\nbogus = 1\n"), ["envs"], 3, "unknown key 'bogus'"),
        (lambda p: (p / "requirements/main.in").write_text("flask=>3\n"), ["envs"], 4, "malformed requirement"),
        (lambda p: (p / "requirements/dev.in").write_text("-c dev.txt\npytest\n"), ["envs"], 4, "layering cycle"),
        (lambda p: None, ["lock", "--env", "prod"], 4, "no environment named 'prod'"),
        (lambda p: None, ["dockerfile", "--venv-path", "app"], 3, "absolute path"),
    ],
)
def test_bad_input_is_one_line_with_its_exit_code(
    capsys: pytest.CaptureFixture[str], project: Path, mutate, args: list[str], code: int, needle: str  # type: ignore[no-untyped-def]
) -> None:
    before = {p: p.read_bytes() for p in (project / "requirements").glob("*.txt")}
    mutate(project)
    got, _, err = run(capsys, "--project", str(project), *args)
    assert got == code, err
    assert needle in one_error(err)
    assert {p: p.read_bytes() for p in (project / "requirements").glob("*.txt")} == before


def test_dockerfile_to_stdout_and_file(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    code, out, _ = run(capsys, "--project", str(project), "dockerfile")
    assert code == 0 and "FROM ${RUNTIME_IMAGE} AS runtime" in out
    target = project / "Dockerfile"
    code, _, _ = run(capsys, "--project", str(project), "dockerfile", "--output", str(target))
    assert code == 0 and target.read_text() == out


def test_debug_shows_the_traceback(project: Path) -> None:
    from venvship.errors import InputError

    (project / "requirements/main.in").write_text("flask=>3\n")
    with pytest.raises(InputError):
        main(["--debug", "--project", str(project), "envs"])



# The commands and their order in `venvship --help` are public: the workflow's order.
COMMANDS = ["lock", "dockerfile", "build", "verify", "envs", "doctor", "export", "install", "sync",
            "tox", "test", "sbom", "ci"]


def _group() -> TyperGroup:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    return group


def test_every_command_is_registered_once_in_the_workflows_order() -> None:
    assert list(_group().commands) == COMMANDS
    assert [c.name for c in app.registered_commands] == COMMANDS  # each once, by its public name


def test_command_summaries_do_not_break_mid_sentence() -> None:
    """typer lists a command's first paragraph with its line breaks: docstrings wrapped like code
    showed 'verify' and 'test' broken mid-sentence in `venvship --help`."""
    for name, command in _group().commands.items():
        first = inspect.cleandoc(command.help or "").split("\n\n")[0]
        assert "\n" not in first, name


def test_state_holds_the_global_options(project: Path) -> None:
    state = State(project, debug=False, progress="quiet")
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.progress = "plain"  # type: ignore[misc]
    assert state.stream() is None
    assert state.settings(base_image="x/y:1").image.base == "x/y:1"
    assert State(project, debug=False, progress="plain").stream(quiet=True) is None
    assert State.of(typer.Context(_group(), obj=state)) is state
    with pytest.raises(TypeError):
        State.of(typer.Context(_group(), obj=None))


def test_an_unknown_env_fails_as_bad_input_before_the_engine_is_asked(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No engine answers here: 'lock --env prod' must still be bad input (4), not "engine down" (10).
    monkeypatch.setenv("DOCKER_HOST", f"unix://{project}/no-engine.sock")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    code, _, err = run(capsys, "--project", str(project), "lock", "--env", "prod")
    assert code == 4, err
    assert "no environment named 'prod'" in one_error(err)
