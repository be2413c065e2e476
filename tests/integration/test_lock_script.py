"""The lock stage's shell (templates/lock.sh.j2), run by sh on this host: a resolver killed by a
signal runs again (uv under qemu-user emulation aborts now and then: "qemu: uncaught target signal 6"),
with its output file as it was before the run; a resolver that fails runs once."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from venvship import resources


def resolve_function() -> str:
    text = resources.text(resources.LOCK_SH)
    start = text.index("resolve() {")
    return text[start:text.index("\n}\n", start) + 3]


def run(tmp_path: Path, command: str) -> tuple[int, Path]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    script = f'set -u\nOUT="{out}"\n{resolve_function()}\nresolve main sh -c \'{command}\'\nexit $?\n'
    proc = subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    return proc.returncode, out


@pytest.fixture
def counter(tmp_path: Path) -> Path:
    """The file each run of a fake resolver appends a line to: how many runs there were."""
    path = tmp_path / "runs"
    path.write_text("")
    return path


def test_a_resolver_killed_by_a_signal_runs_again_from_the_same_output_file(tmp_path: Path, counter: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "main.txt").write_text("existing==1\n")
    # each run adds a pin to the output file (as a broken run could); the first two are killed
    command = (f'echo run >> "{counter}"; n=$(wc -l < "{counter}"); echo "pin-$n" >> out/main.txt; '
               '[ "$n" -ge 3 ] || kill -ABRT $$')
    rc, out = run(tmp_path, command)
    assert rc == 0
    assert counter.read_text().count("run") == 3
    assert (out / "main.txt").read_text() == "existing==1\npin-3\n", "each run starts from the file as it was"
    assert (out / "main.retried").read_text() == "signal 6\nsignal 6\n"
    assert not (out / "main.before").exists()


def test_a_resolver_killed_every_time_gives_up_after_three_runs(tmp_path: Path, counter: Path) -> None:
    rc, out = run(tmp_path, f'echo run >> "{counter}"; kill -ABRT $$')
    assert rc == 134
    assert counter.read_text().count("run") == 3
    assert not (out / "main.txt").exists()


def test_a_resolver_that_fails_runs_once(tmp_path: Path, counter: Path) -> None:
    rc, out = run(tmp_path, f'echo run >> "{counter}"; echo "no solution" >&2; exit 1')
    assert rc == 1
    assert counter.read_text().count("run") == 1
    assert (out / "main.log").read_text() == "no solution\n"
    assert not (out / "main.retried").exists()
