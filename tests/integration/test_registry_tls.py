"""A registry with TLS and basic auth (issue 18): Debian's docker-registry with its own config
file, an htpasswd file and a certificate from a CA made for this test; the engine trusts that CA
through /etc/docker/certs.d/HOST:PORT/ca.crt for this registry only (removed afterwards). The
registry listens on the first engine's docker0 address, not on 127.0.0.0/8, which the engine
treats as insecure (it would not verify the certificate at all).

``venvship build --push`` pushes after verify; without a login the push is refused, and once the
engine no longer trusts the CA it is refused too: each a one-line error with exit code 18."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import one_error, run_cli
from tests.integration import registries

pytestmark = pytest.mark.docker


def docker_config(directory: Path) -> dict[str, str]:
    """A docker client config of the test's own (its logins never reach ~/.docker/config.json),
    with the user's CLI plugins (buildx)."""
    directory.mkdir()
    plugins = Path.home() / ".docker" / "cli-plugins"
    if plugins.is_dir():
        (directory / "cli-plugins").symlink_to(plugins)
    return {"DOCKER_CONFIG": str(directory)}


def test_push_to_a_tls_registry_with_basic_auth(project: Path, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    user, password = "venvship", secrets.token_hex(12)
    env = docker_config(tmp_path / "docker-config")
    repository = f"venvship-test/tls-{uuid.uuid4().hex[:8]}"
    pushed: list[str] = []
    with registries.secured(tmp_path / "secured", user, password) as registry:
        tag, untrusted_tag = f"{registry.host}/{repository}:1", f"{registry.host}/{repository}:2"
        pushed += [tag, untrusted_tag]
        try:
            anonymous_get = registries.Registry(registry.host, registry.ca).get("")
            assert anonymous_get[0] == 401, "the registry must ask for credentials"
            assert registry.get("")[0] == 200, "the test's credentials must be accepted"
            with registries.trusted(registry) as certs:
                assert (certs / "ca.crt").read_bytes() == registry.ca.read_bytes()  # type: ignore[union-attr]
                anonymous = run_cli("build", "--push", "--image", tag, cwd=project, env=env)
                assert anonymous.returncode == 18, anonymous.stderr[-3000:]
                error = one_error(anonymous.stderr)
                assert error.startswith(f"venvship: error: docker push {tag} failed:") and "basic auth" in error, error
                assert registry.digest(repository, "1") is None

                login = subprocess.run(["docker", "login", registry.host, "--username", user, "--password-stdin"],
                                       input=password, text=True, capture_output=True,
                                       env={**os.environ, **env}, timeout=60)
                assert login.returncode == 0, login.stderr
                good = run_cli("build", "--push", "--image", tag, "--json", cwd=project, env=env)
                assert good.returncode == 0, good.stderr[-3000:]
                summary = json.loads(good.stdout)
                assert summary["verified"] is True and summary["pushed"] == [tag]
                digest = registry.digest(repository, "1")
                assert digest is not None
                config = registry.manifest(repository, digest)
                assert config is not None and config.get("layers"), config

            # the same login, but the engine no longer trusts the registry's CA: refused, nothing pushed
            untrusted = run_cli("build", "--push", "--image", untrusted_tag, cwd=project, env=env)
            assert untrusted.returncode == 18, untrusted.stderr[-3000:]
            error = one_error(untrusted.stderr)
            assert "certificate signed by unknown authority" in error, error
            assert registry.digest(repository, "2") is None
        finally:
            for ref in pushed:
                engine.remove_image(ref)
    assert not (registries.CERTS_D / registry.host).exists()
