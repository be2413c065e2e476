"""``venvship build`` / ``verify`` against the real engine: the image builds, runs and answers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PY311, copy_example_to, run_cli
from tests.integration import buildkit
from tests.integration.conftest import http_json, rebuild_after_source_change

pytestmark = pytest.mark.docker
TAG = "venvship-test/hello-app:it"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:

    project = copy_example_to(tmp_path_factory.mktemp("build") / "hello-app")
    result = run_cli("build", "--image", TAG, "--json", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    return {"project": project, "summary": json.loads(result.stdout)}


def test_build_summary_is_machine_readable(built: dict[str, Any], engine) -> None:  # type: ignore[no-untyped-def]
    summary = built["summary"]
    assert summary["tags"] == [TAG]
    # the engine's own id for the image, on either store (the containerd store's is its manifest digest)
    assert summary["image_id"] == engine.image(TAG)["Id"]
    assert summary["size"] > 0
    assert summary["verified"] is True
    assert summary["timings"]["build_seconds"] > 0


def test_image_runs_and_answers_http(built: dict[str, Any], engine) -> None:  # type: ignore[no-untyped-def]
    body = http_json(engine, TAG)
    assert body["message"] == "hello from venvship"
    assert body["prefix"] == "/app"


def test_runtime_image_is_minimal_and_non_root(built: dict[str, Any], engine) -> None:  # type: ignore[no-untyped-def]
    _, out = engine.run(TAG, ["-c", "id -u"], entrypoint=["sh"])
    assert out.strip() == "10001"
    _, out = engine.run(TAG, ["-c", "for p in /src /opt/venvship /root/.cache /app/bin/pip; do "
                                 "[ -e $p ] && echo present: $p; done; command -v gcc cc uv pip; true"],
                           entrypoint=["sh"], user="0")
    assert out.strip() == "", out  # no source tree, no build tools, no caches, no pip in the venv
    attrs = engine.image(TAG)
    labels = attrs["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == "1.2.0"
    assert attrs["Config"]["User"] == "10001:10001"
    assert attrs["Config"]["Entrypoint"] == ["/app/bin/hello-app"]


def test_verify_command(built: dict[str, Any]) -> None:
    result = run_cli("verify", TAG, cwd=built["project"])
    assert result.returncode == 0, result.stderr
    assert "verified" in result.stdout


def test_verify_catches_a_lock_mismatch(built: dict[str, Any], copy_example) -> None:  # type: ignore[no-untyped-def]
    other = copy_example()
    main = other / "requirements/main.txt"
    from venvship import lockfile

    lock = lockfile.read(main, "main")
    assert lock is not None
    pin = lock.pins["blinker"]
    main.write_text(lockfile.render("main", dict(lock.header), lock.body.replace(f"blinker=={pin.version}", "blinker==1.0")))
    result = run_cli("verify", TAG, cwd=other)
    assert result.returncode == 14
    assert f"blinker: {pin.version} installed, 1.0 locked" in result.stderr


def test_source_change_reruns_only_the_app_layer(built: dict[str, Any]) -> None:
    project: Path = built["project"]
    log, greeting = rebuild_after_source_change(project, TAG)
    for stage in ("tools", "deps", "build-env", "build-base", "sbom"):
        assert not buildkit.ran(log, stage), f"{stage} re-ran: {buildkit.ran(log, stage)}"
    assert any("RUN" in step for step in buildkit.cached(log, "deps")), "the dependency install was not cached"
    assert any("RUN" in step for step in buildkit.ran(log, "build")), "the app layer did not re-run"
    # the runtime image reuses the dependency layer; only the app's own small layer is new
    assert any("--from=deps" in step for step in buildkit.cached(log, "runtime")), buildkit.steps(log)
    code, out = __import__("venvship.engine", fromlist=["Engine"]).Engine().run(TAG, ["--once"])
    assert code == 0 and greeting in out


def test_stale_lock_is_refused(copy_example) -> None:  # type: ignore[no-untyped-def]
    project = copy_example()
    (project / "requirements/main.in").write_text("flask\nitsdangerous>=2\n")
    result = run_cli("build", "--image", "venvship-test/stale:it", cwd=project)
    assert result.returncode == 7
    assert "refusing to build from a stale lock: main: inputs changed" in result.stderr


def test_compiled_dependency_at_a_custom_venv_path(copy_example, engine) -> None:  # type: ignore[no-untyped-def]
    """markupsafe compiled from its sdist with gcc in the build stage; no compiler at runtime."""
    project = copy_example()
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        'app-module = "hello_app"',
        'app-module = "hello_app"\nvenv-path = "/opt/venvs/hello-app"\nallow-sdist = ["markupsafe"]\n'
        'build-packages = ["gcc", "libc6-dev", "python3-dev"]\nruntime-packages = ["libpq5"]',
    ))
    relock = run_cli("--progress", "quiet", "lock", cwd=project)  # the allowance is part of the inputs
    assert relock.returncode == 0, relock.stderr
    tag = "venvship-test/hello-app-compiled:it"
    result = run_cli("--progress", "plain", "build", "--image", tag, cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    code, out = engine.run(tag, ["--once"])
    assert code == 0 and '"prefix": "/opt/venvs/hello-app"' in out
    probe = ("import importlib.metadata as m, markupsafe._speedups as s; "
             "print(s.__file__); print(m.distribution('markupsafe').read_text('WHEEL'))")
    code, out = engine.run(tag, ["-c", probe], entrypoint=["/opt/venvs/hello-app/bin/python"])
    assert code == 0 and out.splitlines()[0].endswith(".so"), out
    # built here from the sdist (a plain linux tag), not a PyPI wheel (manylinux)
    assert "Tag: cp311-cp311-linux_x86_64" in out and "manylinux" not in out, out
    code, out = engine.run(tag, ["-c", "command -v gcc cc || echo no-compiler"], entrypoint=["sh"])
    assert out.strip() == "no-compiler"
    # runtime-packages are installed, without apt's lists and caches (about 80 MB) in the layer,
    # and the non-root user is still there, made after them
    code, out = engine.run(tag, ["-c", "ls /usr/lib/x86_64-linux-gnu/libpq.so.5 /var/cache/apt/*.bin "
                                       "/var/lib/apt/lists/*Packages* 2>&1; id"], entrypoint=["sh"])
    lines = out.strip().splitlines()
    assert "/usr/lib/x86_64-linux-gnu/libpq.so.5" in lines, out
    assert [line for line in lines if "/var/" in line and "No such file" not in line] == [], out
    assert lines[-1] == "uid=10001(app) gid=10001(app) groups=10001(app)", out


def test_a_dependency_bump_does_not_rebuild_the_app(copy_example, engine) -> None:  # type: ignore[no-untyped-def]
    """A bump changes only the lock files (as `venvship lock --upgrade-package` does): the
    dependencies install again, the app's wheel (built from the context less those files, into an
    empty venv) comes from the cache. hello-app has one layer group (no groups)."""
    import uuid

    from venvship import lockfile

    project = copy_example()
    suffix = uuid.uuid4().hex[:10]
    tags = [f"venvship-test/bump-app:{suffix}-{n}" for n in ("a", "b")]
    # a base of this test's own (one marker file): no layer an earlier run built can be reused
    base = f"venvship-test/bump-base:{suffix}"
    (project.parent / "base").mkdir()
    (project.parent / "base" / "Dockerfile").write_text(f"FROM {PY311}\nRUN echo {suffix} > /etc/venvship-test\n")
    made = subprocess.run(["docker", "build", "--quiet", "--tag", base, str(project.parent / "base")],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    args = ("--build-arg", f"BASE_IMAGE={base}", "--build-arg", f"RUNTIME_IMAGE={base}")
    tags.append(base)
    try:
        result = run_cli("--progress", "quiet", "build", "--image", tags[0], "--no-verify", *args, cwd=project)
        assert result.returncode == 0, result.stderr[-3000:]
        before = lockfile.read(project / "requirements" / "main.txt", "main")
        assert before is not None
        main_in = project / "requirements" / "main.in"
        inputs = main_in.read_text()
        main_in.write_text(inputs + f"werkzeug!={before.pins['werkzeug'].version}\n")
        assert run_cli("--progress", "quiet", "lock", cwd=project).returncode == 0
        main_in.write_text(inputs)  # the inputs as they were: the lock keeps the new pin
        assert run_cli("--progress", "quiet", "lock", cwd=project).returncode == 0
        after = lockfile.read(project / "requirements" / "main.txt", "main")
        assert after is not None and after.pins["werkzeug"].version != before.pins["werkzeug"].version
        result = run_cli("--progress", "plain", "build", "--image", tags[1], "--no-verify", *args, cwd=project)
        assert result.returncode == 0, result.stderr[-3000:]
        log = result.stdout + result.stderr
        assert buildkit.ran(log, "deps"), buildkit.steps(log)
        assert not buildkit.ran(log, "build"), buildkit.steps(log)
        assert any("RUN" in step for step in buildkit.cached(log, "build")), buildkit.steps(log)
    finally:
        for tag in tags:
            engine.remove_image(tag)
