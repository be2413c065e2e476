"""``venvship lock``: plan (pure), compile inside the base image (BuildKit), then write.

The compile runs as the ``lock`` stage of the generated Dockerfile, fed through the named
build context ``lock-inputs`` and exported with ``--output type=local``: it works the same
against a remote engine, and markers are evaluated by the real target interpreter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .. import __version__, freshness, layers, lockfile, metadata, preferences, resources
from ..cache import cache_root
from ..engine import BuildRequest, Engine, Secret
from ..environments import BUILD_ENV, EnvironmentSet
from ..errors import (
    INDEX_UNREACHABLE,
    BuildError,
    ConfigError,
    IndexUnavailableError,
    LayeringConflictError,
    LockIntegrityError,
    ResolutionError,
    StaleLockError,
)
from ..interpreter import PROBE_FILE, Interpreter, parse_answer, probe_source
from ..lockfile import Diff, Lock
from ..render import build_backend, render_dockerfile, render_script
from ..settings import Settings, read_pyproject

_NOT_FOUND = re.compile(r"(was not found in the package registry|No matching distribution found"
                        r"|not found in the provided package locations)", re.IGNORECASE)


@dataclass(frozen=True)
class LockPlan:
    """What one ``venvship lock`` run will do. Built without any I/O beyond reading inputs."""

    compile: tuple[str, ...]  # environments to compile, bases first
    constraints_only: tuple[str, ...]  # bases taken from their existing locks
    upgrade_all: bool = False
    upgrade_packages: tuple[str, ...] = ()
    existing: Mapping[str, Lock] = field(default_factory=dict)
    # what each compiled environment's resolver output file is seeded with (preferences.py)
    preferences: Mapping[str, preferences.Preferences] = field(default_factory=dict)
    # extras and groups locked because all were asked for: one failing is reported, not fatal
    optional: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnvResult:
    env: str
    text: str  # the full lock text to write
    lock: Lock
    diff: Diff
    changed: bool
    adoption: preferences.Adoption | None = None  # pins taken from a file venvship did not write


def make_plan(envs: EnvironmentSet, selected: Sequence[str], settings: Settings, *,
              upgrade: bool = False, upgrade_packages: Sequence[str] = ()) -> LockPlan:
    names = list(selected) or list(envs.envs)
    for name in names:
        envs.get(name)
    order = envs.order(names)
    compile_ = [n for n in order if n in names]
    bases = [n for n in order if n not in names]
    prefs = _plan_preferences(settings, order)
    existing: dict[str, Lock] = {}
    for name in order:
        if name in prefs and prefs[name].adopted:
            continue  # not written by venvship: its pins are preferences, not a lock
        lock = lockfile.read(settings.lock_path(name), name)
        if lock is not None:
            existing[name] = lock
    for name in bases:
        if name not in existing:
            raise StaleLockError(
                f"environment {compile_[0]!r} is layered on {name!r}, which has no lock yet",
                hint=f"lock it too: venvship lock --env {name} --env {compile_[0]}",
            )
    return LockPlan(tuple(compile_), tuple(bases), upgrade, tuple(upgrade_packages), existing,
                    {n: p for n, p in prefs.items() if n in compile_},
                    optional_envs(envs, compile_, settings) if not selected else ())


def optional_envs(envs: EnvironmentSet, names: Sequence[str], settings: Settings) -> tuple[str, ...]:
    """Extras and dependency groups nothing else is layered on: when 'venvship lock' locks them
    all, one that fails is reported by name and the others are locked (requirements/*.in files,
    main and build are always required)."""
    below = {envs.get(n).base for n in names}
    return tuple(n for n in names if n not in ("main", BUILD_ENV) and n not in below
                 and not envs.get(n).source.startswith(f"{settings.requirements_dir}/"))


def _plan_preferences(settings: Settings, names: Sequence[str]) -> dict[str, preferences.Preferences]:
    """Each environment's preferences: its venvship lock, else a lock venvship did not write,
    else (first lock) another tool's lock file in the project."""
    out: dict[str, preferences.Preferences] = {}
    for name in names:
        found = preferences.for_env(settings.project_dir, settings.requirements_dir, name,
                                    first_lock_sources=name != BUILD_ENV)
        if found is not None:
            out[name] = found
    return out


def _resolver_argv(settings: Settings, infile: str, outfile: str, plan: LockPlan) -> list[str]:
    binary = settings.binary_args()
    if settings.lock.resolver == "uv":
        argv = ["/opt/venvship/tools/bin/uv", "pip", "compile", "--quiet", "--generate-hashes",
                "--no-header", "--python", "/opt/venvship/tools/bin/python", *binary,
                *settings.index_args("uv")]
        if settings.lock.override:  # transitive requirements too (pip-tools: direct lines only)
            argv += ["--override", "$IN/overrides.txt"]
    else:
        argv = ["/opt/venvship/tools/bin/pip-compile", "--quiet", "--generate-hashes",
                "--no-header", "--allow-unsafe", "--strip-extras", "--resolver=backtracking",
                "--pip-args=" + " ".join(shlex.quote(b) for b in binary), *settings.index_args("pip")]
    if plan.upgrade_all:
        argv.append("--upgrade")
    for pkg in plan.upgrade_packages:
        argv += ["--upgrade-package", pkg]
    if settings.lock.resolver == "uv":  # an upgrade sees the index as it is now, not as uv's cache
        argv += ["--refresh"] if plan.upgrade_all else [a for p in plan.upgrade_packages
                                                          for a in ("--refresh-package", p)]
    argv += ["--output-file", outfile, infile]
    return argv


def compile_order(plan: LockPlan) -> list[str]:
    """The plan's environments in the order the lock stage compiles them: the build environment
    last, since what it must hold can depend on the other locks (allowed sdists)."""
    return sorted(plan.compile, key=lambda name: name == BUILD_ENV)


# Host variables the resolver in the lock stage gets too: how long to wait for the index (and for
# a DNS answer: glibc's RES_OPTIONS) and how often to retry. They change how a lock run fails,
# never what it resolves.
RESOLVER_ENV = ("UV_HTTP_TIMEOUT", "UV_HTTP_CONNECT_TIMEOUT", "UV_HTTP_RETRIES",
                "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES", "RES_OPTIONS")


def resolver_exports(environ: Mapping[str, str]) -> list[str]:
    """``export`` lines for the RESOLVER_ENV variables set in ``environ``, quoted (never run)."""
    return [f"export {name}={shlex.quote(environ[name])}" for name in RESOLVER_ENV if environ.get(name)]


def lock_script(settings: Settings, envs: EnvironmentSet, plan: LockPlan,
                environ: Mapping[str, str] | None = None) -> str:
    """The shell script the lock stage runs (templates/lock.sh.j2). One file per environment:
    .txt, .log, .rc.

    ``environ`` (default: this process's) supplies the RESOLVER_ENV variables that are set.
    """
    environ = os.environ if environ is None else environ
    data = read_pyproject(settings.project_dir)
    backend = build_backend(data) if has_backend(settings, data) else None
    steps = []
    for name in compile_order(plan):
        argv = _resolver_argv(settings, f"$IN/{name}.in", f"$OUT/{name}.txt", plan)
        hook = None
        if name == BUILD_ENV and backend is not None:
            hook = " ".join(_q(a) for a in ["/tmp/venvship-hook/bin/python", "$IN/requires_hook.py", backend[0],
                                            backend[1], "$OUT/build.dynamic", "requires"])
        pylock = None
        if settings.lock.pylock and settings.lock.resolver == "uv" and name != BUILD_ENV:
            pylock = " ".join(_q(a) for a in [
                "/opt/venvship/tools/bin/uv", "pip", "compile", "--quiet", "--no-header",
                "--python", "/opt/venvship/tools/bin/python", "-c", f"$OUT/{name}.pins",
                "--format", "pylock.toml", "--output-file", f"$OUT/pylock.{name}.toml", f"$IN/{name}.in"])
        steps.append({
            "name": name,
            "prefer": name in plan.preferences and not plan.upgrade_all,
            "sdist_requires": name == BUILD_ENV and bool(settings.index.allow_sdist),
            "runner": "compile_optional" if name in plan.optional else "compile_env",
            "optional": name in plan.optional,
            "argv": " ".join(_q(a) for a in argv),
            "hook": hook,
            "sizes": (_sizes_line(name, name in plan.optional) if name in envs.closure("main")
                      and not (settings.lock.pylock and settings.lock.resolver == "uv") else None),
            "pylock": pylock,
        })
    index = []
    if settings.index.url:
        index.append(f"PIP_INDEX_URL={shlex.quote(settings.index.url)}")
    if settings.index.extra_urls:
        index.append(f"PIP_EXTRA_INDEX_URL={shlex.quote(' '.join(settings.index.extra_urls))}")
    return render_script(
        resources.LOCK_SH,
        comment=f"Generated by venvship {__version__} for 'venvship lock'.",
        exports=resolver_exports(environ),
        resolver_version=("/opt/venvship/tools/bin/uv --version" if settings.lock.resolver == "uv"
                          else "/opt/venvship/tools/bin/pip-compile --version"),
        constraints_only=list(plan.constraints_only),
        compile=steps,
        sdist_index="".join(f"{i} " for i in index),
        sdist_names=" ".join(shlex.quote(n) for n in sorted(settings.index.allow_sdist)),
    )


def _sizes_line(name: str, optional: bool) -> str:
    """The pylock.toml of an environment of the main closure, for its wheels' sizes
    (requirements/wheel-sizes.list): uv again, pinned to the lock just compiled (warm cache). Skipped
    when requirements/wheel-sizes.list already has every pin (sizes-known.txt)."""
    argv = ["/opt/venvship/tools/bin/uv", "pip", "compile", "--quiet", "--no-header",
            "--python", "/opt/venvship/tools/bin/python", "-c", f"$OUT/{name}.pins",
            "--format", "pylock.toml", "--output-file", f"$OUT/pylock.sizes-{name}.toml", f"$IN/{name}.in"]
    guard = f'[ ! -f "$OUT/{name}.pins" ] || ' if optional else ""
    return f"{guard}sizes_env {name} " + " ".join(_q(a) for a in argv)


def has_backend(settings: Settings, data: Mapping[str, Any]) -> bool:
    """Whether the project is built by a PEP 517 backend whose hooks venvship may ask (an app
    with nothing to build, settings.package false, has none)."""
    return settings.package and ("build-system" in data or (settings.project_dir / "setup.py").is_file()
            or (settings.project_dir / "setup.cfg").is_file())


def hook_script() -> str:
    return resources.text(resources.REQUIRES_HOOK)


def _q(arg: str) -> str:
    return arg if arg.startswith('"$') or arg.startswith("$") else shlex.quote(arg)


def write_inputs(directory: Path, settings: Settings, envs: EnvironmentSet, plan: LockPlan) -> None:
    (directory / "existing").mkdir(parents=True)
    (directory / PROBE_FILE).write_text(probe_source())
    (directory / "lock.sh").write_text(lock_script(settings, envs, plan))
    known = layers.read_sizes(sizes_path(settings))
    if known:
        (directory / "sizes-known.txt").write_text("".join(f"{n}=={v}\n" for n, (v, _s) in sorted(known.items())))
    if settings.lock.override:
        (directory / "overrides.txt").write_text("".join(f"{o}\n" for o in settings.lock.override))
    if BUILD_ENV in plan.compile:
        (directory / "requires_hook.py").write_text(hook_script())
        (directory / "sdist_requires.py").write_text(resources.text(resources.SDIST_REQUIRES))
    for name in plan.compile:
        env = envs.get(name)
        text = env.input_text()
        if env.base is not None:
            text = f"-c /venvship/out/{env.base}.pins\n" + text
        (directory / f"{name}.in").write_text(text)
    for name in plan.constraints_only:
        src = settings.lock_path(name)
        (directory / "existing" / f"{name}.txt").write_text(src.read_text(encoding="utf-8"))
    for name, prefs in plan.preferences.items():
        (directory / "existing" / f"{name}.txt").write_text(prefs.text(settings.lock.resolver))
    if BUILD_ENV in plan.compile and settings.index.allow_sdist:
        # the allowed sdists pinned by locks this run leaves alone need build requirements too
        for name in envs.envs:
            path = settings.lock_path(name)
            if name not in plan.compile and name not in plan.constraints_only and path.is_file():
                (directory / "sdist-pins").mkdir(exist_ok=True)
                (directory / "sdist-pins" / f"{name}.txt").write_text(path.read_text(encoding="utf-8"))


def needs_project_tree(plan: LockPlan) -> bool:
    """Whether the lock stage runs the build backend's hooks in the project's source tree."""
    return BUILD_ENV in plan.compile


def ca_secrets(settings: Settings) -> tuple[Secret, ...]:
    secrets: list[Secret] = []
    ca = settings.index.ca_bundle_path()
    if ca is not None:
        secrets.append(Secret("venvship_ca", ca))
    if settings.index.netrc:
        netrc = Path(settings.index.netrc).expanduser()
        if not netrc.is_file():
            raise ConfigError(f"netrc {settings.index.netrc!r} is not a readable file")
        secrets.append(Secret("venvship_netrc", netrc))
    return tuple(secrets)


LOCK_CA = "ca.crt"  # the CA bundle among the lock stage's inputs (lock-preamble.sh.j2 reads it)


@dataclass(frozen=True)
class CompileTarget:
    """Where the lock stage compiled: its interpreter (the probe's answer), the base image's id
    and the resolver's version, as the lock headers record them."""

    interpreter: Interpreter
    base_image_id: str
    resolver: str


def run_compile(settings: Settings, envs: EnvironmentSet, plan: LockPlan, engine: Engine,
                workdir: Path, stream: IO[str] | None) -> tuple[Path, CompileTarget]:
    """Compile in the base image; returns (output dir, where it compiled)."""
    base = engine.require_image(settings.image.base, "base image")
    inputs = workdir / "inputs"
    write_inputs(inputs, settings, envs, plan)
    answers = sdist_answers_dir(settings, str(base.get("Id", ""))) \
        if BUILD_ENV in plan.compile and settings.index.allow_sdist else None
    hooks = hook_answers_dir(settings, str(base.get("Id", ""))) if BUILD_ENV in plan.compile else None
    for kept, name in ((answers, "sdist-known"), (hooks, "hook-known")):
        if kept is not None and kept.is_dir():
            shutil.copytree(kept, inputs / name)
    described = lock_target_file(settings, str(base.get("Id", "")))
    if described is not None and described.is_file():
        with contextlib.suppress(OSError):
            shutil.copyfile(described, inputs / "target.json")
    outdir = run_lock_stage(settings, envs, engine, workdir, inputs, needs_project_tree(plan), stream)
    if described is not None and not (inputs / "target.json").is_file():
        with contextlib.suppress(OSError):
            lockfile.write_atomically({described: (outdir / "target.json").read_text()})
    for kept, name in ((answers, "sdist-answers"), (hooks, "hook-answers")):
        if kept is not None and (outdir / name).is_dir():
            with contextlib.suppress(OSError):  # a read-only home: ask again next time
                lockfile.write_atomically({kept / p.name: p.read_text(encoding="utf-8")
                                           for p in (outdir / name).iterdir() if p.is_file()})
    interpreter = Interpreter.from_probe(parse_answer((outdir / "target.json").read_text()))
    return outdir, CompileTarget(interpreter, str(base.get("Id", "")),
                                 (outdir / "resolver.txt").read_text().strip())


def sdist_answers_dir(settings: Settings, image_id: str) -> Path | None:
    """Where the build requirements of allowed sdists found by earlier locks are kept, one file
    NAME==VERSION.txt each (templates/sdist_requires.py). What an sdist's backend asks for is a fact
    about that sdist in that image: the key is the image id, the index settings and the scripts
    that ask. Saves the lock stage a pip download, a venv and a backend hook (about 2 s) per sdist."""
    if not image_id.startswith("sha256:"):
        return None
    index = settings.index
    key = hashlib.sha256("\0".join((
        image_id, settings.platforms.current, index.url or "", " ".join(index.extra_urls), str(index.strategy),
        resources.text(resources.SDIST_REQUIRES), hook_script())).encode()).hexdigest()
    return cache_root() / "sdist-requires" / key


def lock_target_file(settings: Settings, image_id: str) -> Path | None:
    """Where the lock stage's description of its interpreter (templates/probe.py) is kept for one
    image id: the same id is the same image, so it is asked once (about 0.05 s a lock)."""
    if not image_id.startswith("sha256:"):
        return None
    key = hashlib.sha256("\0".join((image_id, settings.platforms.current, probe_source())).encode()).hexdigest()
    return cache_root() / "lock-targets" / f"{key}.json"


def hook_answers_dir(settings: Settings, image_id: str) -> Path | None:
    """Where the project's build backend's answers to get_requires_for_build_wheel are kept, one
    file per build lock (named by the SHA-256 of the resolver's output, lock.sh.j2). The key is
    what else the answer depends on: the image, the backend, the files that define the project's
    metadata (metadata.source_files, as for the backend's recorded answer) and the scripts that
    ask. Saves the lock stage a venv, an install and the hook (about 0.5 s). None: no backend."""
    data = read_pyproject(settings.project_dir)
    if not image_id.startswith("sha256:") or not has_backend(settings, data):
        return None
    files = metadata.source_files(settings.project_dir, data, settings.requirements_dir)
    key = hashlib.sha256("\0".join((
        __version__, image_id, settings.platforms.current, *map(str, build_backend(data)), hook_script(),
        resources.text(resources.LOCK_SH), json.dumps(metadata.hash_sources(settings.project_dir, files),
                                                      sort_keys=True))).encode()).hexdigest()
    return cache_root() / "build-hook" / key


def run_lock_stage(settings: Settings, envs: EnvironmentSet, engine: Engine, workdir: Path,
                   inputs: Path, project_tree: bool, stream: IO[str] | None) -> Path:
    """Run inputs/lock.sh in the lock stage; returns the directory its outputs were exported to.

    With ``project_tree``, the project is the build context, bind-mounted at /venvship/project
    for the backend's hooks: .dockerignore, else venvship's default ignores, apply as in build.
    """
    outdir = workdir / "out"
    ca = settings.index.ca_bundle_path()
    if ca is not None:  # with the inputs, not a secret mount: that delays the step ~0.9 s
        shutil.copyfile(ca, inputs / LOCK_CA)
    dockerfile = workdir / "Dockerfile"
    dockerfile.write_text(render_dockerfile(settings, envs))
    context = inputs
    if project_tree:
        context = settings.project_dir
        from .build import DEFAULT_DOCKERIGNORE  # build imports this module

        if not (settings.project_dir / ".dockerignore").exists():
            (workdir / "Dockerfile.dockerignore").write_text(DEFAULT_DOCKERIGNORE)
    run_id = secrets.token_hex(16)
    engine.build(
        BuildRequest(
            context=context, dockerfile=dockerfile, target="lock-export",
            output=f"type=local,dest={outdir}", build_contexts={"lock-inputs": inputs},
            # the tools stage mounts the CA secret when it is not cached yet; the lock step does not
            secrets=ca_secrets(settings),
            # the run id is part of the lock step's cache key: it runs anew every time. Not
            # --no-cache-filter: BuildKit empties the cache mounts of a step it must not cache,
            # so the resolver found its cache (shared with the builds) empty on every lock.
            build_args={"VENVSHIP_LOCK_RUN": run_id},
            platform=settings.platforms.current or None,  # a foreign platform runs under emulation
        ),
        stream=stream,
    )
    returned = (outdir / "run-id").read_text().strip() if (outdir / "run-id").is_file() else ""
    if returned != run_id:
        raise BuildError(
            "the lock stage returned the output of an earlier run (a BuildKit cache hit), not this one's",
            hint="nothing was written; run 'venvship lock' again",
        )
    return outdir


def _skipped(env: str, error: Exception) -> str:
    message = getattr(error, "message", str(error))
    hint = getattr(error, "hint", None)
    if hint and not isinstance(error, LayeringConflictError):  # e.g. allow-sdist for no wheels
        return f"{env!r} was not locked, the others were: {message}; {hint}"
    return (f"{env!r} was not locked, the others were: {message}; if {env!r} is not meant as an "
            f"environment, leave it out with ignore-envs = [\"{env}\"] in [tool.venvship], or lock it "
            f"on its own (not layered on main) with [tool.venvship.environments.{env}] base = \"\"")


def _failure(env: str, log: str, envs: EnvironmentSet, plan: LockPlan, outdir: Path,
             requirements_dir: str = "requirements") -> Exception:
    if "Traceback (most recent call last)" in log:  # a crashing tool: its last line says why
        log = [ln for ln in log.strip().splitlines() if ln.strip()][-1]
    text = " ".join(line.strip(" ×╰─▶│") for line in log.strip().splitlines() if line.strip())
    text = re.sub(r"\s+", " ", text).strip() or "the resolver failed without a message"
    if INDEX_UNREACHABLE.search(text):
        return IndexUnavailableError(f"locking {env!r} failed: the package index is unavailable ({text[:400]})")
    sdist_only = sdist_only_package(text)
    if sdist_only is not None:
        return ResolutionError(
            f"locking {env!r} failed: {sdist_only} has no usable wheel for this interpreter and "
            "platform, only an sdist, and venvship installs wheels unless a package is allowed by name",
            hint=f'allow it to be built from source in [tool.venvship]: allow-sdist = ["{sdist_only}"]; '
            "when it compiles C code, add a compiler and headers too: "
            'build-packages = ["gcc", "libc6-dev", "python3-dev"] (and the library headers it needs)',
        )
    environment = envs.get(env)
    if environment.base is not None:
        conflict = _layer_conflict(env, envs, outdir, plan, requirements_dir)
        if conflict:
            return conflict
        if "unsatisfiable" in text or "conflict" in text.lower():
            return LayeringConflictError(
                f"{env!r} cannot be satisfied with {environment.base!r}'s pins: {text[:500]}"
            )
    if _NOT_FOUND.search(text):
        return ResolutionError(f"locking {env!r} failed: unknown package: {text[:400]}")
    return ResolutionError(f"locking {env!r} failed: {text[:500]}")


_NO_WHEELS = (
    re.compile(r"Wheels are required for `([A-Za-z0-9._-]+)`"),
    re.compile(r"versions of `?([A-Za-z0-9._-]+)`? have no usable wheels"),
    re.compile(r"`?([A-Za-z0-9._-]+)`?(?:==\S+)? has no usable wheels"),
    re.compile(r"only an sdist is available for `?([A-Za-z0-9._-]+)", re.IGNORECASE),
)


def sdist_only_package(text: str) -> str | None:
    """The package the resolver found no usable wheel for (uv's wording), or None."""
    for pattern in _NO_WHEELS:
        m = pattern.search(text)
        if m:
            return m.group(1).rstrip(".,")
    return None


def _layer_conflict(env: str, envs: EnvironmentSet, outdir: Path, plan: LockPlan,
                    requirements_dir: str = "requirements") -> Exception | None:
    """Name the package, both requirements and where each comes from."""
    from packaging.requirements import Requirement

    environment = envs.get(env)
    base = environment.base
    assert base is not None
    path = outdir / f"{base}.txt"
    base_lock = (lockfile.parse(user_paths(path.read_text(), envs), base) if path.exists()
                 else plan.existing.get(base))
    if base_lock is None:
        return None
    for line in environment.lines:
        req = Requirement(line.requirement)
        pin = base_lock.pins.get(line.name)
        if pin is not None and not req.specifier.contains(pin.version, prereleases=True):
            via = ", ".join(pin.via) or f"{base}'s inputs"
            return LayeringConflictError(
                f"{env!r} requires {line.requirement} ({line.origin}) but {base!r} pins "
                f"{line.name}=={pin.version} ({requirements_dir}/{base}.txt, via {via})",
                hint=f"change one of the two requirements, or upgrade {base!r} first",
            )
    return None


_VIA_PATH = re.compile(
    r"(?m)^([ \t]*#[ \t]*(?:via[ \t]+)?)(-r|-c) (?:/venvship/)?(in|out)/([A-Za-z0-9._-]+)\.(in|pins)[ \t]*$"
)


def user_paths(body: str, envs: EnvironmentSet, settings: Settings | None = None) -> str:
    """'# via' comments name the user's files, not the lock stage's: ``-r in/main.in`` becomes
    ``-r requirements/main.in`` or ``pyproject.toml [project.dependencies]``, ``-c out/main.pins``
    becomes ``-c requirements/main.txt``."""

    def repl(m: re.Match[str]) -> str:
        lead, _flag, _dir, env, suffix = m.groups()
        if suffix == "pins":
            return f"{lead}-c {settings.requirements_dir if settings else 'requirements'}/{env}.txt"
        source = envs.envs[env].source if env in envs.envs else f"{env}.in"
        return f"{lead}-r {source}" if source.endswith(".in") else f"{lead}{source}"

    return _VIA_PATH.sub(repl, body)


def _first_pins_from(plan: LockPlan, env: str) -> dict[str, str]:
    """The header line saying which file venvship adopted an environment's first pins from,
    carried over by later locks."""
    prefs = plan.preferences.get(env)
    if prefs is not None and prefs.adopted:
        kind = f" ({prefs.kind})" if prefs.kind != prefs.source else ""
        return {FIRST_PINS_FROM: prefs.source + kind}
    old = plan.existing.get(env)
    if old is not None and FIRST_PINS_FROM in old.header:
        return {FIRST_PINS_FROM: old.header[FIRST_PINS_FROM]}
    return {}


FIRST_PINS_FROM = "first-pins-from"


def _header(env: str, envs: EnvironmentSet, settings: Settings, target: CompileTarget) -> dict[str, str]:
    environment = envs.get(env)
    return {
        "env": env,
        "layered-on": environment.base or "-",
        **target.interpreter.header(),
        "base-image": settings.image.base,
        "base-image-id": target.base_image_id,
        "resolver": target.resolver,
        "inputs-sha256": envs.input_hash(env, settings),
    }


def collect(settings: Settings, envs: EnvironmentSet, plan: LockPlan, outdir: Path,
            target: CompileTarget, warn: Callable[[str], None] | None = None) -> list[EnvResult]:
    """Turn the exported outputs into validated lock texts (pure apart from reading outdir)."""
    results: list[EnvResult] = []
    new_locks: dict[str, Lock] = {}
    for env in compile_order(plan):
        retried = outdir / f"{env}.retried"
        if retried.exists() and warn is not None:
            signals = ", ".join(ln.strip() for ln in retried.read_text().splitlines() if ln.strip())
            warn(f"the resolver for {env!r} was killed by a signal ({signals}; uv under emulation does "
                 "this now and then) and ran again")
        rc_file = outdir / f"{env}.rc"
        rc = rc_file.read_text().strip() if rc_file.exists() else None
        if rc != "0":
            log = (outdir / f"{env}.log").read_text() if (outdir / f"{env}.log").exists() else ""
            error = _failure(env, log, envs, plan, outdir, settings.requirements_dir)
            if env in plan.optional and rc is not None:
                if warn is not None:
                    warn(_skipped(env, error))
                continue
            raise error
        body = (outdir / f"{env}.txt").read_text()
        body = "".join(ln for ln in body.splitlines(keepends=True) if not ln.startswith("#"))
        body = user_paths(body, envs, settings)
        header = {**_header(env, envs, settings, target), **_first_pins_from(plan, env)}
        text = lockfile.render(env, header, body.lstrip("\n"))
        lock = lockfile.parse(text, env, f"new {env} lock")
        new_locks[env] = lock
        old = plan.existing.get(env)
        prefs = plan.preferences.get(env)
        adoption = preferences.compare(prefs, lock.versions) if prefs is not None and prefs.adopted else None
        results.append(EnvResult(env, text, lock, lockfile.diff(old.versions if old else {}, lock.versions),
                                 old is None or settings.lock_path(env).read_text() != text, adoption))
    for env in plan.compile:  # never write a layered lock whose shared pins differ
        base = envs.get(env).base
        if base is None or env not in new_locks:
            continue
        for c in freshness.pin_conflicts(env, new_locks[env], base, new_locks.get(base) or plan.existing[base]):
            raise LayeringConflictError(
                f"{env!r} pins {c.name}=={c.version} but {base!r} pins {c.name}=={c.base_version}")
    return results


def _last_line(path: Path) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


def hook_warnings(outdir: Path) -> list[str]:
    """What the build backend's hooks could not answer in the lock stage (best effort)."""
    out = []
    if (outdir / "build.dynamic.failed").exists():
        out.append(f"the build backend's get_requires_for_build_wheel failed in the lock stage "
                   f"({_last_line(outdir / 'build-hook.log')}); requirements/build.txt holds "
                   "[build-system] requires and build-requires only")
    if (outdir / "sdist-build.failed").exists():
        out.append(f"the build requirements of the allowed sdists were not found "
                   f"({_last_line(outdir / 'sdist-build.log')}); add them to build-requires, "
                   "or the build stage refuses their unhashed build dependencies")
    return out


def lock(settings: Settings, envs: EnvironmentSet, plan: LockPlan, engine: Engine, *,
         stream: IO[str] | None = None, dry_run: bool = False,
         warn: Callable[[str], None] | None = None,
         record: metadata.Record | None = None,
         staged: dict[Path, str] | None = None) -> list[EnvResult]:
    """Compile and, unless ``dry_run``, write every lock of the plan, all or nothing.
    ``record``: the build backend's answer, written with the locks. ``staged``: the files
    are added to it instead of written (several platforms' locks are written at once)."""
    with tempfile.TemporaryDirectory(prefix="venvship-lock-") as tmp:
        outdir, target = run_compile(settings, envs, plan, engine, Path(tmp), stream)
        results = collect(settings, envs, plan, outdir, target, warn)
        for message in hook_warnings(outdir):
            if warn is not None:
                warn(message)
        files = {settings.lock_path(r.env): r.text for r in results}
        if record is not None:
            files[metadata.record_path(settings.project_dir, settings.requirements_dir)] = record.text()
        sizes = sizes_file(settings, envs, results, outdir, target.interpreter, warn)
        if sizes is not None:
            files[sizes_path(settings)] = sizes
        if settings.lock.pylock:
            for r in results:
                p = outdir / f"pylock.{r.env}.toml"
                if p.exists():
                    name = f"pylock.{r.env}{settings.platforms.lock_suffix}.toml"
                    files[settings.requirements_path / name] = p.read_text()
        if staged is not None:
            staged.update(files)
        elif not dry_run:
            lockfile.write_atomically(files)
    return results


def sizes_path(settings: Settings) -> Path:
    """requirements/wheel-sizes.list; another platform's: wheel-sizes.linux-arm64.list."""
    return settings.requirements_path / layers.sizes_name(settings.platforms.lock_suffix)


def sizes_file(settings: Settings, envs: EnvironmentSet, results: Sequence[EnvResult], outdir: Path,
               target: Interpreter, warn: Callable[[str], None] | None = None) -> str | None:
    """requirements/wheel-sizes.list for the main closure's locks after this run (None: this run
    locked none of them, or one has no lock): sizes from this run's pylock.toml files, else the
    ones recorded before for the same version, else unknown."""
    closure = envs.closure("main")
    new = {r.env: r.lock for r in results}
    if not any(env in new for env in closure):
        return None
    pins: dict[str, lockfile.Pin] = {}
    for env in closure:
        lock_ = new.get(env) or lockfile.read(settings.lock_path(env), env)
        if lock_ is None:
            return None
        pins.update(lock_.pins)
    known = layers.read_sizes(sizes_path(settings))
    for env in closure:
        found = outdir / (f"pylock.{env}.toml" if settings.lock.pylock and settings.lock.resolver == "uv"
                          else f"pylock.sizes-{env}.toml")
        if (outdir / f"sizes-{env}.failed").exists() and warn is not None:
            warn(f"the wheel sizes of {env!r} were not recorded ({_last_line(outdir / f'sizes-{env}.log')}): "
                 "the venv's layer groups are planned without them")
        if found.is_file():
            with contextlib.suppress(tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError, TypeError):
                known.update(layers.sizes_from_pylock(tomllib.loads(found.read_text(encoding="utf-8")), target))
    sizes = {name: (pin.version, known[name][1] if known.get(name, ("", None))[0] == pin.version else None)
             for name, pin in pins.items()}
    return layers.sizes_text(sizes, f"{target.sys_platform} {target.machine}")


# ---- --check ------------------------------------------------------------------------------
def target_cache_file(image_id: str, python: str) -> Path | None:
    """Where the probe's answer for one image id is kept. An image id is the digest of the image's
    config, which names its layers: the same id always has the same interpreter, so the answer
    never goes stale (the probe's own text is part of the key, for venvship upgrades)."""
    if not image_id.startswith("sha256:"):
        return None
    root = cache_root() / "targets"
    key = hashlib.sha256("\0".join((image_id, python, probe_source())).encode()).hexdigest()
    return root / f"{key}.json"


def target_of_image(engine: Engine, settings: Settings) -> Interpreter:
    """The base image's interpreter (version, platform), from a container of it (about 0.3 s),
    or from the host cache when this image id was asked before."""
    attrs = engine.require_image(settings.image.base, "base image")
    image_id = str(attrs.get("Id", ""))
    cache = target_cache_file(image_id, settings.image.python)
    if cache is not None:
        try:
            cached = json.loads(cache.read_text())
            if isinstance(cached, dict) and cached.get("base_image_id") == image_id:
                return Interpreter.from_probe(cached)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    code, out = engine.run(settings.image.base, [settings.image.python, "-c", probe_source()], entrypoint=[])
    if code != 0:
        raise ConfigError(f"cannot run {settings.image.python!r} in {settings.image.base}: {out.strip()[-300:]}")
    data = parse_answer(out)
    data["base_image_id"] = image_id
    if cache is not None:
        with contextlib.suppress(OSError):  # a read-only home: ask the image again next time
            lockfile.write_atomically({cache: json.dumps(data, sort_keys=True)})
    return Interpreter.from_probe(data)


def target_if_changed(engine: Engine, settings: Settings, envs: EnvironmentSet,
                      names: Sequence[str]) -> Interpreter | None:
    """The base image's interpreter, asked only when some lock was compiled in another image.

    Locks record the image id they were compiled in; the same image has the same interpreter,
    so the container (about 0.3 s a build) is needed only when an id differs, and then only once
    per image id on this host (target_of_image keeps the answer).
    """
    image_id = engine.require_image(settings.image.base, "base image").get("Id", "")
    for env in envs.order(list(names) or None):
        try:
            lock_ = lockfile.read(settings.lock_path(env), env)
        except LockIntegrityError:
            lock_ = None  # check() reports it
        if lock_ is not None and lock_.header.get("base-image-id") != image_id:
            return target_of_image(engine, settings)
    return None


def check(settings: Settings, envs: EnvironmentSet, names: Sequence[str],
          target: Interpreter | None) -> list[str]:
    """Every reason a lock is missing or stale. Writes nothing. ``target``: the base image's."""
    problems: list[str] = metadata.problems(settings)  # the backend's recorded answer
    verdict = freshness.judge(settings, envs, envs.order(list(names) or None), target=target, adoption=True)
    for problem in verdict.problems:
        problems += check_lines(problem, freshness.lock_path(settings, problem.env))
    closure = envs.closure("main")
    if all(env in verdict.locks for env in closure) and sizes_path(settings).is_file():
        pins = lockfile.combine([verdict.locks[env] for env in closure]).pins
        problems += layers.problems(pins, layers.read_sizes(sizes_path(settings)),
                                    f"{settings.requirements_dir}/{layers.SIZES_NAME}")
    return problems


def check_lines(problem: freshness.Problem, path: str) -> list[str]:
    """How ``lock --check`` words a problem of the lock at ``path`` (build and export say the first)."""
    env = problem.env
    if isinstance(problem, freshness.Missing):
        return [f"{env}: {path} is missing"]
    if isinstance(problem, freshness.Damaged):
        return [f"{env}: {problem.error.message}"]
    if isinstance(problem, freshness.ToAdopt):
        return [f"{env}: {problem.message}"]
    if isinstance(problem, freshness.InputsChanged):
        return [f"{env}: inputs changed since {path} was compiled"]
    if isinstance(problem, freshness.OtherBaseImage):
        return [f"{env}: compiled for base image {problem.locked} (lock --base-image), settings say "
                f"{problem.wanted}: to keep these locks, set base-image = \"{problem.locked}\" "
                f"in [tool.venvship]; to compile for {problem.wanted}, run 'venvship lock'"]
    if isinstance(problem, freshness.OtherInterpreter):
        locked = problem.locked.header() if problem.locked else {}
        target = problem.target
        lines = []
        if problem.python_differs:
            lines.append(f"{env}: compiled for Python {locked.get('python')}, the base image has {target.python}")
        if problem.platform_differs:
            lines.append(f"{env}: compiled for {locked.get('platform')}, the base image is "
                         f"{target.sys_platform} {target.machine}")
        return lines
    assert isinstance(problem, freshness.PinConflict)
    return [f"{env}: pins {problem.name}=={problem.version} but {problem.base} pins {problem.base_version}"]
