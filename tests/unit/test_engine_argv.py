from __future__ import annotations

from pathlib import Path

import pytest

from venvship.engine import BuildRequest, Engine, Secret, _build_failure, validate_reference
from venvship.errors import ImageError


def test_buildx_argv_for_a_tagged_build() -> None:
    req = BuildRequest(
        context=Path("/p"), dockerfile=Path("/t/Dockerfile"), target="runtime", tags=("app:1.2", "app:latest"),
        build_args={"B": "2", "A": "1"}, secrets=(Secret("venvship_ca", Path("/ca.pem")),),
        no_cache_filter=("lock",), cache_from=("type=local,src=/c",), platform="linux/amd64",
    )
    argv = Engine("docker").build_argv(req, "buildx")
    assert argv[:3] == ["docker", "buildx", "build"]
    assert argv[argv.index("--target") + 1] == "runtime"
    assert "--load" in argv
    assert argv.count("--tag") == 2
    assert argv.index("A=1") < argv.index("B=2")  # sorted: stable argv, stable logs
    assert "id=venvship_ca,src=/ca.pem" in argv
    assert "--no-cache-filter=lock" in argv
    assert argv[-1] == "/p"


def test_output_and_push_replace_load() -> None:
    req = BuildRequest(context=Path("/p"), dockerfile=Path("/D"), tags=("a:1",), output="type=local,dest=/o")
    argv = Engine("docker").build_argv(req, "buildx")
    assert "--load" not in argv and argv[argv.index("--output") + 1] == "type=local,dest=/o"
    pushed = Engine("docker").build_argv(BuildRequest(context=Path("/p"), dockerfile=Path("/D"), tags=("r/a:1",), push=True), "buildx")
    assert "--push" in pushed and "--load" not in pushed


def test_classic_client_argv_has_no_buildx_only_flags() -> None:
    req = BuildRequest(context=Path("/p"), dockerfile=Path("/D"), tags=("a:1",), builder="b",
                       metadata_file=Path("/m.json"))
    argv = Engine("docker").build_argv(req, "classic")
    assert argv[:2] == ["docker", "build"]
    assert "--load" not in argv and "--builder" not in argv and "--metadata-file" not in argv


@pytest.mark.parametrize("ref", ["app:1.2", "registry.example.com:5000/team/app:v1", "venvship-local/python:3.11-bookworm",
                                 "app@sha256:" + "a" * 64])
def test_valid_references(ref: str) -> None:
    assert validate_reference(ref) == ref


@pytest.mark.parametrize("ref", ["", "App:1", "app:", "app:bad tag", "-app", "app::1", "a" * 300])
def test_invalid_references(ref: str) -> None:
    with pytest.raises(ImageError, match="is not valid"):
        validate_reference(ref)


def test_build_failure_keeps_buildkits_error_line() -> None:
    log = "#1 [internal] load\n#7 ERROR: process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n"
    msg = _build_failure(log, BuildRequest(context=Path("."), dockerfile=Path("D"), target="deps"))
    assert msg.startswith("docker build failed (target deps): ERROR: process")


def test_buildx_is_found_where_the_cli_looks_without_running_it(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import venvship.engine as engine

    monkeypatch.setattr(engine, "SYSTEM_PLUGIN_DIRS", (str(tmp_path / "system"),))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("VENVSHIP_BUILDKIT_FRONTEND", raising=False)
    assert engine.buildx_plugin_file() is None
    plugin = tmp_path / "system" / "docker-buildx"
    plugin.parent.mkdir()
    plugin.write_text("#!/bin/sh\n")
    assert engine.buildx_plugin_file() is None  # not executable: the CLI would not run it either
    plugin.chmod(0o755)
    assert engine.buildx_plugin_file() == plugin
    monkeypatch.setattr(engine.shutil, "which", lambda name: "/usr/bin/docker")
    assert Engine("docker").frontend() == "buildx"  # decided without a subprocess (forbidden here)


def test_buildx_runs_directly_unless_the_cli_might_pick_another(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin `docker buildx` would run is run without the docker CLI in front of it (about
    40 ms a build), but only when nothing could make the CLI choose another."""
    import venvship.engine as engine

    plugin = tmp_path / "config" / "cli-plugins" / "docker-buildx"
    plugin.parent.mkdir(parents=True)
    plugin.write_text("#!/bin/sh\n")
    plugin.chmod(0o755)
    monkeypatch.setattr(engine, "SYSTEM_PLUGIN_DIRS", ())
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("VENVSHIP_BUILDKIT_FRONTEND", raising=False)
    monkeypatch.setattr(engine.shutil, "which", lambda name: "/usr/bin/docker")
    req = BuildRequest(context=Path("/p"), dockerfile=Path("/D"), tags=("a:1",))

    def argv(docker_bin: str = "docker") -> list[str]:
        eng = Engine(docker_bin)
        return eng.build_argv(req, eng.frontend())

    assert argv()[:2] == [str(plugin), "build"] and argv()[-1] == "/p"
    assert argv("/opt/docker/bin/docker")[:3] == ["/opt/docker/bin/docker", "buildx", "build"]
    config = tmp_path / "config" / "config.json"
    config.write_text('{"auths": {}}')
    assert argv()[:2] == [str(plugin), "build"]
    config.write_text('{"cliPluginsExtraDirs": ["/elsewhere"]}')  # searched before ours
    assert argv()[:3] == ["docker", "buildx", "build"]
    config.write_text("{not json")
    assert argv()[:3] == ["docker", "buildx", "build"]
