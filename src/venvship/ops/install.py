"""``venvship install`` / ``venvship sync``: locked environments into a virtualenv on this host.

Planning is pure: which locks, whether they were compiled for the target interpreter, and
what to install or (with ``sync``) remove -- a diff of installed against locked, like
pip-tools' ``sync.diff()``. The effects come after: create the venv, ``pip install
--require-hashes --no-deps`` just the missing pins, ``pip uninstall`` the strays, then build
the project from its own hash-checked build lock and install it with ``--no-deps``.

Why pip and not uv: the venv's own pip is always there (no tool to install on a build
server), honours the host's pip configuration, and ``--require-hashes --no-deps`` gives the
same guarantee as the image build: nothing is resolved, every file is hash-checked.

Why not ``pip install .``: build isolation would fetch the build backend unpinned and
unhashed. Instead ``requirements/build.txt`` is installed (hash-checked) into a temporary
directory and the backend's PEP 517/660 hook runs from there with the target interpreter, on
a temporary copy of the project for a regular install (nothing left behind in the tree).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from packaging.markers import Marker
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .. import freshness
from ..environments import BUILD_ENV, EnvironmentSet
from ..errors import (
    INDEX_UNREACHABLE,
    IndexUnavailableError,
    InputError,
    LockIntegrityError,
    StaleLockError,
    VenvError,
)
from ..interpreter import Interpreter, probe
from ..lockfile import Lock, Pin
from ..proc import run_streaming
from ..render import build_backend, builtin_template_dir
from ..settings import Settings, read_pyproject

# Never removed by sync: the installer itself (pip-tools keeps it too).
PROTECTED = frozenset({"pip"})


# ---- interpreters and lock headers (pure) ------------------------------------------------
def compatibility_problems(locks: Mapping[str, Lock], interp: Interpreter) -> list[str]:
    """Every lock compiled for another implementation, Python X.Y or platform than ``interp``."""
    problems: list[str] = []
    for p in freshness.interpreter_problems(locks, interp):
        if p.locked is None:
            problems.append(f"{p.env}: the lock's header does not say which Python it is for")
        elif p.python_differs:
            problems.append(f"{p.env}: compiled for {p.locked.implementation} {p.locked.python}, "
                            f"the target interpreter is {interp.implementation} {interp.python}")
        else:
            problems.append(f"{p.env}: compiled for {p.locked.sys_platform} {p.locked.machine}, the "
                            f"target interpreter runs on {interp.sys_platform} {interp.machine}")
    return problems


def interpreter_candidates(python: str | None, locks: Mapping[str, Lock]) -> list[str]:
    """Interpreters to create a venv with, best first: ``--python``, else ``pythonX.Y`` for
    the locks' Python, then ``python3``, then the one running venvship."""
    if python:
        return [python]
    out: list[str] = []
    for lock in locks.values():
        target = Interpreter.from_header(lock.header)
        if target is not None and target.implementation == "cpython":
            out.append(f"python{target.minor}")
            break
    out += ["python3", sys.executable]
    return list(dict.fromkeys(out))


# ---- the plan (pure) -----------------------------------------------------------------------
def wanted_pins(locks: Mapping[str, Lock], markers: Mapping[str, str]) -> dict[str, Pin]:
    """The union of the locks' pins that apply to this interpreter. Refuses disagreeing pins."""
    wanted: dict[str, Pin] = {}
    origin: dict[str, str] = {}
    for env, lock in locks.items():
        for name, pin in lock.pins.items():
            if pin.marker and not Marker(pin.marker).evaluate({**markers, "extra": ""}):
                continue
            if name in wanted and wanted[name].version != pin.version:
                raise InputError(
                    f"{origin[name]} pins {name}=={wanted[name].version} but {env} pins "
                    f"{name}=={pin.version}: these environments cannot share one venv",
                )
            wanted.setdefault(name, pin)
            origin.setdefault(name, env)
    return wanted


def same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


@dataclass(frozen=True)
class SyncPlan:
    install: tuple[Pin, ...] = ()  # missing, or installed at another version
    uninstall: tuple[tuple[str, str], ...] = ()  # (name, installed version), sync only
    satisfied: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.install or self.uninstall)

    def lines(self, installed: Mapping[str, str]) -> list[str]:
        out = []
        for pin in self.install:
            have = installed.get(pin.name)
            out.append(f"  {'~' if have else '+'} {pin.name} "
                       + (f"{have} -> {pin.version}" if have else pin.version))
        out += [f"  - {name} {version}" for name, version in self.uninstall]
        return out


def diff(wanted: Mapping[str, Pin], installed: Mapping[str, str], *, sync: bool,
         keep: Iterable[str] = ()) -> SyncPlan:
    """What to install and remove so that ``installed`` matches ``wanted``."""
    keep_set = PROTECTED | {canonicalize_name(k) for k in keep}
    install = tuple(pin for name, pin in sorted(wanted.items())
                    if name not in installed or not same_version(installed[name], pin.version))
    satisfied = tuple(sorted(n for n in wanted if n not in {p.name for p in install}))
    uninstall: tuple[tuple[str, str], ...] = ()
    if sync:
        uninstall = tuple((n, v) for n, v in sorted(installed.items())
                          if n not in wanted and n not in keep_set)
    return SyncPlan(install, uninstall, satisfied)


def requirements_text(pins: Iterable[Pin]) -> str:
    """A hashed requirements file for exactly these pins."""
    out = []
    for pin in pins:
        line = f"{pin.name}=={pin.version}"
        if pin.marker:
            line += f" ; {pin.marker}"
        out.append(" \\\n    ".join([line, *(f"--hash={h}" for h in pin.hashes)]) + "\n")
    return "".join(out)


def pip_options(settings: Settings) -> list[str]:
    """Index and format options shared by every pip call (the locks were compiled binary-only)."""
    opts = ["--disable-pip-version-check", "--no-input", *settings.binary_args(), *settings.index_args("pip")]
    if settings.index.ca_bundle not in ("auto", "none"):
        ca = settings.index.ca_bundle_path()
        if ca is not None:
            opts += ["--cert", str(ca)]
    return opts


def pip_install_argv(python: str, settings: Settings, requirements: Path,
                     target: Path | None = None) -> list[str]:
    argv = [python, "-m", "pip", "install", "--require-hashes", "--no-deps", *pip_options(settings)]
    if target is not None:
        argv += ["--target", str(target)]
    return [*argv, "-r", str(requirements)]


def lock_names(envs: EnvironmentSet, selected: Sequence[str]) -> list[str]:
    """The chosen environments and every one they are layered on, bases first."""
    return envs.closure(*(selected or ("main",)))


# ---- effects ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class InstallOptions:
    venv: Path
    envs: tuple[str, ...] = ("main",)
    editable: bool = False
    sync: bool = False
    force: bool = False
    python: str | None = None
    allow_stale: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class InstallResult:
    venv: Path
    interpreter: Interpreter
    locks: tuple[str, ...]
    plan: SyncPlan
    project: str | None  # e.g. "hello-app 1.2.0 (editable)"
    seconds: float
    installed_before: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def resolve_venv(path: Path, cwd: Path | None = None) -> Path:
    """An absolute venv path that is a venv, or can become one. Relative paths are taken from
    the current directory."""
    venv = Path(os.path.abspath(Path(cwd or Path.cwd()) / path.expanduser()))
    if venv.exists():
        if not venv.is_dir():
            raise VenvError(f"{venv} exists and is not a directory")
        if not (venv / "pyvenv.cfg").exists() and any(venv.iterdir()):
            raise VenvError(f"{venv} is a non-empty directory but not a virtual environment",
                            hint="choose another --venv path or remove the directory")
        if not os.access(venv, os.W_OK):
            raise VenvError(f"{venv} is not writable")
        return venv
    parent = venv.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise VenvError(f"cannot create {venv}: {parent} is not writable")
    return venv


def load_locks(settings: Settings, envs: EnvironmentSet, names: Sequence[str], *,
               allow_stale: bool) -> dict[str, Lock]:
    """Read and check every lock: present, untouched since generated, and (unless
    ``allow_stale``) compiled from the current inputs."""
    verdict = freshness.judge(settings, envs, names)
    fatal = (freshness.Missing, freshness.Damaged) + (() if allow_stale else (freshness.InputsChanged,))
    problem = verdict.first(*fatal)
    path = freshness.lock_path(settings, problem.env) if problem else ""
    if isinstance(problem, freshness.Missing):
        raise StaleLockError(f"{path} is missing", hint="run 'venvship lock'")
    if isinstance(problem, freshness.Damaged):
        raise problem.error
    if isinstance(problem, freshness.InputsChanged):
        raise StaleLockError(f"{problem.env}: inputs changed since {path} was compiled",
                             hint="run 'venvship lock' (or pass --allow-stale)")
    return dict(verdict.locks)


def run(argv: Sequence[str], what: str, *, stream: IO[str] | None = None,
        env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a tool; its output goes to ``stream`` and is kept for the error message."""
    try:
        rc, out = run_streaming(argv, stream=stream, env=env, cwd=cwd)
    except OSError as exc:
        raise VenvError(f"{what}: cannot run {argv[0]}: {exc.strerror}") from None
    if rc != 0:
        tail = " ".join(ln.strip() for ln in out.strip().splitlines()[-6:])[-600:]
        if INDEX_UNREACHABLE.search(out):
            raise IndexUnavailableError(f"{what}: the package index is unavailable ({tail})")
        if "DO NOT MATCH THE HASHES" in out:
            raise LockIntegrityError(f"{what}: a downloaded file does not match the lock's hashes "
                                     f"({tail})")
        raise VenvError(f"{what} failed (exit {rc}): {tail}")
    return out


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def choose_interpreter(venv: Path, python: str | None, locks: Mapping[str, Lock]) -> Interpreter:
    """The target: the existing venv's interpreter, else the best candidate that runs."""
    if (venv / "pyvenv.cfg").exists():
        current = probe(str(venv_python(venv)))
        if current is None:
            raise VenvError(f"{venv} is a virtual environment whose interpreter does not run",
                            hint="remove it; venvship install creates a fresh one")
        if python:
            wanted = probe(python)
            if wanted is None:
                raise VenvError(f"--python {python!r} does not run")
            if wanted.series != current.series:
                raise VenvError(
                    f"{venv} has {current.describe()}, --python {python} is {wanted.describe()}",
                    hint="remove the venv to recreate it, or drop --python",
                )
        return current
    candidates = interpreter_candidates(python, locks)
    for command in candidates:
        found = probe(command)
        if found is not None:
            return found
    if python:
        raise VenvError(f"--python {python!r} is not a Python interpreter that runs")
    raise VenvError("no Python interpreter found (tried " + ", ".join(candidates) + ")",
                    hint="pass --python PATH")


def create_venv(interp: Interpreter, venv: Path, stream: IO[str] | None) -> Interpreter:
    run([interp.executable, "-m", "venv", str(venv)], f"creating {venv}", stream=stream)
    created = probe(str(venv_python(venv)))
    if created is None:
        raise VenvError(f"the venv at {venv} was created but its interpreter does not run")
    return created


def install_pins(python: str, settings: Settings, pins: Sequence[Pin], workdir: Path,
                 stream: IO[str] | None, target: Path | None = None, what: str = "") -> None:
    if not pins:
        return
    fd, name = tempfile.mkstemp(prefix="venvship-", suffix=".txt", dir=workdir)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(requirements_text(pins))
    req = Path(name)
    run(pip_install_argv(python, settings, req, target), what or "pip install",
        stream=stream, env=_pip_env(settings))


def _pip_env(settings: Settings) -> dict[str, str]:
    env = {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    if settings.index.netrc:
        env["NETRC"] = str(Path(settings.index.netrc).expanduser())
    return env


# Not copied into the temporary source tree a regular (non-editable) wheel is built from.
_TOP_LEVEL_SKIP = frozenset({".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "build",
                             "dist", ".mypy_cache", ".pytest_cache", ".ruff_cache", "node_modules"})


def skipped(rel_dir: Path, name: str) -> bool:
    """Whether the copy for a wheel build leaves out ``rel_dir/name`` (pure)."""
    if name == "__pycache__" or name.endswith((".pyc", ".egg-info")):
        return True
    return rel_dir == Path(".") and name in _TOP_LEVEL_SKIP


def copy_source(project: Path, dest: Path, exclude: Path) -> None:
    """The project without VCS data, caches, build output and the target venv: the wheel
    build then leaves nothing behind in the project (an editable build has to, like pip)."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        rel = Path(os.path.relpath(directory, project))
        return {n for n in names if skipped(rel, n) or Path(directory, n) == exclude}

    shutil.copytree(project, dest, ignore=ignore, symlinks=True)


def build_project(settings: Settings, python: str, build_lock: Lock, workdir: Path,
                  editable: bool, stream: IO[str] | None, venv: Path) -> Path:
    """Build the project's wheel (or PEP 660 editable wheel) with the target interpreter and
    the hash-checked build lock; nothing is resolved or fetched unpinned."""
    from .build import scm_version

    data = read_pyproject(settings.project_dir)
    source = settings.project_dir
    env = {"PYTHONNOUSERSITE": "1"}
    if not editable:
        source = workdir / "src"
        copy_source(settings.project_dir, source, venv)
        version = scm_version(settings, data)  # computed from the real .git, not copied
        if version:
            env["SETUPTOOLS_SCM_PRETEND_VERSION"] = version
    backend, backend_path = build_backend(data)
    deps = workdir / "build-deps"
    wheels = workdir / "wheels"
    install_pins(python, settings, list(build_lock.pins.values()), workdir, stream, target=deps,
                 what="installing requirements/build.txt")
    # the same backend driver the Dockerfile's build stage runs, with the locked build deps first
    # on PYTHONPATH
    script = builtin_template_dir() / "build_wheel.py"
    out = run([python, str(script), backend, backend_path, str(wheels),
               "editable" if editable else "wheel"],
              f"building {settings.project_name}", stream=stream, cwd=source,
              env={**env, "PYTHONPATH": str(deps)})
    names = [ln.partition(":")[2].strip() for ln in out.splitlines()
             if ln.startswith("venvship-built:")]
    if not names:
        raise VenvError(f"building {settings.project_name} produced no wheel")
    return wheels / names[-1]


def install(settings: Settings, envs: EnvironmentSet, opts: InstallOptions, *,
            say: Callable[[str], None], stream: IO[str] | None = None) -> InstallResult:
    started = time.monotonic()
    venv = resolve_venv(opts.venv)
    names = lock_names(envs, opts.envs)
    if BUILD_ENV in names:
        raise InputError("'build' is the project's build lock, not an environment to install")
    check_names = [*names, BUILD_ENV]
    locks = load_locks(settings, envs, check_names, allow_stale=opts.allow_stale)
    env_locks = {n: locks[n] for n in names}

    interp = choose_interpreter(venv, opts.python, env_locks)
    warnings: tuple[str, ...] = ()
    problems = compatibility_problems(locks, interp)
    if problems:
        if not opts.force:
            raise VenvError(
                f"the locks do not fit {interp.executable} ({interp.describe()}): {problems[0]}"
                + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                hint="pass --python with a matching interpreter, re-lock for this one, or "
                     "--force to install anyway",
            )
        warnings = tuple(problems)
        for p in problems:
            say(f"warning (--force): {p}")

    wanted = wanted_pins(env_locks, interp.markers)
    project = canonicalize_name(settings.project_name)
    exists = (venv / "pyvenv.cfg").exists()
    if not exists and not opts.dry_run:
        say(f"creating {venv} with {interp.executable} ({interp.python})")
        interp = create_venv(interp, venv, stream)
        exists = True
    installed_before = dict(interp.dists) if exists else {}
    plan = diff(wanted, installed_before, sync=opts.sync, keep={project})
    if opts.dry_run:
        return InstallResult(venv, interp, tuple(names), plan, None, time.monotonic() - started,
                             installed_before, warnings)

    python = str(venv_python(venv))
    with tempfile.TemporaryDirectory(prefix="venvship-install-") as tmp:
        work = Path(tmp)
        if plan.uninstall:
            say(f"removing {len(plan.uninstall)} package(s) the locks do not list")
            run([python, "-m", "pip", "uninstall", "--yes", "--disable-pip-version-check",
                 *(n for n, _ in plan.uninstall)], "pip uninstall", stream=stream)
        if plan.install:
            say(f"installing {len(plan.install)} locked package(s) from {', '.join(names)}")
        install_pins(python, settings, plan.install, work, stream,
                     what=f"installing {', '.join(names)} into {venv}")
        if settings.package:  # nothing to build: the venv gets the locks, the app stays a tree
            say(f"building {settings.project_name}" + (" (editable)" if opts.editable else ""))
            wheel = build_project(settings, python, locks[BUILD_ENV], work, opts.editable, stream,
                                  venv)
            run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall",
                 "--disable-pip-version-check", str(wheel)],
                f"installing {wheel.name}", stream=stream)

    after = probe(python)
    if after is None:
        raise VenvError(f"{venv}'s interpreter stopped working during the install")
    leftover = diff(wanted, after.dists, sync=opts.sync, keep={project})
    if leftover:
        raise VenvError(f"{venv} does not match the locks after installing: "
                        + "; ".join(leftover.lines(after.dists))[:500])
    if not settings.package:
        return InstallResult(venv, after, tuple(names), plan, None, time.monotonic() - started,
                             installed_before, warnings)
    if project not in after.dists:
        raise VenvError(f"{settings.project_name} is not installed in {venv} after installing it")
    label = f"{settings.project_name} {after.dists[project]}"
    label += " (editable)" if opts.editable else ""
    return InstallResult(venv, after, tuple(names), plan, label, time.monotonic() - started,
                         installed_before, warnings)
