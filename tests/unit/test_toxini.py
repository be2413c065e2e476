"""venvship tox: the managed [testenv] section and the line-based tox.ini editor."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES
from venvship.environments import discover
from venvship.errors import ConfigError, InputError
from venvship.ops.tox import DEFAULTS, MANAGED, ToxSection, section, tox_ini_path, update_ini, write
from venvship.settings import load_settings

SEC = ToxSection("testenv", {"base_python": "python3.11",
                             "deps": "\n-r requirements/main.txt\n-r requirements/dev.txt",
                             "package": "wheel", "commands": "python -m pytest {posargs}"})

USER_INI = """\
[tox]
env_list = py311   ; mine

[testenv]
# my comment
basepython = python3.12
deps =
    old-thing
    other
set_env = A=1
commands = pytest -x

[testenv:lint]
deps = ruff
commands = ruff check .
"""


def test_section_for_the_example() -> None:
    settings = load_settings(EXAMPLES / "hello-app", environ={})
    sec = section(settings, discover(settings))
    assert sec.values["base_python"] == "python3.11"
    deps = sec.values["deps"].split("\n")[1:]
    assert deps == ["-r requirements/main.txt", "-r requirements/dev.txt"]
    assert sec.values["commands"] == "python -m pytest {posargs}"
    assert "    -r requirements/dev.txt\n" in sec.text()
    with pytest.raises(InputError):
        section(settings, discover(settings), selected=["nope"])


def test_new_file() -> None:
    text = update_ini("", SEC)
    assert text.startswith("[tox]\nmin_version = 4.0\n\n[testenv]\n")
    assert "deps =\n    -r requirements/main.txt\n    -r requirements/dev.txt\n" in text


def test_existing_section_keeps_the_users_keys_and_other_sections() -> None:
    text = update_ini(USER_INI, SEC)
    assert "old-thing" not in text and "basepython = python3.12" not in text
    assert "base_python = python3.11\n" in text
    assert "commands = pytest -x\n" in text  # the user's command wins
    assert "package = wheel\n" in text  # added: it was missing
    assert "# my comment\n" in text and "set_env = A=1\n" in text
    assert text.endswith("\n[testenv:lint]\ndeps = ruff\ncommands = ruff check .\n")
    assert text.startswith("[tox]\nenv_list = py311   ; mine\n\n[testenv]\n")
    assert update_ini(text, SEC) == text  # idempotent


def test_an_existing_section_of_a_source_tree_app_gets_skip_install() -> None:
    sec = ToxSection("testenv", {"deps": "\n-r requirements/main.txt", "skip_install": "true",
                                 "commands": "python -m pytest {posargs}"})
    text = update_ini("[testenv]\ncommands = pytest -x\n", sec)  # raised KeyError: 'skip_install'
    assert text == "[testenv]\ncommands = pytest -x\ndeps =\n    -r requirements/main.txt\nskip_install = true\n"
    mine = "[testenv]\nskip_install = false\n"
    assert "skip_install = false\n" in update_ini(mine, sec)  # the user's choice wins
    assert set(sec.values) <= set(MANAGED) | set(DEFAULTS)


def test_missing_section_is_appended() -> None:
    text = update_ini("[tox]\nenv_list = py311\n", SEC)
    assert text == "[tox]\nenv_list = py311\n\n" + SEC.text()


def test_write_refuses_when_tox_reads_another_file(copy_example) -> None:  # type: ignore[no-untyped-def]
    project = copy_example()
    settings = load_settings(project, environ={})
    path, changed = write(settings, SEC)
    assert changed and path == project / "tox.ini"
    assert write(settings, SEC) == (path, False)
    path.unlink()
    (project / "tox.toml").write_text("[env_run_base]\n")
    with pytest.raises(ConfigError, match=r"tox\.toml"):
        tox_ini_path(settings)
