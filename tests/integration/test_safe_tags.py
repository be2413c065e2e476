"""Safe tags (issue 14): 'venvship build' moves no tag and pushes nothing before the new image
passed verify; a failed verify leaves every tag naming what it named before (or absent)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import one_error, run_cli
from tests.integration import registries
from venvship.ops.build import SCRATCH_REPOSITORY

pytestmark = pytest.mark.docker


def break_at_import(project: Path) -> None:
    init = project / "src" / "hello_app" / "__init__.py"
    init.write_text(init.read_text() + "\nraise RuntimeError('hello_app is broken at import')\n")


def scratch_images(engine) -> set[str]:  # type: ignore[no-untyped-def]
    return {t for image in engine.client().images.list(name=f"{SCRATCH_REPOSITORY}/hello-app")
            for t in image.tags}


def test_a_failed_verify_leaves_the_tag_on_the_previous_image(copy_example, engine) -> None:  # type: ignore[no-untyped-def]
    project: Path = copy_example()
    suffix = uuid.uuid4().hex[:10]
    tag, new_tag = f"venvship-test/safe-tags:{suffix}", f"venvship-test/safe-tags:{suffix}-new"
    client = engine.client()
    scratch_before = scratch_images(engine)
    try:
        good = run_cli("build", "--image", tag, cwd=project)
        assert good.returncode == 0, good.stderr[-3000:]
        first = client.images.get(tag).id

        break_at_import(project)
        bad = run_cli("build", "--image", tag, "--image", new_tag, cwd=project)
        assert bad.returncode == 14, bad.stderr[-3000:]
        error = one_error(bad.stderr)
        assert "failed verification, no tag moved" in error and "broken at import" in error, error
        assert f"{tag} still names {first[:19]}" in bad.stderr and f"{new_tag} was not created" in bad.stderr
        assert client.images.get(tag).id == first
        assert engine.image(new_tag) is None
        assert scratch_images(engine) == scratch_before  # the scratch tag is gone as well

        unverified = run_cli("build", "--no-verify", "--image", tag, cwd=project)  # the control
        assert unverified.returncode == 0, unverified.stderr[-3000:]
        assert client.images.get(tag).id != first
    finally:
        for ref in (tag, new_tag):
            engine.remove_image(ref)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[registries.Registry]:
    """Debian's docker-registry on a free 127.0.0.1 port (tests/integration/registries.py); the
    engine pushes to 127.0.0.0/8 over plain HTTP."""
    with registries.plain(tmp_path / "registry") as served:
        yield served


def test_push_happens_after_verify_and_a_failed_verify_pushes_nothing(copy_example, engine, registry) -> None:  # type: ignore[no-untyped-def]
    project: Path = copy_example()
    repository = f"venvship-test/pushed-{uuid.uuid4().hex[:8]}"
    tag, new_tag = f"{registry.host}/{repository}:1", f"{registry.host}/{repository}:2"
    try:
        good = run_cli("build", "--push", "--image", tag, "--json", cwd=project)
        assert good.returncode == 0, good.stderr[-3000:]
        summary = json.loads(good.stdout)
        assert summary["verified"] is True and summary["pushed"] == [tag]
        first = registry.digest(repository, "1")
        assert first is not None

        break_at_import(project)
        bad = run_cli("build", "--push", "--image", tag, "--image", new_tag, cwd=project)
        assert bad.returncode == 14, bad.stderr[-3000:]
        assert "no tag moved" in one_error(bad.stderr)
        assert registry.digest(repository, "1") == first, "the registry's tag moved"
        assert registry.digest(repository, "2") is None, "the rejected image was pushed"

        unverified = run_cli("build", "--push", "--no-verify", "--image", new_tag, cwd=project)  # the control
        assert unverified.returncode == 0, unverified.stderr[-3000:]
        assert registry.digest(repository, "2") not in (None, first)
    finally:
        for ref in (tag, new_tag):
            engine.remove_image(ref)
