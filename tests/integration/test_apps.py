"""Issue 13 item 6 against the real engine: a requirements-only Flask app with nothing to build
(requirements.txt + requirements-dev.txt, manage.py, a pyproject.toml holding only
[tool.venvship]) is locked without touching its inputs, built with its source tree at /srv/app,
a build command that needs a build-only secret, an extra requirement (gunicorn), `env` and
`command`, and answers over HTTP; the secret is in no image config and no history."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PY311, run_cli
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
    with engine.started(site["tag"], ports={"8000/tcp": ("127.0.0.1", None)}) as container:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
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
