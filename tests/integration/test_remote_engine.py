"""Every command that uses the engine, against one that is not this host's (issue 18, "Remote engines"): a second
dockerd in its own mount namespace with a private /tmp (tests/integration/second_engine.py),
reached once by DOCKER_HOST and once by a docker context ('docker context use'). Nothing may
bind-mount a host path or hand the engine a host file name: the second engine cannot see them.
The SDK client must reach the same daemon as 'docker buildx build': the images land in the
second engine and never in the first."""

from __future__ import annotations

import os
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.conftest import PY311, run_cli
from tests.integration import second_engine

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(second_engine.unavailable() is not None, reason=str(second_engine.unavailable())),
]

TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def remote() -> Iterator[second_engine.SecondEngine]:
    started = time.monotonic()
    marker = Path("/tmp") / f"venvship-host-only-{uuid.uuid4().hex[:8]}"
    marker.write_text("the second engine must not see this\n")
    try:
        with second_engine.running([PY311]) as engine:
            TIMES["start + load base image"] = time.monotonic() - started
            assert not engine.sees(marker), "the second engine sees the host's /tmp"
            assert engine.sees(Path("/etc/hostname"))
            yield engine
    finally:
        marker.unlink()
        print("\nsecond engine timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in TIMES.items()))


def _local_env() -> dict[str, str]:
    """The environment without any engine selection (the first engine)."""
    return {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG")}


def _in_first_engine(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], env=_local_env(), capture_output=True).returncode == 0


def _timed(label: str, *args: str, cwd: Path, env: Mapping[str, str | None]) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    result = run_cli(*args, cwd=cwd, env=env, timeout=900)
    TIMES[label] = time.monotonic() - started
    assert result.returncode == 0, f"venvship {' '.join(args)}: {result.stdout[-2000:]}{result.stderr[-3000:]}"
    return result


def test_every_command_against_docker_host(remote: second_engine.SecondEngine, project: Path,
                                           tmp_path: Path) -> None:
    env = {"DOCKER_HOST": remote.host}
    tag = f"venvship-test/remote-{uuid.uuid4().hex[:8]}:1"
    _timed("lock (cold engine)", "lock", cwd=project, env=env)
    _timed("lock --check", "lock", "--check", cwd=project, env=env)
    _timed("build (with verify)", "build", "--quiet", "--image", tag, cwd=project, env=env)
    assert remote.docker("image", "inspect", tag, check=False).returncode == 0
    assert not _in_first_engine(tag), "the image went to the first engine"
    _timed("verify", "verify", tag, cwd=project, env=env)
    _timed("verify --start", "verify", "--start", "--start-timeout", "20", tag, cwd=project, env=env)
    sbom = _timed("sbom", "sbom", tag, cwd=project, env=env)
    assert '"name": "flask"' in sbom.stdout.lower(), sbom.stdout[:500]
    tested = _timed("test", "test", "--quiet", cwd=project, env=env)
    assert " passed" in tested.stdout and "failed" not in tested.stdout
    out = tmp_path / "dist"
    _timed("export --format tar", "export", "--format", "tar", "--quiet", "--output", str(out), cwd=project, env=env)
    tarballs = list(out.glob("*.tar*"))
    assert len(tarballs) == 1, list(out.iterdir())
    with tarfile.open(tarballs[0]) as archive:
        assert any(name.endswith("bin/python") for name in archive.getnames())
    _timed("export --format deb", "export", "--format", "deb", "--quiet", "--output", str(out), cwd=project, env=env)
    assert len(list(out.glob("*.deb"))) == 1, list(out.iterdir())
    doctor = run_cli("doctor", cwd=project, env=env)
    assert f"at {remote.host} (DOCKER_HOST)" in doctor.stdout + doctor.stderr
    # The same engine over TCP with TLS client certificates (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH).
    certs = tmp_path / "certs"
    certs.mkdir()
    for src, dest in (("ca.pem", "ca.pem"), ("client/cert.pem", "cert.pem"), ("client/key.pem", "key.pem")):
        (certs / dest).write_bytes((remote.tls / src).read_bytes())
    tls_env = {"DOCKER_HOST": remote.tcp, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}
    _timed("tcp+tls: lock --check", "lock", "--check", cwd=project, env=tls_env)
    _timed("tcp+tls: verify", "verify", tag, cwd=project, env=tls_env)


def test_commands_follow_the_current_docker_context(remote: second_engine.SecondEngine, project: Path,
                                                    tmp_path: Path) -> None:
    # A private client config: 'docker context use' must not change the machine's own config.
    config = tmp_path / "docker-config"
    plugins = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "cli-plugins"
    config.mkdir()
    if plugins.is_dir():
        (config / "cli-plugins").symlink_to(plugins)
    env: dict[str, str | None] = {**_local_env(), "DOCKER_CONFIG": str(config)}
    # The context reaches the engine over loopback TCP with TLS client certificates (kept in the
    # context store, where venvship's SDK client must find them): no socket file in common.
    endpoint = (f"host={remote.tcp},ca={remote.tls / 'ca.pem'},cert={remote.tls / 'client' / 'cert.pem'},"
                f"key={remote.tls / 'client' / 'key.pem'}")
    for argv in (["context", "create", "second", "--docker", endpoint], ["context", "use", "second"]):
        subprocess.run(["docker", *argv], env={**_local_env(), "DOCKER_CONFIG": str(config)}, check=True,
                       capture_output=True)
    # Whatever engine this run was pointed at (scripts/test-second-engine sets DOCKER_HOST), the
    # commands below select theirs by the context alone: DOCKER_HOST would win over it.
    env.update({"DOCKER_HOST": None, "DOCKER_CONTEXT": None})
    tag = f"venvship-test/remote-ctx-{uuid.uuid4().hex[:8]}:1"
    _timed("context: lock --check", "lock", "--check", cwd=project, env=env)
    _timed("context: build (with verify)", "build", "--quiet", "--image", tag, cwd=project, env=env)
    assert remote.docker("image", "inspect", tag, check=False).returncode == 0
    assert not _in_first_engine(tag), "the image went to the first engine"
    _timed("context: verify", "verify", tag, cwd=project, env=env)
    doctor = run_cli("doctor", cwd=project, env=env)
    assert f"at {remote.tcp} (context second (" in doctor.stdout + doctor.stderr
