"""``venvship export``: the tarball and the .deb, installed in clean containers of the base image.

One project (hello-app with its venv at /opt/venvs/hello-app and entry points linked into
/usr/bin) is exported once in each format; every test reuses those artefacts.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from tests.conftest import PY311, copy_example_to, run_cli
from venvship import lockfile
from venvship.interpreter import probe_source
from venvship.ops.verify import parse_probe

pytestmark = pytest.mark.docker
VENV = "/opt/venvs/hello-app"


@pytest.fixture(scope="module")
def export_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = copy_example_to(tmp_path_factory.mktemp("export") / "hello-app")
    with (dest / "pyproject.toml").open("a") as fh:
        fh.write(f'venv-path = "{VENV}"\ndeb-link-entry-points = true\n')
    return dest


@pytest.fixture(scope="module")
def exported(export_project: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"timings": {}}
    for fmt in ("deb", "tar"):
        started = time.monotonic()
        result = run_cli("export", "--format", fmt, "--output", str(export_project / "dist"), "--json",
                         cwd=export_project)
        out["timings"][fmt] = time.monotonic() - started
        assert result.returncode == 0, result.stderr[-3000:]
        out[fmt] = json.loads(result.stdout)
    print(f"export timings (s): {out['timings']}")
    return out


@pytest.fixture(scope="module")
def locked(export_project: Path) -> dict[str, str]:
    lock = lockfile.read(export_project / "requirements" / "main.txt", "main")
    assert lock is not None
    return {**lock.versions, "hello-app": "1.2.0"}


@pytest.fixture
def clean(engine: Any) -> Iterator[Any]:
    """A clean container of the base image (also the runtime image here), removed afterwards."""
    with engine.started(PY311, command=["sleep", "infinity"], entrypoint=[]) as container:
        yield container


def _put(container: Any, path: Path, directory: str = "/tmp") -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(path, arcname=path.name)
    assert container.put_archive(directory, buf.getvalue())
    return f"{directory}/{path.name}"


def _sh(container: Any, script: str, user: str = "root") -> tuple[int, str]:
    code, output = container.exec_run(["sh", "-c", script], user=user)
    return code, output.decode("utf-8", "replace")


def _installed(container: Any, python: str) -> dict[str, str]:
    config = json.dumps({"modules": ["hello_app"], "elf": "off"})
    code, out = container.exec_run([python, "-c", probe_source(), "verify", config], user="nobody")
    data = parse_probe(out.decode())
    assert code == 0 and data is not None and data["imports"] == {"hello_app": None}, data
    assert data["prefix"] == VENV
    return {canonicalize_name(k): v for k, v in data["dists"].items()}


def test_artefacts_and_manifests_are_exactly_the_lock(exported: dict[str, Any],
                                                      locked: dict[str, str]) -> None:
    for fmt, suffix in (("deb", "_1.2.0_amd64.deb"), ("tar", "-1.2.0-x86_64.tar.gz")):
        summary = exported[fmt]
        assert Path(summary["artefact"]).name == "hello-app" + suffix
        assert summary["distributions"] == locked
        manifest = json.loads(Path(summary["manifest"]).read_text())
        assert manifest["distributions"] == locked
        assert (manifest["format"], manifest["venv_path"], manifest["python"]) == (fmt, VENV, "3.11.2")


def test_tarball_is_the_venv_tree_root_owned(exported: dict[str, Any]) -> None:
    with tarfile.open(exported["tar"]["artefact"]) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names[0] == VENV.lstrip("/") and names == sorted(names)
    assert all(n == names[0] or n.startswith(names[0] + "/") for n in names)
    assert {(m.uid, m.gid) for m in members} == {(0, 0)}
    assert not [m.name for m in members if not m.issym() and m.mode & 0o022]


def test_deb_installs_runs_and_is_removed(exported: dict[str, Any], locked: dict[str, str],
                                          clean: Any) -> None:
    deb = _put(clean, Path(exported["deb"]["artefact"]))
    code, out = _sh(clean, f"apt-get install -y --no-install-recommends {deb}")
    assert code == 0, out[-2000:]
    code, depends = _sh(clean, "dpkg-query -W -f '${Depends}' hello-app")
    assert depends == "python3.11, python3 (>= 3.11~), python3 (<< 3.12)"
    code, out = _sh(clean, "hello-app --once", user="nobody")  # through the /usr/bin link
    assert code == 0, out
    answer = json.loads(out.strip().splitlines()[-1])
    assert (answer["message"], answer["prefix"]) == ("hello from venvship", VENV)
    assert _installed(clean, f"{VENV}/bin/python") == locked
    # files written later (bytecode, logs) are not dpkg's: the package's postrm removes them too
    assert _sh(clean, f"touch {VENV}/lib/stray.pyc {VENV}/written-later.log")[0] == 0
    code, out = _sh(clean, "apt-get remove -y hello-app")
    assert code == 0, out[-2000:]
    code, out = _sh(clean, f"ls -d {VENV} /usr/bin/hello-app /usr/share/doc/hello-app 2>&1")
    assert code != 0 and out.count("No such file or directory") == 3, out


def test_tarball_unpacked_at_its_path_runs(exported: dict[str, Any], locked: dict[str, str],
                                           clean: Any) -> None:
    archive = _put(clean, Path(exported["tar"]["artefact"]))
    code, out = _sh(clean, f"tar -xzf {archive} -C / && ls -d {VENV}")
    assert code == 0, out
    code, out = _sh(clean, f"{VENV}/bin/hello-app --once", user="nobody")
    assert code == 0, out
    assert json.loads(out.strip().splitlines()[-1])["prefix"] == VENV
    assert _installed(clean, f"{VENV}/bin/python") == locked


def test_export_refuses_a_stale_lock(project: Path) -> None:
    with (project / "requirements" / "main.in").open("a") as fh:
        fh.write("six\n")
    result = run_cli("export", "--format", "tar", "--output", "out", cwd=project)
    assert result.returncode == 7, result.stderr
    assert "stale" in result.stderr and not (project / "out").exists()
