"""The order of a build's effects (issue 14, safe tags): verify before any tag or push."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from venvship.engine import split_tag
from venvship.errors import ConfigError, ImageError
from venvship.ops.build import BuildOptions, Step, build, direct_push, publish_plan

SCRATCH = "venvship-unverified/app:0123456789abcdef"


def test_verify_comes_before_any_tag_and_push() -> None:
    plan = publish_plan(BuildOptions(images=("app:1", "reg.example/app:1"), push=True), SCRATCH, verify=True)
    actions = [s.action for s in plan]
    assert plan[0] == Step("build", SCRATCH) and plan[1] == Step("verify", SCRATCH)
    assert actions == ["build", "verify", "tag", "tag", "push", "push", "untag"]
    assert [s.ref for s in plan if s.action in ("tag", "push")] == ["app:1", "reg.example/app:1"] * 2
    assert plan[-1] == Step("untag", SCRATCH)


def test_the_build_itself_never_names_a_requested_tag() -> None:
    for push in (False, True):
        plan = publish_plan(BuildOptions(images=("app:1",), push=push, platform="linux/amd64"), SCRATCH,
                            verify=True)
        assert [s.ref for s in plan if s.action == "build"] == [SCRATCH]


def test_without_verify_the_tags_still_move_only_after_the_build() -> None:
    plan = publish_plan(BuildOptions(images=("app:1",)), SCRATCH, verify=False)
    assert [s.action for s in plan] == ["build", "tag", "untag"]


def test_a_multi_platform_push_is_pushed_by_buildkit() -> None:
    opts = BuildOptions(images=("reg.example/app:1",), push=True, platform="linux/amd64,linux/arm64")
    assert direct_push(opts)
    assert publish_plan(opts, SCRATCH, verify=False) == [Step("build", "reg.example/app:1")]


class NoEngine:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the engine was used ({name}) before the options were checked")


def test_a_multi_platform_push_with_verify_is_refused_before_anything_runs() -> None:
    opts = BuildOptions(images=("reg.example/app:1",), push=True, platform="linux/amd64,linux/arm64")
    with pytest.raises(ConfigError, match="cannot be verified before it is pushed") as refused:
        build(Any, Any, NoEngine(), opts, stream=None, check=lambda ref: 0.0)  # type: ignore[arg-type]
    assert "\n" not in refused.value.message  # one line, and the hint says what is needed instead
    assert "imagetools create" in (refused.value.hint or "") and "--containerd-store" in (refused.value.hint or "")


@pytest.mark.parametrize(("ref", "expected"), [
    ("app", ("app", "latest")), ("app:1.2", ("app", "1.2")),
    ("127.0.0.1:5000/team/app:x", ("127.0.0.1:5000/team/app", "x")),
    ("127.0.0.1:5000/app", ("127.0.0.1:5000/app", "latest")),
])
def test_split_tag(ref: str, expected: tuple[str, str]) -> None:
    assert split_tag(ref) == expected


def test_split_tag_refuses_a_digest() -> None:
    with pytest.raises(ImageError):
        split_tag("app@sha256:" + "0" * 64)


def test_scratch_tags_are_valid_and_unique(tmp_path: Path) -> None:
    from venvship.engine import validate_reference
    from venvship.ops.build import scratch_tag
    from venvship.settings import Settings

    settings = Settings(project_dir=tmp_path, project_name="Hello_App")
    a, b = scratch_tag(settings), scratch_tag(settings)
    assert a != b and validate_reference(a) and a.startswith("venvship-unverified/hello-app:")
