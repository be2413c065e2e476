"""Per-platform settings, lock file names and the Dockerfile of another platform (issue 18)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from venvship.cli.parsing import move_global_options
from venvship.environments import discover
from venvship.errors import ConfigError
from venvship.ops.build import check_platforms
from venvship.render import render_dockerfile
from venvship.settings import load_settings, parse_platforms

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, tool: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "demo"\nversion = "1.0"\n\n[tool.venvship]\n{tool}\n')
    return tmp_path


def test_platforms_default_to_the_engines_own(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path), environ={})
    assert s.platforms.targets == ()
    assert s.target_platforms("linux/amd64") == ("linux/amd64",)
    native = s.for_platform("linux/amd64", "linux/amd64")
    assert native.lock_path("main") == tmp_path / "requirements" / "main.txt"
    assert native.image.base == s.image.base


def test_the_first_platform_has_env_txt_the_others_a_suffix(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, 'platforms = ["linux/amd64", "linux/arm64"]'), environ={})
    assert s.target_platforms("linux/arm64") == ("linux/amd64", "linux/arm64")
    # the first of the setting decides, not the engine's own platform
    assert s.for_platform("linux/amd64", "linux/arm64").lock_file("main") == "main.txt"
    arm = s.for_platform("linux/arm64", "linux/arm64")
    assert arm.lock_file("dev") == "dev.linux-arm64.txt"
    assert arm.lock_path("main") == tmp_path / "requirements" / "main.linux-arm64.txt"
    assert arm.platforms.current == "linux/arm64"
    # a platform outside the setting (--platform) gets its own files too
    assert s.for_platform("linux/arm/v7", "").lock_file("main") == "main.linux-arm-v7.txt"


def test_base_image_per_platform_by_table_or_arch_placeholder(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, 'base-image = "reg.example/{arch}/python:3.11"\n'
                                      '[tool.venvship.base-images]\n"linux/arm64" = "local/python:3.11-arm64"'),
                      environ={})
    assert s.for_platform("linux/amd64", "linux/amd64").image.base == "reg.example/amd64/python:3.11"
    assert s.for_platform("linux/arm64", "linux/amd64").image.base == "local/python:3.11-arm64"


def test_the_build_platforms_base_image_is_its_own_not_the_targets(tmp_path: Path) -> None:
    """for_platform from another platform's settings starts again from base-image as set."""
    s = load_settings(write(tmp_path, 'base-image = "local/python:3.11"\n'
                                      '[tool.venvship.base-images]\n"linux/arm64" = "local/python:3.11-arm64"'),
                      environ={"VENVSHIP_FOREIGN_INSTALL": "emulated"})
    arm = s.for_platform("linux/arm64", "linux/amd64")
    assert arm.platforms.native == "linux/amd64" and arm.platforms.foreign_install == "emulated"
    assert arm.for_platform("linux/amd64", "linux/amd64").image.base == "local/python:3.11"


def test_platform_settings_from_the_environment(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path), environ={"VENVSHIP_PLATFORMS": "linux/amd64,linux/arm64",
                                                "VENVSHIP_BASE_IMAGES": "linux/arm64=local/py:arm64"})
    assert s.platforms.targets == ("linux/amd64", "linux/arm64")
    assert s.platforms.base_images == {"linux/arm64": "local/py:arm64"}


@pytest.mark.parametrize(("tool", "message"), [
    ('platforms = ["arm64"]', "'arm64' is not a platform (os/arch, like linux/arm64)"),
    ('platforms = "linux/arm64"', "platforms must be a list of platforms"),
    ('platforms = ["linux/arm64", "linux/arm64"]', "names a platform twice"),
    ('[tool.venvship.base-images]\n"linux" = "x"', "base-images: 'linux' is not a platform"),
    ('base-images = ["x"]', "base-images must be a table"),
    ('foreign-install = "native"', "foreign-install must be one of build-platform, emulated, got 'native'"),
])
def test_bad_platform_settings_are_one_line_errors(tmp_path: Path, tool: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(write(tmp_path, tool), environ={})
    assert message in exc.value.message


def test_platform_option_is_checked_and_global() -> None:
    assert parse_platforms("linux/amd64, linux/arm64", "--platform") == ("linux/amd64", "linux/arm64")
    assert parse_platforms("", "--platform") == ()
    with pytest.raises(ConfigError, match="'amd64' is not a platform"):
        parse_platforms("amd64", "--platform")
    assert move_global_options(["lock", "--platform", "linux/arm64", "--check"]) == [
        "--platform", "linux/arm64", "lock", "--check"]


def test_another_platforms_dockerfile_copies_its_locks_under_the_usual_names(tmp_path: Path) -> None:
    project = tmp_path / "hello-app"
    shutil.copytree(ROOT / "examples" / "hello-app", project)
    s = load_settings(project, environ={}).for_platform("linux/arm64", "linux/amd64")
    text = render_dockerfile(s, discover(s))
    assert "COPY requirements/build.linux-arm64.txt /opt/venvship/locks/build.txt" in text
    assert "COPY requirements/main.linux-arm64.txt /opt/venvship/locks/main.txt" in text
    assert "COPY requirements/dev.linux-arm64.txt /opt/venvship/locks/dev.txt" in text
    assert "requirements/main.txt" not in text and "requirements/build.txt " not in text


def test_one_build_of_several_platforms_is_refused_when_one_has_its_own_locks(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, 'platforms = ["linux/amd64", "linux/arm64"]'), environ={})
    check_platforms(s, ("linux/amd64", "linux/arm64"))  # no arm64 locks: one set for both
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "main.linux-arm64.txt").write_text("")
    with pytest.raises(ConfigError, match="linux/arm64 has locks of its own"):
        check_platforms(s, ("linux/amd64", "linux/arm64"))
    check_platforms(s, ("linux/arm64",))


def test_each_platform_records_its_own_wheel_sizes(tmp_path: Path) -> None:
    from venvship.ops.lock import sizes_path

    s = load_settings(write(tmp_path, 'platforms = ["linux/amd64", "linux/arm64"]'), environ={})
    assert sizes_path(s.for_platform("linux/amd64", "")).name == "wheel-sizes.list"
    assert sizes_path(s.for_platform("linux/arm64", "")).name == "wheel-sizes.linux-arm64.list"


def test_each_platform_of_a_manifest_list_has_a_tag_of_its_own() -> None:
    from venvship.ops.build import platform_tag

    assert platform_tag("reg.example:5000/app:1.2", "linux/arm64") == "reg.example:5000/app:1.2-linux-arm64"
    assert platform_tag("reg.example/app", "linux/amd64") == "reg.example/app:latest-linux-amd64"


def test_a_foreign_step_without_emulation_says_how_to_set_it_up() -> None:
    from venvship.engine import BuildRequest, _build_error

    log = ("#7 [tools 1/1] RUN python3 -m venv /opt/venvship/tools\n"
           "#7 0.101 exec /bin/sh: exec format error\n#7 ERROR: process \"/bin/sh -c python3\" did not complete\n")
    error = _build_error(log, BuildRequest(Path("."), Path("Dockerfile"), platform="linux/arm64"))
    assert "scripts/setup-docker --multiarch" in (error.hint or "")
    other = _build_error("#5 ERROR: boom\n", BuildRequest(Path("."), Path("Dockerfile")))
    assert "--multiarch" not in (other.hint or "")
