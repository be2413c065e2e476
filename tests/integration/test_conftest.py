"""tests/conftest.py's CI guard, run in a child pytest (unit tests may not start processes): with
--require-docker-tests a run fails when a Docker test was skipped (or none ran) or any test skipped
itself, and the deselected multi-platform tier is named in the summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def _pytest(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text("import pytest\n\n" + body)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-c", "/dev/null",
         "--rootdir", str(tmp_path), str(tmp_path / "test_probe.py"), "-q", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120)


DOCKER_OK = "@pytest.mark.docker\ndef test_runs():\n    pass\n\n"


def test_a_run_with_every_docker_test_passed_succeeds(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, DOCKER_OK, "--run-docker", "--require-docker-tests")
    assert proc.returncode == 0, proc.stdout
    assert "docker integration tests -- passed 1, failed 0, skipped 0" in proc.stdout


def test_a_docker_test_that_skips_itself_fails_the_run(tmp_path: Path) -> None:
    body = DOCKER_OK + "@pytest.mark.docker\ndef test_no_engine():\n    pytest.skip('no engine')\n"
    proc = _pytest(tmp_path, body, "--run-docker", "--require-docker-tests")
    assert proc.returncode == 1, proc.stdout
    assert "ERROR: --require-docker-tests: Docker tests were skipped or none ran" in proc.stdout
    assert _pytest(tmp_path, body, "--run-docker").returncode == 0  # a developer's run without the guard


def test_docker_tests_not_asked_for_fail_the_run(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, DOCKER_OK, "--require-docker-tests")  # no --run-docker: all skipped
    assert proc.returncode == 1, proc.stdout
    assert "skipped 1" in proc.stdout


def test_any_other_test_that_skips_itself_fails_the_run(tmp_path: Path) -> None:
    body = DOCKER_OK + "def test_elsewhere():\n    pytest.skip('not here')\n"
    proc = _pytest(tmp_path, body, "--run-docker", "--require-docker-tests")
    assert proc.returncode == 1, proc.stdout
    assert "tests skipped themselves: " in proc.stdout and "test_elsewhere" in proc.stdout


def test_the_deselected_multiplatform_tier_is_named(tmp_path: Path) -> None:
    body = DOCKER_OK + "@pytest.mark.multiplatform\ndef test_arm64():\n    pass\n"
    proc = _pytest(tmp_path, body, "--run-docker", "--require-docker-tests")
    assert proc.returncode == 0, proc.stdout
    assert "1 deselected" in proc.stdout
    assert "multi-platform tier: 1 test deselected (run it with --run-multiplatform" in proc.stdout
