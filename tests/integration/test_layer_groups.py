"""Issue 17, layer groups, against the real engine: examples/big-app's venv built in layer groups
(layers.py) is file for file the venv one install gives, and a one-pin bump re-runs only the
stage of that pin's group and changes only its layer (and the SBOM's)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PY311, copy_example_to, run_cli
from tests.integration import buildkit
from venvship import layers, lockfile
from venvship.engine import Engine

pytestmark = pytest.mark.docker



def manifest(engine: Engine, tag: str) -> list[str]:
    code, out = engine.run(tag, ["-c", buildkit.TREE_MANIFEST, "/app", "mtime"], entrypoint=["/app/bin/python"])
    assert code == 0, out[-2000:]
    return out.splitlines()


def layer_ids(engine: Engine, tag: str) -> list[str]:
    return list((engine.image(tag) or {})["RootFS"]["Layers"])


def ran_steps(log: str) -> set[str]:
    """The build steps BuildKit executed (not CACHED), by name: 'deps-rare-0 2/2'."""
    names = dict(re.findall(r"^#(\d+) \[([^\]]+)\]", log, re.M))
    cached = set(re.findall(r"^#(\d+) CACHED", log, re.M))
    done = set(re.findall(r"^#(\d+) DONE", log, re.M))
    return {" ".join(names[i].split()) for i in names if i in done and i not in cached}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("groups")
    grouped = copy_example_to(root / "grouped" / "big-app", "big-app")
    single = copy_example_to(root / "single" / "big-app", "big-app")
    with (single / "pyproject.toml").open("a") as fh:
        fh.write("layer-groups = false\n")
    suffix = uuid.uuid4().hex[:10]
    tags = {"grouped": f"venvship-test/groups:g-{suffix}", "single": f"venvship-test/groups:s-{suffix}",
            "bumped": f"venvship-test/groups:b-{suffix}"}
    try:
        # The example's committed locks name the base image's id on the engine they were made on; on
        # another image store (containerd: the manifest digest) the bump's relock would rewrite every
        # lock's header, and the stages that copy a whole lock file would re-run. Lock here first.
        relock = run_cli("--progress", "quiet", "lock", cwd=grouped)
        assert relock.returncode == 0, relock.stderr[-2000:]
        for name, project in (("grouped", grouped), ("single", single)):
            result = run_cli("--progress", "quiet", "build", "--image", tags[name], cwd=project)
            assert result.returncode == 0, result.stderr[-3000:]
        yield {"grouped": grouped, "tags": tags}
    finally:
        for tag in tags.values():
            engine.remove_image(tag)


def test_a_grouped_venv_is_the_single_install_file_for_file(built: dict[str, Any], engine: Engine) -> None:
    project = built["grouped"]
    lock = lockfile.read(project / "requirements" / "main.txt", "main")
    assert lock is not None
    groups = layers.plan(lock.pins, layers.read_sizes(project / "requirements" / layers.SIZES_NAME))
    assert len(groups) > 1 and any(g.large for g in groups)
    dockerfile = run_cli("dockerfile", "--output", str(project.parent / "Dockerfile"), cwd=project)
    assert dockerfile.returncode == 0, dockerfile.stderr
    assert (project.parent / "Dockerfile").read_text().count("COPY --link --from=deps-") == 2 * len(groups)
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    lint = subprocess.run([hadolint, "--no-color", str(project.parent / "Dockerfile")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    grouped, single = manifest(engine, built["tags"]["grouped"]), manifest(engine, built["tags"]["single"])
    assert len(grouped) > 1000
    assert grouped == single  # bytecode, entry-point scripts, .pth files, RECORDs: all the same
    assert len(layer_ids(engine, built["tags"]["grouped"])) == (
        len(layer_ids(engine, built["tags"]["single"])) + len(groups) - 1)


def test_a_bump_re_runs_and_changes_only_its_group(built: dict[str, Any], engine: Engine) -> None:
    project = built["grouped"]
    before = lockfile.read(project / "requirements" / "main.txt", "main")
    assert before is not None
    idna = before.pins["idna"].version
    # Only the lock files change, as with `venvship lock --upgrade-package`: idna moves with a
    # constraint, then the inputs go back as they were and the lock keeps the new pin.
    main_in = project / "requirements" / "main.in"
    inputs = main_in.read_text()
    main_in.write_text(inputs + f"idna!={idna}\n")
    relock = run_cli("--progress", "quiet", "lock", cwd=project)
    assert relock.returncode == 0, relock.stderr[-2000:]
    main_in.write_text(inputs)
    relock = run_cli("--progress", "quiet", "lock", cwd=project)
    assert relock.returncode == 0, relock.stderr[-2000:]
    after = lockfile.read(project / "requirements" / "main.txt", "main")
    assert after is not None and {n for n in after.pins if after.pins[n].version != before.pins[n].version} == {"idna"}
    groups = layers.plan(after.pins, layers.read_sizes(project / "requirements" / layers.SIZES_NAME))
    (home,) = [i for i, g in enumerate(groups) if "idna" in g.members]
    result = run_cli("--progress", "plain", "build", "--image", built["tags"]["bumped"], cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    ran = ran_steps(result.stdout + result.stderr)
    installs = {s.split()[0] for s in ran if s.startswith("deps-")}
    # Only idna's group may install. It may also come from BuildKit's cache: every run bumps idna to
    # the same version, so a machine that ran this test before has that group's layer cached.
    assert installs <= {f"deps-{groups[home].name}"}, sorted(ran)
    # venvship build hands BuildKit the split locks (the named context replacing layer-groups).
    assert not [s for s in ran if s.startswith("layer-groups")], sorted(ran)
    # The app's wheel is built from the context less the lock files: a bump does not rebuild it.
    assert not [s for s in ran if s.startswith("build ")], sorted(ran)
    old, new = layer_ids(engine, built["tags"]["grouped"]), layer_ids(engine, built["tags"]["bumped"])
    changed = [i for i, layer in enumerate(new) if layer not in old]
    assert len(new) == len(old) and len(changed) == 2, changed  # idna's group and the SBOM
    base = len((engine.image(PY311) or {})["RootFS"]["Layers"])
    assert changed[0] == base + 1 + home  # above the base's layers and the user's, in plan order


def test_export_of_a_grouped_venv_has_every_locked_distribution(built: dict[str, Any], tmp_path: Path) -> None:
    """export takes the merged venv, not the build stage's (which starts from an empty venv when the
    venv is in groups): export checks the venv against requirements/main.txt itself (exit 17)."""
    project = built["grouped"]
    result = run_cli("--progress", "quiet", "export", "--format", "tar", "--output", str(tmp_path), cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    lock = lockfile.read(project / "requirements" / "main.txt", "main")
    assert lock is not None
    tarball = next(tmp_path.glob("*.tar*"))
    listing = subprocess.run(["tar", "-tf", str(tarball)], capture_output=True, text=True, check=True).stdout
    missing = [name for name in lock.versions
               if not re.search("/" + re.sub(r"[-_.]+", "[-_.]", name) + r"-[^/]*\.dist-info/", listing, re.I)]
    assert not missing, f"not in the tarball: {missing}"


def test_the_host_split_is_the_layer_groups_stages_own(built: dict[str, Any], tmp_path: Path) -> None:
    """What `venvship build` passes as the named context `layer-groups` (render.split_group_locks)
    is, byte for byte, what that stage writes when a plain `docker buildx build` runs it."""
    from venvship.environments import discover
    from venvship.render import render_dockerfile, split_group_locks
    from venvship.settings import load_settings

    project = built["grouped"]
    settings = load_settings(project)
    envs = discover(settings)
    files = split_group_locks(settings, envs)
    assert len(files) > 2
    (tmp_path / "Dockerfile").write_text(render_dockerfile(settings, envs))
    out = tmp_path / "out"
    stage = subprocess.run(["docker", "buildx", "build", "--progress=plain", "--target", "layer-groups",
                            "--file", str(tmp_path / "Dockerfile"), "--output", f"type=local,dest={out}",
                            str(project)], capture_output=True, text=True, timeout=600)
    assert stage.returncode == 0, stage.stderr[-3000:]
    written = {str(p.relative_to(out)): p.read_bytes()
               for p in (out / "opt" / "venvship" / "groups").iterdir()}
    assert written == files
