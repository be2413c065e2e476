"""One Jinja environment (StrictUndefined) and the context the Dockerfile template sees."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from . import __version__, layers, lockfile, resources
from .environments import BUILD_ENV, EnvironmentSet
from .errors import ConfigError, LockIntegrityError
from .ops import testenvs
from .ops.sbom import SBOM_PATH
from .settings import DEBUG_PROGRAMS, MINIMAL_LEFT_OUT, Settings, read_pyproject

if TYPE_CHECKING:  # imported where a template is rendered: a no-op build reuses its last rendering
    import jinja2


def builtin_template_dir() -> Path:
    """The templates directory (resources.templates_dir, kept for existing callers)."""
    return resources.templates_dir()


def tools_lock_text(resolver: str) -> str:
    text = resources.tool_lock(resources.TOOLS_UV if resolver == "uv" else resources.TOOLS_PIP_TOOLS)
    if resolver == "pip-tools":  # the build stages install with uv whichever resolver locks
        text += resources.tool_lock(resources.TOOLS_UV)
    text += resources.tool_lock(resources.TOOLS_SBOM)  # the SBOM generator (cyclonedx-py)
    lines = one_line_requirements(text).splitlines()
    # pip-tools' lock and the SBOM's share pins (packaging, tomli), spelled alike: each once
    return "".join(f"{line}\n" for line in dict.fromkeys(lines))


def printf_file(text: str, dest: str, indent: str = "        ") -> str:
    """Shell that writes ``text`` to ``dest`` with printf: one quoted argument per line.

    Used instead of Dockerfile heredocs, which hadolint cannot parse.
    """
    lines = text.rstrip("\n").split("\n")
    if any("'" in line for line in lines):
        raise ConfigError(f"cannot embed {dest}: it contains a single quote")
    args = f" \\\n{indent}".join(f"'{line}'" for line in lines)
    return f"printf '%s\\n' \\\n{indent}{args} \\\n{indent}> {dest}"


def one_line_requirements(text: str) -> str:
    """A requirements file with continuations joined, comments dropped, markers double-quoted."""
    out: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += (" " if current else "") + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            out.append(current.replace("'", '"'))
            current = ""
    if current:
        out.append(current.replace("'", '"'))
    return "\n".join(out) + "\n"


# venvship's fixed epoch, 1980-01-01T00:00:00Z: the mtime of the files of layers whose content does
# not depend on the commit (the venv, the runtime packages, the user), and SOURCE_DATE_EPOCH when
# there is neither git nor SOURCE_DATE_EPOCH. Not 0: zip (wheels) cannot store times before 1980.
FIXED_EPOCH = 315532800


def environment(settings: Settings | None = None) -> jinja2.Environment:
    import jinja2

    builtin = jinja2.FileSystemLoader(str(resources.templates_dir()))
    loaders: list[jinja2.BaseLoader] = []
    if settings is not None:
        user_dir = settings.project_dir / settings.template_dir
        if user_dir.is_dir():
            loaders.append(jinja2.FileSystemLoader(str(user_dir)))
    loaders += [builtin, jinja2.PrefixLoader({"venvship": builtin})]
    # Renders Dockerfiles, not HTML: escaping would corrupt them.
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701
    )
    env.filters["printf_file"] = printf_file
    env.filters["shquote"] = shlex.quote
    return env


def build_backend(data: dict[str, Any]) -> tuple[str, str]:
    """(backend, backend-path joined by ':' or '-') from pyproject data; PEP 517's default."""
    system = data.get("build-system", {})
    backend = system.get("build-backend", "setuptools.build_meta:__legacy__")
    path = system.get("backend-path")
    return backend, ":".join(path) if path else "-"


SCM_BACKENDS = ("setuptools-scm", "setuptools_scm", "hatch-vcs", "hatch_vcs")


def uses_scm_version(data: dict[str, Any]) -> bool:
    """The build backend takes the version from VCS tags (setuptools-scm, hatch-vcs)."""
    requires = " ".join(str(r) for r in data.get("build-system", {}).get("requires", [])).lower()
    return any(b in requires for b in SCM_BACKENDS)


def default_command(settings: Settings, data: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(entrypoint, command): the settings, else the project's first console script."""
    if settings.runtime.entrypoint or settings.runtime.command:
        return settings.runtime.entrypoint, settings.runtime.command
    scripts = data.get("project", {}).get("scripts", {})
    if scripts:
        return (f"{settings.image.venv_path}/bin/{next(iter(scripts))}",), ()
    return (), ("python",)


def env_value(value: str) -> str:
    """A Dockerfile ENV value, double-quoted: no word splitting, no $-expansion."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def index_flags(settings: Settings, installer: str) -> str:
    """Index options for uv or pip, each followed by a space (empty for PyPI's default)."""
    return "".join(f"{flag} " for flag in settings.index_args(installer))


def layer_groups(settings: Settings, main_locks: list[str]) -> list[dict[str, Any]]:
    """The venv's layer groups (layers.py) from the main closure's locks and the recorded wheel
    sizes; none (one deps stage) when turned off, before the first lock, or for one group."""
    if not settings.image.layer_groups:
        return []
    try:
        locks = [lockfile.read(settings.lock_path(env), env) for env in main_locks]
    except LockIntegrityError:
        return []  # the build names the broken lock
    present = [lock for lock in locks if lock is not None]
    if not present or len(present) != len(locks):
        return []
    sizes = settings.requirements_path / layers.sizes_name(settings.platforms.lock_suffix)
    groups = layers.plan(lockfile.combine(present).pins, layers.read_sizes(sizes))
    sdists = {canonicalize_name(n) for n in settings.index.allow_sdist}
    cached = bytecode_cacheable(present[0].header.get("python", ""))
    return [{"name": g.name, "members": list(g.members), "sdist": bool(sdists & set(g.members)),
             "bytecode_cache": cached and not sdists & set(g.members)}
            for g in groups] if len(groups) > 1 else []


# The layer-groups stage's split (templates/macros.j2, split_groups), done on the host: the same
# bytes, line for line. `venvship build` hands them to BuildKit as the named context `layer-groups`,
# which replaces that stage, so a bump's group step starts without waiting for a container that
# splits the locks (docs/dockerfile.md). A plain `docker buildx build` runs the stage itself.
GROUPS_CONTEXT = "layer-groups"
_REQUIREMENT = re.compile(r"[A-Za-z0-9]")
_HASH_LINE = re.compile(r" +--hash")


def split_group_locks(settings: Settings, envs: EnvironmentSet) -> dict[str, bytes]:
    """The files the layer-groups stage writes, by their path in it: one hashed requirements file
    a group under opt/venvship/groups/, and build.txt beside them when a group builds an sdist.
    {} without layer groups, or when a locked name is in no group (the stage then fails the build
    with its own message)."""
    main_locks = envs.closure("main")
    groups = layer_groups(settings, main_locks)
    if not groups:
        return {}
    where = {member: g["name"] for g in groups for member in g["members"]}
    out: dict[str, list[str]] = {g["name"]: [] for g in groups}
    for env in main_locks:
        current: str | None = None
        for line in settings.lock_path(env).read_text(encoding="utf-8").splitlines():
            if _REQUIREMENT.match(line):
                name = canonicalize_name(re.split(r"[=<>!~;\[ ]", line.split(maxsplit=1)[0], maxsplit=1)[0])
                current = where.get(name)
                if current is None:
                    return {}
            if current is not None and (_REQUIREMENT.match(line) or _HASH_LINE.match(line)):
                out[current].append(line + "\n")
    files = {f"opt/venvship/groups/{name}.txt": "".join(lines).encode("utf-8") for name, lines in out.items()}
    if any(g["sdist"] for g in groups):
        files["opt/venvship/groups/build.txt"] = settings.lock_path("build").read_bytes()
    return files


def without_docstring(script: str) -> str:
    """A script for the Dockerfile: its module docstring (what it does and why, at length) left in
    venvship's templates directory, one comment line naming the file instead."""
    if not script.startswith('"""'):
        return script
    end = script.index('"""', 3) + 3
    return f"# venvship: templates/{resources.COMPILE_CACHED} (its docstring says what it does and why)" + script[end:]


def bytecode_cacheable(python: str) -> bool:
    """Whether a lock's interpreter (its header's "cpython 3.11.2") writes .pyc bytes that depend on
    the source alone, so that templates/compile_cached.py may take them from its cache: CPython
    3.11+ (before, marshal's output depends on the compiling process; the script says why)."""
    implementation, _, version = python.partition(" ")
    try:
        release = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return implementation == "cpython" and len(release) == 2 and release >= (3, 11)


# foreign-install = "build-platform" (issue 18): what the build platform's interpreter must share with
# the target's for the venv to be the same (the cross-build-base stage compares them), and the
# target's platform as uv's --python-platform names it (ARCH-manylinux_X_Y, from its glibc).
# Not sys.version: its build date and compiler differ between two architectures' builds of one
# release (official images), and they do not change the bytecode the interpreter writes.
CROSS_PROBE = ('import importlib.util, os, platform, sys; print(sys.implementation.name, platform.python_version(), '
               'importlib.util.MAGIC_NUMBER.hex(), os.path.realpath(sys.executable), sys.prefix, sep="|")')
CROSS_PLATFORM = (
    'import os, platform, sys; names = getattr(os, "confstr_names", {}); '
    'libc = (os.confstr("CS_GNU_LIBC_VERSION") or "") if "CS_GNU_LIBC_VERSION" in names else ""; '
    'sys.exit("venvship: error: the target has no glibc: set foreign-install to emulated") '
    'if not libc.startswith("glibc ") else '
    'print(platform.machine() + "-manylinux_" + libc.split()[1].replace(".", "_"))'
)


def cross_install(settings: Settings, main_locks: list[str]) -> dict[str, str] | None:
    """How a foreign platform's venv is installed: by uv on the build platform (the engine's own,
    ``platforms.native``) when its interpreter is the target's, else (None) under emulation.
    The build platform must be one of the platforms locked for, so that its base image is known
    and its locks record the same interpreter version as this platform's (the build checks the
    interpreters themselves)."""
    p = settings.platforms
    if (p.foreign_install != "build-platform" or not p.native or not p.current or p.current == p.native
            or p.native not in p.targets):
        return None
    native = settings.for_platform(p.native, p.native)
    for env in main_locks:
        try:
            own, theirs = lockfile.read(settings.lock_path(env), env), lockfile.read(native.lock_path(env), env)
        except LockIntegrityError:
            return None  # the build names the broken lock
        if own is None or theirs is None or own.header.get("python") != theirs.header.get("python"):
            return None
    return {"base_image": native.image.base, "platform": p.native}


def sbom_reads_pyproject(data: Mapping[str, Any]) -> bool:
    """Whether cyclonedx-py can take the SBOM's subject (the app) from pyproject.toml. It reads a
    non-empty [tool.poetry] table before [project] and then needs the name there, which Poetry 2
    projects keep in [project] (CycloneDX/cyclonedx-python#839: the SBOM step failed on such a
    project). Without it the SBOM has no subject; the image's labels still name the app."""
    poetry = data.get("tool", {}).get("poetry")
    if poetry:
        return "name" in poetry
    return "name" in data.get("project", {})


def context(settings: Settings, envs: EnvironmentSet) -> dict[str, Any]:
    data = read_pyproject(settings.project_dir)
    backend, backend_path = build_backend(data)
    entrypoint, command = default_command(settings, data)
    test_envs = testenvs.in_image(settings, envs)
    test_locks = envs.closure(*test_envs)
    main_locks = envs.closure("main")
    groups = layer_groups(settings, main_locks)
    cross = cross_install(settings, main_locks)
    if cross and (all(g["sdist"] for g in groups) if groups else settings.index.allow_sdist):
        cross = None  # sdists are built for the target under emulation: nothing else to install
    return {
        "venvship_version": __version__,
        "project_name": settings.project_name,
        "project_version": settings.project_version or "0",
        "base_image": settings.image.base,
        "runtime_image": settings.image.effective_runtime,
        "python": settings.image.python,
        "venv_path": settings.image.venv_path.rstrip("/") or "/app",
        "requirements_dir": settings.requirements_dir,
        "lock_suffix": settings.platforms.lock_suffix,  # another platform's locks: ENV.linux-arm64.txt
        "main_locks": main_locks,
        "layer_groups": groups,
        # --- foreign platforms: their venv installed on the build platform (block cross) ---
        "cross": cross,
        "cross_probe": CROSS_PROBE,
        "cross_platform": CROSS_PLATFORM,
        # --- end foreign platforms ---
        "main_lock_paths": [f"/opt/venvship/locks/{e}.txt" for e in main_locks],
        "build_packages": list(settings.build.packages),
        "allow_sdist": sorted(settings.index.allow_sdist),
        "uv_index_flags": index_flags(settings, "uv"),
        "pip_index_flags": index_flags(settings, "pip"),
        "runtime_packages": list(settings.runtime.packages),
        "tools_lock": tools_lock_text(settings.lock.resolver).splitlines(),
        "build_backend": backend,
        "scm_version": uses_scm_version(data),
        "backend_path": backend_path,
        "build_env": BUILD_ENV,
        "test_envs": test_envs or ["main"],
        "test_locks": test_locks,
        "test_lock_paths": [f"/opt/venvship/locks/{e}.txt" for e in test_locks],
        "test_command": list(settings.tests.command),
        "uid": settings.runtime.uid,
        "user": settings.runtime.user,
        "workdir": settings.runtime.workdir,
        "expose": list(settings.runtime.expose),
        "runtime_env": [f"{key}={env_value(value)}" for key, value in sorted(settings.runtime.env.items())],
        "healthcheck": (settings.runtime.healthcheck.argv(settings.image.venv_path)
                        if settings.runtime.healthcheck else None),
        "stop_signal": settings.runtime.stop_signal,
        "entrypoint": list(entrypoint),
        "command": list(command),
        # --- repro: the SBOM (stage sbom) ---
        "sbom_path": SBOM_PATH,
        "sbom_pyproject": sbom_reads_pyproject(data),  # cyclonedx-py's subject: the app
        "sbom_index_flags": "".join(f"{flag} " for flag in (
            [f"--index-url {settings.index.url}"] if settings.index.url else [])
            + [f"--extra-index-url {url}" for url in settings.index.extra_urls]),
        "fixed_epoch": FIXED_EPOCH,
        # --- apps: non-packaged apps, env, build-commands ---
        "package": settings.package,
        "package_reason": settings.package_reason,
        "app_dir": settings.app_dir.rstrip("/"),
        "home": settings.runtime.workdir if settings.package else f"/home/{settings.runtime.user}",
        "env": sorted(settings.runtime.env.items()),
        "build_commands": list(settings.build.commands),
        "build_command_env": sorted(settings.build.command_env),  # names only, never values
        # --- end apps ---
        # --- minimal: runtime-image = "minimal" (stages runtime-rootfs, runtime-debug) ---
        "minimal": settings.image.minimal,
        "minimal_rootfs_py": (resources.text(resources.MINIMAL_ROOTFS)
                              if settings.image.minimal else ""),
        "minimal_left_out": [m for m in MINIMAL_LEFT_OUT if m not in settings.runtime.minimal_keep_modules],
        "runtime_programs": list(settings.runtime.programs),
        "debug_programs": list(DEBUG_PROGRAMS),
        # --- end minimal ---
        # --- the layer groups' bytecode cache (templates/compile_cached.py) ---
        "compile_cached_py": (without_docstring(resources.text(resources.COMPILE_CACHED))
                              if not cross and any(g["bytecode_cache"] for g in groups) else ""),
    }


def render_script(name: str, **values: Any) -> str:
    """A script template (resources.LOCK_SH, ...) rendered with ``values``; venvship's own, never a
    project override. Kept as render_dockerfile keeps the Dockerfile: a lock with the same plan
    needs neither Jinja nor a template compile (about 35 ms)."""
    kept = _kept_rendering("scripts", ".sh", [resources.templates_dir()], values, name)
    if kept is not None:
        with contextlib.suppress(OSError):  # not kept yet (or unreadable): render it
            return kept.read_bytes().decode("utf-8")
    text = environment().get_template(name).render(values).rstrip("\n") + "\n"
    if kept is not None:
        with contextlib.suppress(OSError):  # a read-only home: render again next time
            lockfile.write_atomically({kept: text})
    return text


def template_dirs(settings: Settings) -> list[Path]:
    """Where the Dockerfile's templates are looked up, in order (environment's loaders)."""
    user_dir = settings.project_dir / settings.template_dir
    return [user_dir, resources.templates_dir()] if user_dir.is_dir() else [resources.templates_dir()]


def rendered_file(settings: Settings, values: dict[str, Any]) -> Path | None:
    """Where the Dockerfile rendered from ``values`` is kept, so that a no-op build need not load
    Jinja and compile the templates again. The key is everything the text depends on: the values,
    every file of the template directories (names and bytes), this module's source (the filters)
    and venvship's and Jinja's versions. None: a value is not plain data (never kept)."""
    return _kept_rendering("dockerfiles", ".Dockerfile", template_dirs(settings), values)


def _kept_rendering(kind: str, suffix: str, directories: list[Path], values: Mapping[str, Any],
                    name: str | None = None) -> Path | None:
    """Where a rendering is kept (rendered_file, render_script): under a key of the values, the
    template's name, every file of ``directories``, this module's source and venvship's and
    Jinja's versions. None: a value is not plain data (never kept)."""
    try:
        data = json.dumps(values, sort_keys=True)
    except (TypeError, ValueError):
        return None
    digest = hashlib.sha256()
    jinja = importlib.util.find_spec("jinja2")
    jinja_init = Path(jinja.origin) if jinja and jinja.origin else None
    for part in (__version__, Path(__file__).read_bytes(),
                 str(jinja_init.stat().st_size) + ":" + str(jinja_init.stat().st_mtime_ns) if jinja_init else "-",
                 data, *((name,) if name is not None else ())):
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    for directory in directories:
        digest.update(str(directory).encode() + b"\0")
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes() + b"\0")
    from .cache import cache_root

    return cache_root() / kind / f"{digest.hexdigest()}{suffix}"


def render_dockerfile(settings: Settings, envs: EnvironmentSet, *, committed: bool = False) -> str:
    """The Dockerfile venvship builds with; ``committed``: the one 'venvship dockerfile' prints for
    users to commit, without the stages only venvship's lock and export use (they need named
    build contexts that venvship provides)."""
    values = {**context(settings, envs), "venvship_stages": not committed}
    kept = rendered_file(settings, values)
    if kept is not None:
        with contextlib.suppress(OSError):  # not kept yet (or unreadable): render it
            return kept.read_bytes().decode("utf-8")
    import jinja2

    try:
        text = environment(settings).get_template(resources.DOCKERFILE).render(values)
    except jinja2.UndefinedError as exc:
        raise ConfigError(f"template error: {exc.message}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"template {exc.filename or exc.name}:{exc.lineno}: {exc.message}") from None
    if kept is not None:
        with contextlib.suppress(OSError):  # a read-only home: render again next time
            lockfile.write_atomically({kept: text})
    return text
