"""Reproducibility: two ``build --no-cache`` of the same inputs give byte-identical venv trees
(file list, modes, symlinks and content hashes, bytecode included), and locking twice against
the same index state gives byte-identical lock files.

What still differs between the two images, and why (see README "Guarantees"): file mtimes in
the layers and the image's creation time, hence the layer digests and the image ID.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, run_cli
from tests.integration import localindex
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
    project = tmp_path_factory.mktemp("repro") / "hello-app"
    shutil.copytree(EXAMPLES / "hello-app", project)
    trees = []
    for tag in TAGS:
        result = run_cli("--progress", "quiet", "build", "--no-cache", "--image", tag, cwd=project)
        assert result.returncode == 0, result.stderr[-3000:]
        trees.append(venv_tree(engine, tag))
    yield trees
    for tag in TAGS:
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
