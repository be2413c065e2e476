"""``venvship verify``: the image starts and serves what its locks promise.

The in-image half is templates/probe.py (``verify CONFIG``), run by the image's venv interpreter as the
image's user with the image's environment; this module plans what it checks and judges what it
reports (pure functions, unit-tested), and runs the container checks of ``--start``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .. import __version__, lockfile
from ..engine import Engine, validate_reference
from ..environments import EnvironmentSet
from ..errors import ConfigError, VerifyError
from ..interpreter import probe_source
from ..settings import Settings

PROBE_MARKER = "venvship-verify: "
PROBE_TIMEOUT = 300.0
DEFAULT_START_TIMEOUT = 30.0
STAYS_UP_SECONDS = 3.0  # without a health check, a server that is still running after this is up
LOG_LINES = 20

# Servers whose first 'module:attr' argument is the app (a factory call 'm:create_app()' too).
APP_SERVERS = ("gunicorn", "uvicorn", "hypercorn", "daphne")
_SPEC = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*(\(.*\))?)?$")
_PYTHON = re.compile(r"^python(\d(\.\d+)?)?$")

# NEEDED library (soname) -> the Debian package that ships it, for the libraries Python wheels and
# sdists most often link against. The runtime image has no apt lists to search, so venvship knows.
LIBRARY_PACKAGES: dict[str, str] = {
    "libpq.so.5": "libpq5",
    "libcurl.so.4": "libcurl4",
    "libcurl-gnutls.so.4": "libcurl3-gnutls",
    "libxml2.so.2": "libxml2",
    "libxslt.so.1": "libxslt1.1",
    "libexslt.so.0": "libxslt1.1",
    "libyaml-0.so.2": "libyaml-0-2",
    "libffi.so.8": "libffi8",
    "libffi.so.7": "libffi7",
    "libssl.so.3": "libssl3",
    "libcrypto.so.3": "libssl3",
    "libssl.so.1.1": "libssl1.1",
    "libcrypto.so.1.1": "libssl1.1",
    "libz.so.1": "zlib1g",
    "libjpeg.so.62": "libjpeg62-turbo",
    "libpng16.so.16": "libpng16-16",
    "libfreetype.so.6": "libfreetype6",
    "libmariadb.so.3": "libmariadb3",
    "libmysqlclient.so.21": "libmysqlclient21",
    "libsqlite3.so.0": "libsqlite3-0",
    "libgomp.so.1": "libgomp1",
    "libgfortran.so.5": "libgfortran5",
    "libstdc++.so.6": "libstdc++6",
    "libpcre.so.3": "libpcre3",
    "libpcre2-8.so.0": "libpcre2-8-0",
    "libjansson.so.4": "libjansson4",
    "libmagic.so.1": "libmagic1",
    "libuuid.so.1": "libuuid1",
    "libexpat.so.1": "libexpat1",
    "liblzma.so.5": "liblzma5",
    "libbz2.so.1.0": "libbz2-1.0",
    "libzstd.so.1": "libzstd1",
    "libsasl2.so.2": "libsasl2-2",
    "libgeos_c.so.1": "libgeos-c1v5",
    "libcairo.so.2": "libcairo2",
    "libldap-2.5.so.0": "libldap-2.5-0",
    "libkrb5.so.3": "libkrb5-3",
    "libgssapi_krb5.so.2": "libgssapi-krb5-2",
    "libcap.so.2": "libcap2",
    "libsystemd.so.0": "libsystemd0",
}
# Libraries the container runtime provides when the container runs (the GPU driver's, mounted by
# the NVIDIA runtime): not a runtime-image package, so not a problem.
RUNTIME_PROVIDED = frozenset({"libcuda.so.1", "libnvidia-ml.so.1", "libnvcuvid.so.1", "libnvidia-encode.so.1"})
_LIBPYTHON = re.compile(r"^libpython(\d+\.\d+)\.so(\.[\d.]+)?$")


def package_for(library: str) -> str | None:
    """The Debian package that ships ``library`` (a soname), where venvship knows it."""
    match = _LIBPYTHON.match(library)
    if match:
        return f"libpython{match.group(1)}"
    return LIBRARY_PACKAGES.get(library)


@dataclass(frozen=True)
class Target:
    """A 'module[:attr]' that must resolve for the image's command to run."""

    spec: str
    label: str
    main: bool = False  # 'python -m MODULE': a package needs a __main__
    file: bool = False  # 'python FILE.py': a file (relative to the image's working directory)

    def as_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "label": self.label, "main": self.main, "file": self.file}


def _app_spec(args: Sequence[str]) -> str | None:
    """The app argument of a WSGI/ASGI server: the first 'module:attr', else a plain module as
    the last argument when no option precedes it (``gunicorn -w 4 app``)."""
    positional = [a for a in args if not a.startswith("-")]
    for arg in positional:
        if ":" in arg and _SPEC.match(arg):
            return arg
    if args and not args[-1].startswith("-") and _SPEC.match(args[-1]) and ":" not in args[-1]:
        before = args[-2] if len(args) > 1 else ""
        if not before.startswith("-") or "=" in before:
            return args[-1]
    return None


_SHELL_BUILTINS = frozenset({
    ".", ":", "alias", "break", "case", "cd", "continue", "do", "done", "elif", "else", "esac", "eval",
    "export", "fi", "for", "if", "read", "readonly", "return", "set", "shift", "source", "then", "trap",
    "ulimit", "umask", "unset", "until", "wait", "while", "{", "}", "!",
})


def _shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a ``sh -c`` script ('a && b; c | d' gives a, b, c, d), each without
    a leading 'exec', 'env' or VAR=value."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token and all(c in "&|;()" for c in token):
            commands.append([])
        elif commands[-1] or not (token in ("exec", "env") or re.match(r"^[A-Za-z_]\w*=", token)):
            commands[-1].append(token)
    return [c for c in commands if c]


def command_plan(argv: Sequence[str]) -> tuple[list[str], list[Target]]:
    """(executables, targets) of an image's ENTRYPOINT + CMD: every program it starts must exist,
    and the modules of known servers (gunicorn X:app, uvicorn X:app, uwsgi --module X,
    python -m X) must import; 'python FILE.py' needs the file. Pure."""
    args = [str(a) for a in argv]
    if not args:
        return [], []
    executables = [args[0]]
    targets: list[Target] = []
    base = os.path.basename(args[0])
    if base in ("sh", "bash", "dash") and "-c" in args[1:-1]:
        try:
            commands = _shell_commands(args[args.index("-c") + 1])
        except ValueError:  # unbalanced quotes: the shell will say so when it runs
            commands = []
        for command in commands:
            if command[0] in _SHELL_BUILTINS:  # not a program; a compound command is not planned
                continue
            more_exe, more_targets = command_plan(command)
            executables += [e for e in more_exe if e not in executables]
            targets += more_targets
        return executables, targets
    if _PYTHON.match(base):
        at = 1
        while at < len(args) and args[at].startswith("-") and args[at] not in ("-m", "-c"):
            at += 2 if args[at] in ("-X", "-W") else 1
        if at + 1 < len(args) and args[at] == "-m":
            module = args[at + 1]
            targets.append(Target(module, f"python -m {module}", main=True))
            args = [module, *args[at + 2:]]
            base = module.split(".")[0]
        elif at < len(args) and args[at].endswith(".py"):
            targets.append(Target(args[at], f"python {args[at]}", file=True))
    if base in APP_SERVERS:
        spec = _app_spec(args[1:])
        if spec:
            targets.append(Target(spec, f"{base} {spec}"))
    elif base == "uwsgi":
        for at, arg in enumerate(args):
            value = None
            if arg in ("--module", "-w", "--wsgi") and at + 1 < len(args):
                value = args[at + 1]
            elif arg.startswith(("--module=", "--wsgi=")):
                value = arg.split("=", 1)[1]
            if value and _SPEC.match(value):
                targets.append(Target(value, f"uwsgi --module {value}"))
    return executables, targets


def image_argv(attrs: Mapping[str, Any]) -> list[str]:
    config = attrs.get("Config") or {}
    return [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]


def expected_lock(settings: Settings, envs: EnvironmentSet | None, env: str = "main") -> lockfile.Lock:
    """The image's environment's lock combined with the locks of every environment it is layered on
    (bases first; the header, and so the interpreter, is the image environment's)."""
    chain = envs.closure(env) if envs is not None and env in envs.envs else [env]
    locks: list[lockfile.Lock] = []
    for name in chain:
        lock = lockfile.read(settings.lock_path(name), name)
        if lock is None:
            raise VerifyError(f"{settings.requirements_dir}/{name}.txt is missing: nothing to verify against")
        locks.append(lock)
    return lockfile.combine(locks)


def probe_config(settings: Settings, argv: Sequence[str], elf: str = "auto") -> dict[str, Any]:
    executables, targets = command_plan(argv)
    return {
        "app": settings.project_name,
        "modules": list(settings.app_modules) if settings.app_modules else None,
        "executables": executables,
        "targets": [t.as_json() for t in targets],
        "elf": elf,
    }


def parse_probe(output: str) -> dict[str, Any] | None:
    for line in reversed(output.splitlines()):
        if line.startswith(PROBE_MARKER):
            data: dict[str, Any] = json.loads(line[len(PROBE_MARKER):])
            return data
    return None


def _requirement_problems(data: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    all_installed = {canonicalize_name(k): v for k, v in data["dists"].items()}
    markers = dict(data["markers"])
    for dist, reqs in data["requires"].items():
        for text in reqs:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({**markers, "extra": ""}):
                continue
            have = all_installed.get(canonicalize_name(req.name))
            if have is None:
                problems.append(f"{dist} requires {text}, which is not installed")
            elif req.specifier and not req.specifier.contains(have, prereleases=True):
                problems.append(f"{dist} requires {text}, but {req.name} {have} is installed")
    return problems


def verify_report(data: Mapping[str, Any], settings: Settings, lock: lockfile.Lock) -> list[str]:
    """Every way the image breaks its promises (pure; ``data`` is the probe's output)."""
    problems: list[str] = []
    venv = settings.image.venv_path.rstrip("/")
    if os.path.normpath(data["prefix"]) != venv:
        problems.append(f"the interpreter's prefix is {data['prefix']}, expected {venv}")
    app = settings.project_name if settings.package else ""  # a source-tree app is no distribution
    problems += lockfile.venv_mismatches(lock, data["dists"], app, data["markers"],
                                         data["python"], "installed")
    problems += _requirement_problems(data)
    broken_scripts: set[str] = set()
    for ep in data.get("entry_points") or []:
        if ep.get("error"):
            broken_scripts.add(ep["name"])
            problems.append(f"console script {ep['name']} = {ep['value']}: {ep['error']}")
    for cmd in data.get("commands") or []:
        if cmd.get("path") is None:
            where = "not an executable file, nor on PATH"
            if settings.image.minimal:  # the minimal runtime has only the programs it is given
                where += (f"; runtime-image = \"minimal\" has no shell or tools: "
                          f"add {cmd['argv0']!r} to runtime-programs")
            problems.append(f"the image's command runs {cmd['argv0']!r}, which is not in the image ({where})")
        ep = cmd.get("entry_point")
        if ep and ep.get("error") and ep["name"] not in broken_scripts:
            problems.append(f"the image's command {ep['name']} = {ep['value']} ({ep['dist']}): {ep['error']}")
    for target in data.get("targets") or []:
        if target.get("error"):
            problems.append(f"the image's command '{target['label']}': {target['error']}")
    for module, error in (data.get("imports") or {}).items():
        if error:
            problems.append(f"'import {module}' fails: {error}")
    elf = data.get("elf") or {}
    for item in elf.get("missing") or []:
        library = item["library"]
        if library in RUNTIME_PROVIDED:
            continue
        if " not found" in library:  # the loader's "version `GLIBC_2.38' not found"
            problems.append(f"{item['file']}: {library} in the runtime image")
            continue
        package = package_for(library)
        hint = f"add {package}" if package else "add the Debian package that ships it"
        hint = f" ({hint} to runtime-packages)"
        problems.append(f"{item['file']} needs {library}, which is not in the runtime image{hint}")
    if int(data["uid"]) == 0:
        problems.append("the image runs as root")
    if data.get("compilers"):
        problems.append("compilers in the runtime image: " + ", ".join(data["compilers"]))
    return problems


def parse_env_vars(items: Sequence[str], flag: str = "--env-var") -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


@dataclass(frozen=True)
class VerifyOptions:
    env_vars: Mapping[str, str] = field(default_factory=dict)
    start: bool = False
    start_timeout: float = DEFAULT_START_TIMEOUT


def run_probe(engine: Engine, image: str, settings: Settings, config: Mapping[str, Any],
              env_vars: Mapping[str, str]) -> dict[str, Any]:
    python = f"{settings.image.venv_path.rstrip('/')}/bin/python"
    try:
        _, out = engine.run(image, ["-c", probe_source(), "verify", json.dumps(config)], entrypoint=[python],
                               environment=env_vars, timeout=PROBE_TIMEOUT)
    except VerifyError:
        raise
    except Exception as exc:  # the SDK's timeout is a requests exception
        if "timed out" in str(exc).lower():
            raise VerifyError(f"{image}: the checks did not finish in {PROBE_TIMEOUT:.0f} s "
                              "(an import that waits on a service?)") from None
        raise
    data = parse_probe(out)
    if data is None:
        raise VerifyError(f"the venv's interpreter does not run in {image}: {out.strip()[-300:]}")
    if "probe_error" in data:
        raise VerifyError(f"venvship's checks failed in {image}: {data['probe_error'].strip().splitlines()[-1]}")
    return data


def verify(settings: Settings, engine: Engine, image: str, *, envs: EnvironmentSet | None = None,
           options: VerifyOptions | None = None) -> float:
    """Check ``image``; raise VerifyError naming every problem. Returns the seconds it took."""
    opts = options or VerifyOptions()
    validate_reference(image)
    attrs = engine.require_image(image)
    lock = expected_lock(settings, envs)
    started = time.monotonic()
    config = probe_config(settings, image_argv(attrs))
    passed = passed_file(str(attrs.get("Id", "")), settings, lock, config, opts.env_vars)
    if passed is None or not passed.is_file():
        data = run_probe(engine, image, settings, config, opts.env_vars)
        problems = verify_report(data, settings, lock)
        problems += sbom_problems(engine, image, attrs, data, settings)
        if problems:
            raise VerifyError(f"{image}: {problems[0]}" + "".join(f"; {p}" for p in problems[1:12])
                              + (f" (+{len(problems) - 12} more)" if len(problems) > 12 else ""))
        if passed is not None:
            with contextlib.suppress(OSError):  # a read-only home: check again next time
                lockfile.write_atomically({passed: "passed\n"})
    if opts.start:
        start_check(engine, image, attrs, opts.env_vars, opts.start_timeout)
    return time.monotonic() - started


def passed_file(image_id: str, settings: Settings, lock: lockfile.Lock, config: Mapping[str, Any],
                env_vars: Mapping[str, str]) -> Path | None:
    """Where the checks' pass for one image id is kept. An image id is the digest of the image's
    config, which names its layers: the same id always holds the same files, so the same checks
    (venvship's version and probe, the settings, the locks, the variables) pass again; only a
    pass is kept (``--start`` always runs)."""
    if not image_id.startswith("sha256:"):
        return None
    from ..cache import cache_root

    root = cache_root() / "verified"
    key = hashlib.sha256("\0".join((
        image_id, __version__, probe_source(), _stable(settings), lock.body,
        json.dumps(dict(lock.header), sort_keys=True), json.dumps(config, sort_keys=True),
        json.dumps(dict(env_vars), sort_keys=True),
    )).encode()).hexdigest()
    return root / f"{key}.passed"


def _stable(settings: Settings) -> str:
    """The settings as text that is the same in every process (sets sorted)."""
    def default(value: object) -> object:
        return sorted(map(str, value)) if isinstance(value, (set, frozenset)) else str(value)

    return json.dumps(dataclasses.asdict(settings), sort_keys=True, default=default)


def sbom_problems(engine: Engine, image: str, attrs: Mapping[str, Any], data: Mapping[str, Any],
                  settings: Settings) -> list[str]:
    """The SBOM the image's label names lists exactly the installed distributions (an image
    without the label predates SBOMs: nothing to check)."""
    from . import sbom

    path = ((attrs.get("Config") or {}).get("Labels") or {}).get(sbom.SBOM_LABEL)
    if not path:
        return []
    raw = sbom.read_file(engine, image, path)
    if raw is None:
        return [f"the SBOM {path} (label {sbom.SBOM_LABEL}) is missing"]
    try:
        document = json.loads(raw)
    except ValueError as exc:
        return [f"the SBOM {path} is not JSON: {exc}"]
    app = settings.project_name if settings.package else ""
    return [f"{problem} ({path})" for problem in sbom.mismatches(document, data["dists"], app)]


def start_check(engine: Engine, image: str, attrs: Mapping[str, Any], env_vars: Mapping[str, str],
                timeout: float) -> None:
    """Run the image with its own command: it must become healthy (with a health check), or stay
    up a few seconds or exit 0 (without). The container is always removed."""
    test = ((attrs.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
    healthcheck = bool(test) and test[0] != "NONE"
    client = engine.client()
    container = client.containers.create(image, environment=dict(env_vars), detach=True)
    try:
        begun = time.monotonic()
        try:
            container.start()
        except Exception as exc:  # docker.errors.APIError: the runtime could not start the command
            raise VerifyError(f"{image} --start: the container does not start: {str(exc).strip()[-300:]}") from None
        reason = _wait_until_up(container, healthcheck, timeout, begun)
        if reason is None:
            return
        logs = container.logs(stdout=True, stderr=True, tail=LOG_LINES).decode("utf-8", "replace")
    finally:
        container.remove(force=True)
    tail = "\n".join(f"  | {line}" for line in logs.rstrip().splitlines()[-LOG_LINES:]) or "  | (no output)"
    hint = "--start-timeout gives it longer" if reason.startswith("not healthy") else None
    raise VerifyError(f"{image} --start: {reason}; the container's last log lines:\n{tail}", hint=hint)


def _wait_until_up(container: Any, healthcheck: bool, timeout: float, begun: float) -> str | None:
    """None once the container is up (healthy; or, without a health check, running for a few
    seconds or exited 0), else why it is not."""
    while True:
        container.reload()
        state = container.attrs.get("State") or {}
        elapsed = time.monotonic() - begun
        if state.get("Status") in ("exited", "dead"):
            code = int(state.get("ExitCode", 1))
            if code == 0 and not healthcheck:
                return None
            return f"the container exited with code {code}" + (" before its health check passed" if healthcheck else "")
        if healthcheck:
            status = (state.get("Health") or {}).get("Status")
            if status == "healthy":
                return None
            if status == "unhealthy":
                return "its health check failed"
        elif elapsed >= min(STAYS_UP_SECONDS, timeout):
            return None
        if elapsed > timeout:
            return f"not healthy after {timeout:.0f} s"
        time.sleep(0.2)
