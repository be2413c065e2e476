"""Issue 13 item 6 against the real engine: a requirements-only Flask app with nothing to build
(requirements.txt + requirements-dev.txt, manage.py, a pyproject.toml holding only
[tool.venvship]) is locked without touching its inputs, built with its source tree at /srv/app,
a build command that needs a build-only secret, an extra requirement (gunicorn), `env` and
`command`, and answers over HTTP; the secret is in no image config and no history. `export
--format tar|deb` ships the venv and the tree (with the build command's output), which unpacked
or installed in a clean container of the base image answers over HTTP through its run wrapper."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PY311, run_cli
from tests.integration.conftest import http_json
from venvship import lockfile

pytestmark = pytest.mark.docker

APP_PY = '''\
import os, pathlib
from flask import Flask

app = Flask(__name__)
HERE = pathlib.Path(__file__).parent


@app.get("/")
def index():
    return {"greeting": os.environ.get("GREETING"), "cwd": os.getcwd(),
            "built": (HERE / "static-collected" / "stamp.txt").read_text(),
            "secret_in_env": "SECRET_KEY" in os.environ}
'''

MANAGE_PY = '''\
import os, pathlib, sys

if sys.argv[1:] == ["collectstatic"]:
    key = os.environ["SECRET_KEY"]  # like Django's collectstatic: the settings need one
    out = pathlib.Path("static-collected")
    out.mkdir()
    (out / "stamp.txt").write_text("collected with a %d-character key" % len(key))
'''

PYPROJECT = f"""\
[tool.venvship]
base-image = "{PY311}"
name = "fixture-site"
command = ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
expose = [8000]
build-commands = ["python manage.py collectstatic"]
env = {{GREETING = 'hello "$HOME" \\ world'}}

deb-version = "1.0"

[tool.venvship.build-command-env]
SECRET_KEY = "${{APPS_IT_SECRET}}"

[tool.venvship.environments.main]
extra = ["gunicorn"]
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("apps") / "fixture-site"
    root.mkdir()
    canary = f"vsp-apps-canary-{secrets.token_hex(8)}"
    (root / "app.py").write_text(APP_PY)
    (root / "manage.py").write_text(MANAGE_PY)
    (root / "tests").mkdir()
    (root / "tests/test_site.py").write_text(
        "import iniconfig, app\n\ndef test_index_route():\n    assert app.app.url_map.bind('x').match('/')\n")
    (root / "requirements.txt").write_text("flask>=3\nclick==8.1.7  # a freeze-style pin\n")
    (root / "requirements-dev.txt").write_text("-r requirements.txt\niniconfig\npytest\n")
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / ".env").write_text(f"SECRET_KEY={canary}-dotenv\n")  # a developer's local secrets
    inputs = {p: (root / p).read_bytes() for p in ("requirements.txt", "requirements-dev.txt")}
    locked = run_cli("--progress", "quiet", "lock", cwd=root)
    assert locked.returncode == 0, locked.stderr[-3000:]
    tag = f"venvship-test/fixture-site:{uuid.uuid4().hex[:10]}"
    built = run_cli("--progress", "quiet", "build", "--image", tag, cwd=root,
                    env={"APPS_IT_SECRET": canary})
    yield {"root": root, "inputs": inputs, "locked": locked, "built": built, "tag": tag,
           "canary": canary}
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def test_lock_never_writes_the_inputs(site: dict[str, Any]) -> None:
    root: Path = site["root"]
    for name, data in site["inputs"].items():
        assert (root / name).read_bytes() == data
    main = lockfile.read(root / "requirements.lock/main.txt", "main")
    dev = lockfile.read(root / "requirements.lock/dev.txt", "dev")
    assert main is not None and dev is not None
    assert {"flask", "gunicorn"} <= set(main.pins)
    assert dev.header["layered-on"] == "main" and "iniconfig" in dev.pins
    assert (root / "requirements.lock/build.txt").is_file()
    check = run_cli("--progress", "quiet", "lock", "--check", cwd=root)
    assert check.returncode == 0, check.stderr
    # a pin in the input is a requirement: --upgrade moves what is not pinned, never it
    assert main.versions["click"] == "8.1.7"
    upgraded = run_cli("--progress", "quiet", "lock", "--upgrade", "--env", "main", "--dry-run", cwd=root)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "click" not in upgraded.stdout, upgraded.stdout

    envs = run_cli("envs", cwd=root)
    assert ("app: fixture-site (from the name setting); a source tree copied to /srv/app: nothing to "
            "build: no [build-system], setup.py or setup.cfg [metadata]") in envs.stdout, envs.stdout
    assert "inputs: requirements.txt layout; locks in requirements.lock/" in envs.stdout


def test_install_into_a_host_venv_takes_the_locks_only(site: dict[str, Any], tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    result = run_cli("install", "--venv", str(venv), cwd=site["root"], timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    out = subprocess.run([str(venv / "bin/python"), "-c", "import flask, gunicorn; print('ok')"],
                         capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_venvship_test_runs_the_tree_with_the_dev_lock(site: dict[str, Any]) -> None:
    result = run_cli("test", "--quiet", cwd=site["root"])
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "1 passed" in result.stdout + result.stderr


def test_the_app_answers_with_its_env_and_build_output(site: dict[str, Any], engine) -> None:  # type: ignore[no-untyped-def]
    assert site["built"].returncode == 0, site["built"].stderr[-3000:]
    assert "verified" in site["built"].stdout
    body = http_json(engine, site["tag"])
    assert body == {"greeting": 'hello "$HOME" \\ world', "cwd": "/srv/app",
                    "built": f"collected with a {len(site['canary'])}-character key",
                    "secret_in_env": False}


def test_the_source_tree_is_root_owned_and_read_only(site: dict[str, Any], engine) -> None:  # type: ignore[no-untyped-def]
    _, out = engine.run(site["tag"], ["-c", "stat -c '%U %a' /srv/app /srv/app/app.py "
                                         "/srv/app/static-collected/stamp.txt; touch /srv/app/x "
                                         "/srv/app/static-collected/y 2>&1; echo HOME=$HOME; touch $HOME/ok && echo home-writable"],
                           entrypoint=["sh"])
    lines = out.splitlines()
    assert lines[:3] == ["root 755", "root 644", "root 644"], out
    assert out.count("Permission denied") == 2, out
    assert "HOME=/home/app" in out and "home-writable" in out, out
    _, out = engine.run(site["tag"], ["-c", "ls -A /srv/app"], entrypoint=["sh"])
    assert sorted(out.split()) == ["app.py", "manage.py", "pyproject.toml", "requirements-dev.txt",
                                   "requirements.lock", "requirements.txt", "static-collected", "tests"], out
    # no .env (venvship's default ignores), no bytecode (PYTHONDONTWRITEBYTECODE in the build too)


def test_the_build_only_secret_is_in_no_config_and_no_history(site: dict[str, Any], engine) -> None:  # type: ignore[no-untyped-def]
    canary = site["canary"]
    attrs = engine.image(site["tag"])
    assert canary not in json.dumps(attrs)
    assert "SECRET_KEY" not in json.dumps(attrs["Config"]["Env"])
    history = subprocess.run(["docker", "history", "--no-trunc", site["tag"]], capture_output=True,
                             text=True, check=True).stdout
    assert canary not in history
    saved = subprocess.run(["docker", "save", site["tag"]], capture_output=True, check=True).stdout
    assert canary.encode() not in saved  # in no layer either
    inspect = subprocess.run(["docker", "inspect", site["tag"]], capture_output=True, text=True,
                             check=True).stdout
    assert canary not in inspect
    assert os.environ.get("APPS_IT_SECRET") is None  # only the build's environment had it


# ---- export: the venv and the tree, unpacked / installed in a clean container ---------------
@pytest.fixture(scope="module")
def exported(site: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dist = tmp_path_factory.mktemp("apps-dist")
    for fmt in ("tar", "deb"):
        result = run_cli("--progress", "quiet", "export", "--format", fmt, "--output", str(dist),
                         "--json", cwd=site["root"], env={"APPS_IT_SECRET": site["canary"]})
        assert result.returncode == 0, result.stderr[-3000:]
        out[fmt] = json.loads(result.stdout)
    return out


@pytest.fixture
def clean(engine: Any) -> Iterator[Any]:
    """A clean container of the base image, removed afterwards."""
    with engine.started(PY311, command=["sleep", "infinity"], entrypoint=[]) as container:
        yield container


def _put(container: Any, path: Path) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(path, arcname=path.name)
    assert container.put_archive("/tmp", buf.getvalue())
    return f"/tmp/{path.name}"


def _sh(container: Any, script: str, user: str = "root") -> tuple[int, str]:
    code, output = container.exec_run(["sh", "-c", script], user=user)
    return code, output.decode("utf-8", "replace")


def _serve_and_ask(container: Any, wrapper: str) -> dict[str, Any]:
    """Start the app through its wrapper (no arguments: the image's command) as an unprivileged
    user, and ask it over HTTP from inside the container."""
    ask = ("import sys, urllib.request; "
           "sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:8000/', timeout=2).read().decode())")
    code, out = _sh(container, f"({wrapper} > /tmp/server.log 2>&1 &); "
                               f"for i in $(seq 150); do /app/bin/python -c \"{ask}\" 2>/dev/null && exit 0; "
                               "sleep 0.2; done; cat /tmp/server.log; exit 1", user="nobody")
    assert code == 0, out[-2000:]
    body: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return body


def _expected_body(site: dict[str, Any]) -> dict[str, Any]:
    return {"greeting": 'hello "$HOME" \\ world', "cwd": "/srv/app",
            "built": f"collected with a {len(site['canary'])}-character key", "secret_in_env": False}


def test_export_tar_holds_the_venv_the_tree_and_a_wrapper(site: dict[str, Any],
                                                          exported: dict[str, Any]) -> None:
    summary = exported["tar"]
    assert Path(summary["artefact"]).name == "fixture-site-x86_64.tar.gz"  # no [project] version
    main = lockfile.read(site["root"] / "requirements.lock/main.txt", "main")
    assert main is not None and summary["distributions"] == main.versions  # the locks, no app
    with tarfile.open(summary["artefact"]) as tar:
        members = {m.name: m for m in tar.getmembers()}
    tree = sorted(n[len("srv/app/"):] for n in members if n.startswith("srv/app/") and "/" not in n[8:])
    assert tree == ["app.py", "manage.py", "pyproject.toml", "requirements-dev.txt", "requirements.lock",
                    "requirements.txt", "static-collected", "tests"]  # the image's tree: no .env
    assert "srv/app/static-collected/stamp.txt" in members  # build-commands ran for the export too
    assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}
    assert not [n for n, m in members.items() if not m.issym() and m.mode & 0o022]
    assert members["usr/local/bin/fixture-site"].mode == 0o755
    manifest = json.loads(Path(summary["manifest"]).read_text())
    assert (manifest["app_dir"], manifest["run"]) == ("/srv/app", "/usr/local/bin/fixture-site")
    assert (summary["app_dir"], summary["run"]) == ("/srv/app", "/usr/local/bin/fixture-site")
    assert site["canary"].encode() not in Path(summary["artefact"]).read_bytes()


def test_export_tar_unpacked_in_a_clean_container_answers(site: dict[str, Any], exported: dict[str, Any],
                                                          clean: Any) -> None:
    archive = _put(clean, Path(exported["tar"]["artefact"]))
    code, out = _sh(clean, f"tar -xzf {archive} -C / && stat -c '%U %a' /srv/app /srv/app/app.py")
    assert code == 0 and out.split("\n")[:2] == ["root 755", "root 644"], out
    code, out = _sh(clean, "touch /srv/app/x /srv/app/static-collected/y 2>&1", user="nobody")
    assert code != 0 and out.count("Permission denied") == 2, out
    # the documented way without the wrapper: the venv's python with PYTHONPATH=app-dir
    code, out = _sh(clean, "cd /tmp && PYTHONPATH=/srv/app /app/bin/python -c 'import app; print(app.__file__)'",
                    user="nobody")
    assert (code, out.strip()) == (0, "/srv/app/app.py"), out
    assert _serve_and_ask(clean, "/usr/local/bin/fixture-site") == _expected_body(site)


def test_export_deb_installs_answers_and_is_removed(site: dict[str, Any], exported: dict[str, Any],
                                                    clean: Any) -> None:
    assert Path(exported["deb"]["artefact"]).name == "fixture-site_1.0_amd64.deb"
    assert exported["deb"]["run"] == "/usr/bin/fixture-site"
    deb = _put(clean, Path(exported["deb"]["artefact"]))
    code, out = _sh(clean, f"apt-get install -y --no-install-recommends {deb}")
    assert code == 0, out[-2000:]
    code, out = _sh(clean, "stat -c '%U %a' /srv/app /srv/app/static-collected/stamp.txt /usr/bin/fixture-site")
    assert out.split("\n")[:3] == ["root 755", "root 644", "root 755"], out
    assert _serve_and_ask(clean, "fixture-site") == _expected_body(site)
    code, out = _sh(clean, "apt-get remove -y fixture-site")
    assert code == 0, out[-2000:]
    code, out = _sh(clean, "ls -d /app /srv/app /usr/bin/fixture-site 2>&1")
    assert code != 0 and out.count("No such file or directory") == 3, out
