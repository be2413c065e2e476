"""Issue 13 item 4: an environment layered on another is installed with its whole chain,
everywhere (deps stage, test stage, export, install, tox), and checked for staleness along it."""

from __future__ import annotations

from pathlib import Path

from venvship import lockfile
from venvship.environments import discover
from venvship.ops.build import needed_envs
from venvship.ops.install import lock_names
from venvship.ops.testenvs import select
from venvship.render import render_dockerfile
from venvship.settings import load_settings


def layered(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1"\n[build-system]\nrequires = ["setuptools"]\n'
        'build-backend = "setuptools.build_meta"\n'
    )
    req = tmp_path / "requirements"
    req.mkdir()
    (req / "base.in").write_text("flask\n")
    (req / "main.in").write_text("-r base.in\nitsdangerous\n")
    (req / "dev.in").write_text("-c main.txt\npytest\n")
    return tmp_path


def test_closure_is_every_environment_below_bases_first(tmp_path: Path) -> None:
    envs = discover(load_settings(layered(tmp_path), environ={}))
    assert envs.envs["main"].base == "base"
    assert envs.closure("main") == ["base", "main"]
    assert envs.closure("main", "dev") == ["base", "main", "dev"]
    assert envs.closure("dev", "main") == ["base", "main", "dev"]


def test_build_needs_and_checks_the_whole_chain(tmp_path: Path) -> None:
    settings = load_settings(layered(tmp_path), environ={})
    envs = discover(settings)
    assert needed_envs(settings, envs, "runtime") == ["base", "main", "build"]
    assert needed_envs(settings, envs, "test") == ["base", "main", "build", "dev"]
    assert lock_names(envs, ()) == ["base", "main"]
    assert select(settings, envs).locks == ("base", "main", "dev")  # tox and test


def test_deps_stage_installs_what_main_is_layered_on(tmp_path: Path) -> None:
    settings = load_settings(layered(tmp_path), environ={})
    text = render_dockerfile(settings, discover(settings))
    deps = text.split("FROM build-base AS deps", 1)[1].split("FROM ", 1)[0]
    assert "COPY requirements/build.txt requirements/base.txt requirements/main.txt /opt/venvship/locks/" in deps
    assert "-r /opt/venvship/locks/base.txt -r /opt/venvship/locks/main.txt" in deps


def test_combined_lock_holds_every_pin_of_the_chain() -> None:
    def lock(env: str, body: str) -> lockfile.Lock:
        return lockfile.parse(lockfile.render(env, {"python": "cpython 3.11.9"}, body), env)

    base = lock("base", "flask==3.0.0 \\\n    --hash=sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n")
    main = lock("main", "itsdangerous==2.2.0 \\\n    --hash=sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n")
    both = lockfile.combine([base, main])
    assert both.versions == {"flask": "3.0.0", "itsdangerous": "2.2.0"}
    # what export and verify compare: a venv with the whole chain matches; main alone misses flask
    venv = {"flask": "3.0.0", "itsdangerous": "2.2.0", "demo": "1"}
    assert lockfile.venv_mismatches(both, venv, "demo", {}, "3.11.9", "installed") == []
    assert lockfile.venv_mismatches(main, venv, "demo", {}, "3.11.9", "installed") == [
        "not in the lock: flask==3.0.0"
    ]
