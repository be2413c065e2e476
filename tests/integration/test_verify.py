"""Issue 14 "Verify" against the real engine: each failure an image can hide is named, by
``verify`` and by ``build`` (exit 14). One small app (tests/integration/broken-app) reproduces
them all in one image, built once."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import one_error, run_cli
from venvship.engine import Engine
from venvship.settings import load_settings
from venvship.verify import run_probe

pytestmark = pytest.mark.docker
HERE = Path(__file__).resolve().parent
SO = "lib/python3.11/site-packages/broken_app/_yamlver.cpython-311-x86_64-linux-gnu.so"
BROKEN_SCRIPT = "console script broken-tool = broken_app.nothere:main: ModuleNotFoundError: No module named 'broken_app.nothere'"
MISSING_PROGRAM = "the image's command runs 'no-such-server', which is not in the image"
IMPORT_FAILS = "'import broken_app.settings' fails: RuntimeError: BROKEN_APP_SECRET is not set"
MISSING_LIBRARY = f"{SO} needs libyaml-0.so.2, which is not in the runtime image (add libyaml-0-2 to runtime-packages)"


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Iterator[dict[str, Any]]:
    project = tmp_path_factory.mktemp("verify") / "broken-app"
    shutil.copytree(HERE / "broken-app", project)
    result = run_cli("--progress", "quiet", "lock", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    tag = f"venvship-test/broken-app:{uuid.uuid4().hex[:10]}"
    try:
        result = run_cli("--progress", "quiet", "build", "--image", tag, "--no-verify", cwd=project)
        assert result.returncode == 0, result.stderr[-3000:]
        yield {"project": project, "tag": tag}
    finally:
        engine.remove_image(tag)


def test_verify_names_each_failure(broken: dict[str, Any]) -> None:
    result = run_cli("verify", broken["tag"], cwd=broken["project"])
    assert result.returncode == 14, result.stderr
    error = one_error(result.stderr)
    for cause in (BROKEN_SCRIPT, MISSING_PROGRAM, IMPORT_FAILS, MISSING_LIBRARY):
        assert cause in error, error
    assert "broken-app =" not in error  # the working console script
    assert "needs_pytest" not in error and "broken-plugin" not in error  # plugin groups are not checked


def test_env_var_applies_to_the_checks(broken: dict[str, Any]) -> None:
    result = run_cli("verify", broken["tag"], "--env-var", "BROKEN_APP_SECRET=s3cret", cwd=broken["project"])
    assert result.returncode == 14, result.stderr
    error = one_error(result.stderr)
    assert IMPORT_FAILS not in error and "broken_app.settings" not in error, error
    assert BROKEN_SCRIPT in error and MISSING_LIBRARY in error
    bad = run_cli("verify", broken["tag"], "--env-var", "NOEQUALS", cwd=broken["project"])
    assert bad.returncode == 3 and "--env-var 'NOEQUALS': expected KEY=VALUE" in bad.stderr


def test_build_exits_14_naming_the_causes(broken: dict[str, Any], engine: Engine) -> None:
    tag = f"venvship-test/broken-app:{uuid.uuid4().hex[:10]}"
    try:
        result = run_cli("--progress", "quiet", "build", "--image", tag, "--env-var", "BROKEN_APP_SECRET=x",
                         cwd=broken["project"])
        assert result.returncode == 14, result.stderr[-3000:]
        error = one_error(result.stderr)
        for cause in (BROKEN_SCRIPT, MISSING_PROGRAM, MISSING_LIBRARY):
            assert cause in error, error
        assert IMPORT_FAILS not in error  # --env-var reached the verification build ran
    finally:
        engine.remove_image(tag)


def test_libraries_are_found_without_the_loader_too(broken: dict[str, Any], engine: Engine) -> None:
    """An image with no usable loader program: the probe reads ELF NEEDED entries itself."""
    settings = load_settings(broken["project"])
    for method in ("auto", "python"):
        data = run_probe(engine, broken["tag"], settings, {"app": "broken-app", "modules": [], "elf": method}, {})
        assert data["elf"]["method"] == ("loader" if method == "auto" else "python")
        assert data["elf"]["missing"] == [{"file": SO, "library": "libyaml-0.so.2"}], data["elf"]
