"""Issue 13 item 4 against the real engine: ``main.in`` says ``-r base.in``; the image gets
base's packages too, and build notices a stale or edited base lock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PY311, one_error, run_cli
from venvship import lockfile

pytestmark = pytest.mark.docker

PYPROJECT = f"""\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "layered-app"
version = "0.1.0"

[tool.venvship]
base-image = "{PY311}"
app-module = "layered_app"
"""


@pytest.fixture(scope="module")
def layered_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("layered") / "layered-app"
    (root / "requirements").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "layered_app").mkdir()
    (root / "layered_app/__init__.py").write_text("import flask, six\nVERSION = flask.__name__\n")
    (root / "requirements/base.in").write_text("flask\n")
    (root / "requirements/main.in").write_text("-r base.in\nsix\n")
    result = run_cli("--progress", "quiet", "lock", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    yield root


def test_image_has_what_main_is_layered_on(layered_app: Path, engine) -> None:  # type: ignore[no-untyped-def]
    tag = f"venvship-test/layered-app:{uuid.uuid4().hex[:10]}"
    try:
        result = run_cli("--progress", "quiet", "build", "--image", tag, "--no-verify", cwd=layered_app)
        assert result.returncode == 0, result.stderr[-3000:]
        probe = "import importlib.metadata as m; print(m.version('flask'), m.version('six'))"
        code, out = engine.run(tag, ["-c", probe], entrypoint=["/app/bin/python"])
        base = lockfile.read(layered_app / "requirements/base.txt", "base")
        main = lockfile.read(layered_app / "requirements/main.txt", "main")
        assert base is not None and main is not None and "flask" not in main.pins
        assert code == 0 and out.split() == [base.pins["flask"].version, main.pins["six"].version], out
        code, out = engine.run(tag, ["-c", "import layered_app"], entrypoint=["/app/bin/python"])
        assert code == 0, out
        verified = run_cli("verify", tag, cwd=layered_app)  # compared with base.txt + main.txt (issue 14)
        assert verified.returncode == 0, verified.stderr
    finally:
        engine.remove_image(tag)


def test_build_checks_the_base_lock(layered_app: Path) -> None:
    base_txt = layered_app / "requirements/base.txt"
    original = base_txt.read_text()
    try:
        # an edited base lock is refused even with --allow-stale (which excuses changed inputs only)
        base_txt.write_text(original.replace("flask==", "flask===", 1))
        result = run_cli("build", "--image", "venvship-test/layered-app:never", "--allow-stale",
                         cwd=layered_app)
        assert result.returncode != 0
        assert "requirements/base.txt" in one_error(result.stderr)
    finally:
        base_txt.write_text(original)
    base_in = layered_app / "requirements/base.in"
    base_in.write_text("flask\nblinker\n")
    try:
        result = run_cli("build", "--image", "venvship-test/layered-app:never", cwd=layered_app)
        assert result.returncode == 7, result.stderr
        assert "base: inputs changed since requirements/base.txt was compiled" in one_error(result.stderr)
    finally:
        base_in.write_text("flask\n")


def test_export_and_install_take_the_whole_chain(layered_app: Path, tmp_path: Path) -> None:
    import json
    import subprocess

    base = lockfile.read(layered_app / "requirements/base.txt", "base")
    main = lockfile.read(layered_app / "requirements/main.txt", "main")
    assert base is not None and main is not None
    result = run_cli("--progress", "quiet", "export", "--format", "tar", "--output", str(tmp_path / "dist"),
                     "--json", cwd=layered_app)
    assert result.returncode == 0, result.stderr[-3000:]
    dists = {k.lower(): v for k, v in json.loads(result.stdout)["distributions"].items()}
    assert dists["flask"] == base.versions["flask"] and dists["six"] == main.versions["six"]
    venv = tmp_path / "venv"
    installed = run_cli("install", "--venv", str(venv), cwd=layered_app, timeout=600)
    assert installed.returncode == 0, installed.stderr[-2000:]
    probe = subprocess.run([str(venv / "bin/python"), "-c", "import flask, six, layered_app"],
                           capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
