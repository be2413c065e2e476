"""The command line against the real engine: doctor --base-image, global options after the command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PY39, run_cli

pytestmark = pytest.mark.docker


def test_doctor_checks_the_base_image_given_on_the_command_line(copy_example) -> None:  # type: ignore[no-untyped-def]
    project: Path = copy_example()
    result = run_cli("doctor", "--base-image", PY39, "-C", str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok: configured base image {PY39}: present" in result.stdout
    missing = run_cli("doctor", "--base-image", "venvship-local/python:0.0-none", "-C", str(project))
    assert missing.returncode == 12, missing.stdout + missing.stderr
    assert "PROBLEM: configured base image venvship-local/python:0.0-none: missing" in missing.stdout
