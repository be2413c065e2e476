"""``venvship ci github|gitlab``: the files validate against the services' published schemas
(check-jsonschema's vendored copies, run in-process), and every shell step uses only shell
variables, so tests/integration/test_ci.py can run them on this machine."""

from __future__ import annotations

from pathlib import Path

import check_jsonschema  # the test extra installs it: a missing one fails, never skips
import pytest
import yaml

from tests.conftest import EXAMPLES
from venvship.errors import ConfigError
from venvship.ops.ci import BUILD_ONLY, BUILD_PUSH, LOCK_CHECK, TEST, CiOptions, notes, render
from venvship.settings import load_settings

SCHEMAS = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci"}


def _settings():  # type: ignore[no-untyped-def]
    return load_settings(EXAMPLES / "hello-app", environ={})


def _validate(path: Path, provider: str) -> tuple[int, str]:
    from click.testing import CliRunner

    result = CliRunner().invoke(check_jsonschema.main, ["--builtin-schema", SCHEMAS[provider], str(path)])
    return result.exit_code, result.output


@pytest.mark.parametrize("provider", ["github", "gitlab"])
@pytest.mark.parametrize("image", [None, "registry.example.com/team/hello"])
def test_the_pipeline_validates_against_the_published_schema(provider: str, image: str | None,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yml"
    path.write_text(render(_settings(), CiOptions(provider=provider, image=image, branch="trunk")))
    code, output = _validate(path, provider)
    assert code == 0, output
    assert "validation done" in output


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_the_schema_check_can_fail(provider: str, tmp_path: Path) -> None:
    data = yaml.safe_load(render(_settings(), CiOptions(provider=provider)))
    if provider == "github":
        data["jobs"]["image"]["steps"][0]["run-this"] = "x"  # not a step key
    else:
        data["test"]["when"] = "sometimes"  # not one of on_success, manual, ...
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(data))
    assert _validate(path, provider)[0] != 0


def _shell_steps(provider: str, text: str) -> list[str]:
    data = yaml.safe_load(text)
    if provider == "github":
        return [step["run"] for step in data["jobs"]["image"]["steps"] if "run" in step]
    return [line for job in data.values() if isinstance(job, dict) and "script" in job for line in job["script"]]


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_it_runs_lock_check_test_and_build_push_with_a_registry_cache(provider: str) -> None:
    text = render(_settings(), CiOptions(provider=provider))
    steps = _shell_steps(provider, text)
    for command in (LOCK_CHECK, TEST, BUILD_PUSH, BUILD_ONLY):
        assert command in steps
    assert "--cache-to \"type=registry,ref=$CACHE,mode=max\"" in BUILD_PUSH
    assert "${{" not in "".join(steps), "shell steps use shell variables only (runnable elsewhere)"
    assert text.startswith(f"# {provider} pipeline for hello-app")
    assert "venvship-local/python:3.11-bookworm" in text.splitlines()[2]


def test_github_lowercases_the_repository_and_pushes_only_on_push() -> None:
    data = yaml.safe_load(render(_settings(), CiOptions(provider="github")))
    steps = {step.get("name"): step for step in data["jobs"]["image"]["steps"]}
    assert "${GITHUB_REPOSITORY,,}" in steps["Image and cache names"]["run"]
    assert steps["Build, verify, push (registry cache)"]["if"] == "github.event_name == 'push'"
    assert data["on"]["push"]["branches"] == ["main"]


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown CI service 'jenkins'"):
        render(_settings(), CiOptions(provider="jenkins"))
    with pytest.raises(ConfigError, match="without a tag"):
        render(_settings(), CiOptions(provider="github", image="ghcr.io/acme/app:1.0"))


def test_a_local_base_image_is_noted() -> None:
    assert "cannot pull it" in notes(_settings())[0]


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_the_pipeline_builds_every_configured_platform_with_emulation(provider: str, tmp_path: Path) -> None:
    from dataclasses import replace

    settings = _settings()
    two = replace(settings, platforms=replace(settings.platforms, targets=("linux/amd64", "linux/arm64")))
    text = render(two, CiOptions(provider=provider))
    path = tmp_path / "pipeline.yml"
    path.write_text(text)
    assert _validate(path, provider)[0] == 0
    steps = _shell_steps(provider, text)
    assert "venvship --platform linux/amd64,linux/arm64 " + BUILD_PUSH.removeprefix("venvship ") in steps
    assert LOCK_CHECK in steps  # checks every platform's locks by itself
    assert ("docker/setup-qemu-action@v3" in text) == (provider == "github")
    assert ("tonistiigi/binfmt" in text) == (provider == "gitlab")
    one = render(settings, CiOptions(provider=provider))
    assert "qemu" not in one and "binfmt" not in one and "--platform" not in one


def test_each_platforms_build_has_a_registry_cache_of_its_own() -> None:
    from venvship.ops.build import platform_cache

    assert platform_cache(("type=registry,ref=reg/app:buildcache,mode=max", "type=local,src=/c"),
                          "linux/arm64") == ("type=registry,ref=reg/app:buildcache-linux-arm64,mode=max",
                                             "type=local,src=/c")
