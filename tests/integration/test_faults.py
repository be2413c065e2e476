"""Faults: the package index fails, hangs or disappears during ``lock`` / ``lock --upgrade``, and a
build is interrupted. venvship fails clearly (one line, exit 16 or 130) and every previous lock
is byte for byte what it was; an interrupted build leaves no tag behind.

The index is the local pypiserver (tests/integration/localindex.py), switched into a fault
while venvship runs, or killed mid-run from a thread. The tools stage is cached from a healthy
first lock, so the fault hits the resolver itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import one_error, run_cli, snapshot
from tests.integration import localindex
from tests.integration.localindex import IndexServer

pytestmark = pytest.mark.docker

# Fail within seconds, not uv's default 30 s times retries (passed through to the lock stage).
FAST = {"UV_HTTP_TIMEOUT": "3", "UV_HTTP_RETRIES": "0"}
COMMANDS = {
    "lock": ("lock",),  # with changed inputs: a successful run would rewrite main.txt and dev.txt
    "lock-upgrade": ("lock", "--upgrade"),  # with 1.1 releases published: it would move pins
}


def locks(project: Path) -> dict[str, bytes]:
    return {name: data for name, data in snapshot(project / "requirements").items() if name.endswith(".txt")}


def prepare(project: Path, command: str) -> None:
    if command == "lock":
        (project / "requirements/main.in").write_text("vsp-alpha\nvsp-beta>=1.0\n")


@pytest.fixture(scope="module")
def server(index_image: str, test_ca: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    with localindex.running(index_image, test_ca, tmp_path_factory.mktemp("faulty-index")) as srv:
        yield srv


@pytest.fixture(scope="module")
def locked(server: IndexServer, private_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vsp-app locked at 1.0; then the 1.1 releases appear on the index."""
    project = localindex.make_project(tmp_path_factory.mktemp("faults") / "vsp-app", server, private_bundle)
    result = run_cli("--progress", "quiet", "lock", cwd=project)
    assert result.returncode == 0, result.stderr[-2000:]
    server.publish("vsp_alpha-1.1-*", "vsp_beta-1.1-*")
    return project


@pytest.fixture
def vsp_app(locked: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "vsp-app"
    shutil.copytree(locked, dest)
    return dest


def test_each_command_would_change_the_locks_with_a_healthy_index(vsp_app: Path) -> None:
    """The control: against a working index both commands rewrite locks, so 'unchanged' below
    means the fault stopped them."""
    for command, args in COMMANDS.items():
        attempt = vsp_app.parent / f"control-{command}"
        shutil.copytree(vsp_app, attempt)
        prepare(attempt, command)
        before = locks(attempt)
        result = run_cli("--progress", "quiet", *args, cwd=attempt, env=FAST)
        assert result.returncode == 0, result.stderr[-2000:]
        assert locks(attempt) != before, command


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("fault", ["500", "hang"])
def test_index_errors_and_timeouts_keep_every_lock(fault: str, command: str, vsp_app: Path,
                                                   server: IndexServer) -> None:
    prepare(vsp_app, command)
    before = locks(vsp_app)
    seen = len(server.requests())
    server.set_mode(fault)
    try:
        started = time.monotonic()
        result = run_cli("--progress", "quiet", *COMMANDS[command], cwd=vsp_app, env=FAST, timeout=300)
        elapsed = time.monotonic() - started
    finally:
        server.set_mode("index")
    assert result.returncode == 16, result.stderr[-2000:]
    line = one_error(result.stderr)
    assert "the package index is unavailable" in line
    assert {"500": "500 Internal Server Error", "hang": "timed out"}[fault] in line
    assert server.requests()[seen:], "the index was never asked"
    assert locks(vsp_app) == before
    assert elapsed < 120, f"took {elapsed:.0f} s: the timeout did not reach the resolver"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_index_disappearing_mid_run_keeps_every_lock(command: str, index_image: str, test_ca: Path,
                                                     private_bundle: Path, tmp_path: Path) -> None:
    """The index container is killed as soon as the resolver's first request reaches it."""
    with localindex.running(index_image, test_ca, tmp_path) as srv:
        project = localindex.make_project(tmp_path / "vsp-app", srv, private_bundle)
        first = run_cli("--progress", "quiet", "lock", cwd=project)
        assert first.returncode == 0, first.stderr[-2000:]
        srv.publish("vsp_alpha-1.1-*", "vsp_beta-1.1-*")
        prepare(project, command)
        before = locks(project)
        seen = len(srv.requests())
        killed = threading.Event()

        def kill_on_first_request() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if srv.requests()[seen:]:
                    srv.kill()
                    killed.set()
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_on_first_request, daemon=True)
        killer.start()
        result = run_cli("--progress", "quiet", *COMMANDS[command], cwd=project, env=FAST, timeout=300)
        killer.join(timeout=5)
    assert killed.is_set(), "the resolver never reached the index"
    assert result.returncode == 16, result.stderr[-2000:]
    assert "the package index is unavailable" in one_error(result.stderr)
    assert locks(project) == before


def test_index_down_before_the_tools_stage_was_ever_built(server: IndexServer, private_bundle: Path,
                                                         tmp_path: Path) -> None:
    """A first lock on a new base image while the index refuses connections: pip cannot fetch uv
    for the tools stage, which is exit 16 as when the resolver itself cannot reach the index."""
    from tests.conftest import PY311

    base = f"venvship-test/fresh-base:{uuid.uuid4().hex[:12]}"
    ctx = tmp_path / "base"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {PY311}\nRUN echo {base} > /etc/venvship-test-fresh-base\n")
    subprocess.run(["docker", "buildx", "build", "--quiet", "--load", "--tag", base, str(ctx)], check=True,
                   capture_output=True)  # its own layers: no tools stage of any earlier run matches
    try:
        project = localindex.make_project(tmp_path / "vsp-app", server, private_bundle)
        pyproject = project / "pyproject.toml"
        closed = server.url.replace(f":{localindex.PORT}/", ":9/")  # the index container, a closed port
        assert closed != server.url
        pyproject.write_text(pyproject.read_text().replace(f'base-image = "{PY311}"', f'base-image = "{base}"')
                             .replace(server.url, closed))
        result = run_cli("--progress", "plain", "lock", cwd=project, env=FAST, timeout=300)
    finally:
        subprocess.run(["docker", "image", "rm", "--force", base], capture_output=True)
    assert "[tools 1/1]" in result.stderr, result.stderr[-2000:]  # the fault hit the tools stage
    assert result.returncode == 16, result.stderr[-2000:]
    line = one_error(result.stderr)
    assert line.startswith("venvship: error: the package index is unavailable: "), line
    assert "[tools 1/1]" in line and "uv==" in line, line
    assert not list((project / "requirements").glob("*.txt"))


# ---- an interrupted build ------------------------------------------------------------------------
TAG = "venvship-test/interrupted:it"


def processes_naming(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(text.encode() in a for a in args):
            found.append(b" ".join(args).decode(errors="replace"))
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_build_leaves_the_previous_tag(sig: signal.Signals, vsp_app: Path, engine) -> None:  # type: ignore[no-untyped-def]
    """Stopped while BuildKit runs its first step: exit 130, the build cancelled, the tag still
    on the image it named before."""
    from tests.conftest import PY311

    client = engine.client()
    previous = client.images.get(PY311)
    previous.tag(TAG)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "venvship", "build", "--no-cache", "--image", TAG], cwd=vsp_app,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **FAST},
            # as from a terminal: a run started in the background (nohup, 'cmd &' in a script) passes
            # SIGINT down ignored, and Python then keeps it ignored (no KeyboardInterrupt to test)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        assert proc.stderr is not None
        progress = []
        for line in proc.stderr:
            progress.append(line)
            if "RUN " in line:  # BuildKit has started running a step
                break
        assert proc.poll() is None, "".join(progress)
        proc.send_signal(sig)
        _, rest = proc.communicate(timeout=120)
        stderr = "".join(progress) + rest
        assert proc.returncode == 130, stderr[-2000:]
        assert stderr.rstrip().splitlines()[-1] == "venvship: interrupted"
        assert "Traceback" not in stderr
        assert not processes_naming(TAG), "a build still runs after venvship exited"
        assert client.images.get(TAG).id == previous.id
    finally:
        client.images.remove(TAG)
