"""``venvship test``: the test stage runs the project's tests; their exit code is venvship's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module", autouse=True)
def _remove_test_image(module_project: Path, engine) -> Iterator[None]:  # type: ignore[no-untyped-def]
    from venvship.ops.testrun import image_tag
    from venvship.settings import load_settings

    yield
    engine.remove_image(image_tag(load_settings(module_project, environ={})))


def test_venvship_test_passes_on_the_example(module_project: Path) -> None:
    result = run_cli("test", "--quiet", cwd=module_project)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
    assert "Python 3.11." in result.stdout  # the production interpreter, not the host's


def test_venvship_test_fails_when_a_test_fails(module_project: Path) -> None:
    (module_project / "tests" / "test_broken.py").write_text("def test_broken():\n    assert 1 == 2\n")
    result = run_cli("test", "--quiet", cwd=module_project)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "test_broken" in result.stdout and "1 failed" in result.stdout
    deselected = run_cli("test", "--quiet", "--", "-k", "not broken", cwd=module_project)
    assert deselected.returncode == 0, deselected.stdout[-2000:]
