"""Session fixtures for the reliability and security suite: one local index server image, one
test CA, and one private index (HTTPS with that CA, basic auth) shared by the modules that only
read from it. Modules that break an index start their own (tests/integration/localindex.py).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.integration import localindex
from venvship import lockfile


def lock(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """'venvship lock' in ``project``, quiet."""
    return run_cli("--progress", "quiet", "lock", *args, cwd=project)


def versions(project: Path, env: str, directory: str = "requirements") -> dict[str, str]:
    """Name -> version of an environment's lock (which must exist)."""
    parsed = lockfile.read(project / directory / f"{env}.txt", env)
    assert parsed is not None, f"no {env} lock"
    return parsed.versions


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


@pytest.fixture
def scm_project(copy_example) -> Path:  # type: ignore[no-untyped-def]
    """hello-app versioned by setuptools-scm: a git checkout tagged v2.3.4, its build
    environment locked again (with setuptools-scm)."""
    project: Path = copy_example()
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    text = text.replace('requires = ["setuptools>=69", "wheel"]', 'requires = ["setuptools>=69", "setuptools-scm>=8"]')
    text = text.replace('version = "1.2.0"', 'dynamic = ["version"]')
    pyproject.write_text(text + "\n[tool.setuptools_scm]\n")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "first")
    git(project, "tag", "v2.3.4")
    locked = lock(project, "--env", "build")
    assert locked.returncode == 0, locked.stderr
    return project


def http_json(engine: Any, tag: str, **kwargs: Any) -> Any:
    """Start ``tag`` (``kwargs`` for the container) with port 8000 published on 127.0.0.1 and
    return the JSON it answers at /, retrying for 30 s."""
    with engine.started(tag, ports={"8000/tcp": ("127.0.0.1", None)}, **kwargs) as container:
        deadline = time.monotonic() + 30
        while True:
            container.reload()
            ports = container.attrs["NetworkSettings"]["Ports"].get("8000/tcp")
            try:
                assert ports, container.logs().decode()[-2000:]
                with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]['HostPort']}/", timeout=2) as response:
                    return json.loads(response.read())
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)


def rebuild_after_source_change(project: Path, tag: str) -> tuple[str, str]:
    """Change hello-app's greeting (unique content: BuildKit's cache is content-addressed and
    outlives runs) and rebuild ``tag`` without verify: the build log and the new greeting."""
    init = project / "src/hello_app/__init__.py"
    greeting = f"hello again from venvship {uuid.uuid4().hex[:8]}"
    init.write_text(init.read_text().replace("hello from venvship", greeting))
    result = run_cli("--progress", "plain", "build", "--image", tag, "--no-verify", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr, greeting


@pytest.fixture(scope="session")
def canaries() -> dict[str, str]:
    """Secrets that must never reach an image or a lock: the index password, a CA bundle line."""
    token = secrets.token_hex(8)
    return {"password": f"vsp-canary-pw-{token}", "ca": f"vsp-canary-ca-{token}"}


@pytest.fixture(scope="session")
def index_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    return localindex.build_image(tmp_path_factory.mktemp("index-image"))


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with ca.pem and ca.key, made for this session."""
    directory = tmp_path_factory.mktemp("ca")
    localindex.make_ca(directory)
    return directory


@pytest.fixture(scope="session")
def private_bundle(test_ca: Path, canaries: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host's CA bundle plus the test CA, with a canary comment line."""
    return localindex.ca_bundle(test_ca / "ca.pem", tmp_path_factory.mktemp("bundle") / "ca-bundle.pem",
                                comment=canaries["ca"])


@pytest.fixture(scope="session")
def private_index(index_image: str, test_ca: Path, canaries: dict[str, str],
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[localindex.IndexServer]:
    """HTTPS, a password on every request, vsp-alpha/vsp-beta 1.0 (1.1 stays unpublished)."""
    with localindex.running(index_image, test_ca, tmp_path_factory.mktemp("private-index"), user="vsp",
                            password=canaries["password"], publish=localindex.BASE_SET) as server:
        yield server


@pytest.fixture(scope="session")
def private_netrc(private_index: localindex.IndexServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return private_index.netrc(tmp_path_factory.mktemp("netrc") / "netrc")
