"""Registry cache (issue 18, "Multi-platform images and registries"): ``build --cache-to
type=registry,ref=REG/cache,mode=max`` / ``--cache-from``.

* On the classic image store BuildKit's docker driver refuses cache export: venvship says so in
  one line with its own exit code (20) instead of BuildKit's three.
* Engine A (a second dockerd with the containerd image store) builds hello-app and exports the
  build cache to a local docker-registry; engine B (another second dockerd, containerd store, an
  EMPTY build cache: a data root of its own) rebuilds after a source-only change with
  ``--cache-from`` and re-runs no dependency layer. Its time is printed next to engine A's warm
  source-only rebuild (README "Registries and caches")."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import PY311, one_error, run_cli
from tests.integration import buildkit, registries, second_engine
from venvship.ops.doctor import image_store

pytestmark = pytest.mark.docker

TIMES: dict[str, float] = {}


def change_source(project: Path) -> str:
    """A source-only change with unique content (BuildKit's cache is content-addressed)."""
    init = project / "src/hello_app/__init__.py"
    greeting = f"hello from the registry cache {uuid.uuid4().hex[:8]}"
    text, count = re.subn(r'message="[^"]*"', f'message="{greeting}"', init.read_text())
    assert count == 1
    init.write_text(text)
    return greeting


def timed_build(label: str, project: Path, env: dict[str, str], *args: str) -> str:
    started = time.monotonic()
    result = run_cli("--progress", "plain", "build", *args, cwd=project, env=env, timeout=1200)
    TIMES[label] = time.monotonic() - started
    assert result.returncode == 0, f"{label}: {result.stderr[-4000:]}"
    return result.stderr


def test_the_classic_store_refuses_cache_export_in_one_line(project: Path, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tag = f"venvship-test/cache-refused-{uuid.uuid4().hex[:8]}:1"
    assert image_store(engine.client().info()) == "classic", "the first engine is expected to keep the classic store"
    with registries.plain(tmp_path / "registry") as registry:
        cache = f"type=registry,ref={registry.host}/venvship-test/cache:refused,mode=max"
        result = run_cli("build", "--image", tag, "--cache-to", cache, cwd=project, timeout=600)
        assert result.returncode == 20, result.stderr[-3000:]
        error = one_error(result.stderr)
        assert error == (f"venvship: error: --cache-to {cache}: registry cache export needs an engine with the "
                         "containerd image store (this engine uses the classic store, and BuildKit's docker "
                         "driver refuses it)"), error
        assert "venvship: hint:" in result.stderr and "--containerd-store" in result.stderr
        assert "Switch to a different driver" not in result.stderr  # BuildKit's own lines are not repeated
        assert engine.image(tag) is None
        assert registry.manifest("venvship-test/cache", "refused") is None


@pytest.mark.skipif(second_engine.unavailable() is not None, reason=str(second_engine.unavailable()))
def test_an_empty_engine_rebuilds_from_the_registry_cache(project: Path, tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:8]
    tag = f"venvship-test/registry-cache-{token}:1"
    repository = f"venvship-test/cache-{token}"
    try:
        with registries.plain(tmp_path / "registry") as registry:
            cache_ref = f"{registry.host}/{repository}:hello-app"
            with second_engine.running([PY311], containerd_store=True) as first:
                env = first.env()
                timed_build("A: cold build, cache exported", project, env, "--image", tag,
                            "--cache-to", f"type=registry,ref={cache_ref},mode=max")
                index = registry.manifest(repository, "hello-app")
                assert index is not None, "no cache was exported to the registry"
                change_source(project)
                warm = timed_build("A: warm source-only rebuild (local cache)", project, env,
                                   "--image", tag, "--no-verify")
                assert not any(buildkit.ran(warm, stage) for stage in _dependency_stages(warm))

            with second_engine.running([PY311], containerd_store=True) as empty:
                env = empty.env()
                assert _cache_bytes(empty) == 0, "engine B's build cache is not empty"
                greeting = change_source(project)
                log = timed_build("B: empty engine, source-only change, --cache-from registry", project, env,
                                  "--image", tag, "--no-verify", "--cache-from", f"type=registry,ref={cache_ref}")
                stages = _dependency_stages(log)
                assert stages, buildkit.steps(log)
                for stage in stages:
                    assert not buildkit.ran(log, stage), f"{stage} re-ran on engine B: {buildkit.ran(log, stage)}"
                assert any("RUN" in step for stage in stages for step in buildkit.cached(log, stage)), \
                    f"no dependency step came from the registry cache: {buildkit.steps(log)}"
                assert any("RUN" in step for step in buildkit.ran(log, "build")), "the app layer did not re-run"
                out = empty.docker("run", "--rm", tag, "--once").stdout.decode()
                assert greeting in out, out
                verified = run_cli("verify", tag, cwd=project, env=env, timeout=600)
                assert verified.returncode == 0, verified.stderr[-3000:]
    finally:
        print("\nregistry cache timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in TIMES.items()))


def _dependency_stages(log: str) -> list[str]:
    """The stages that install dependencies or tools (deps, deps groups, tools): never the app's."""
    names = {step.split(" ")[0] for step in buildkit.steps(log)}
    return sorted(n for n in names if n.startswith(("deps", "tools")))


def _cache_bytes(engine: second_engine.SecondEngine) -> int:
    """The build cache's size ('docker buildx du' of the engine's default builder)."""
    total = engine.docker("system", "df", "--format", "{{.Type}} {{.Size}}").stdout.decode()
    size = next(line.split(" ", 2)[-1] for line in total.splitlines() if line.startswith("Build Cache"))
    return 0 if size.strip() in ("0B", "0") else 1
