from __future__ import annotations

from pathlib import Path

import pytest

from venvship import lockfile
from venvship.errors import LockIntegrityError

BODY = """\
click==8.1.7 \\
    --hash=sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa \\
    --hash=sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
    # via flask
tomli==2.0.1 ; python_full_version < '3.11' \\
    --hash=sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
    # via
    #   pytest
    #   black
"""


def test_render_and_parse_round_trip() -> None:
    text = lockfile.render("main", {"env": "main", "python": "cpython 3.11.2"}, BODY)
    lock = lockfile.parse(text, "main")
    assert lock.versions == {"click": "8.1.7", "tomli": "2.0.1"}
    assert lock.pins["tomli"].marker == "python_full_version < '3.11'"
    assert lock.pins["tomli"].via == ("pytest", "black")
    assert lock.pins["click"].via == ("flask",)
    assert len(lock.pins["click"].hashes) == 2
    assert lock.header["python"] == "cpython 3.11.2"
    lockfile.check_integrity(lock, "main.txt")


def test_hand_edit_is_detected() -> None:
    text = lockfile.render("main", {"env": "main"}, BODY).replace("click==8.1.7", "click==8.1.8")
    with pytest.raises(LockIntegrityError, match="changed after it was generated"):
        lockfile.check_integrity(lockfile.parse(text, "main"), "main.txt")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("click>=8 --hash=sha256:" + "a" * 64 + "\n", "not an exact '==' pin"),
        ("click==8.1.7\n", "click==8.1.7 has no hash"),
        ("click==8.1.7 --hash=sha256:" + "a" * 64 + "\nclick==8.1.7 --hash=sha256:" + "a" * 64 + "\n", "pinned twice"),
        ("-e ./local\n", "unexpected option"),
    ],
)
def test_integrity_errors(body: str, message: str) -> None:
    with pytest.raises(LockIntegrityError, match=message):
        lockfile.parse(body, "main")


def test_diff_classifies_changes() -> None:
    d = lockfile.diff({"a": "1.0", "b": "2.0", "c": "1.10", "gone": "1"}, {"a": "1.0", "b": "1.9", "c": "1.9.1" , "new": "3"})
    assert d.added == {"new": "3"}
    assert d.removed == {"gone": "1"}
    assert d.downgraded == {"b": ("2.0", "1.9"), "c": ("1.10", "1.9.1")}
    assert not d.upgraded
    assert "  ↓ b 2.0 -> 1.9" in d.lines()
    assert not lockfile.diff({"a": "1"}, {"a": "1"})


def test_write_atomically_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    b.write_text("old b")
    lockfile.write_atomically({a: "new a", b: "new b"})
    assert (a.read_text(), b.read_text()) == ("new a", "new b")

    import os

    real_fsync = os.fsync
    calls = {"n": 0}

    def failing_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        lockfile.write_atomically({a: "newer a", b: "newer b"})
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]
