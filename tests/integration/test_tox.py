"""tox 4 on the example, with the section 'venvship tox --write' manages: locked versions only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from packaging.utils import canonicalize_name

from tests.conftest import run_cli
from venvship import lockfile

SEEDED = {"pip", "setuptools", "wheel"}  # what virtualenv puts into every tox env


def test_tox_runs_the_example_with_exactly_the_locked_versions(copy_example) -> None:  # type: ignore[no-untyped-def]
    project: Path = copy_example()
    wrote = run_cli("tox", "--write", cwd=project)
    assert wrote.returncode == 0, wrote.stderr
    assert "-r requirements/dev.txt" in (project / "tox.ini").read_text()

    tox = subprocess.run([sys.executable, "-m", "tox", "run", "-e", "py"], cwd=project,
                         capture_output=True, text=True, timeout=900)
    assert tox.returncode == 0, tox.stdout[-3000:] + tox.stderr[-2000:]
    assert " passed" in tox.stdout and "failed" not in tox.stdout

    listed = subprocess.run([str(project / ".tox" / "py" / "bin" / "python"), "-m", "pip", "list",
                             "--format=json", "--disable-pip-version-check"],
                            capture_output=True, text=True, check=True)
    installed = {canonicalize_name(d["name"]): d["version"] for d in json.loads(listed.stdout)}
    expected: dict[str, str] = {}
    for env in ("main", "dev"):
        lock = lockfile.read(project / "requirements" / f"{env}.txt", env)
        assert lock is not None
        expected.update(lock.versions)
    assert {n: installed.get(n) for n in expected} == expected
    assert set(installed) - set(expected) - SEEDED == {"hello-app"}
