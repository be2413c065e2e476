from __future__ import annotations

from venvship.errors import BuildKitUnavailableError, DockerUnavailableError, ImageError
from venvship.ops.doctor import Finding, verdict


def test_all_ok_is_no_error() -> None:
    assert verdict([Finding(True, "engine"), Finding(True, "buildkit")]) is None


def test_the_first_problem_decides_the_exit_code() -> None:
    error = verdict([Finding(True, "engine"), Finding(False, "BuildKit: none", error=BuildKitUnavailableError),
                     Finding(False, "base image missing", error=ImageError)])
    assert isinstance(error, BuildKitUnavailableError) and error.exit_code == 11
    assert error.message == "2 problem(s) found; the first: BuildKit: none"
    assert isinstance(verdict([Finding(False, "engine", error=DockerUnavailableError)]), DockerUnavailableError)
