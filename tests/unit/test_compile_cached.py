"""templates/compile_cached.py, the bytecode cache of the layer groups' installs, in this process:
its key, its walk (the files uv 0.13.9 compiles), and a run against py_compile itself. The proof
against uv is tests/integration/test_compile_cached.py."""

from __future__ import annotations

import os
import py_compile
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from tests.conftest import load_script
from venvship import resources

Mode = py_compile.PycInvalidationMode


@pytest.fixture(scope="module")
def cc() -> ModuleType:
    return load_script(resources.path(resources.COMPILE_CACHED), "compile_cached")


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="latin-1")
    return root


def test_the_script_is_indexed_and_can_be_written_by_printf() -> None:
    text = resources.text(resources.COMPILE_CACHED)
    assert "'" not in text  # render.printf_file cannot embed a single quote
    assert text.startswith('"""venvship:')


def test_the_mode_is_the_one_uv_passes(cc: ModuleType) -> None:
    assert cc.invalidation_mode({"PYC_INVALIDATION_MODE": "CHECKED_HASH"}) is Mode.CHECKED_HASH
    assert cc.invalidation_mode({"PYC_INVALIDATION_MODE": "UNCHECKED_HASH"}) is Mode.UNCHECKED_HASH
    assert cc.invalidation_mode({"PYC_INVALIDATION_MODE": "TIMESTAMP", "SOURCE_DATE_EPOCH": "1"}) is Mode.TIMESTAMP
    assert cc.invalidation_mode({"SOURCE_DATE_EPOCH": "1"}) is Mode.CHECKED_HASH
    assert cc.invalidation_mode({}) is Mode.TIMESTAMP
    with pytest.raises(SystemExit, match="invalid PYC_INVALIDATION_MODE 'checked'"):
        cc.invalidation_mode({"PYC_INVALIDATION_MODE": "checked"})


def test_as_many_workers_as_uv(cc: ModuleType) -> None:
    assert cc.workers({"UV_CONCURRENT_INSTALLS": "3"}) == 3
    assert cc.workers({"UV_CONCURRENT_INSTALLS": "0"}) == cc.workers({}) >= 1


def test_only_cpython_3_11_and_later_is_cached(cc: ModuleType) -> None:
    assert cc.supported("cpython", (3, 11)) and cc.supported("cpython", (3, 13))
    assert not cc.supported("cpython", (3, 9)) and not cc.supported("cpython", (3, 10))
    assert not cc.supported("pypy", (3, 11))


def test_the_key_changes_with_everything_the_bytes_depend_on(cc: ModuleType) -> None:
    st = SimpleNamespace(st_mtime=1_700_000_000.7, st_size=12)
    key = cc.entry_key(Mode.CHECKED_HASH, "/app/lib/python3.11/site-packages/a.py", b"x = 1\n")
    assert key == cc.entry_key(Mode.CHECKED_HASH, "/app/lib/python3.11/site-packages/a.py", b"x = 1\n")
    others = {
        cc.entry_key(Mode.UNCHECKED_HASH, "/app/lib/python3.11/site-packages/a.py", b"x = 1\n"),
        cc.entry_key(Mode.CHECKED_HASH, "/venv/lib/python3.11/site-packages/a.py", b"x = 1\n"),  # co_filename
        cc.entry_key(Mode.CHECKED_HASH, "/app/lib/python3.11/site-packages/a.py", b"x = 2\n"),
        cc.entry_key(Mode.TIMESTAMP, "/app/lib/python3.11/site-packages/a.py", b"x = 1\n", st),
        cc.entry_key(Mode.TIMESTAMP, "/app/lib/python3.11/site-packages/a.py", b"x = 1\n",
                     SimpleNamespace(st_mtime=1_700_000_001, st_size=12)),
    }
    assert len(others | {key}) == 6
    env: dict[str, str] = {}
    plain = cc.interpreter_key(env, SimpleNamespace(optimize=0), {})
    assert plain.startswith(sys.implementation.cache_tag + "-")
    assert plain == cc.interpreter_key(env, SimpleNamespace(optimize=0), {})
    assert len({plain, cc.interpreter_key(env, SimpleNamespace(optimize=1), {}),
                cc.interpreter_key(env, SimpleNamespace(optimize=0), {"no_debug_ranges": True}),
                cc.interpreter_key({"PYTHONNODEBUGRANGES": "1"}, SimpleNamespace(optimize=0), {})}) == 3


def test_the_walk_is_uvs(cc: ModuleType, tmp_path: Path) -> None:
    site = tree(tmp_path / "site", {
        "a.py": "", "pkg/b.py": "", "pkg/__pycache__/c.py": "", "__pycache__/d.py": "", "pkg/.py": "",
        "pkg/..py": "", "pkg/e.pyc": "", "pkg/f.pyi": "", "pkg/G.PY": "", "pkg/data.txt": "",
        "other/h.py": "",
    })
    (site / "link.py").symlink_to(site / "a.py")
    (site / "linked").symlink_to(site / "other", target_is_directory=True)
    (site / "pkg" / "dir.py").mkdir()
    (site / "pkg" / "dir.py" / "i.py").write_text("")
    found = [os.path.relpath(p, site) for p in cc.sources(str(site))]
    assert sorted(found) == ["a.py", "other/h.py", "pkg/..py", "pkg/b.py", "pkg/dir.py/i.py"]
    assert list(cc.sources(str(tmp_path / "absent"))) == []


def test_a_run_writes_what_py_compile_writes_then_the_same_from_the_cache(
        cc: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"m.py": "X = {\"a\", \"b\"}\n", "pkg/__init__.py": "from m import X\n",
             "pkg/latin.py": "# -*- coding: latin-1 -*-\nS = \"caf\xe9\"\n", "pkg/bad.py": "print \"py2\"\n"}
    expected = tree(tmp_path / "expected", files)
    for name in files:
        try:
            py_compile.compile(str(expected / name), doraise=True, invalidation_mode=Mode.CHECKED_HASH)
        except py_compile.PyCompileError:
            assert name == "pkg/bad.py"
    cache = tmp_path / "cache"
    env = {"PYC_INVALIDATION_MODE": "CHECKED_HASH"}

    def install(where: Path) -> dict[str, bytes]:
        tree(where, files)
        return {os.path.relpath(p, where): p.read_bytes() for p in where.rglob("*.pyc")}

    # the expected tree compiled at another path: the same bytes but for co_filename, so compare
    # file names here and bytes against a py_compile of the same path below
    first = tmp_path / "one"
    assert cc.run([str(first)], str(cache), env, 1) == (0, 0, 0, 0)
    install(first)
    assert cc.run([str(first)], str(cache), env, 1) == (4, 0, 4, 3)
    compiled = {os.path.relpath(p, first): p.read_bytes() for p in first.rglob("*.pyc")}
    assert sorted(compiled) == sorted(os.path.relpath(p, expected) for p in expected.rglob("*.pyc"))
    reference = tmp_path / "reference"
    tree(reference, files)
    for name in files:
        if name != "pkg/bad.py":
            cfile = py_compile.compile(str(first / name), cfile=str(reference / name) + "c", doraise=True,
                                       invalidation_mode=Mode.CHECKED_HASH)
            assert Path(cfile).read_bytes() == (first / name).parent.joinpath(
                "__pycache__", Path(name).stem + f".{sys.implementation.cache_tag}.pyc").read_bytes()
    # the same files again: every one that compiles from the cache, the same bytes and modes
    modes = {n: os.stat(first / n).st_mode for n in compiled}
    for pyc in first.rglob("*.pyc"):
        pyc.unlink()
    monkeypatch.setattr(cc, "compile_like_uv", lambda path, mode: pytest.fail(f"compiled {path}"))
    monkeypatch.setattr(cc, "compile_and_store", lambda job: 0 if job[0].endswith("bad.py") else pytest.fail(job))
    assert cc.run([str(first)], str(cache), env, 1) == (4, 3, 1, 0)
    assert {os.path.relpath(p, first): p.read_bytes() for p in first.rglob("*.pyc")} == compiled
    assert {n: os.stat(first / n).st_mode for n in compiled} == modes
    assert not [p for p in cache.rglob("*") if p.name.startswith(".tmp-")]


def test_a_damaged_or_foreign_entry_is_compiled_again(cc: ModuleType, tmp_path: Path) -> None:
    site = tree(tmp_path / "site", {"m.py": "X = 1\n"})
    env = {"PYC_INVALIDATION_MODE": "CHECKED_HASH"}
    assert cc.run([str(site)], str(tmp_path / "c"), env, 1) == (1, 0, 1, 1)
    (entry,) = (tmp_path / "c").rglob("*.pyc")
    good = entry.read_bytes()
    pyc = next(site.rglob("*.pyc"))
    for damaged in (b"", good[:16], b"\0" * 4 + good[4:], good[:8] + b"\0" * 8 + good[16:]):
        entry.write_bytes(damaged)
        pyc.unlink()
        assert cc.run([str(site)], str(tmp_path / "c"), env, 1) == (1, 0, 1, 1)
        assert pyc.read_bytes() == good == entry.read_bytes()


def test_a_pyc_already_there_is_compiled_as_uv_does_not_taken_from_the_cache(
        cc: ModuleType, tmp_path: Path) -> None:
    site = tree(tmp_path / "site", {"m.py": "X = 1\n"})
    env = {"PYC_INVALIDATION_MODE": "CHECKED_HASH"}
    assert cc.run([str(site)], str(tmp_path / "c"), env, 1) == (1, 0, 1, 1)
    pyc = next(site.rglob("*.pyc"))
    good = pyc.read_bytes()
    pyc.write_bytes(b"shipped by the wheel")
    assert cc.run([str(site)], str(tmp_path / "c"), env, 1) == (1, 0, 1, 0)
    assert pyc.read_bytes() == good  # force=True for hash-based modes, as uv passes


def test_the_cache_is_written_atomically(cc: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "c" / "ab" / "abc.pyc"
    cc.store(str(target), b"one")
    assert target.read_bytes() == b"one"

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cc.os, "replace", broken)
    cc.store(str(target), b"two")  # not stored: the cache is only a cache
    assert target.read_bytes() == b"one" and sorted(p.name for p in target.parent.iterdir()) == ["abc.pyc"]


def test_usage_and_old_interpreters(cc: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cc, "supported", lambda: True)
    assert cc.main([]) == 2 and "usage:" in capsys.readouterr().err
    monkeypatch.setattr(cc, "supported", lambda: False)
    assert cc.main(["--cache", "/nonexistent"]) == 3
    assert "needs CPython 3.11 or later" in capsys.readouterr().err
