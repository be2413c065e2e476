"""verify's pure half: what it checks for a command, how it judges the probe's answer, the probe's
ELF reader and package map (the probe itself runs in images: tests/integration/test_verify.py)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import EXAMPLES, copy_example_to, load_script
from venvship import lockfile
from venvship.environments import discover
from venvship.errors import ConfigError, VerifyError
from venvship.ops.verify import (
    Target,
    command_plan,
    expected_lock,
    package_for,
    parse_env_vars,
    parse_probe,
    probe_config,
    verify_report,
)
from venvship.settings import load_settings

EXAMPLE = EXAMPLES / "hello-app"


def probe_module() -> ModuleType:
    from venvship.render import builtin_template_dir

    return load_script(builtin_template_dir() / "probe.py", "probe")


@pytest.mark.parametrize(("argv", "executables", "targets"), [
    (["/app/bin/hello-app"], ["/app/bin/hello-app"], []),
    (["gunicorn", "-w", "4", "--bind", "0.0.0.0:8000", "app.wsgi:application"], ["gunicorn"],
     [Target("app.wsgi:application", "gunicorn app.wsgi:application")]),
    (["gunicorn", "-b", "localhost:8000", "pkg:create_app()"], ["gunicorn"],
     [Target("pkg:create_app()", "gunicorn pkg:create_app()")]),
    (["gunicorn", "-k", "gevent", "myapp"], ["gunicorn"], [Target("myapp", "gunicorn myapp")]),
    (["gunicorn", "myapp", "-k", "gevent"], ["gunicorn"], []),  # ambiguous: no guess
    (["uvicorn", "main:app", "--host", "0.0.0.0"], ["uvicorn"], [Target("main:app", "uvicorn main:app")]),
    (["uwsgi", "--http", ":8000", "--module", "site.wsgi:application"], ["uwsgi"],
     [Target("site.wsgi:application", "uwsgi --module site.wsgi:application")]),
    (["uwsgi", "--module=site.wsgi"], ["uwsgi"], [Target("site.wsgi", "uwsgi --module site.wsgi")]),
    (["python", "-m", "hello_app", "--once"], ["python"], [Target("hello_app", "python -m hello_app", main=True)]),
    (["/app/bin/python3.11", "-m", "gunicorn", "a:b"], ["/app/bin/python3.11"],
     [Target("gunicorn", "python -m gunicorn", main=True), Target("a:b", "gunicorn a:b")]),
    (["/bin/sh", "-c", "exec PORT=1 gunicorn app:app"], ["/bin/sh", "gunicorn"], [Target("app:app", "gunicorn app:app")]),
    (["python", "manage.py", "runserver"], ["python"], [Target("manage.py", "python manage.py", file=True)]),
    (["python", "-u", "bin/serve.py"], ["python"], [Target("bin/serve.py", "python bin/serve.py", file=True)]),
    (["sh", "-c", "python manage.py migrate && exec gunicorn -b 0.0.0.0:$PORT site.wsgi; echo done"],
     ["sh", "python", "gunicorn", "echo"],
     [Target("manage.py", "python manage.py", file=True), Target("site.wsgi", "gunicorn site.wsgi")]),
    (["python", "-X", "dev", "-u", "-m", "http.server"], ["python"],
     [Target("http.server", "python -m http.server", main=True)]),
    (["python", "tool.py", "-m", "x"], ["python"], [Target("tool.py", "python tool.py", file=True)]),
    (["python", "-c", "print(1)"], ["python"], []),
    (["sh", "-c", "echo 'unbalanced"], ["sh"], []),
    (["/bin/sh", "-c", "cd /srv/app && export A=1; uvicorn main:app"], ["/bin/sh", "uvicorn"],
     [Target("main:app", "uvicorn main:app")]),
    ([], [], []),
])
def test_command_plan_names_executables_and_app_modules(argv: list[str], executables: list[str],
                                                         targets: list[Target]) -> None:
    assert command_plan(argv) == (executables, targets)


def test_package_for_known_libraries() -> None:
    assert package_for("libpython3.11.so.1.0") == "libpython3.11"
    assert package_for("libpython3.13.so.1.0") == "libpython3.13"
    assert package_for("libpq.so.5") == "libpq5"
    assert package_for("libcurl.so.4") == "libcurl4"
    assert package_for("libxml2.so.2") == "libxml2"
    assert package_for("libyaml-0.so.2") == "libyaml-0-2"
    assert package_for("libunknown.so.7") is None


def test_parse_env_vars() -> None:
    assert parse_env_vars(["A=1", "B_2=x=y", "EMPTY="]) == {"A": "1", "B_2": "x=y", "EMPTY": ""}
    for bad in ("NOVALUE", "=1", "1A=2", "A-B=1"):
        with pytest.raises(ConfigError, match="expected KEY=VALUE"):
            parse_env_vars([bad])


def test_parse_probe_takes_the_marker_line_among_app_output() -> None:
    assert parse_probe('app printed {"x": 1}\nvenvship-verify: {"ok": true}\nmore noise\n') == {"ok": True}
    assert parse_probe("Traceback ...\n") is None


def _data(**overrides: Any) -> dict[str, Any]:
    lock = lockfile.read(EXAMPLE / "requirements/main.txt", "main")
    assert lock is not None
    data: dict[str, Any] = {
        "prefix": "/app", "python": "3.11.2", "uid": 10001, "compilers": [],
        "dists": {**lock.versions, "hello-app": "1.2.0"}, "requires": {},
        "markers": {"python_version": "3.11", "sys_platform": "linux", "platform_machine": "x86_64",
                    "python_full_version": "3.11.2", "implementation_name": "cpython",
                    "platform_system": "Linux", "os_name": "posix", "platform_python_implementation": "CPython"},
        "entry_points": [{"name": "hello-app", "value": "hello_app.__main__:main", "error": None}],
        "commands": [{"argv0": "/app/bin/hello-app", "path": "/app/bin/hello-app",
                      "entry_point": {"name": "hello-app", "dist": "hello-app",
                                      "value": "hello_app.__main__:main", "error": None}}],
        "imports": {"hello_app": None}, "targets": [],
        "elf": {"files": 3, "method": "loader", "missing": []},
    }
    data.update(overrides)
    return data


def _settings(tmp_path: Path, tool: str = "") -> Any:
    project = copy_example_to(tmp_path / "hello-app")
    if tool:
        with (project / "pyproject.toml").open("a") as fh:
            fh.write(tool)
    return load_settings(project, environ={})


def test_a_healthy_report_has_no_problems(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    lock = expected_lock(settings, discover(settings))
    python = lock.header.get("python", "").split(" ")[-1]
    assert verify_report(_data(python=python), settings, lock) == []


def test_each_new_failure_is_named(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    lock = expected_lock(settings, discover(settings))
    data = _data(
        python=lock.header.get("python", "").split(" ")[-1],
        entry_points=[{"name": "hello-app", "value": "hello_app.__main__:main", "error": None},
                      {"name": "broken", "value": "hello_app.nothere:main",
                       "error": "ModuleNotFoundError: No module named 'hello_app.nothere'"}],
        commands=[{"argv0": "no-such-server", "path": None, "entry_point": None}],
        targets=[{"spec": "app:app", "label": "gunicorn app:app", "main": False,
                  "error": "ModuleNotFoundError: No module named 'app'"}],
        imports={"hello_app": None, "hello_app.settings": "RuntimeError: DATABASE_URL is not set"},
        elf={"files": 2, "method": "loader", "missing": [
            {"file": "lib/python3.11/site-packages/x.so", "library": "libyaml-0.so.2"},
            {"file": "bin/uwsgi", "library": "libpython3.11.so.1.0"},
            {"file": "lib/y.so", "library": "libodd.so.1"},
            {"file": "lib/z.so", "library": "version `GLIBC_2.99' not found"},
            {"file": "lib/gpu.so", "library": "libcuda.so.1"}]},  # the NVIDIA runtime mounts it
    )
    problems = verify_report(data, settings, lock)
    assert problems == [
        "console script broken = hello_app.nothere:main: ModuleNotFoundError: No module named 'hello_app.nothere'",
        "the image's command runs 'no-such-server', which is not in the image (not an executable file, nor on PATH)",
        "the image's command 'gunicorn app:app': ModuleNotFoundError: No module named 'app'",
        "'import hello_app.settings' fails: RuntimeError: DATABASE_URL is not set",
        "lib/python3.11/site-packages/x.so needs libyaml-0.so.2, which is not in the runtime image "
        "(add libyaml-0-2 to runtime-packages)",
        "bin/uwsgi needs libpython3.11.so.1.0, which is not in the runtime image (add libpython3.11 to runtime-packages)",
        "lib/y.so needs libodd.so.1, which is not in the runtime image "
        "(add the Debian package that ships it to runtime-packages)",
        "lib/z.so: version `GLIBC_2.99' not found in the runtime image",
    ]


def test_a_broken_command_script_is_named_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    lock = expected_lock(settings, discover(settings))
    error = "AttributeError: module 'hello_app.__main__' has no attribute 'main'"
    data = _data(python=lock.header.get("python", "").split(" ")[-1],
                 entry_points=[{"name": "hello-app", "value": "hello_app.__main__:main", "error": error}])
    data["commands"][0]["entry_point"]["error"] = error
    assert verify_report(data, settings, lock) == [f"console script hello-app = hello_app.__main__:main: {error}"]
    data["entry_points"] = []  # a dependency's script as the command (gunicorn's, say)
    assert verify_report(data, settings, lock) == [
        f"the image's command hello-app = hello_app.__main__:main (hello-app): {error}"]


def test_the_whole_layering_chain_is_expected(tmp_path: Path) -> None:
    """An image environment layered on another is compared with both locks together."""
    settings = _settings(tmp_path)
    envs = discover(settings)
    dev = expected_lock(settings, envs, "dev")
    main = expected_lock(settings, envs, "main")
    assert envs.chain("dev") == ["main", "dev"]
    assert set(main.pins) < set(dev.pins)
    dev_only = sorted(set(dev.pins) - set(main.pins))[0]
    data = _data(python=main.header.get("python", "").split(" ")[-1])
    problems = verify_report(data, settings, dev)
    assert f"missing: {dev_only}=={dev.pins[dev_only].version}" in problems
    (settings.requirements_path / "main.txt").unlink()
    with pytest.raises(VerifyError, match=r"requirements/main.txt is missing"):
        expected_lock(settings, envs, "dev")


def test_app_module_is_a_string_or_a_list(tmp_path: Path) -> None:
    one = load_settings(_settings(tmp_path).project_dir, environ={})
    assert one.app_modules == ("hello_app",)
    project = one.project_dir
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text.replace('app-module = "hello_app"',
                                                         'app-module = ["hello_app", "hello_app.__main__"]'))
    many = load_settings(project, environ={})
    assert many.app_modules == ("hello_app", "hello_app.__main__")
    config = probe_config(many, ["gunicorn", "hello_app:create_app()"])
    assert config["modules"] == ["hello_app", "hello_app.__main__"]
    assert config["targets"] == [{"spec": "hello_app:create_app()", "label": "gunicorn hello_app:create_app()",
                                  "main": False, "file": False}]
    (project / "pyproject.toml").write_text(text.replace('app-module = "hello_app"\n', ""))
    assert probe_config(load_settings(project, environ={}), [])["modules"] is None  # the probe's default


# ---- the probe's own functions, on this host's files ----------------------------------------
def test_probe_reads_elf_needed_entries_and_finds_them() -> None:
    probe = probe_module()
    import _ssl

    import markupsafe._speedups  # jinja2's, an extension module wheel

    candidates = [Path(m.__file__) for m in (_ssl, markupsafe._speedups) if getattr(m, "__file__", None)]
    info = probe.elf_info(str(candidates[0]))
    assert info is not None
    needed, _, _ = info
    assert any(lib.startswith("libc.so") for lib in needed) or needed, needed
    assert probe.missing_by_reading(str(candidates[0]), info, probe.search_dirs()) == []
    fake = (["libvenvship-absent.so.9", *needed], info[1], info[2])
    assert probe.missing_by_reading(str(candidates[0]), fake, probe.search_dirs()) == ["libvenvship-absent.so.9"]
    assert probe.elf_info(__file__) is None  # not ELF


def test_probe_finds_its_own_interpreters_loader() -> None:
    probe = probe_module()
    info = probe.elf_info(str(Path(sys.executable).resolve()))
    assert info is not None and info[2] and Path(info[2]).name.startswith("ld-"), info


def test_probe_resolves_targets_without_calling_factories() -> None:
    probe = probe_module()
    assert probe.resolve("json:dumps") is None
    assert probe.resolve("json:loads()") is None  # a factory is looked up, not called
    assert probe.resolve("os.path:join[extra]") is None
    assert probe.resolve("json:nothere") == "module 'json' has no attribute 'nothere'"
    assert probe.resolve("venvship_no_such_module").startswith("ModuleNotFoundError: ")
    assert probe.runnable("json") == "'json' is a package without __main__: 'python -m' cannot run it"
    assert probe.runnable("venvship") is None


# ---- runtime settings: env, healthcheck, stop-signal -------------------------------------------
def test_runtime_settings_parse_and_render(tmp_path: Path) -> None:
    from venvship.render import render_dockerfile
    from venvship.settings import Healthcheck

    settings = _settings(tmp_path, '\nstop-signal = "SIGQUIT"\nhealthcheck = {http = "8000/healthz"}\n'
                                   '[tool.venvship.env]\nAPP_MODE = "production"\nQUOTED = \'a "b" $c\'\n')
    assert settings.runtime.env == {"APP_MODE": "production", "QUOTED": 'a "b" $c'}
    assert settings.runtime.healthcheck == Healthcheck(http="8000/healthz")
    text = render_dockerfile(settings, discover(settings))
    assert 'ENV APP_MODE="production" \\\n    QUOTED="a \\"b\\" \\$c"\n' in text
    assert "STOPSIGNAL SIGQUIT\n" in text
    assert ("HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --start-interval=1s --retries=3 \\\n"
            '    CMD ["/app/bin/python", "-c", "import urllib.request as u; '
            'u.urlopen(\\"http://127.0.0.1:8000/healthz\\", timeout=4)"]\n') in text


@pytest.mark.parametrize(("value", "argv"), [
    ('"pg_isready -q"', ["pg_isready", "-q"]),
    ('["/app/bin/hello-app", "--once"]', ["/app/bin/hello-app", "--once"]),
    ('{http = "9000"}', ["/app/bin/python", "-c", 'import urllib.request as u; u.urlopen("http://127.0.0.1:9000/", timeout=4)']),
])
def test_healthcheck_forms(tmp_path: Path, value: str, argv: list[str]) -> None:
    settings = _settings(tmp_path, f"\nhealthcheck = {value}\n")
    assert settings.runtime.healthcheck is not None and settings.runtime.healthcheck.argv(settings.image.venv_path) == argv


def test_runtime_settings_from_the_environment(tmp_path: Path) -> None:
    from venvship.settings import Healthcheck

    project = _settings(tmp_path).project_dir
    settings = load_settings(project, environ={"VENVSHIP_ENV": "A=1,B=two", "VENVSHIP_HEALTHCHECK": "http=80/up",
                                               "VENVSHIP_STOP_SIGNAL": "SIGTERM"})
    assert settings.runtime.env == {"A": "1", "B": "two"}
    assert settings.runtime.healthcheck == Healthcheck(http="80/up")
    assert settings.runtime.stop_signal == "SIGTERM"


@pytest.mark.parametrize(("tool", "message"), [
    ('healthcheck = {http = "port/x"}', 'healthcheck must be a command, or a table {http = "PORT/PATH"}'),
    ('healthcheck = {url = "8000/"}', 'healthcheck must be a command, or a table {http = "PORT/PATH"}'),
    ("healthcheck = []", 'healthcheck must be a command, or a table {http = "PORT/PATH"}'),
    ('stop-signal = "QUIT NOW"', "stop-signal must be a signal name such as SIGQUIT"),
    ('env = {"BAD-NAME" = "x"}', "env must be a table of KEY = 'value'"),
    ("env = {A = 1}", "env must be a table of strings"),
])
def test_runtime_settings_are_validated(tmp_path: Path, tool: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _settings(tmp_path, f"\n{tool}\n")


def test_a_missing_program_on_the_minimal_runtime_names_runtime_programs(tmp_path: Path) -> None:
    """runtime-image = "minimal" has no shell: a command naming sh fails verify by name, with the fix."""
    settings = _settings(tmp_path, 'runtime-image = "minimal"\n')
    lock = expected_lock(settings, discover(settings))
    data = _data(commands=[{"argv0": "sh", "path": None, "entry_point": None}])
    assert verify_report(data, settings, lock) == [
        "the image's command runs 'sh', which is not in the image (not an executable file, nor on PATH; "
        "runtime-image = \"minimal\" has no shell or tools: add 'sh' to runtime-programs)"]


def test_a_pass_is_kept_per_image_id_and_everything_the_checks_read(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A no-op build verifies the same image id again: the kept pass is found only when the
    image id, settings, locks, probe configuration and variables are all the same."""
    from dataclasses import replace

    from venvship.ops.verify import expected_lock, passed_file, probe_config

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project = copy_example_to(tmp_path / "p")
    settings = load_settings(project, environ={})
    lock = expected_lock(settings, discover(settings))
    config = probe_config(settings, ["hello-app"])
    image = "sha256:" + "1" * 64
    path = passed_file(image, settings, lock, config, {})
    assert path is not None and path.parent == tmp_path / "cache" / "venvship" / "verified"
    assert passed_file(image, load_settings(project, environ={}), lock, config, {}) == path  # stable
    others = [
        passed_file("sha256:" + "2" * 64, settings, lock, config, {}),
        passed_file(image, replace(settings, project_name="other"), lock, config, {}),
        passed_file(image, settings, lockfile.Lock("main", lock.header, lock.pins, lock.body + "x==1\n"), config, {}),
        passed_file(image, settings, lock, {**config, "elf": "off"}, {}),
        passed_file(image, settings, lock, config, {"A": "1"}),
    ]
    assert path not in others and len(set(others)) == len(others)
    assert passed_file("hello-app:latest", settings, lock, config, {}) is None  # not an id: never kept
