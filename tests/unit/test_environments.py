from __future__ import annotations

from pathlib import Path

import pytest

from venvship.environments import discover
from venvship.errors import ConfigError, InputError
from venvship.settings import load_settings


def write_project(tmp_path: Path, files: dict[str, str], pyproject: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "1"\n' + pyproject)
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def envs_of(path: Path):  # type: ignore[no-untyped-def]
    return discover(load_settings(path, environ={}))


def test_pip_tools_layout_with_layering(tmp_path: Path) -> None:
    found = envs_of(write_project(tmp_path, {
        "requirements/main.in": "flask>=3  # web\n# comment\n\nrequests\n",
        "requirements/dev.in": "-c main.txt\npytest\n",
        "requirements/docs.in": "-r main.in\nsphinx\n",
    }))
    assert found.order() == ["main", "build", "dev", "docs"]
    assert found.envs["dev"].base == "main"
    assert found.envs["docs"].base == "main"
    assert [line.requirement for line in found.envs["main"].lines] == ["flask>=3", "requests"]
    assert found.envs["main"].lines[1].origin == "requirements/main.in:4"
    assert found.chain("dev") == ["main", "dev"]
    assert [line.requirement for line in found.envs["build"].lines] == ["setuptools>=40.8.0"]


def test_pyproject_layout(tmp_path: Path) -> None:
    found = envs_of(write_project(tmp_path, {}, (
        'dependencies = ["flask"]\n[project.optional-dependencies]\npostgres = ["psycopg"]\n'
        '[dependency-groups]\ntest = ["pytest"]\nlint = [{include-group = "test"}, "ruff"]\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
    )))
    assert set(found.envs) == {"main", "test", "lint", "postgres", "build"}
    assert found.envs["lint"].base == "main"
    assert [line.requirement for line in found.envs["lint"].lines] == ["pytest", "ruff"]
    assert [line.requirement for line in found.envs["build"].lines] == ["hatchling"]


def test_input_hash_changes_with_base_inputs(tmp_path: Path) -> None:
    path = write_project(tmp_path, {"requirements/main.in": "flask\n", "requirements/dev.in": "-c main.txt\npytest\n"})
    settings = load_settings(path, environ={})
    before = discover(settings).input_hash("dev", settings)
    (path / "requirements/main.in").write_text("flask<4\n")
    assert discover(settings).input_hash("dev", settings) != before


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"requirements/main.in": "flask>>3\n"}, "requirements/main.in:1: malformed requirement"),
        ({"requirements/main.in": "--index-url https://x\n"}, "unsupported option line"),
        ({"requirements/main.in": "foo @ https://x/foo.whl\n"}, "direct URL"),
        ({"requirements/main.in": "x\n", "requirements/dev.in": "-c nope.txt\npytest\n"}, "'nope', which is not"),
        ({"requirements/a.in": "-c b.txt\nx\n", "requirements/b.in": "-c a.txt\ny\n"}, "layering cycle"),
        ({"requirements/build.in": "x\n"}, "reserved"),
    ],
)
def test_bad_inputs(tmp_path: Path, files: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        envs_of(write_project(tmp_path, files))


def test_unknown_environment_names_the_known_ones(tmp_path: Path) -> None:
    found = envs_of(write_project(tmp_path, {"requirements/main.in": "flask\n"}))
    with pytest.raises(InputError, match="no environment named 'prod' \\(known: build, main\\)"):
        found.get("prod")


def test_layering_setting_must_name_an_environment(tmp_path: Path) -> None:
    path = write_project(tmp_path, {"requirements/main.in": "x\n"}, '[tool.venvship.environments.ghost]\nbase = "main"\n')
    with pytest.raises(ConfigError, match="ghost"):
        envs_of(path)


def test_self_referencing_extras_are_inlined(tmp_path: Path) -> None:
    found = envs_of(write_project(tmp_path, {}, (
        'dependencies = ["click"]\n[project.optional-dependencies]\n'
        'test = ["pytest"]\ndev = ["demo[test]", "ruff"]\n'
    )))
    assert [line.requirement for line in found.envs["dev"].lines] == ["pytest", "ruff"]
