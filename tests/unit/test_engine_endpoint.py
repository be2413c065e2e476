"""The SDK client reaches the daemon the docker CLI reaches: DOCKER_HOST, then DOCKER_CONTEXT,
then the config file's currentContext (read from the context store, as the CLI does)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from venvship.engine import DEFAULT_HOST, docker_endpoint
from venvship.errors import ConfigError


def _context(config: Path, name: str, host: str, *, tls: bool = False, skip_verify: bool = False) -> None:
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({
        "Name": name, "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}},
    }))
    if tls:
        certs = config / "contexts" / "tls" / digest / "docker"
        certs.mkdir(parents=True)
        for file in ("ca.pem", "cert.pem", "key.pem"):
            (certs / file).write_text("x")


def test_no_config_is_the_local_socket(tmp_path: Path) -> None:
    endpoint = docker_endpoint({"DOCKER_CONFIG": str(tmp_path)})
    assert (endpoint.host, endpoint.source) == (DEFAULT_HOST, "default")


def test_the_current_context_of_the_config_file(tmp_path: Path) -> None:
    _context(tmp_path, "remote", "unix:///run/other/docker.sock")
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote", "auths": {}}))
    endpoint = docker_endpoint({"DOCKER_CONFIG": str(tmp_path)})
    assert endpoint.host == "unix:///run/other/docker.sock"
    assert endpoint.source == f"context remote ({tmp_path / 'config.json'})"
    assert endpoint.client_kwargs() == {"base_url": "unix:///run/other/docker.sock"}


def test_docker_context_overrides_the_config_file(tmp_path: Path) -> None:
    _context(tmp_path, "remote", "unix:///run/other/docker.sock")
    _context(tmp_path, "ci", "tcp://127.0.0.1:2376")
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    endpoint = docker_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "ci"})
    assert (endpoint.host, endpoint.source) == ("tcp://127.0.0.1:2376", "context ci (DOCKER_CONTEXT)")
    assert endpoint.client_kwargs() == {"base_url": "tcp://127.0.0.1:2376", "tls": False}


def test_docker_host_overrides_every_context(tmp_path: Path) -> None:
    _context(tmp_path, "remote", "unix:///run/other/docker.sock")
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "remote", "DOCKER_HOST": "unix:///run/x.sock"}
    endpoint = docker_endpoint(env)
    assert (endpoint.host, endpoint.source) == ("unix:///run/x.sock", "DOCKER_HOST")


def test_default_context_by_name_is_the_local_socket(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "default"}))
    assert docker_endpoint({"DOCKER_CONFIG": str(tmp_path)}).source == "default"
    assert docker_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "default"}).host == DEFAULT_HOST


def test_a_context_with_tls_material(tmp_path: Path) -> None:
    _context(tmp_path, "secure", "tcp://127.0.0.1:2376", tls=True)
    endpoint = docker_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "secure"})
    tls = endpoint.client_kwargs()["tls"]
    assert tls.verify is True and tls.cert is not None and tls.cert[0].endswith("cert.pem")
    _context(tmp_path, "insecure", "tcp://127.0.0.1:2377", tls=True, skip_verify=True)
    assert docker_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "insecure"}
                           ).client_kwargs()["tls"].verify is False


def test_an_ssh_context_uses_the_ssh_client(tmp_path: Path) -> None:
    _context(tmp_path, "box", "ssh://builder@build.example")
    kwargs = docker_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "box"}).client_kwargs()
    assert kwargs == {"base_url": "ssh://builder@build.example", "use_ssh_client": True}


def test_a_missing_context_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "gone"}))
    with pytest.raises(ConfigError, match=r"docker context 'gone' \(from .*config.json\) does not exist"):
        docker_endpoint({"DOCKER_CONFIG": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"docker context 'nope' \(from DOCKER_CONTEXT\) does not exist"):
        docker_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "nope"})


def test_an_unreadable_config_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read the docker client's config"):
        docker_endpoint({"DOCKER_CONFIG": str(tmp_path)})


def test_the_engines_own_ca_wins_over_requests_ca_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets REQUESTS_CA_BUNDLE replace a session's CA (psf/requests#3829): a TLS engine
    # with its own CA then failed "unable to get local issuer certificate" on proxied machines.
    from docker.tls import TLSConfig

    from venvship.engine import _api_client_class

    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    api = _api_client_class()(base_url="tcp://127.0.0.1:2376", version="1.44",
                              tls=TLSConfig(ca_cert=str(ca), verify=True))
    settings = api.merge_environment_settings("https://127.0.0.1:2376/version", {}, False, None, None)
    assert settings["verify"] == str(ca)
    plain = _api_client_class()(base_url="tcp://127.0.0.1:2375", version="1.44", tls=False)
    assert plain.merge_environment_settings("http://127.0.0.1:2375/version", {}, False, None, None)["verify"] \
        == "/etc/ssl/certs/ca-certificates.crt"  # no CA of its own: requests' usual choice
