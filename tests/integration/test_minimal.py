"""``runtime-image = "minimal"`` against the real engine (issue 19): FROM scratch plus a root
filesystem assembled from the base image. The example app builds, verifies, serves HTTP and has
no shell; a compiled extension, a runtime-packages library and runtime-programs work; a command
naming an absent program fails verify by name; a source change leaves the root filesystem alone.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_example_to, run_cli
from tests.integration import buildkit
from tests.integration.conftest import http_json, rebuild_after_source_change
from venvship.errors import ImageError

pytestmark = pytest.mark.docker
SIZE_LIMIT = 60_000_000  # issue 19: the example app <= 60 MB (176 MB on the base image)


def _project(directory: Path, tool: str) -> Path:
    project = copy_example_to(directory / "hello-app")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        'app-module = "hello_app"', 'app-module = "hello_app"\nruntime-image = "minimal"\n' + tool))
    return project


def _remove(engine: Any, *tags: str) -> None:
    for tag in tags:
        with contextlib.suppress(Exception):  # already gone
            engine.client().images.remove(tag, force=True)


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory, engine: Any) -> Iterator[dict[str, Any]]:
    project = _project(tmp_path_factory.mktemp("minimal"), "")
    tag = f"venvship-test/minimal-{uuid.uuid4().hex[:8]}:it"
    result = run_cli("build", "--image", tag, "--json", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    yield {"project": project, "tag": tag, "summary": json.loads(result.stdout)}
    _remove(engine, tag, tag.replace(":it", ":debug"))


def test_minimal_image_builds_verifies_and_is_small(minimal: dict[str, Any], engine: Any) -> None:
    summary = minimal["summary"]
    assert summary["verified"] is True
    print(f"\nminimal runtime image of the example app: {summary['size'] / 1e6:.1f} MB")
    assert 0 < summary["size"] <= SIZE_LIMIT, summary["size"]
    attrs = engine.image(minimal["tag"])
    assert attrs["Config"]["User"] == "10001:10001"
    assert attrs["Config"]["Entrypoint"] == ["/app/bin/hello-app"]
    # one layer for the root filesystem, under the venv's and the app's (no RUN layer at all)
    history = [h["CreatedBy"] for h in engine.client().api.history(minimal["tag"])]
    assert history[-1].startswith("COPY /opt/venvship/rootfs/ / "), history
    assert not [h for h in history if h.startswith("RUN")], history


def test_minimal_image_serves_http_and_verify_start_passes(minimal: dict[str, Any], engine: Any) -> None:
    body = http_json(engine, minimal["tag"])
    assert body["message"] == "hello from venvship" and body["prefix"] == "/app"
    result = run_cli("verify", minimal["tag"], "--start", "--runtime-image", "minimal", cwd=minimal["project"])
    assert result.returncode == 0, result.stderr[-3000:]


def test_minimal_image_has_no_shell_and_the_stdlib_it_promises(minimal: dict[str, Any], engine: Any) -> None:
    for program in ("sh", "/bin/sh", "apt-get", "ls"):
        with pytest.raises(ImageError, match="no such file or directory|not found"):
            engine.run(minimal["tag"], [], entrypoint=[program])
    probe = ("import ssl, sqlite3, zoneinfo, uuid, ctypes, decimal, lzma, bz2, zlib, hashlib, socket, os\n"
             "ssl.create_default_context()\n"
             "print(zoneinfo.ZoneInfo('Europe/Paris'), socket.getaddrinfo('localhost', 80)[0][4][0])\n"
             "for name in ('test', 'tkinter', 'idlelib', 'ensurepip', 'lib2to3', 'turtledemo'):\n"
             "    try:\n"
             "        __import__(name)\n"
             "    except ImportError:\n"
             "        print('left out:', name)\n"
             "print(oct(os.stat('/tmp').st_mode & 0o7777), os.getuid(), open('/etc/passwd').read().split(':')[0])")
    code, out = engine.run(minimal["tag"], ["-c", probe], entrypoint=["/app/bin/python"])
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "Europe/Paris 127.0.0.1", out
    assert [line.split()[-1] for line in lines[1:-1]] == [
        "test", "tkinter", "idlelib", "ensurepip", "lib2to3", "turtledemo"], out
    assert lines[-1] == "0o1777 10001 root", out


def test_minimal_image_standard_library_bytecode_is_valid(minimal: dict[str, Any], engine: Any) -> None:
    """The root filesystem's mtimes are clamped; the .pyc files must still match their sources,
    or every start of the app recompiles the standard library it imports (and, read-only and
    with PYTHONDONTWRITEBYTECODE, never keeps it): verify's probe took 0.3 s more than on the base."""
    code, out = engine.run(minimal["tag"], ["-v", "-c", "import json, ssl, email.parser, flask, hello_app"],
                           entrypoint=["/app/bin/python"])
    assert code == 0, out[-3000:]
    stale = [line for line in out.splitlines() if "bytecode is stale" in line]
    assert not stale, f"{len(stale)} stale: {stale[:5]}"
    assert "json/__pycache__/__init__.cpython-311.pyc matches /usr/lib/python3.11/json/__init__.py" in out


def test_runtime_debug_target_adds_the_base_image_shell(minimal: dict[str, Any], engine: Any) -> None:
    debug = minimal["tag"].replace(":it", ":debug")
    result = run_cli("build", "--target", "runtime-debug", "--image", debug, cwd=minimal["project"])
    assert result.returncode == 0, result.stderr[-3000:]
    code, out = engine.run(debug, ["-c", "id -u; ls /app/bin/hello-app; cat /etc/passwd | grep -c app"],
                           entrypoint=["sh"])
    assert code == 0 and out.split() == ["10001", "/app/bin/hello-app", "1"], out


def test_source_change_leaves_the_root_filesystem_layer_alone(minimal: dict[str, Any], engine: Any) -> None:
    project: Path = minimal["project"]
    tag = minimal["tag"]
    before = engine.image(tag)["RootFS"]["Layers"]
    log, greeting = rebuild_after_source_change(project, tag)
    for stage in ("runtime-rootfs", "deps"):
        assert not buildkit.ran(log, stage), f"{stage} re-ran: {buildkit.ran(log, stage)}"
    assert any("RUN" in step for step in buildkit.ran(log, "build")), "the app layer did not re-run"
    after = engine.image(tag)["RootFS"]["Layers"]
    assert after[:2] == before[:2], "the root filesystem or the venv layer changed"
    assert after[2] != before[2]
    code, out = engine.run(tag, ["--once"])
    assert code == 0 and greeting in out


def test_a_command_naming_an_absent_program_fails_verify_by_name(tmp_path: Path, engine: Any) -> None:
    project = _project(tmp_path, 'command = ["sh", "-c", "exec hello-app --port 8000"]\n')
    tag = f"venvship-test/minimal-nosh-{uuid.uuid4().hex[:8]}:it"
    try:
        result = run_cli("build", "--image", tag, cwd=project)
        assert result.returncode == 14, result.stderr[-3000:]
        assert "the image's command runs 'sh', which is not in the image" in result.stderr
        assert "add 'sh' to runtime-programs" in result.stderr
    finally:
        _remove(engine, tag)


def test_compiled_extension_runtime_packages_and_programs(tmp_path: Path, engine: Any) -> None:
    """markupsafe compiled from its sdist, libpq5 from runtime-packages (with its libraries: libssl,
    Kerberos, LDAP), and sh from runtime-programs running the command."""
    project = _project(tmp_path, 'allow-sdist = ["markupsafe"]\n'
                                 'build-packages = ["gcc", "libc6-dev", "python3-dev"]\n'
                                 'runtime-packages = ["libpq5"]\nruntime-programs = ["sh"]\n'
                                 'command = ["sh", "-c", "exec hello-app --port 8000"]\n')
    relock = run_cli("--progress", "quiet", "lock", cwd=project)  # the allowance is part of the inputs
    assert relock.returncode == 0, relock.stderr
    tag = f"venvship-test/minimal-compiled-{uuid.uuid4().hex[:8]}:it"
    try:
        result = run_cli("build", "--image", tag, "--json", cwd=project)
        assert result.returncode == 0, result.stderr[-3000:]
        print(f"\nminimal image with markupsafe compiled, libpq5 and sh: "
              f"{json.loads(result.stdout)['size'] / 1e6:.1f} MB")
        probe = ("import ctypes, importlib.metadata as m, markupsafe._speedups as s\n"
                 "ctypes.CDLL('libpq.so.5').PQlibVersion.restype = ctypes.c_int\n"
                 "print(s.__file__.endswith('.so'), ctypes.CDLL('libpq.so.5').PQlibVersion() > 0)\n"
                 "print(m.distribution('markupsafe').read_text('WHEEL'))")
        code, out = engine.run(tag, ["-c", probe], entrypoint=["/app/bin/python"])
        assert code == 0 and out.splitlines()[0] == "True True", out
        assert "Tag: cp311-cp311-linux_x86_64" in out, out  # built here from the sdist
        code, out = engine.run(tag, ["-c", "echo $0"], entrypoint=["sh"])
        assert code == 0 and out.strip() == "sh", out
        assert http_json(engine, tag)["message"] == "hello from venvship"
        with pytest.raises(ImageError, match="not found"):  # only the programs named: no ls
            engine.run(tag, [], entrypoint=["ls"])
    finally:
        _remove(engine, tag)
