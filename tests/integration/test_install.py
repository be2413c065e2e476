"""``venvship install`` on the host: a fresh venv anywhere, ``--sync``, and the Python check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.conftest import PY39, PY313, run_cli, snapshot
from venvship import lockfile


def _dists(venv: Path) -> dict[str, str]:
    out = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json",
                          "--disable-pip-version-check"],
                         capture_output=True, text=True, check=True)
    return {canonicalize_name(d["name"]): d["version"] for d in json.loads(out.stdout)}


def _locked(project: Path, *envs: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for env in envs:
        lock = lockfile.read(project / "requirements" / f"{env}.txt", env)
        assert lock is not None
        out.update(lock.versions)
    return out


@pytest.fixture(scope="module")
def venv(module_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One install into a venv at an arbitrary, not yet existing path (spaces included)."""
    path = tmp_path_factory.mktemp("any where") / "not yet" / "my venv"
    before = snapshot(module_project)
    result = run_cli("install", "--venv", str(path), cwd=module_project, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{path}: main installed" in result.stdout
    assert snapshot(module_project) == before  # a regular install builds from a copy: no build/ litter
    return path


def test_install_into_a_fresh_venv_runs_the_entry_point(venv: Path, module_project: Path) -> None:
    out = subprocess.run([str(venv / "bin" / "hello-app"), "--once"], capture_output=True,
                         text=True, cwd="/", check=True)
    body = json.loads(out.stdout)
    assert body["message"] == "hello from venvship"
    assert Path(body["prefix"]) == venv
    installed = _dists(venv)
    for name, version in _locked(module_project, "main").items():
        assert installed.get(name) == version, name
    assert installed["hello-app"] == "1.2.0"


def test_install_sync_removes_a_stray_package(venv: Path, module_project: Path) -> None:
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "six"],
                   check=True, capture_output=True)
    assert "six" in _dists(venv)
    result = run_cli("install", "--sync", "--venv", str(venv), "--env", "dev", "--editable",
                     cwd=module_project, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "- six" in result.stdout
    installed = _dists(venv)
    expected = _locked(module_project, "main", "dev")
    assert set(installed) - set(expected) == {"hello-app", "pip"}  # nothing stray survives
    assert all(installed[n] == v for n, v in expected.items())
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import hello_app; print(hello_app.__file__)"],
                           capture_output=True, text=True, check=True, cwd="/").stdout
    assert Path(where.strip()).is_relative_to(module_project / "src")  # --editable


@pytest.mark.docker
def test_a_lock_for_another_python_is_refused_unless_forced(copy_example, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = copy_example()
    image, other = (PY39, "3.9") if sys.version_info[:2] != (3, 9) else (PY313, "3.13")
    result = run_cli("lock", "--env", "main", "--base-image", image, cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"python = cpython {other}." in (project / "requirements" / "main.txt").read_text()

    venv = tmp_path / "venv"
    refused = run_cli("install", "--venv", str(venv), "--python", sys.executable, cwd=project)
    assert refused.returncode == 15, refused.stderr
    assert f"main: compiled for cpython {other}." in refused.stderr
    assert not venv.exists()

    forced = run_cli("install", "--venv", str(venv), "--python", sys.executable, "--force",
                     cwd=project, timeout=600)
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert "warning (--force)" in forced.stderr
    assert (venv / "bin" / "hello-app").exists()
