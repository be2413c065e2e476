"""Issue 13 item 8: a direct reference is named, and ``override`` replaces it by an index release."""

from __future__ import annotations

from pathlib import Path

import pytest

from venvship.environments import discover
from venvship.errors import ConfigError, InputError
from venvship.ops.lock import LockPlan, lock_script, write_inputs
from venvship.settings import load_settings

GIT = "poetry-core @ git+https://github.com/python-poetry/poetry-core.git@abc123"


def write_project(tmp_path: Path, deps: list[str], tool: str = "") -> Path:
    quoted = ", ".join(f'"{d}"' for d in deps)
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "demo"\nversion = "1"\ndependencies = [{quoted}]\n'
        f"[tool.venvship]\n{tool}"
    )
    return tmp_path


def test_a_direct_reference_is_named_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        discover(load_settings(write_project(tmp_path, ["flask", GIT]), environ={}))
    assert err.value.exit_code == 4
    assert err.value.message.startswith(
        "pyproject.toml [project.dependencies][1]: poetry-core is a direct URL reference "
        "(git+https://github.com/python-poetry/poetry-core.git@abc123)"
    )
    assert err.value.hint == 'replace it by an index release: [tool.venvship] override = ["poetry-core>=VERSION"]'


def test_override_replaces_the_reference_keeping_extras_and_marker(tmp_path: Path) -> None:
    deps = ["flask", "Poetry_Core[x] @ git+https://example.invalid/pc.git ; python_version >= '3.9'"]
    settings = load_settings(write_project(tmp_path, deps, 'override = ["poetry-core==2.1.3"]\n'), environ={})
    main = discover(settings).envs["main"]
    line = main.lines[1]
    assert line.requirement == 'poetry-core[x]==2.1.3; python_version >= "3.9"'
    assert line.origin.endswith("[1], replaced by [tool.venvship] override")
    assert main.lines[0].requirement == "flask"


def test_override_reaches_the_resolver_and_the_input_hash(tmp_path: Path) -> None:
    path = write_project(tmp_path, ["flask"], 'override = ["werkzeug<3"]\n')
    settings = load_settings(path, environ={})
    envs = discover(settings)
    plan = LockPlan(compile=("main",), constraints_only=())
    assert "--override $IN/overrides.txt" in lock_script(settings, envs, plan, environ={})
    write_inputs(tmp_path / "in", settings, envs, plan)
    assert (tmp_path / "in/overrides.txt").read_text() == "werkzeug<3\n"
    plain = load_settings(write_project(tmp_path, ["flask"]), environ={})
    assert "override" not in plain.fingerprint()  # locks made before the setting stay fresh
    assert settings.fingerprint()["override"] == ["werkzeug<3"]
    assert "--override" not in lock_script(plain, discover(plain), plan, environ={})


@pytest.mark.parametrize(("value", "message"), [
    ('["pc @ git+https://x/pc.git"]', "is a direct reference"),
    ('["flask", "Flask>=2"]', "Flask is named twice"),
    ('["flask["]', "is not a requirement"),
])
def test_bad_override_values(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write_project(tmp_path, ["flask"], f"override = {value}\n"), environ={})


def test_envs_shows_what_the_override_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from venvship.__main__ import main

    write_project(tmp_path, ["flask", GIT], 'override = ["poetry-core==2.1.3"]\n')
    assert main(["--project", str(tmp_path), "envs"]) == 0
    out = capsys.readouterr().out
    assert ("    poetry-core==2.1.3 (pyproject.toml [project.dependencies][1], "
            "replaced by [tool.venvship] override)") in out
