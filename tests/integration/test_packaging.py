"""The installed product: wheel contents, templates inside it, doctor without a daemon, hadolint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli


def test_wheel_ships_templates_and_renders_outside_the_checkout(project: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(dist.glob("venvship-*.whl"))
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    py = target / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    rendered = subprocess.run([str(target / "bin" / "venvship"), "dockerfile"], cwd=project, env=env,
                              capture_output=True, text=True, check=True).stdout
    location = subprocess.run([str(py), "-c", "import venvship, sys; print(venvship.__file__)"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, check=True).stdout
    assert str(target) in location  # the installed copy, not the checkout
    assert rendered == (ROOT / "tests/golden/hello-app.Dockerfile").read_text()
    probe = subprocess.run([str(py), "-c", "from venvship.interpreter import probe_source; print(probe_source())"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert probe.rstrip("\n") == (ROOT / "templates/probe.py").read_text().rstrip("\n")  # the probe ships


def test_doctor_with_the_daemon_down_is_a_diagnosis(tmp_path: Path) -> None:
    result = run_cli("doctor", cwd=ROOT / "examples" / "hello-app",
                     env={"DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"})
    assert result.returncode == 10
    assert "PROBLEM: Docker engine" in result.stdout
    assert "-> start it" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_python_m_venvship_works() -> None:
    result = run_cli("--help")
    assert result.returncode == 0 and "doctor" in result.stdout


@pytest.mark.parametrize("golden", sorted((ROOT / "tests" / "golden").glob("*.Dockerfile")), ids=lambda p: p.stem)
def test_rendered_dockerfiles_pass_hadolint(golden: Path) -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, "--no-color", str(golden)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == "", result.stdout


def test_dockerfile_build_is_up_to_date() -> None:
    """Dockerfile.build is venvship's own image, rendered by venvship from its own settings."""
    result = run_cli("dockerfile", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "Dockerfile.build").read_text(), "run: venvship dockerfile -o Dockerfile.build"
    lint = subprocess.run([shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint"),
                           "--no-color", str(ROOT / "Dockerfile.build")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
