from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from venvship.errors import ConfigError
from venvship.settings import _GROUPS, _KEYS, Settings, load_settings


def write(tmp_path: Path, tool: str = "", project: str = 'name = "demo"\nversion = "1.0"') -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[project]\n{project}\n\n[tool.venvship]\n{tool}\n")
    return tmp_path


def test_defaults_and_project_metadata(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path), environ={})
    assert s.project_name == "demo"
    assert s.project_version == "1.0"
    assert s.image.venv_path == "/app"
    assert s.lock.resolver == "uv"
    assert s.image.effective_runtime == s.image.base


def test_precedence_file_then_env_then_flags(tmp_path: Path) -> None:
    write(tmp_path, 'base-image = "from-file:1"\nvenv-path = "/opt/venvs/demo"')
    s = load_settings(tmp_path, environ={"VENVSHIP_BASE_IMAGE": "from-env:1"})
    assert s.image.base == "from-env:1"
    assert s.image.venv_path == "/opt/venvs/demo"
    s = load_settings(tmp_path, {"base_image": "from-flag:1"}, environ={"VENVSHIP_BASE_IMAGE": "from-env:1"})
    assert s.image.base == "from-flag:1"


def test_every_key_fills_a_field_of_its_group(tmp_path: Path) -> None:
    for key, (group, name, _) in _KEYS.items():
        owner = _GROUPS[group] if group else Settings
        assert name in {f.name for f in dataclasses.fields(owner)}, f"{key} -> {group}.{name}"
    s = load_settings(write(tmp_path, 'deb-name = "demo-app"\nruntime-packages = ["libpq5"]'),
                      environ={"VENVSHIP_TEST_ENVS": "dev,test"})
    assert (s.deb.name, s.runtime.packages, s.tests.envs) == ("demo-app", ("libpq5",), ("dev", "test"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.runtime.packages = ()  # type: ignore[misc]


def test_env_lists_split_on_commas_and_spaces(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path), environ={"VENVSHIP_BUILD_PACKAGES": "gcc, libc6-dev python3-dev"})
    assert s.build.packages == ("gcc", "libc6-dev", "python3-dev")


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        ('base_imagee = "x"', "unknown key 'base_imagee'"),
        ('baseimage = "x"', "did you mean 'base-image'"),
        ("venv-path = \"app\"", "absolute path"),
        ("venv-path = \"/usr\"", "system directory"),
        ('resolver = "poetry"', "resolver must be one of"),
        ("uid = \"x\"", "uid must be an integer"),
        ("build-packages = \"gcc\"", "must be a list"),
        ('index-url = "https://p/simple"\nextra-index-urls = ["https://pypi.org/simple"]', "dependency"),
        ("[tool.venvship.environments.dev]\nparent = \"main\"", "unknown key 'parent'"),
        ('index-url = "https://user:s3cret@pypi.example/simple"', "contains credentials"),
        ('index-url = "pypi.example/simple"', "not an http(s) or file URL"),
    ],
)
def test_bad_settings_are_config_errors(tmp_path: Path, tool: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, tool), environ={})
    assert message in err.value.message + (err.value.hint or "")


def test_missing_and_invalid_pyproject(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no pyproject.toml"):
        load_settings(tmp_path, environ={})
    (tmp_path / "pyproject.toml").write_text("[project\nname=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(tmp_path, environ={})


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path), environ={})
    with pytest.raises(AttributeError):
        s.image.base = "x"  # type: ignore[misc]


def test_ca_bundle_auto_none_and_explicit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("cert")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    assert load_settings(write(tmp_path), environ={}).index.ca_bundle_path() == ca
    assert load_settings(write(tmp_path, 'ca-bundle = "none"'), environ={}).index.ca_bundle_path() is None
    s = load_settings(write(tmp_path, 'ca-bundle = "/nonexistent/ca.pem"'), environ={})
    with pytest.raises(ConfigError, match="not a readable file"):
        s.index.ca_bundle_path()


def test_minimal_runtime_settings(tmp_path: Path) -> None:
    """runtime-image = "minimal": the root filesystem comes from the base image; runtime-programs
    and minimal-keep-modules are checked when read."""
    write(tmp_path, 'base-image = "base:1"\nruntime-image = "minimal"\nruntime-programs = ["sh", "/usr/bin/curl"]\n'
                    'minimal-keep-modules = ["readline"]')
    s = load_settings(tmp_path, environ={})
    assert s.image.minimal and s.image.effective_runtime == "base:1"
    assert s.runtime.programs == ("sh", "/usr/bin/curl") and s.runtime.minimal_keep_modules == ("readline",)
    assert not load_settings(tmp_path, {"runtime_image": "other:1"}, environ={}).image.minimal
    write(tmp_path, 'minimal-keep-modules = ["json"]')
    with pytest.raises(ConfigError, match="minimal-keep-modules: 'json' is not left out of the minimal runtime"):
        load_settings(tmp_path, environ={})
    write(tmp_path, 'runtime-programs = ["sh -c"]')
    with pytest.raises(ConfigError, match="runtime-programs: 'sh -c' is not a program name"):
        load_settings(tmp_path, environ={})
