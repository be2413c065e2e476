"""Issue 14 "Verify" against the real engine: each failure an image can hide is named, by
``verify`` and by ``build`` (exit 14). One small app (tests/integration/broken-app) reproduces
them all in one image, built once."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_example_to, one_error, run_cli
from venvship.engine import Engine
from venvship.ops.verify import run_probe
from venvship.settings import load_settings

pytestmark = pytest.mark.docker
HERE = Path(__file__).resolve().parent
SO = "lib/python3.11/site-packages/broken_app/_yamlver.cpython-311-x86_64-linux-gnu.so"
BROKEN_SCRIPT = "console script broken-tool = broken_app.nothere:main: ModuleNotFoundError: No module named 'broken_app.nothere'"
MISSING_PROGRAM = "the image's command runs 'no-such-server', which is not in the image"
IMPORT_FAILS = "'import broken_app.settings' fails: RuntimeError: BROKEN_APP_SECRET is not set"
EMBEDDED = "lib/python3.11/site-packages/broken_app/_embedded.cpython-311-x86_64-linux-gnu.so"
MISSING_LIBRARY = f"{SO} needs libyaml-0.so.2, which is not in the runtime image (add libyaml-0-2 to runtime-packages)"
MISSING_LIBPYTHON = (f"{EMBEDDED} needs libpython3.11.so.1.0, which is not in the runtime image "
                     "(add libpython3.11 to runtime-packages)")


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Iterator[dict[str, Any]]:
    project = tmp_path_factory.mktemp("verify") / "broken-app"
    shutil.copytree(HERE / "broken-app", project)
    result = run_cli("--progress", "quiet", "lock", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    tag = f"venvship-test/broken-app:{uuid.uuid4().hex[:10]}"
    try:
        result = run_cli("--progress", "quiet", "build", "--image", tag, "--no-verify", cwd=project)
        assert result.returncode == 0, result.stderr[-3000:]
        yield {"project": project, "tag": tag}
    finally:
        engine.remove_image(tag)


def test_verify_names_each_failure(broken: dict[str, Any]) -> None:
    result = run_cli("verify", broken["tag"], cwd=broken["project"])
    assert result.returncode == 14, result.stderr
    error = one_error(result.stderr)
    for cause in (BROKEN_SCRIPT, MISSING_PROGRAM, IMPORT_FAILS, MISSING_LIBRARY, MISSING_LIBPYTHON):
        assert cause in error, error
    assert "broken-app =" not in error  # the working console script
    assert "needs_pytest" not in error and "broken-plugin" not in error  # plugin groups are not checked


def test_env_var_applies_to_the_checks(broken: dict[str, Any]) -> None:
    result = run_cli("verify", broken["tag"], "--env-var", "BROKEN_APP_SECRET=s3cret", cwd=broken["project"])
    assert result.returncode == 14, result.stderr
    error = one_error(result.stderr)
    assert IMPORT_FAILS not in error and "broken_app.settings" not in error, error
    assert BROKEN_SCRIPT in error and MISSING_LIBRARY in error
    bad = run_cli("verify", broken["tag"], "--env-var", "NOEQUALS", cwd=broken["project"])
    assert bad.returncode == 3 and "--env-var 'NOEQUALS': expected KEY=VALUE" in bad.stderr


def test_build_exits_14_naming_the_causes(broken: dict[str, Any], engine: Engine) -> None:
    tag = f"venvship-test/broken-app:{uuid.uuid4().hex[:10]}"
    try:
        result = run_cli("--progress", "quiet", "build", "--image", tag, "--env-var", "BROKEN_APP_SECRET=x",
                         cwd=broken["project"])
        assert result.returncode == 14, result.stderr[-3000:]
        error = one_error(result.stderr)
        for cause in (BROKEN_SCRIPT, MISSING_PROGRAM, MISSING_LIBRARY):
            assert cause in error, error
        assert IMPORT_FAILS not in error  # --env-var reached the verification build ran
        assert engine.image(tag) is None  # the rejected image got no tag (safe tags)
    finally:
        engine.remove_image(tag)


def test_libraries_are_found_without_the_loader_too(broken: dict[str, Any], engine: Engine) -> None:
    """An image with no usable loader program: the probe reads ELF NEEDED entries itself."""
    settings = load_settings(broken["project"])
    for method in ("auto", "python"):
        data = run_probe(engine, broken["tag"], settings, {"app": "broken-app", "modules": [], "elf": method}, {})
        assert data["elf"]["method"] == ("loader" if method == "auto" else "python")
        assert data["elf"]["missing"] == [{"file": EMBEDDED, "library": "libpython3.11.so.1.0"},
                                          {"file": SO, "library": "libyaml-0.so.2"}], data["elf"]


# ---- verify --start: the image starts and serves --------------------------------------------------
@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Iterator[dict[str, Any]]:
    """examples/hello-app built twice: as it is (no health check), and with a health check,
    a stop signal and an env setting (only the runtime stage's settings differ: one cached build)."""
    root = tmp_path_factory.mktemp("start")
    projects = {name: root / name / "hello-app" for name in ("plain", "checked", "cli")}
    for project in projects.values():
        copy_example_to(project)
    with (projects["checked"] / "pyproject.toml").open("a") as fh:
        fh.write('healthcheck = {http = "8000/healthz"}\nstop-signal = "SIGINT"\n'
                 '[tool.venvship.env]\nHELLO_MODE = "production"\n')
    with (projects["cli"] / "pyproject.toml").open("a") as fh:  # prints one response and exits 0
        fh.write('command = ["hello-app", "--once"]\n')
    tags = {name: f"venvship-test/hello-start:{name}-{uuid.uuid4().hex[:8]}" for name in projects}
    try:
        for name, project in projects.items():
            result = run_cli("--progress", "quiet", "build", "--image", tags[name], cwd=project)
            assert result.returncode == 0, result.stderr[-3000:]
        yield {**projects, "tags": tags}
    finally:
        for tag in tags.values():
            engine.remove_image(tag)


def _no_containers_left(engine: Engine, tag: str) -> None:
    left = engine.client().containers.list(all=True, filters={"ancestor": tag})
    assert left == [], [c.name for c in left]


def test_healthcheck_stop_signal_and_env_are_in_the_image(hello: dict[str, Any], engine: Engine) -> None:
    config = (engine.image(hello["tags"]["checked"]) or {})["Config"]
    assert config["StopSignal"] == "SIGINT"
    assert "HELLO_MODE=production" in config["Env"]
    assert config["Healthcheck"]["Test"][0] == "CMD" and "http://127.0.0.1:8000/healthz" in config["Healthcheck"]["Test"][-1]
    assert config["Healthcheck"]["StartInterval"] == 1_000_000_000


def test_start_waits_for_the_health_check(hello: dict[str, Any], engine: Engine) -> None:
    import time

    started = time.monotonic()
    result = run_cli("verify", hello["tags"]["checked"], "--start", cwd=hello["checked"])
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout
    # The image's HEALTHCHECK interval is 30 s: under 25 s means the 1 s start interval applied, with room for a loaded machine.
    assert seconds < 25, f"healthy only after {seconds:.1f} s: the start interval did not apply"
    _no_containers_left(engine, hello["tags"]["checked"])


@pytest.mark.parametrize("which", ["plain", "cli"])
def test_start_without_a_health_check_stays_up_or_exits_0(hello: dict[str, Any], engine: Engine, which: str) -> None:
    result = run_cli("verify", hello["tags"][which], "--start", cwd=hello[which])
    assert result.returncode == 0, result.stderr
    _no_containers_left(engine, hello["tags"][which])


@pytest.mark.parametrize("which", ["plain", "checked"])
def test_start_shows_the_crash(hello: dict[str, Any], engine: Engine, which: str) -> None:
    """The server crashes at start (PORT is read at start, not at import: the other checks pass)."""
    result = run_cli("verify", hello["tags"][which], "--start", "--env-var", "PORT=not-a-port",
                     "--start-timeout", "20", cwd=hello[which])
    assert result.returncode == 14, result.stderr
    assert "--start: the container exited with code 1" in result.stderr, result.stderr
    assert "the container's last log lines:" in result.stderr
    assert "  | ValueError: invalid literal for int() with base 10: 'not-a-port'" in result.stderr, result.stderr
    _no_containers_left(engine, hello["tags"][which])


def test_command_targets_in_the_image(broken: dict[str, Any], engine: Engine) -> None:
    """What a command names, checked where it runs: 'python FILE' in the working directory,
    'python -m PKG' needs PKG.__main__, a factory is looked up and not called."""
    from venvship.ops.verify import command_plan

    settings = load_settings(broken["project"])
    argvs = [["python", "manage.py", "runserver"], ["python", "-m", "broken_app"],
             ["gunicorn", "broken_app.cli:main()"], ["uvicorn", "broken_app.cli:nothere"]]
    targets = [t.as_json() for argv in argvs for t in command_plan(argv)[1]]
    data = run_probe(engine, broken["tag"], settings, {"app": "broken-app", "modules": [], "elf": "off",
                                                       "targets": targets}, {})
    assert [(t["label"], t["error"]) for t in data["targets"]] == [
        ("python manage.py", "no such file: /home/app/manage.py"),
        ("python -m broken_app", "'broken_app' is a package without __main__: 'python -m' cannot run it"),
        ("gunicorn broken_app.cli:main()", None),
        ("uvicorn broken_app.cli:nothere", "module 'broken_app.cli' has no attribute 'nothere'"),
    ]


def test_a_pass_is_kept_per_image_id_and_a_changed_lock_checks_again(hello: dict[str, Any], tmp_path: Path) -> None:
    """Issue 17: a no-op build verifies the same image id again; its pass is kept (the probe
    container is not run twice), and anything the checks read, like the lock, is part of the key."""
    from venvship import lockfile

    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    project, tag = hello["plain"], hello["tags"]["plain"]
    first = run_cli("verify", tag, cwd=project, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    kept = list((tmp_path / "cache" / "venvship" / "verified").glob("*.passed"))
    assert len(kept) == 1
    again = run_cli("verify", tag, cwd=project, env=env)
    assert again.returncode == 0 and list(kept[0].parent.iterdir()) == kept
    path = project / "requirements" / "main.txt"
    lock = lockfile.read(path, "main")
    assert lock is not None
    flask = lock.pins["flask"].version
    before = path.read_bytes()
    try:
        path.write_text(lockfile.render("main", dict(lock.header),
                                        lock.body.replace(f"flask=={flask}", "flask==3.0.0")))
        changed = run_cli("verify", tag, cwd=project, env=env)
        assert changed.returncode == 14 and f"flask: {flask} installed, 3.0.0 locked" in changed.stderr
    finally:
        path.write_bytes(before)
