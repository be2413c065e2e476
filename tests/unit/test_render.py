"""Golden files: the rendered Dockerfile for each example configuration, byte for byte.

Regenerate after an intended template change: pytest tests/unit/test_render.py --update-golden
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, copy_example_to
from venvship.environments import discover
from venvship.errors import ConfigError
from venvship.render import one_line_requirements, printf_file, render_dockerfile
from venvship.settings import Healthcheck, load_settings

GOLDEN = ROOT / "tests" / "golden"

# The golden files are what 'venvship dockerfile' prints for users to commit; this one is what venvship
# itself builds with: the same plus the lock and export stages (they need venvship's named contexts).
WITH_VENVSHIP_STAGES = "hello-app-with-lock-export"


CONFIGS = {
    "hello-app": {},
    "hello-app-opt-venv": {"venv_path": "/opt/venvs/hello-app", "runtime_image": "venvship-local/python:3.11-bookworm"},
    "hello-app-compiled": {"build_packages": ("gcc", "libc6-dev", "python3-dev"), "allow_sdist": ("markupsafe",),
                           "runtime_packages": ("libpq5",), "command": ("hello-app", "--port", "9000")},
    "hello-app-pip-tools": {"resolver": "pip-tools", "base_image": "venvship-local/python:3.9-bullseye"},
    "hello-app-no-test-env": {"test_envs": ()},
    "hello-app-source-tree": {"package": False, "command": ("gunicorn", "hello_app:app"),
                              "build_commands": ("python -m hello_app --collect", "ls -l")},
    "hello-app-healthcheck": {"healthcheck": Healthcheck(http="8000/healthz"), "stop_signal": "SIGINT",
                              "env": {"APP_MODE": "production", "GREETING": 'say "hi" to $USER'}},
    WITH_VENVSHIP_STAGES: {},
    "hello-app-minimal": {"runtime_image": "minimal", "runtime_packages": ("libpq5",),
                          "runtime_programs": ("sh",), "minimal_keep_modules": ("readline",),
                          "healthcheck": Healthcheck(http="8000/healthz")},
}


def render(name: str, project: Path) -> str:
    """The example project's Dockerfile with the settings of configuration NAME."""
    settings = load_settings(project, CONFIGS[name], environ={})
    return render_dockerfile(settings, discover(settings), committed=name != WITH_VENVSHIP_STAGES)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_golden(name: str, project: Path, request: pytest.FixtureRequest) -> None:
    text = render(name, project)
    golden = GOLDEN / f"{name}.Dockerfile"
    if request.config.getoption("--update-golden"):
        golden.write_text(text)
    assert text == golden.read_text(), f"{golden.name} differs; review, then rerun with --update-golden"
    lines = text.splitlines()
    dangling = [n for n, (line, after) in enumerate(zip(lines, lines[1:]), 1)
                if line.endswith("\\") and not after.strip()]
    assert dangling == [], f"continuation into an empty line (BuildKit warns) at lines {dangling}"


def test_rendering_is_deterministic(project: Path, tmp_path: Path) -> None:
    assert render("hello-app", project) == render("hello-app", copy_example_to(tmp_path / "b" / "hello-app"))


def test_user_block_override(project: Path) -> None:
    templates = project / ".venvship" / "templates"
    templates.mkdir(parents=True)
    (templates / "Dockerfile.j2").write_text(
        '{% extends "venvship/Dockerfile.j2" %}\n{% block runtime %}{{ super() }}\nHEALTHCHECK CMD ["true"]{% endblock %}\n'
    )
    settings = load_settings(project, environ={})
    text = render_dockerfile(settings, discover(settings))
    assert text.rstrip().endswith('HEALTHCHECK CMD ["true"]')
    assert "FROM venv-base AS build" in text


def test_undefined_template_variable_is_a_clear_error(project: Path) -> None:
    templates = project / ".venvship" / "templates"
    templates.mkdir(parents=True)
    (templates / "Dockerfile.j2").write_text("FROM {{ no_such_thing }}\n")
    settings = load_settings(project, environ={})
    with pytest.raises(ConfigError, match="'no_such_thing' is undefined"):
        render_dockerfile(settings, discover(settings))


def test_the_rendered_dockerfile_is_kept_under_everything_it_depends_on(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A no-op build reuses the last rendering (no Jinja import, no template compile); any change
    of a value, a template file (the project's own included) or venvship renders it anew."""
    import sys

    from venvship.render import rendered_file

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    settings = load_settings(project, environ={})
    envs = discover(settings)
    text = render_dockerfile(settings, envs)
    kept = list((tmp_path / "cache" / "venvship" / "dockerfiles").iterdir())
    assert [p.read_text() for p in kept] == [text]
    kept[0].write_text("FROM kept\n")  # the kept text is what comes back, and Jinja is not loaded for it
    monkeypatch.delitem(sys.modules, "jinja2", raising=False)
    assert render_dockerfile(settings, envs) == "FROM kept\n"
    assert "jinja2" not in sys.modules
    assert render_dockerfile(settings, envs, committed=True) != "FROM kept\n"  # other values: another key
    other = load_settings(project, {"venv_path": "/opt/venv"}, environ={})
    assert "/opt/venv" in render_dockerfile(other, discover(other))
    templates = project / ".venvship" / "templates"  # a project template: another key
    templates.mkdir(parents=True)
    (templates / "extra.j2").write_text("{# not used by the Dockerfile, still part of the key #}\n")
    assert render_dockerfile(settings, envs) == text
    assert rendered_file(settings, {"venvship_stages": object()}) is None  # not plain data: never kept


def test_a_rendered_script_is_kept_under_everything_it_depends_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """lock.sh is rendered for every 'venvship lock': the same values give the kept text without
    Jinja; other values or another script render anew."""
    import sys

    from venvship import resources
    from venvship.render import render_script

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    values = {"comment": "c", "exports": ["export UV_HTTP_TIMEOUT=5"]}
    text = render_script(resources.LOCK_PREAMBLE, **values)
    assert "export UV_HTTP_TIMEOUT=5" in text
    kept = list((tmp_path / "cache" / "venvship" / "scripts").iterdir())
    assert [p.read_text() for p in kept] == [text]
    kept[0].write_text("# kept\n")
    monkeypatch.delitem(sys.modules, "jinja2", raising=False)
    assert render_script(resources.LOCK_PREAMBLE, **values) == "# kept\n"
    assert "jinja2" not in sys.modules
    other = render_script(resources.LOCK_PREAMBLE, **{**values, "exports": []})
    assert other != "# kept\n" and "UV_HTTP_TIMEOUT" not in other


def test_printf_file_and_requirement_lines() -> None:
    text = one_line_requirements("a==1 \\\n    --hash=sha256:x ; python_version < '3.10'\n# c\nb==2 --hash=sha256:y\n")
    assert text == 'a==1 --hash=sha256:x ; python_version < "3.10"\nb==2 --hash=sha256:y\n'
    assert printf_file("x\ny\n", "/f") == "printf '%s\\n' \\\n        'x' \\\n        'y' \\\n        > /f"
    with pytest.raises(ConfigError):
        printf_file("it's\n", "/f")


def test_the_app_build_step_gets_no_secrets_and_no_network_settings(project: Path) -> None:
    """The app's own build backend runs offline: neither the CA bundle nor index credentials are
    mounted into that step (and the runtime stage gets none either)."""
    text = render("hello-app", project)
    source = text[text.index("FROM base AS app-source\n"):text.index("FROM venv-base AS build\n")]
    build = text[text.index("FROM venv-base AS build\n"):text.index("FROM deps AS test-deps")]
    runtime = text[text.index("AS runtime-base\n"):]
    assert "--mount=type=bind,from=app-source,source=/opt/venvship/src,target=/opt/venvship/src \\" in build
    for stage in (source, build, runtime):
        assert "type=secret" not in stage and "SSL_CERT_FILE" not in stage
    assert "--no-index" in build


def test_the_app_builds_from_the_context_less_the_lock_files_mounted_read_only(project: Path) -> None:
    """A dependency bump changes only the files 'venvship lock' writes: the app's wheel is built from
    app-source (the context without them), mounted read-only, so BuildKit keys the build step on
    that content and a bump does not rebuild the app (test_layer_groups shows it on an engine)."""
    text = render("hello-app", project)
    source = text[text.index("FROM base AS app-source\n"):text.index("FROM venv-base AS build\n")]
    build = text[text.index("FROM venv-base AS build\n"):text.index("FROM deps AS test-deps")]
    assert "requirements/*.txt requirements/wheel-sizes*.list" in source.replace("/opt/venvship/src/", "")
    assert "venvship lock/ }" in source  # only files with venvship's lock header go
    mounts = re.findall(r"--mount=\S+", build)
    assert mounts and all(",rw" not in m for m in mounts)  # read-only: keyed on content
    assert "--mount=type=bind,target=" not in build  # not the whole context


def test_every_resource_in_the_index_exists() -> None:
    """resources.py is the one index of templates, scripts and tool locks: each name resolves."""
    from venvship import resources

    names = {k: v for k, v in vars(resources).items() if k.isupper() and isinstance(v, str)}
    tools = {k: v for k, v in names.items() if k.startswith("TOOLS_")}
    assert tools and all(resources.tool_lock(v).strip() for v in tools.values())
    files = {k: v for k, v in names.items() if k not in tools}
    assert {"DOCKERFILE", "LOCK_SH", "MINIMAL_ROOTFS", "BUILD_WHEEL"} <= set(files)
    assert all(resources.path(v).is_file() for v in files.values()), files
    listed = set(files.values())
    shipped = {p.name for p in resources.templates_dir().iterdir() if p.is_file()}
    assert shipped <= listed, f"templates/ files not indexed in resources.py: {sorted(shipped - listed)}"


def test_the_committed_dockerfile_is_venvships_without_the_lock_and_export_stages(project: Path) -> None:
    committed = render("hello-app", project)
    full = render(WITH_VENVSHIP_STAGES, project)
    stages = {line.split(" AS ")[1] for line in full.splitlines() if line.startswith("FROM ") and " AS " in line}
    assert {"lock", "lock-export", "export-base", "export-tar", "export-deb"} <= stages
    for stage in ("lock", "lock-export", "export-base", "export-tar", "export-deb"):
        assert f" AS {stage}\n" not in committed
    matcher = difflib.SequenceMatcher(a=committed.splitlines(), b=full.splitlines(), autojunk=False)
    assert {op for op, *_ in matcher.get_opcodes()} == {"equal", "insert"}  # the same file, stages added


@pytest.mark.parametrize(("pyproject", "reads"), [
    ('[project]\nname = "app"\nversion = "1"\n', True),
    # Poetry 2: the name in [project], [tool.poetry] for the rest: cyclonedx-py reads [tool.poetry]
    # first and failed with "CDX > 'name'" (CycloneDX/cyclonedx-python#839; the poetry corpus app).
    ('[project]\nname = "app"\nversion = "1"\n[tool.poetry]\nrequires-poetry = ">=2.0"\n', False),
    ('[tool.poetry]\nname = "app"\nversion = "1"\n', True),  # Poetry 1
    ('[project]\nname = "app"\n[tool.poetry]\n', True),  # an empty [tool.poetry] is not read
    ('[build-system]\nrequires = ["setuptools"]\n', False),  # setup.py: no subject in pyproject
])
def test_the_sbom_takes_its_subject_from_pyproject_only_where_cyclonedx_py_can_read_it(
    pyproject: str, reads: bool, tmp_path: Path
) -> None:
    from venvship.render import sbom_reads_pyproject
    from venvship.settings import read_pyproject

    (tmp_path / "pyproject.toml").write_text(pyproject)
    assert sbom_reads_pyproject(read_pyproject(tmp_path)) is reads


def test_the_lock_stage_mounts_its_inputs_and_no_ca_secret(project: Path) -> None:
    """Issue 17: a step that mounts a secret starts about 0.9 s late, so the lock step gets the CA
    bundle with its inputs (bind-mounted, never copied into a layer) and mounts only the index
    credentials as a secret (the tools stage below it still mounts the CA secret when it runs)."""
    from venvship.ops.lock import LOCK_CA

    text = render(WITH_VENVSHIP_STAGES, project)
    stage = text[text.index("FROM tools AS lock\n"):text.index("FROM scratch AS lock-export")]
    assert "--mount=type=bind,from=lock-inputs,target=/venvship/in,rw" in stage
    assert "COPY" not in stage and "venvship_ca" not in stage
    assert "--mount=type=secret,id=venvship_netrc,target=/root/.netrc,required=false" in stage
    tools = text[text.index("FROM base AS tools\n"):text.index("FROM tools AS lock\n")]
    assert "id=venvship_ca" in tools
    preamble = (ROOT / "templates" / "lock-preamble.sh.j2").read_text()
    assert f'export SSL_CERT_FILE="$IN/{LOCK_CA}" PIP_CERT="$IN/{LOCK_CA}"' in preamble

def foreign(project: Path, native: str = "linux/amd64", **overrides: object) -> str:
    """The project's committed Dockerfile for linux/arm64 (platforms amd64 and arm64) on an engine
    whose own platform is ``native``; arm64's locks are amd64's (the same interpreter)."""
    req = project / "requirements"
    for lock in [*req.glob("*.txt"), req / "wheel-sizes.list"]:
        if lock.exists() and lock.name.count(".") == 1:
            stem, ext = lock.name.split(".")
            if not (req / f"{stem}.linux-arm64.{ext}").exists():
                (req / f"{stem}.linux-arm64.{ext}").write_bytes(lock.read_bytes())
    settings = load_settings(project, {"platforms": ("linux/amd64", "linux/arm64"),
                                       "base_images": {"linux/arm64": "venvship-local/python:3.11-bookworm-arm64"},
                                       **overrides}, environ={})
    settings = settings.for_platform("linux/arm64", native)
    return render_dockerfile(settings, discover(settings), committed=True)


def test_a_foreign_platforms_venv_is_installed_on_the_build_platform(project: Path,
                                                                     request: pytest.FixtureRequest) -> None:
    """Golden hello-app-arm64: the arm64 image built on an amd64 engine, its venv installed by uv
    on the build platform (stages cross-*, deps-venv); foreign-install = "emulated", a build
    platform outside the platforms locked for, an sdist, or another interpreter version in the
    build platform's locks keep the install under emulation."""
    text = foreign(project)
    golden = GOLDEN / "hello-app-arm64.Dockerfile"
    if request.config.getoption("--update-golden"):
        golden.write_text(text)
    assert text == golden.read_text(), f"{golden.name} differs; review, then rerun with --update-golden"
    assert "FROM --platform=$BUILDPLATFORM ${BUILD_PLATFORM_IMAGE} AS cross-tools" in text
    assert "ARG BASE_IMAGE=venvship-local/python:3.11-bookworm-arm64\n" in text
    assert "ARG BUILD_PLATFORM_IMAGE=venvship-local/python:3.11-bookworm\n" in text  # amd64's, not base-image's
    assert "FROM cross-build-base AS deps-venv" in text and "COPY --from=deps-venv /app /app" in text
    assert text.count('--python-platform "$(cat /opt/venvship/target/platform)"') == 1

    for emulated in (foreign(project, foreign_install="emulated"), foreign(project, native="linux/riscv64"),
                     foreign(project, allow_sdist=("markupsafe",))):
        assert "cross-" not in emulated and "--python-platform" not in emulated

    # the build platform's locks record another interpreter: under emulation
    req = project / "requirements"
    lock = (req / "main.txt").read_text()
    python = next(line for line in lock.splitlines() if line.startswith("# venvship: python = "))
    (req / "main.txt").write_text(lock.replace(python, "# venvship: python = cpython 3.11.9"))
    assert "cross-" not in foreign(project)


def test_a_foreign_platforms_layer_groups_install_on_the_build_platform_but_an_sdist_group(tmp_path: Path) -> None:
    """big-app allows markupsafe as an sdist: its group is built under emulation, the others not."""
    project = copy_example_to(tmp_path / "big-app", "big-app")
    text = foreign(project)
    groups = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ") and " AS deps-" in line]
    assert groups.count("venv-base") == 1 and groups.count("cross-venv-base") == len(groups) - 1 > 1, groups
    assert "FROM cross-build-base AS cross-venv-base\n" in text and "FROM build-base AS venv-base\n" in text
    assert text.count('--python-platform "$(cat /opt/venvship/target/platform)"') == len(groups) - 1
    emulated = foreign(project, foreign_install="emulated")
    assert "cross-" not in emulated and "--python-platform" not in emulated
    # uv compiles the groups it installs on the build platform; emulated, the bytecode cache does
    assert "compile_cached" not in text and "venvship-pyc" not in text
    assert emulated.count("/opt/venvship/compile_cached.py --cache /root/.cache/venvship-pyc") == len(groups) - 1
