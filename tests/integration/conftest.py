"""Session fixtures for the reliability and security suite: one local index server image, one
test CA, and one private index (HTTPS with that CA, basic auth) shared by the modules that only
read from it. Modules that break an index start their own (tests/integration/localindex.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import localindex


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
