from __future__ import annotations

from venvship.errors import BuildKitUnavailableError, DockerUnavailableError, ImageError
from venvship.ops.doctor import Finding, verdict


def test_all_ok_is_no_error() -> None:
    assert verdict([Finding(True, "engine"), Finding(True, "buildkit")]) is None


def test_the_first_problem_decides_the_exit_code() -> None:
    error = verdict([Finding(True, "engine"), Finding(False, "BuildKit: none", error=BuildKitUnavailableError),
                     Finding(False, "base image missing", error=ImageError)])
    assert isinstance(error, BuildKitUnavailableError) and error.exit_code == 11
    assert error.message == "2 problem(s) found; the first: BuildKit: none"
    assert isinstance(verdict([Finding(False, "engine", error=DockerUnavailableError)]), DockerUnavailableError)


# ---- image store and emulation (issue 18) ---------------------------------------------------
from pathlib import Path  # noqa: E402

from venvship.ops.doctor import binfmt_state, foreign_images, image_store, store_finding  # noqa: E402

CLASSIC = {"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]]}
CONTAINERD = {"Driver": "overlayfs", "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}


def test_the_image_store_is_read_from_the_driver_status() -> None:
    assert image_store(CLASSIC) == "classic"
    assert image_store(CONTAINERD) == "containerd"
    assert image_store({}) == "classic"


def test_the_classic_store_finding_names_what_needs_containerd() -> None:
    finding = store_finding(CLASSIC)
    assert finding.ok and finding.what.startswith("image store: classic (overlay2)")
    assert "--cache-to type=registry" in finding.what and "several platforms" in finding.what
    assert "containerd-snapshotter" in finding.fix
    assert store_finding(CONTAINERD).what.startswith("image store: containerd (overlayfs snapshotter)")


def test_foreign_images_are_those_of_another_architecture() -> None:
    images = [{"Architecture": "amd64", "RepoTags": ["venvship-local/python:3.11-bookworm"]},
              {"Architecture": "arm64", "RepoTags": ["venvship-local/python:3.11-bookworm-arm64", "x:<none>"]},
              {"Architecture": "arm64", "RepoTags": []}]
    assert foreign_images(images, "amd64") == [("venvship-local/python:3.11-bookworm-arm64", "arm64")]
    assert foreign_images(images, "arm64") == [("venvship-local/python:3.11-bookworm", "amd64")]


def test_binfmt_state_reads_the_registration(tmp_path: Path) -> None:
    assert binfmt_state(tmp_path) == "binfmt_misc is not mounted"
    (tmp_path / "register").write_text("")
    assert binfmt_state(tmp_path) == "qemu-aarch64 is not registered with binfmt_misc"
    (tmp_path / "qemu-aarch64").write_text("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n"
                                           "flags: POCF\noffset 0\n")
    assert binfmt_state(tmp_path) == "qemu-aarch64 enabled in binfmt_misc (flags POCF)"
