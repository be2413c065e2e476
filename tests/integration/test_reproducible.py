"""Reproducibility: two ``build --no-cache`` of the same inputs give the same image id (clamped
mtimes, SOURCE_DATE_EPOCH; README "Reproducible images") and byte-identical venv trees (file list,
modes, symlinks and content hashes, bytecode included); ``build --check-reproducible`` names the
file of a deliberately non-deterministic step; locking twice against the same index state gives
byte-identical lock files.
"""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.conftest import PY311, copy_example_to, run_cli
from tests.integration import localindex, second_engine
from tests.integration.localindex import IndexServer

pytestmark = pytest.mark.docker
TAGS = ("venvship-test/repro:a", "venvship-test/repro:b")


def venv_tree(engine, image: str, path: str = "/app") -> dict[str, str]:  # type: ignore[no-untyped-def]
    """{relative path: what it is} for everything under ``path`` in ``image`` (no mtimes)."""
    container = engine.client().containers.create(image, entrypoint=["true"])
    try:
        bits, _ = container.get_archive(path)
        with tempfile.TemporaryFile() as buf:
            for chunk in bits:
                buf.write(chunk)
            buf.seek(0)
            tree: dict[str, str] = {}
            with tarfile.open(fileobj=buf) as archive:
                for m in archive:
                    kind = f"{m.type.decode()}:{m.mode:o}:{m.uid}:{m.gid}"
                    if m.issym() or m.islnk():
                        tree[m.name] = f"{kind}:-> {m.linkname}"
                    elif m.isfile():
                        data = archive.extractfile(m)
                        assert data is not None
                        tree[m.name] = f"{kind}:{hashlib.sha256(data.read()).hexdigest()}"
                    else:
                        tree[m.name] = kind
            return tree
    finally:
        container.remove(force=True)


def pyc_flags(engine, image: str, pyc: str) -> int:  # type: ignore[no-untyped-def]
    code, out = engine.run(image, ["-c", f"print(int.from_bytes(open('{pyc}', 'rb').read()[4:8], 'little'))"],
                           entrypoint=["/app/bin/python"])
    assert code == 0, out
    return int(out.strip())


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory: pytest.TempPathFactory, engine):  # type: ignore[no-untyped-def]
    project = copy_example_to(tmp_path_factory.mktemp("repro") / "hello-app")
    trees = []
    for tag in TAGS:
        result = run_cli("--progress", "quiet", "build", "--no-cache", "--image", tag, cwd=project)
        assert result.returncode == 0, result.stderr[-3000:]
        trees.append(venv_tree(engine, tag))
    yield trees
    for tag in TAGS:
        engine.remove_image(tag)


@pytest.fixture(scope="module")
def image_ids(two_builds: list[dict[str, str]], engine) -> list[str]:  # type: ignore[no-untyped-def]
    return [engine.image(tag)["Id"] for tag in TAGS]


def test_two_no_cache_builds_give_the_same_image_id(image_ids: list[str]) -> None:
    """Layers made only of files with clamped mtimes (the venv, the app, the user, the SBOM),
    /etc/shadow without the build day, history and labels from SOURCE_DATE_EPOCH."""
    first, second = image_ids
    assert first == second


@pytest.mark.skipif(second_engine.unavailable() is not None, reason=str(second_engine.unavailable()))
def test_a_second_engine_with_its_own_cache_gives_the_same_image_id(image_ids: list[str], project: Path,
                                                                   engine) -> None:  # type: ignore[no-untyped-def]
    """Another dockerd (own data root, so an empty build cache; own bridge and socket), given only
    the base image, builds the same image id as the first engine. Both run the same image store:
    image ids differ between the classic and the containerd store, so they are compared within one."""
    tag = f"venvship-test/repro-e2:{uuid.uuid4().hex[:8]}"
    with second_engine.running([PY311], containerd_store=second_engine.containerd_store(engine)) as other:
        result = run_cli("--progress", "quiet", "build", "--image", tag, cwd=project,
                         env={"DOCKER_HOST": other.host}, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
        inspected = other.docker("image", "inspect", "--format", "{{.Id}}", tag)
        assert inspected.stdout.decode().strip() == image_ids[0]


def test_shadow_and_history_carry_no_build_day(two_builds: list[dict[str, str]], engine) -> None:  # type: ignore[no-untyped-def]
    from venvship.ops.sbom import read_file

    shadow = read_file(engine, TAGS[0], "/etc/shadow")
    assert shadow is not None
    app_line = next(line for line in shadow.decode().splitlines() if line.startswith("app:"))
    assert app_line.split(":")[2] == "3652"  # 1980-01-01, venvship's fixed epoch: not the build day
    assert engine.image(TAGS[0])["Created"].startswith("1980-01-01T00:00:00")  # SOURCE_DATE_EPOCH (no git here)
    newest = engine.client().images.get(TAGS[0]).history()[0]  # the runtime stage's last instruction
    assert newest["Created"] == 315532800, newest


def test_a_non_deterministic_step_is_named_by_check_reproducible(project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    templates = project / ".venvship" / "templates"
    templates.mkdir(parents=True)
    (templates / "Dockerfile.j2").write_text(
        '{% extends "venvship/Dockerfile.j2" %}\n{% block build %}{{ super() }}\n'
        "RUN date +%s%N > /opt/venvship/app/built-at.txt\n{% endblock %}\n")
    tag = f"venvship-test/repro-nondet:{uuid.uuid4().hex[:12]}"
    try:
        result = run_cli("--progress", "quiet", "build", "--check-reproducible", "--image", tag, cwd=project)
        assert result.returncode == 19, result.stderr[-3000:]
        assert "not reproducible" in result.stderr
        assert "differs (COPY /opt/venvship/app/ /app/" in result.stderr  # the layer, by its step (history)
        assert "/app/built-at.txt: size" in result.stderr  # the file, with size, mode, mtime and sha256
        assert "sha256" in result.stderr and "mtime" in result.stderr
        assert not [i for i in engine.client().images.list() if any(t.startswith("venvship-repro/") for t in i.tags)]
    finally:
        engine.remove_image(tag)


def test_a_cached_build_after_a_new_epoch_equals_a_no_cache_build(project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    """BuildKit keys a COPY on its files' contents, not their mtimes: with files stamped with
    SOURCE_DATE_EPOCH, a commit that changes no file of a layer would get that layer from the cache
    with the earlier commit's mtimes, and differ from a --no-cache build. Files carry the fixed
    epoch; only the SBOM (whose content holds the epoch) and the config carry SOURCE_DATE_EPOCH."""
    tag = f"venvship-test/repro-epoch:{uuid.uuid4().hex[:12]}"
    try:
        first = run_cli("--progress", "quiet", "build", "--no-verify", "--image", tag, cwd=project,
                        env={"SOURCE_DATE_EPOCH": "1700000000"})
        assert first.returncode == 0, first.stderr[-3000:]
        result = run_cli("--progress", "quiet", "build", "--no-verify", "--check-reproducible", "--image", tag,
                         cwd=project, env={"SOURCE_DATE_EPOCH": "1700086400"})
        assert result.returncode == 0, result.stderr[-3000:]
        assert engine.image(tag)["Created"].startswith("2023-11-15T22:13:20")
    finally:
        engine.remove_image(tag)


def test_runtime_packages_and_a_compiled_sdist_are_reproducible(project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    """The threats README names: the runtime-packages apt layer (logs, caches, backups of the base
    image's files, times) and an extension compiled from an sdist (debug info with uv's random
    build directory). --check-reproducible builds a second time with --no-cache."""
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        'app-module = "hello_app"',
        'app-module = "hello_app"\nallow-sdist = ["markupsafe"]\n'
        'build-packages = ["gcc", "libc6-dev", "python3-dev"]\nruntime-packages = ["libpq5"]'))
    relock = run_cli("--progress", "quiet", "lock", cwd=project)
    assert relock.returncode == 0, relock.stderr
    tag = f"venvship-test/repro-compiled:{uuid.uuid4().hex[:12]}"
    try:
        result = run_cli("--progress", "quiet", "build", "--no-cache", "--check-reproducible", "--image", tag,
                         cwd=project)
        assert result.returncode == 0, result.stderr[-4000:]
        assert "reproducible: a --no-cache build gave the same image id" in result.stderr
    finally:
        engine.remove_image(tag)


def test_two_no_cache_builds_give_identical_venvs(two_builds: list[dict[str, str]]) -> None:
    first, second = two_builds
    assert len(first) > 300  # the whole venv: flask, werkzeug, jinja2, markupsafe (a C extension), ...
    differ = sorted(name for name in set(first) | set(second) if first.get(name) != second.get(name))
    assert differ == [], f"{len(differ)} entries differ, e.g. {differ[:10]}"


def test_bytecode_is_included_and_hash_based(two_builds: list[dict[str, str]], engine) -> None:  # type: ignore[no-untyped-def]
    first, _ = two_builds
    pycs = [name for name in first if name.endswith(".pyc")]
    app_pyc = [name for name in pycs if "/hello_app/__pycache__/" in name]
    flask_pyc = [name for name in pycs if "/flask/__pycache__/app." in name]
    assert app_pyc and flask_pyc, "bytecode is missing"
    for pyc in (app_pyc[0], flask_pyc[0]):
        # PEP 552 flags: bit 0 hash-based, bit 1 checked against the source at import.
        assert pyc_flags(engine, TAGS[0], "/" + pyc) == 0b11, pyc


def test_locks_are_deterministic_for_the_same_index_state(private_index: IndexServer, private_bundle: Path,
                                                           private_netrc: Path, tmp_path: Path) -> None:
    project = localindex.make_project(tmp_path / "vsp-app", private_index, private_bundle, netrc=private_netrc)
    outputs = []
    for _ in range(2):
        for old in (project / "requirements").glob("*.txt"):
            old.unlink()
        result = run_cli("--progress", "quiet", "lock", cwd=project)
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.append({p.name: p.read_bytes() for p in sorted((project / "requirements").glob("*.txt"))})
    assert set(outputs[0]) == {"main.txt", "dev.txt", "build.txt"}
    assert outputs[0] == outputs[1]
