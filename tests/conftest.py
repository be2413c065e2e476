"""Two tiers: unit tests (no daemon, no subprocess) and ``docker`` tests against a real engine.

Docker tests run only with ``--run-docker`` (CI always passes it, and .ci/run fails when they
did not run). Base images come from scripts/setup-docker.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PY311 = os.environ.get("VENVSHIP_TEST_IMAGE_311", "venvship-local/python:3.11-bookworm")
PY39 = os.environ.get("VENVSHIP_TEST_IMAGE_39", "venvship-local/python:3.9-bullseye")
PY313 = os.environ.get("VENVSHIP_TEST_IMAGE_313", "venvship-local/python:3.13-trixie")
# arm64 under QEMU user emulation: scripts/setup-docker --multiarch builds it
PY311_ARM64 = os.environ.get("VENVSHIP_TEST_IMAGE_311_ARM64", "venvship-local/python:3.11-bookworm-arm64")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-docker", action="store_true", help="run tests against the real Docker engine")
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files")
    parser.addoption("--require-docker-tests", action="store_true",
                     help="fail the run if Docker tests were skipped or none passed (CI)")
    parser.addoption("--run-multiplatform", action="store_true",
                     help="run the full multi-platform tier (arm64 builds under QEMU; marker multiplatform)")
    parser.addoption("--run-corpus", action="store_true",
                     help="run the real-app corpus tier (tests/corpus; archives in ../shared/corpus)")
    parser.addoption("--corpus-apps", default="",
                     help="comma-separated corpus apps to run (default: all nine; 'ci': the CI subset)")
    parser.addoption("--corpus-no-cache", action="store_true",
                     help="corpus tier: build and export with --no-cache (closer to a cold CI run's times)")
    parser.addoption("--corpus-runtime-image", default="",
                     help='corpus tier: add runtime-image = "IMAGE" to every app\'s settings (e.g. minimal)')
    parser.addoption("--corpus-results", default="",
                     help="JSON file the corpus tier merges its results into (default docs/corpus-results.json;"
                          " docs/corpus.md is regenerated beside it)")


_docker_tests: set[str] = set()  # node ids of the tests marked docker
_deselected_tier: list[str] = []  # the multi-platform tier's tests, when not asked for (named in the summary)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # By marker, not keyword: an item's keywords also hold its directories' names (a checkout in a
    # folder named "docker" would make every test a Docker test).
    _docker_tests.update(item.nodeid for item in items if item.get_closest_marker("docker"))
    if not config.getoption("--run-multiplatform"):  # deselected, not skipped: a tier of its own
        drop = [item for item in items if item.get_closest_marker("multiplatform")]
        _deselected_tier.extend(item.nodeid for item in drop)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = [item for item in items if not item.get_closest_marker("multiplatform")]
    if config.getoption("--run-docker"):
        return
    skip = pytest.mark.skip(reason="needs --run-docker (a real engine: scripts/setup-docker)")
    for item in items:
        if item.nodeid in _docker_tests:
            item.add_marker(skip)


def copy_example_to(dest: Path, name: str = "hello-app") -> Path:
    """A copy of examples/NAME at ``dest`` (locks included; no caches or build output)."""
    shutil.copytree(EXAMPLES / name, dest, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    return dest


@pytest.fixture
def copy_example(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh copy of examples/NAME in a temporary directory (locks included)."""

    def copy(name: str = "hello-app") -> Path:
        return copy_example_to(tmp_path / name, name)

    return copy


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of examples/hello-app for one test, which may change it."""
    return copy_example_to(tmp_path / "hello-app")


@pytest.fixture(scope="module")
def module_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of examples/hello-app shared by a module's tests (the expensive ones: one lock or
    image for the module); a test that changes it must leave it usable for the others."""
    return copy_example_to(tmp_path_factory.mktemp("module") / "hello-app")


@pytest.fixture(scope="session")
def engine() -> Iterator[object]:
    from venvship.engine import Engine

    eng = Engine()
    eng.client()
    yield eng


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    """Files under ``root`` (parents made), each text dedented; returns ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def load_script(path: Path, name: str, register: bool = False) -> ModuleType:
    """A Python file that is not an importable module (a template's script, benchmarks/run.py),
    loaded as module ``name`` (and put in sys.modules with ``register``)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory``, byte for byte (for 'nothing changed' assertions)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def one_error(stderr: str) -> str:
    """The single 'venvship: error:' line of a failed run, which must have no traceback."""
    assert "Traceback" not in stderr and not re.search(r'(?m)^\s+File "', stderr), stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("venvship: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def run_cli(*args: str, cwd: Path | None = None, env: Mapping[str, str | None] | None = None,
            timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it (integration tests only): this process's
    environment with ``env`` over it, where a value of None removes the variable (a test of the
    docker context must not inherit a DOCKER_HOST, which the context cannot override)."""
    import subprocess
    import sys

    merged = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "venvship", *args], cwd=cwd, capture_output=True, text=True,
        env={k: v for k, v in merged.items() if v is not None}, timeout=timeout,
    )


_docker_outcomes: dict[str, int] = {"passed": 0, "skipped": 0, "failed": 0}
_skipped_elsewhere: list[str] = []  # any other test that skipped itself: it proves nothing either


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _docker_tests:
        if report.skipped:
            _skipped_elsewhere.append(report.nodeid)
        return
    if report.when == "call" and report.passed:
        _docker_outcomes["passed"] += 1
    elif report.skipped:
        _docker_outcomes["skipped"] += 1
    elif report.failed:
        _docker_outcomes["failed"] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not session.config.getoption("--require-docker-tests") or session.config.option.collectonly:
        return
    if _docker_outcomes["skipped"] or not _docker_outcomes["passed"] or _skipped_elsewhere:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    o = _docker_outcomes
    terminalreporter.write_line(
        f"docker integration tests -- passed {o['passed']}, failed {o['failed']}, skipped {o['skipped']}"
    )
    if _deselected_tier:
        n = len(_deselected_tier)
        terminalreporter.write_line(
            f"multi-platform tier: {n} test{'s' if n != 1 else ''} deselected (run it with --run-multiplatform: "
            "README 'Multi-platform'; CI runs its representative cases, marker emulation)")
    if config.getoption("--require-docker-tests") and (o["skipped"] or not o["passed"]):
        terminalreporter.write_line("ERROR: --require-docker-tests: Docker tests were skipped or none ran")
    if config.getoption("--require-docker-tests") and _skipped_elsewhere:
        terminalreporter.write_line("ERROR: --require-docker-tests: tests skipped themselves: "
                                    + ", ".join(_skipped_elsewhere))
