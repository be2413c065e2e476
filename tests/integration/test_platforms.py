"""Per-platform locks and images: arm64 beside amd64, arm64 under QEMU user emulation (issue 18).

The first test is the representative arm64 case every CI run has (marker emulation); the rest
is the full multi-platform tier (marker multiplatform), run with --run-multiplatform:

    flock /tmp/venvship-docker.lock .venv/bin/python -m pytest --run-docker --run-multiplatform \\
        tests/integration/test_platforms.py
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import PY311, PY311_ARM64, run_cli, snapshot
from tests.integration import buildkit

pytestmark = [pytest.mark.docker, pytest.mark.emulation]

# six only on x86_64, idna only on aarch64: the two locks must differ exactly there; markupsafe
# brings an extension module (the aarch64 wheel's .so)
PYPROJECT = f"""\
[project]
name = "plat-demo"
version = "1.0"
dependencies = ["six; platform_machine == 'x86_64'", "idna; platform_machine == 'aarch64'", "packaging",
                "markupsafe"]

[tool.venvship]
package = false
base-image = "{PY311}"
platforms = ["linux/amd64", "linux/arm64"]
test-envs = []
command = ["python", "-m", "plat_demo"]

[tool.venvship.base-images]
"linux/arm64" = "{PY311_ARM64}"
"""


@pytest.fixture
def arm64_base() -> str:
    """The arm64 base image, or a failure saying how to make it (never a silent skip)."""
    found = subprocess.run(["docker", "image", "inspect", "-f", "{{.Architecture}}", PY311_ARM64],
                           capture_output=True, text=True)
    assert found.returncode == 0 and found.stdout.strip() == "arm64", (
        f"{PY311_ARM64} is missing: run scripts/setup-docker --multiarch")
    return PY311_ARM64


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "plat-demo"
    (root / "plat_demo").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "plat_demo" / "__init__.py").write_text("")
    (root / "plat_demo" / "__main__.py").write_text("import platform\nprint('plat-demo on', platform.machine())\n")
    return root


def header(path: Path, key: str) -> str:
    prefix = f"# venvship: {key} = "
    return next(line[len(prefix):] for line in path.read_text().splitlines() if line.startswith(prefix))


def test_an_arm64_lock_differs_from_the_amd64_lock_where_markers_say(project: Path, arm64_base: str) -> None:
    doctor = run_cli("doctor", "-C", str(project))
    assert "ok: emulation of arm64 works" in doctor.stdout, doctor.stdout + doctor.stderr
    assert "ok: image store: classic" in doctor.stdout or "ok: image store: containerd" in doctor.stdout

    started = time.monotonic()
    result = run_cli("lock", "-C", str(project))
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    req = project / "requirements"
    amd, arm = req / "main.txt", req / "main.linux-arm64.txt"
    assert "wrote requirements/main.linux-arm64.txt" in result.stdout
    assert "six==" in amd.read_text() and "idna==" not in amd.read_text()
    assert "idna==" in arm.read_text() and "six==" not in arm.read_text()
    assert header(amd, "platform").startswith("linux x86_64")
    assert header(arm, "platform").startswith("linux aarch64")
    assert header(arm, "base-image") == arm64_base
    assert (req / "build.linux-arm64.txt").is_file()
    print(f"lock of two platforms (arm64 under emulation): {seconds:.1f} s")

    check = run_cli("lock", "--check", "-C", str(project))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "(linux/amd64, linux/arm64)" in check.stdout

    # each platform is checked: a hand-edited arm64 lock is named, the amd64 one is not
    before = snapshot(req)
    arm.write_text(arm.read_text() + "\n")
    stale = run_cli("lock", "--check", "-C", str(project))
    assert stale.returncode == 7, stale.stdout + stale.stderr
    assert "stale: linux/arm64: main: requirements/main.linux-arm64.txt was changed" in stale.stderr
    assert "linux/amd64:" not in stale.stderr
    arm.write_bytes(before["main.linux-arm64.txt"])

    # --platform picks one platform's locks: the arm64 lock alone checks out against its image
    one = run_cli("--platform", "linux/arm64", "lock", "--check", "-C", str(project))
    assert one.returncode == 0 and "(linux/arm64)" in one.stdout, one.stdout + one.stderr


@pytest.mark.multiplatform
def test_an_arm64_image_is_built_with_its_own_locks_verified_and_runs(project: Path, arm64_base: str) -> None:
    assert run_cli("lock", "-C", str(project)).returncode == 0
    tag = f"venvship-test/plat-demo:arm64-{uuid.uuid4().hex[:8]}"
    try:
        started = time.monotonic()
        built = run_cli("--platform", "linux/arm64", "build", "-t", tag, "-C", str(project))
        seconds = time.monotonic() - started
        assert built.returncode == 0, built.stdout + built.stderr
        assert "verified" in built.stdout
        arch = subprocess.run(["docker", "image", "inspect", "-f", "{{.Architecture}}", tag],
                              capture_output=True, text=True)
        assert arch.stdout.strip() == "arm64"
        ran = subprocess.run(["docker", "run", "--rm", tag], capture_output=True, text=True, timeout=300)
        assert ran.stdout.strip() == "plat-demo on aarch64", ran.stdout + ran.stderr
        listed = subprocess.run(["docker", "run", "--rm", "--entrypoint", "/app/bin/python", tag, "-c",
                                 "import importlib.metadata as m; print(sorted(d.metadata['Name'] for d in "
                                 "m.distributions()))"], capture_output=True, text=True, timeout=300)
        assert "idna" in listed.stdout and "six" not in listed.stdout, listed.stdout + listed.stderr
        print(f"arm64 build under emulation (cold, verified): {seconds:.1f} s")
        checked = run_cli("--platform", "linux/arm64", "verify", tag, "-C", str(project))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        rendered = run_cli("dockerfile", "--platform", "linux/arm64", "-C", str(project))
        assert "COPY requirements/main.linux-arm64.txt /opt/venvship/locks/main.txt" in rendered.stdout
        # the amd64 locks do not fit the arm64 image: verify names what differs
        wrong = run_cli("verify", tag, "-C", str(project))
        assert wrong.returncode != 0 and "idna" in wrong.stdout + wrong.stderr, wrong.stdout + wrong.stderr
        exported = run_cli("--platform", "linux/arm64", "export", "-o", str(project / "dist"), "-C", str(project))
        assert exported.returncode == 0, exported.stdout + exported.stderr
        assert any("aarch64" in p.name for p in (project / "dist").iterdir()), list((project / "dist").iterdir())
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)


def test_a_two_platform_image_is_pushed_as_a_manifest_list_after_each_platform_passed_verify(
        project: Path, arm64_base: str, tmp_path: Path) -> None:
    from tests.integration import registries

    assert run_cli("lock", "-C", str(project)).returncode == 0
    with registries.plain(tmp_path / "registry") as registry:
        name = f"plat-demo-{uuid.uuid4().hex[:8]}"
        ref = f"{registry.host}/{name}:1.2"
        local = [ref, f"{ref}-linux-amd64", f"{ref}-linux-arm64"]
        try:
            started = time.monotonic()
            built = run_cli("--platform", "linux/amd64,linux/arm64", "build", "--push", "-t", ref, "-C", str(project))
            seconds = time.monotonic() - started
            assert built.returncode == 0, built.stdout + built.stderr
            assert built.stdout.count("; verified; pushed") == 2, built.stdout
            assert f"pushed the manifest list {ref} (linux/amd64, linux/arm64)" in built.stdout
            index = registry.manifest(name, "1.2")
            assert index is not None
            manifests = index["manifests"]
            assert isinstance(manifests, list)
            assert {(m["platform"]["os"], m["platform"]["architecture"]) for m in manifests} == {
                ("linux", "amd64"), ("linux", "arm64")}
            # each platform runs from the registry (arm64 under emulation)
            for platform, machine in (("linux/arm64", "aarch64"), ("linux/amd64", "x86_64")):
                subprocess.run(["docker", "image", "rm", "-f", *local], capture_output=True)
                ran = subprocess.run(["docker", "run", "--rm", "--platform", platform, ref],
                                     capture_output=True, text=True, timeout=300)
                assert ran.stdout.strip() == f"plat-demo on {machine}", ran.stdout + ran.stderr
            print(f"two-platform build, verify, push and manifest list: {seconds:.1f} s")
        finally:
            subprocess.run(["docker", "image", "rm", "-f", *local], capture_output=True)


def venv_files(tag: str) -> str:
    """Every file under the image's /app with its sha256, mode and mtime (run under emulation)."""
    listed = subprocess.run(["docker", "run", "--rm", "--entrypoint", "sh", tag, "-c",
                             "cd /app && find . -type f -exec stat -c '%n %a %Y' {} + | sort && "
                             "find . -type f -exec sha256sum {} + | sort -k2"],
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def build_both_ways(project: Path, name: str, venv_stage: str) -> dict[str, str]:
    """The project's arm64 image built with foreign-install = "build-platform" and = "emulated"
    (each verified); asserts their layers are the same and returns the tags (the caller removes
    them). ``venv_stage``: a stage that only the build-platform way has."""
    suffix = uuid.uuid4().hex[:8]
    tags = {"build-platform": f"venvship-test/{name}:cross-{suffix}",
            "emulated": f"venvship-test/{name}:emulated-{suffix}"}
    seconds = {}
    for how, tag in tags.items():
        started = time.monotonic()
        built = run_cli("--progress", "plain", "--platform", "linux/arm64", "build", "-t", tag,
                        "-C", str(project), env={"VENVSHIP_FOREIGN_INSTALL": how})
        seconds[how] = time.monotonic() - started
        assert built.returncode == 0, built.stdout + built.stderr
        assert "verified" in built.stdout
        # a step's name is "STAGE N/M", or "PLATFORM STAGE N/M" for a stage of another platform
        stages = {word for key in buildkit.steps(built.stderr) for word in key.split(" ")[:2]}
        assert (venv_stage in stages) == (how == "build-platform"), sorted(stages)
        assert ("cross-build-base" in stages) == (how == "build-platform"), sorted(stages)
    layers = {how: subprocess.run(["docker", "image", "inspect", "-f", "{{json .RootFS.Layers}}", tag],
                                  capture_output=True, text=True).stdout for how, tag in tags.items()}
    if layers["build-platform"] != layers["emulated"]:
        import difflib
        diff = "\n".join(difflib.unified_diff(venv_files(tags["emulated"]).splitlines(),
                                              venv_files(tags["build-platform"]).splitlines(), lineterm=""))
        raise AssertionError(f"the venvs differ (emulated -> build platform):\n{diff[:6000]}")
    print(f"{name}: arm64 builds with verify: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    return tags


def test_a_foreign_venv_installed_on_the_build_platform_is_the_emulated_one_file_for_file(
        project: Path, arm64_base: str) -> None:
    """The arm64 venv is installed by uv on the amd64 build platform (foreign-install =
    "build-platform", the default): the image passes verify, runs its aarch64 extension module,
    and has the very layers of the install under emulation (foreign-install = "emulated")."""
    assert run_cli("lock", "-C", str(project)).returncode == 0
    tags: dict[str, str] = {}
    try:
        tags = build_both_ways(project, "plat-demo", "deps-venv")
        ran = subprocess.run(["docker", "run", "--rm", "--entrypoint", "/app/bin/python", tags["build-platform"],
                              "-c", "import platform, markupsafe._speedups as s; print(platform.machine(), s.__file__)"],
                             capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0 and ran.stdout.startswith("aarch64 /app/lib/python3.11/site-packages/markupsafe/"
                                                             "_speedups.cpython-311-aarch64-linux-gnu.so"), ran.stdout + ran.stderr
    finally:
        subprocess.run(["docker", "image", "rm", "-f", *tags.values()], capture_output=True)


@pytest.mark.multiplatform
def test_a_foreign_venvs_layer_groups_installed_on_the_build_platform_are_the_emulated_ones(
        project: Path, arm64_base: str) -> None:
    """With 16 distributions or more the venv is in layer groups: each group installs from the index
    by uv on the build platform; the layers equal the emulated install's."""
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        '"markupsafe"]', '"markupsafe", "flask", "requests", "pyyaml", "attrs", "typing-extensions", "six"]'))
    assert run_cli("lock", "-C", str(project)).returncode == 0
    assert (project / "requirements" / "main.linux-arm64.txt").read_text().count("==") >= 16
    tags: dict[str, str] = {}
    try:
        tags = build_both_ways(project, "plat-demo-groups", "cross-venv-base")
    finally:
        subprocess.run(["docker", "image", "rm", "-f", *tags.values()], capture_output=True)
