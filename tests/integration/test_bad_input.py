"""Bad input fails loudly and safely: the real CLI, one case per row.

Every case: the documented exit code of its kind, exactly one ``venvship: error:`` line that
says what is wrong (naming the file, key, package or image), no traceback, and not one byte of
the project changed (locks included). The cases in ``NO_ENGINE`` need no Docker engine; the
ones in ``WITH_ENGINE`` run against the real engine, and the resolver cases against the local
private index (tests/integration/localindex.py).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, one_error, run_cli, snapshot
from tests.integration.localindex import IndexServer
from venvship import lockfile
from venvship.errors import EXIT_CODES

NO_DAEMON = {"DOCKER_HOST": "unix:///nonexistent/venvship-test-no-daemon.sock"}
ERROR = "venvship: error: "


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    needle: str  # text the one error line must contain
    mutate: Callable[[Path], object] = lambda project: None
    env: dict[str, str] = field(default_factory=dict)
    detail: str = ""  # more text stderr must hold (e.g. the 'stale:' lines of lock --check)

    def __str__(self) -> str:  # pragma: no cover - pytest ids
        return " ".join(self.args)


# ---- mutations -------------------------------------------------------------------------------
def write(rel: str, text: str) -> Callable[[Path], object]:
    return lambda project: (project / rel).write_text(text)


def write_bytes(rel: str, data: bytes) -> Callable[[Path], object]:
    return lambda project: (project / rel).write_bytes(data)


def settings(extra: str) -> Callable[[Path], object]:
    """Append lines to [tool.venvship] (it is the last table of the example's pyproject)."""
    return lambda project: (project / "pyproject.toml").write_text(
        (project / "pyproject.toml").read_text() + extra + "\n")


def pyproject_is_a_directory(project: Path) -> None:
    (project / "pyproject.toml").unlink()
    (project / "pyproject.toml").mkdir()


def edit_lock(edit: Callable[[str], str], *, keep_header_valid: bool) -> Callable[[Path], object]:
    """Change main.txt's body; with ``keep_header_valid`` its body-sha256 is recomputed, so only
    venvship's pin and hash checks (or the build's own) can notice."""

    def mutate(project: Path) -> None:
        path = project / "requirements/main.txt"
        lock = lockfile.read(path, "main")
        assert lock is not None
        body = edit(lock.body)
        assert body != lock.body, "the edit changed nothing"
        if keep_header_valid:
            path.write_text(lockfile.render("main", dict(lock.header), body))
        else:
            path.write_text(path.read_text().replace(lock.body, body))

    return mutate


def drop_hashes(name: str) -> Callable[[str], str]:
    return lambda body: re.sub(rf"(?m)^({re.escape(name)}==\S+) \\\n(?:\s+--hash=\S+(?: \\)?\n)+", r"\1\n", body)


def flip_first_hash(name: str) -> Callable[[str], str]:
    def edit(body: str) -> str:
        m = re.search(rf"(?m)^{re.escape(name)}==\S+ \\\n\s+--hash=sha256:([0-9a-f]{{64}})", body)
        assert m
        digest = m.group(1)
        flipped = ("0" if digest[0] != "0" else "1") + digest[1:]
        return body[: m.start(1)] + flipped + body[m.end(1):]

    return edit


def strip_header(project: Path) -> None:
    path = project / "requirements/main.txt"
    path.write_text("".join(ln for ln in path.read_text().splitlines(keepends=True) if not ln.startswith("#")))


def make_file(rel: str) -> Callable[[Path], object]:
    return lambda project: (project / rel).write_text("not a venv\n")


def make_non_venv_dir(rel: str) -> Callable[[Path], object]:
    def mutate(project: Path) -> None:
        (project / rel).mkdir()
        (project / rel / "precious.txt").write_text("keep me\n")

    return mutate


NO_ENGINE: dict[str, Case] = {
    # ---- 3: pyproject.toml and its settings
    "pyproject-missing": Case(("envs",), 3, "no pyproject.toml or requirements.txt", lambda p: (
        (p / "pyproject.toml").unlink(), [f.unlink() for f in (p / "requirements").glob("*.in")])),
    "pyproject-unreadable": Case(("lock",), 3, "cannot read", pyproject_is_a_directory),
    "pyproject-not-toml": Case(("lock",), 3, "is not valid TOML", write("pyproject.toml", "[tool.venvship\n")),
    "settings-unknown-key": Case(("envs",), 3, "unknown key 'bogus'", settings("bogus = 1")),
    "settings-misspelled-key": Case(("envs",), 3, "did you mean 'base-image'", settings('base_image = "x"')),
    "settings-unknown-env-key": Case(("envs",), 3, "environments.dev: unknown key 'parent'",
                                     settings('[tool.venvship.environments.dev]\nparent = "main"')),
    "settings-wrong-type": Case(("envs",), 3, "uid must be an integer", settings('uid = "root"')),
    "settings-bad-resolver": Case(("lock",), 3, "resolver must be one of", settings('resolver = "poetry"')),
    "settings-bad-env-var": Case(("lock",), 3, "VENVSHIP_UID must be an integer", env={"VENVSHIP_UID": "ten"}),
    "index-mix-without-strategy": Case(("lock",), 3, "no index-strategy is chosen", settings(
        'index-url = "https://pypi.example.invalid/simple/"\n'
        'extra-index-urls = ["https://other.example.invalid/simple/"]')),
    "venv-path-relative": Case(("dockerfile", "--venv-path", "app"), 3, "venv-path must be an absolute path"),
    "venv-path-relative-env": Case(("build", "--image", "venvship-test/bad:it"), 3,
                                   "venv-path must be an absolute path", env={"VENVSHIP_VENV_PATH": "opt/app"}),
    "venv-path-system-dir": Case(("dockerfile",), 3, "would overwrite a system directory",
                                 settings('venv-path = "/usr"')),
    "build-arg-malformed": Case(("build", "--build-arg", "NOVALUE"), 3, "--build-arg 'NOVALUE': expected KEY=VALUE"),
    # ---- 4: requirement inputs and environments
    "requirement-malformed": Case(("lock",), 4, "requirements/main.in:1: malformed requirement 'flask=>3'",
                                  write("requirements/main.in", "flask=>3\n")),
    "requirement-unclosed-extra": Case(("envs",), 4, "requirements/main.in:2: malformed requirement",
                                       write("requirements/main.in", "flask\nwerkzeug[watchdog\n")),
    "requirement-direct-url": Case(("lock",), 4, "direct URL reference",
                                   write("requirements/main.in", "pkg @ https://example.invalid/pkg-1.0.tar.gz\n")),
    "requirement-option-line": Case(("lock",), 4, "requirements/main.in:2: unsupported option line '-e .'",
                                    write("requirements/main.in", "flask\n-e .\n")),
    "requirement-index-line": Case(("lock",), 4, "unsupported option line '--index-url",
                                   write("requirements/main.in", "--index-url https://example.invalid/simple\nflask\n")),
    "requirement-not-utf8": Case(("envs",), 4, "requirements/main.in is not UTF-8",
                                 write_bytes("requirements/main.in", b"flask\n\xff\xfe\n")),
    "include-cycle": Case(("envs",), 4, "-r include cycle", lambda p: (
        (p / "requirements/main.in").write_text("flask\n-r common.txt\n"),
        (p / "requirements/common.txt").write_text("-r common.txt\n"))),
    "layering-cycle": Case(("lock",), 4, "layering cycle", write("requirements/main.in", "-c dev.txt\nflask\n")),
    "layering-cycle-in-settings": Case(("lock",), 4, "layering cycle",
                                       settings('[tool.venvship.environments.main]\nbase = "dev"')),
    "layering-not-beside": Case(("envs",), 4, "-c must name a lock beside it",
                                write("requirements/dev.in", "-c ../main.txt\npytest\n")),
    "env-reserved-name": Case(("envs",), 4, "'build' is reserved", write("requirements/build.in", "setuptools\n")),
    "env-unknown": Case(("lock", "--env", "prod"), 4, "no environment named 'prod' (known: build, dev, main)"),
    # ---- 7: a layered environment whose base has no lock (needs no engine: planning fails first)
    "base-lock-missing": Case(("lock", "--env", "dev"), 7, "'dev' is layered on 'main', which has no lock yet",
                              lambda p: (p / "requirements/main.txt").unlink()),
    # ---- 8: locks edited by hand (the build refuses them before asking the engine anything)
    "lock-edited-by-hand": Case(("build",), 8, "requirements/main.txt was changed after it was generated",
                                edit_lock(lambda b: b.replace("blinker==1.9.0", "blinker==1.8.2"),
                                          keep_header_valid=False)),
    "lock-hash-altered": Case(("build",), 8, "requirements/main.txt was changed after it was generated",
                              edit_lock(flip_first_hash("blinker"), keep_header_valid=False)),
    "lock-hash-missing": Case(("build", "--allow-stale"), 8, "requirements/main.txt:12: blinker==1.9.0 has no hash",
                              edit_lock(drop_hashes("blinker"), keep_header_valid=True)),
    "lock-unpinned": Case(("build",), 8, "requirements/main.txt:12: 'blinker>=1.9' is not an exact '==' pin",
                          edit_lock(lambda b: b.replace("blinker==1.9.0", "blinker>=1.9"), keep_header_valid=True)),
    "lock-without-header": Case(("build",), 8, "requirements/main.txt has no venvship header", strip_header),
    # ---- 12: image references
    "image-reference-bad": Case(("build", "--image", "Hello App:1.2"), 12, "image reference 'Hello App:1.2' is not valid"),
    "image-reference-bad-verify": Case(("verify", "hello-app:bad tag"), 12, "is not valid"),
    # ---- 10: the engine does not answer
    "daemon-down-lock": Case(("lock",), 10, "the Docker engine does not answer", env=NO_DAEMON),
    "daemon-down-build": Case(("build",), 10, "the Docker engine does not answer", env=NO_DAEMON),
    # ---- 15: a target venv that cannot be one
    "venv-not-writable": Case(("install", "--venv", "/proc/sys/venvship-test-venv"), 15,
                              "cannot create /proc/sys/venvship-test-venv: /proc/sys is not writable"),
    "venv-is-a-file": Case(("install", "--venv", "venv"), 15, "exists and is not a directory", make_file("venv")),
    "venv-is-another-dir": Case(("install", "--venv", "data"), 15, "is a non-empty directory but not a virtual "
                                "environment", make_non_venv_dir("data")),
}


def check_case(case: Case, project: Path, *, cwd: Path | None = None) -> None:
    case.mutate(project)
    before = snapshot(project)
    result = run_cli("--progress", "quiet", *case.args, cwd=cwd or project, env=case.env, timeout=600)
    assert result.returncode == case.code, (result.returncode, result.stderr[-2000:])
    assert case.code in EXIT_CODES
    line = one_error(result.stderr)
    assert case.needle in line, line
    assert case.detail in result.stderr, result.stderr
    assert snapshot(project) == before, "the failed command changed the project"


@pytest.fixture
def hello(copy_example) -> Path:  # type: ignore[no-untyped-def]
    project: Path = copy_example()
    return project


@pytest.mark.parametrize("name", list(NO_ENGINE))
def test_bad_input_without_an_engine(name: str, hello: Path) -> None:
    check_case(NO_ENGINE[name], hello)


def test_the_table_covers_every_kind_of_input_error() -> None:
    """At least 25 cases, and each input-error exit code has its own."""
    assert len(NO_ENGINE) >= 25
    assert {3, 4, 7, 8, 10, 12, 15} <= {c.code for c in NO_ENGINE.values()}


@pytest.mark.parametrize("name", ["requirement-malformed", "settings-unknown-key", "daemon-down-lock"])
def test_debug_shows_the_traceback(name: str, hello: Path) -> None:
    case = NO_ENGINE[name]
    case.mutate(hello)
    result = run_cli("--debug", "--progress", "quiet", *case.args, cwd=hello, env=case.env)
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert case.needle in result.stderr


def test_usage_errors_exit_2_without_a_traceback(hello: Path) -> None:
    before = snapshot(hello)
    for args in (["lock", "--no-such-flag"], ["--progress", "loud", "lock"], ["build", "--target"]):
        result = run_cli(*args, cwd=hello)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert snapshot(hello) == before


# ---- with the engine -------------------------------------------------------------------------
WITH_ENGINE: dict[str, Case] = {
    "base-image-missing": Case(("lock", "--base-image", "venvship-test/no-such-base:1"), 12,
                               "base image 'venvship-test/no-such-base:1' is not present"),
    "runtime-image-missing": Case(("build", "--runtime-image", "venvship-test/no-such-runtime:1"), 12,
                                  "runtime image 'venvship-test/no-such-runtime:1' is not present"),
    "verify-image-missing": Case(("verify", "venvship-test/no-such-image:1"), 12,
                                 "image 'venvship-test/no-such-image:1' is not present"),
    "verify-image-not-venvships": Case(("verify", "venvship-local/python:3.11-bookworm"), 12,
                                       'cannot run /app/bin/python in venvship-local/python:3.11-bookworm: '
                                       'exec: "/app/bin/python": stat /app/bin/python: no such file or directory'),
    "buildkit-unavailable-lock": Case(("lock",), 11, "neither 'docker buildx' nor a BuildKit-capable"),
    "buildkit-unavailable-build": Case(("build",), 11, "neither 'docker buildx' nor a BuildKit-capable"),
    "lock-stale": Case(("build",), 7, "refusing to build from a stale lock: main: inputs changed",
                       write("requirements/main.in", "flask>=3.0\nitsdangerous\n")),
    "lock-missing": Case(("build",), 7, "main: requirements/main.txt is missing",
                         lambda p: (p / "requirements/main.txt").unlink()),
    "check-stale": Case(("lock", "--check"), 7, "1 lock problem(s)",
                        edit_lock(lambda b: b.replace("blinker==1.9.0", "blinker==1.8.2"),
                                  keep_header_valid=False),
                        detail="stale: main: requirements/main.txt was changed after it was generated"),
    "ca-bundle-missing": Case(("lock",), 3, "ca-bundle '/nonexistent/ca.pem' is not a readable file",
                              settings('ca-bundle = "/nonexistent/ca.pem"')),
    "netrc-missing": Case(("lock",), 3, "netrc '/nonexistent/netrc' is not a readable file",
                          settings('netrc = "/nonexistent/netrc"')),
}


@pytest.fixture
def no_buildx(tmp_path: Path) -> dict[str, str]:
    """A docker client configuration without the buildx plugin: the classic builder is all there
    is, and it refuses BuildKit ("the buildx component is missing")."""
    config = tmp_path / "docker-config"
    config.mkdir()
    return {"DOCKER_CONFIG": str(config)}


@pytest.mark.docker
@pytest.mark.parametrize("name", list(WITH_ENGINE))
def test_bad_input_with_the_engine(name: str, hello: Path, no_buildx: dict[str, str]) -> None:
    case = WITH_ENGINE[name]
    if name.startswith("buildkit-unavailable"):
        case = replace(case, env=no_buildx)
    check_case(case, hello)


@pytest.fixture(scope="module")
def private_app(private_index: IndexServer, private_bundle: Path, private_netrc: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test app, locked against the private index once (its tools stage is then cached)."""
    from tests.integration.localindex import make_project

    project = make_project(tmp_path_factory.mktemp("bad-input") / "vsp-app", private_index, private_bundle,
                           netrc=private_netrc)
    result = run_cli("--progress", "quiet", "lock", cwd=project)
    assert result.returncode == 0, result.stderr[-2000:]
    return project


RESOLVER_CASES: dict[str, Case] = {
    "unknown-package": Case(("lock",), 5, "vsp-no-such-package",
                            write("requirements/main.in", "vsp-alpha\nvsp-no-such-package\n")),
    "unsatisfiable-pin": Case(("lock",), 5, "vsp-alpha", write("requirements/main.in", "vsp-alpha==9.9\n")),
    "unsatisfiable-combination": Case(("lock",), 5, "vsp-beta",
                                      write("requirements/main.in", "vsp-alpha==1.0\nvsp-beta<1.0\n")),
    "layered-conflict": Case(("lock",), 6, "'dev' requires vsp-beta<1.0 (requirements/dev.in:2) but 'main' pins "
                             "vsp-beta==1.0", write("requirements/dev.in", "-c main.txt\nvsp-beta<1.0\n")),
}


@pytest.mark.docker
@pytest.mark.parametrize("name", list(RESOLVER_CASES))
def test_resolver_errors_against_the_private_index(name: str, private_app: Path, tmp_path: Path) -> None:
    project = tmp_path / "vsp-app"
    shutil.copytree(private_app, project)
    check_case(RESOLVER_CASES[name], project)


def test_example_is_untouched_by_this_module() -> None:
    """The table mutates copies only (a guard against a case pointing at the real example)."""
    lock = lockfile.read(EXAMPLES / "hello-app/requirements/main.txt", "main")
    assert lock is not None
    lockfile.check_integrity(lock, "examples/hello-app/requirements/main.txt")
