"""The corpus tier runs only with --run-corpus (options in tests/conftest.py; without it its tests
are deselected), and then fails if an app skipped or none ran. At the end of the
session, this run's per-app records are merged into --corpus-results (default
docs/corpus-results.json) and docs/corpus.md is regenerated from them."""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.corpus.apps import APPS
from tests.corpus.record import RESULTS


def selected_apps(config: pytest.Config) -> list[str]:
    raw = config.getoption("--corpus-apps") or ""
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if raw.strip() == "ci":
        return [a.name for a in APPS.values() if a.ci]
    unknown = [n for n in names if n not in APPS]
    if unknown:
        raise pytest.UsageError(f"--corpus-apps: unknown app(s) {', '.join(unknown)}; known: {', '.join(APPS)}, or 'ci'")
    return names or list(APPS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = set(selected_apps(config)) if config.getoption("--run-corpus") else set()
    keep, drop = [], []
    for item in items:
        if item.get_closest_marker("corpus") is None:  # (keywords would match a checkout named "corpus")
            keep.append(item)
            continue
        if not config.getoption("--run-corpus"):
            drop.append(item)  # deselected, not skipped: the tier is its own step of .ci/run
        elif item.callspec.params.get("name") in chosen:  # type: ignore[attr-defined]
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


_outcomes = {"passed": 0, "skipped": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.nodeid.startswith("tests/corpus/"):
        return
    if report.when == "call" and report.passed:
        _outcomes["passed"] += 1
    elif report.skipped:
        _outcomes["skipped"] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # With --run-corpus an app that skips, or a run with no app, fails: the tier never passes empty.
    if session.config.getoption("--run-corpus") and not session.config.option.collectonly \
            and (_outcomes["skipped"] or not _outcomes["passed"]):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not RESULTS:
        return
    path = Path(session.config.getoption("--corpus-results") or ROOT / "docs" / "corpus-results.json")
    data = json.loads(path.read_text()) if path.exists() else {"apps": {}}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    for name, record in RESULTS.items():
        data["apps"][name] = {**record, "commit": commit, "when": when}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    from tests.corpus import report

    # README's status table follows only the project's own results file (not a CI scratch file)
    readme = ROOT / "README.md" if path.resolve() == (ROOT / "docs" / "corpus-results.json").resolve() else None
    report.write(path, path.parent / "corpus.md", readme)
