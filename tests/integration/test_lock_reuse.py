"""What 'venvship lock' keeps on the host between runs (issue 17: the lock overhead).

The answers the lock stage used to work out on every run, each a fact about one image: its
interpreter's description, the build requirements of an allowed sdist (a pip download, a venv and
a backend hook), the project's build backend's get_requires_for_build_wheel (a venv, an install
and the hook). They are kept under XDG_CACHE_HOME/venvship with a key of what each depends on, and
the next lock takes them as they are. The tests tamper with a kept answer to show it is the one
taken, and change what it depends on to show it is then asked again.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PY311, run_cli, write_tree
from tests.integration.conftest import versions

pytestmark = pytest.mark.docker


def _app(root: Path, description: str = "one") -> Path:
    return write_tree(root, {
        "pyproject.toml": f"""\
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "reuse-app"
            version = "1.0"
            description = "{description}"
            dependencies = ["docopt"]

            [tool.venvship]
            base-image = "{PY311}"
            allow-sdist = ["docopt"]
            """,
        "src/reuse_app/__init__.py": "",
    })


def _lock(project: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("--progress", "quiet", "lock", cwd=project, env={"XDG_CACHE_HOME": str(cache)})


def test_a_lock_takes_the_answers_an_earlier_lock_kept_and_asks_again_when_their_inputs_change(
        tmp_path: Path) -> None:
    project, cache = _app(tmp_path / "app"), tmp_path / "cache"
    first = _lock(project, cache)
    assert first.returncode == 0, first.stderr
    assert "warning" not in first.stderr, first.stderr
    assert {"hatchling", "setuptools"} <= set(versions(project, "build"))
    sdist = list((cache / "venvship" / "sdist-requires").glob("*/docopt==*.txt"))
    hook = [p for p in (cache / "venvship" / "build-hook").glob("*/*") if p.is_file()]
    targets = list((cache / "venvship" / "lock-targets").glob("*.json"))
    assert len(sdist) == 1 and "setuptools" in sdist[0].read_text(), sdist
    assert len(hook) == 1 and len(targets) == 1, (hook, targets)
    assert '"python"' in targets[0].read_text()

    # a kept answer is taken as it is: a tampered one shows up in the build lock
    hook[0].write_text("tomli-w\n")
    second = _lock(project, cache)
    assert second.returncode == 0, second.stderr
    assert {"tomli-w", "hatchling", "setuptools"} <= set(versions(project, "build"))

    # the project's metadata changed: its backend is asked again
    _app(tmp_path / "app", description="two")
    third = _lock(project, cache)
    assert third.returncode == 0, third.stderr
    assert "tomli-w" not in versions(project, "build")
    assert len([p for p in (cache / "venvship" / "build-hook").glob("*/*") if p.is_file()]) == 2

    # the sdist's answer does not depend on the project: taken as it is too
    sdist[0].write_text(sdist[0].read_text() + "six\n")
    fourth = _lock(project, cache)
    assert fourth.returncode == 0, fourth.stderr
    assert {"six", "hatchling", "setuptools"} <= set(versions(project, "build"))


def test_without_a_cache_directory_lock_still_works_and_keeps_nothing(tmp_path: Path) -> None:
    """A read-only or missing home: every answer is asked in the lock stage, as before."""
    project = _app(tmp_path / "app")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory would be\n")
    result = _lock(project, blocked)
    assert result.returncode == 0, result.stderr
    assert {"hatchling", "setuptools"} <= set(versions(project, "build"))
    check = run_cli("lock", "--check", cwd=project, env={"XDG_CACHE_HOME": str(blocked)})
    assert check.returncode == 0, check.stderr


def _in_uv_cache_mount(tmp_path: Path, command: str) -> str:
    """Run ``command`` in a build step with the uv cache mount the lock step and the build stages
    share (templates/macros.j2: uv_cache_mount), as BuildKit mounts it; its output."""
    import uuid

    work = tmp_path / f"probe-{uuid.uuid4().hex[:8]}"
    write_tree(work, {"Dockerfile": f"""\
        FROM {PY311}
        ARG RUN_ID
        RUN --mount=type=cache,target=/root/.cache/uv,id=venvship-uv,sharing=locked \\
            echo "probe $RUN_ID" && {command}
        """})
    probe = subprocess.run(["docker", "buildx", "build", "--progress=plain", "--build-arg", f"RUN_ID={uuid.uuid4().hex}",
                            str(work)], capture_output=True, text=True, env={**os.environ, "DOCKER_BUILDKIT": "1"})
    assert probe.returncode == 0, probe.stderr[-2000:]
    return probe.stderr


def test_a_lock_leaves_the_resolver_cache_in_place(tmp_path: Path) -> None:
    """The lock step's uv cache mount is the one the builds and later locks use, and a lock leaves
    it in place: BuildKit empties the cache mounts of a step it is told not to cache
    (--no-cache-filter), so every lock used to resolve against an empty cache (every index page and
    wheel's metadata fetched again) and wiped the builds' download cache. The lock step is still
    run anew each time: its run id is part of its cache key (test_lock: output bound to its run)."""
    import uuid

    marker = f"venvship-test-marker-{uuid.uuid4().hex}"
    _in_uv_cache_mount(tmp_path, f"touch /root/.cache/uv/{marker}")
    try:
        result = _lock(_app(tmp_path / "app"), tmp_path / "cache")
        assert result.returncode == 0, result.stderr
        assert f"/root/.cache/uv/{marker}" in _in_uv_cache_mount(tmp_path, f"ls /root/.cache/uv/{marker} || true")
    finally:
        _in_uv_cache_mount(tmp_path, f"rm -f /root/.cache/uv/{marker}")
