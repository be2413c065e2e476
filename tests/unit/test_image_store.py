"""The one-line error when the classic image store refuses what only the containerd store does
(issue 18: registry cache export, several platforms), and doctor's way to the containerd store.
BuildKit's own words were recorded from buildx 0.13.1 against engine 26.1 on this machine."""

from __future__ import annotations

from pathlib import Path

from venvship.engine import BuildRequest, _build_error
from venvship.errors import EXIT_CODES, BuildError, ImageStoreError
from venvship.ops.build import base_image_args
from venvship.ops.doctor import store_finding

CLASSIC_INFO = {"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]]}

CACHE_REFUSED = """ERROR: Cache export is not supported for the docker driver.
Switch to a different driver, or turn on the containerd image store, and try again.
Learn more at https://docs.docker.com/go/build-cache-backends/
"""
PLATFORMS_REFUSED = """ERROR: Multi-platform build is not supported for the docker driver.
Switch to a different driver, or turn on the containerd image store, and try again.
Learn more at https://docs.docker.com/go/build-multi-platform/
"""


def test_doctor_says_how_to_get_the_containerd_store() -> None:
    assert "scripts/setup-docker --containerd-store" in store_finding(CLASSIC_INFO).fix


def test_a_refused_cache_export_is_one_line_with_its_own_exit_code() -> None:
    req = BuildRequest(Path("."), Path("Dockerfile"), cache_to=("type=registry,ref=127.0.0.1:5000/cache,mode=max",))
    error = _build_error(CACHE_REFUSED, req)
    assert isinstance(error, ImageStoreError) and error.exit_code == 20 and 20 in EXIT_CODES
    assert "\n" not in error.message
    assert error.message.startswith("--cache-to type=registry,ref=127.0.0.1:5000/cache,mode=max: registry cache "
                                    "export needs an engine with the containerd image store")
    assert "--containerd-store" in (error.hint or "")


def test_a_refused_multi_platform_build_names_the_platforms() -> None:
    error = _build_error(PLATFORMS_REFUSED, BuildRequest(Path("."), Path("Dockerfile"), platform="linux/amd64,linux/arm64"))
    assert isinstance(error, ImageStoreError)
    assert error.message.startswith("--platform linux/amd64,linux/arm64: a multi-platform image needs an engine")


def test_other_failures_stay_build_errors() -> None:
    assert type(_build_error("#5 ERROR: process did not complete successfully\n",
                             BuildRequest(Path("."), Path("Dockerfile")))) is BuildError


ID = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def test_the_base_digest_kind_on_either_store() -> None:
    """Classic store: RepoDigests only after a pull or push (a registry's digest), else the id.
    Containerd store: every image lists its own manifest digest, which is also its id (engine 26.1,
    seen on a second engine here): that is a manifest digest, not proof of a registry."""
    assert base_image_args({"Id": ID, "RepoDigests": []}) == {
        "VENVSHIP_BASE_DIGEST": ID, "VENVSHIP_BASE_DIGEST_KIND": "local-image-id"}
    assert base_image_args({"Id": ID, "RepoDigests": [f"reg.example/py@{OTHER}"]}) == {
        "VENVSHIP_BASE_DIGEST": OTHER, "VENVSHIP_BASE_DIGEST_KIND": "registry-digest"}
    assert base_image_args({"Id": ID, "RepoDigests": [f"venvship-local/python@{ID}"]}) == {
        "VENVSHIP_BASE_DIGEST": ID, "VENVSHIP_BASE_DIGEST_KIND": "manifest-digest"}
