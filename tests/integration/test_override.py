"""Issue 13 item 8 against real PyPI: a git reference is named (exit 4, nothing written) and the
``override`` setting replaces it by an index release, transitive requirements included (uv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PY311, one_error, run_cli, snapshot
from venvship import lockfile

pytestmark = pytest.mark.docker

PYPROJECT = f"""\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "override-app"
version = "0.1.0"
dependencies = ["six @ git+https://github.com/benjaminp/six.git@1.16.0", "flask"]

[tool.venvship]
base-image = "{PY311}"
"""


def test_git_reference_is_named_then_replaced_by_an_index_release(tmp_path: Path) -> None:
    (tmp_path / "override_app").mkdir()
    (tmp_path / "override_app/__init__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    before = snapshot(tmp_path)
    refused = run_cli("--progress", "quiet", "lock", cwd=tmp_path)
    assert refused.returncode == 4
    line = one_error(refused.stderr)
    assert "six is a direct URL reference (git+https://github.com/benjaminp/six.git@1.16.0)" in line
    assert 'override = ["six>=VERSION"]' in refused.stderr
    assert snapshot(tmp_path) == before

    # blinker: flask needs >=1.9; the override wins, as uv's override-dependencies do
    (tmp_path / "pyproject.toml").write_text(PYPROJECT + 'override = ["six==1.16.0", "blinker==1.8.2"]\n')
    locked = run_cli("--progress", "quiet", "lock", cwd=tmp_path)
    assert locked.returncode == 0, locked.stderr[-2000:]
    main = lockfile.read(tmp_path / "requirements/main.txt", "main")
    assert main is not None
    assert main.versions["six"] == "1.16.0"
    assert main.versions["blinker"] == "1.8.2"
    assert "flask" in main.versions
    check = run_cli("--progress", "quiet", "lock", "--check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
