"""Settings: ``[tool.venvship]`` in pyproject.toml, then ``VENVSHIP_*`` variables, then flags.

Read once into a frozen :class:`Settings`; nothing else reads configuration. Settings holds the
project and its layout, and one frozen group each for the images, the index, locking, the build
stages, the runtime stage, the Debian package and 'venvship test'. The keys in pyproject.toml are
flat (public names); ``_KEYS`` says which group and field each one fills.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_BASE_IMAGE = "python:3.12-slim"
Resolver = Literal["uv", "pip-tools"]
IndexStrategy = Literal["first-index", "unsafe-first-match", "unsafe-best-match"]
Source = Literal["auto", "requirements", "pyproject", "requirements-txt"]
NameSource = Literal["setting", "pyproject", "backend", "directory"]
ForeignInstall = Literal["build-platform", "emulated"]  # foreign-install (issue 18)
FOREIGN_INSTALLS: tuple[str, ...] = get_args(ForeignInstall)
RESOLVERS: tuple[str, ...] = get_args(Resolver)
INDEX_STRATEGIES: tuple[str, ...] = get_args(IndexStrategy)
SOURCES: tuple[str, ...] = get_args(Source)
# The requirements.txt layout's inputs (requirements.txt, requirements-NAME.txt, requirements/*.txt)
# are the user's files: its locks go to a directory of their own, never over an input.
TXT_LOCKS_DIR = "requirements.lock"
DEFAULT_APP_DIR = "/srv/app"
SYSTEM_CA_CANDIDATES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
_ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HTTP_CHECK = re.compile(r"^\s*[0-9]{1,5}(/[^\s\"'\\]*)?\s*$")
_STOP_SIGNAL = re.compile(r"^(SIG[A-Z0-9+-]+|[0-9]{1,2})$")
_PKG_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
# --- minimal runtime (issue 19) ---
MINIMAL = "minimal"  # runtime-image = "minimal": FROM scratch + a root filesystem from the base image
# Standard-library modules the minimal runtime leaves out (minimal-keep-modules keeps some back in):
# tests, IDEs, GUIs, installers and interactive terminals a server never needs; nis and _dbm for
# the libraries they pull in (Kerberos, Berkeley DB). A name is a top-level module or package,
# its __pycache__ files and its lib-dynload extension.
MINIMAL_LEFT_OUT = (
    "test", "idlelib", "tkinter", "_tkinter", "turtle", "turtledemo", "ensurepip", "lib2to3",
    "pydoc_data", "curses", "_curses", "_curses_panel", "readline", "nis", "_dbm",
    "_testcapi", "_testinternalcapi", "_testbuffer", "_testclinic", "_testimportmultiple",
    "_testmultiphase", "_testsinglephase", "_ctypes_test", "_xxtestfuzz", "xxlimited",
    "xxlimited_35", "xxsubtype",
)
# runtime-debug (build --target runtime-debug): these programs of the base image, where it has them
DEBUG_PROGRAMS = ("sh", "bash", "ls", "cat", "env", "id", "ps", "grep", "find", "head", "tail", "du", "df")
_PROGRAM = re.compile(r"^(/[A-Za-z0-9._+/-]+|[A-Za-z0-9._+-]+)$")
# --- end minimal runtime ---
# --- platforms (issue 18) ---
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")  # os/arch[/variant], as in --platform
ARCH_PLACEHOLDER = "{arch}"  # in base-image: the platform's architecture (amd64, arm64, ...)
# --- end platforms ---


@dataclass(frozen=True)
class Healthcheck:
    """The ``healthcheck`` setting: a command (exec form), or ``{http = "PORT/PATH"}``."""

    command: tuple[str, ...] = ()
    http: str | None = None  # "PORT/PATH", fetched with the venv's python (no curl needed)

    def argv(self, venv_path: str) -> list[str]:
        if self.http is None:
            return list(self.command)
        port, _, path = self.http.partition("/")
        url = f"http://127.0.0.1:{port}/{path}"
        code = f'import urllib.request as u; u.urlopen("{url}", timeout=4)'
        return [f"{venv_path.rstrip('/')}/bin/python", "-c", code]


@dataclass(frozen=True)
class ImageSettings:
    """The images: what the stages start from, where the venv goes, the tags built."""

    base: str = DEFAULT_BASE_IMAGE  # base-image
    runtime: str = ""  # runtime-image: "" (the base image), an image, or "minimal"
    python: str = "python3"
    venv_path: str = "/app"
    tags: tuple[str, ...] = ()  # images
    layer_groups: bool = True  # the venv in layer groups planned from the locks (layers.py)

    @property
    def minimal(self) -> bool:
        return self.runtime == MINIMAL

    @property
    def effective_runtime(self) -> str:
        """The image the runtime stage's files come from: with runtime-image = "minimal", the
        base image (the root filesystem is assembled from it)."""
        return self.base if self.minimal else (self.runtime or self.base)


@dataclass(frozen=True)
class IndexSettings:
    """Where packages come from and how they are reached."""

    url: str | None = None  # index-url
    extra_urls: tuple[str, ...] = ()  # extra-index-urls
    strategy: IndexStrategy | None = None  # index-strategy
    allow_sdist: tuple[str, ...] = ()
    ca_bundle: str = "auto"  # auto | none | a path
    netrc: str | None = None

    def ca_bundle_path(self) -> Path | None:
        """The CA bundle handed to builds as a secret, or None."""
        if self.ca_bundle == "none":
            return None
        if self.ca_bundle != "auto":
            path = Path(self.ca_bundle).expanduser()
            if not path.is_file():
                raise ConfigError(f"ca-bundle {self.ca_bundle!r} is not a readable file")
            return path
        env = os.environ.get("SSL_CERT_FILE")
        for candidate in ([env] if env else []) + list(SYSTEM_CA_CANDIDATES):
            if Path(candidate).is_file():
                return Path(candidate)
        return None


@dataclass(frozen=True)
class LockSettings:
    """How locks are made."""

    resolver: Resolver = "uv"
    # requirements that replace every requirement on the same package (uv's override-dependencies):
    # the way out for direct references (git, URLs), which cannot be fetched or hashed here
    override: tuple[str, ...] = ()
    pylock: bool = False


@dataclass(frozen=True)
class BuildSettings:
    """The build stages: system packages, build requirements, a source tree's build commands."""

    packages: tuple[str, ...] = ()  # build-packages
    requires: tuple[str, ...] = ()  # build-requires
    commands: tuple[str, ...] = ()  # build-commands: shell commands run in the build stage with the venv
    command_env: Mapping[str, str] = field(default_factory=dict)  # build-command-env: build-commands only, a secret


@dataclass(frozen=True)
class RuntimeSettings:
    """The runtime stage: what it holds and how its container runs."""

    packages: tuple[str, ...] = ()  # runtime-packages
    programs: tuple[str, ...] = ()  # runtime-programs: programs (with their libraries) in the minimal image
    minimal_keep_modules: tuple[str, ...] = ()  # MINIMAL_LEFT_OUT modules kept in the minimal image
    entrypoint: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    user: str = "app"
    uid: int = 10001
    workdir: str = "/home/app"
    expose: tuple[int, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)  # ENV in the runtime stage
    healthcheck: Healthcheck | None = None
    stop_signal: str | None = None


@dataclass(frozen=True)
class DebSettings:
    """The Debian package 'venvship export' makes."""

    name: str | None = None  # default: the project name, Debian-style
    version: str | None = None  # default: the app's version in the venv, Debian-style
    maintainer: str | None = None  # default: [project] maintainers/authors, else a placeholder
    description: str | None = None  # default: [project] description
    depends: tuple[str, ...] = ()  # more Depends, after the Python runtime and runtime-packages
    python_depends: str = "auto"  # auto | none | an explicit Depends list
    link_entry_points: bool = False  # link [project.scripts] into /usr/bin


@dataclass(frozen=True)
class TestSettings:
    """'venvship test': the command and the environments it runs with."""

    __test__ = False  # not a pytest test class
    command: tuple[str, ...] = ("python", "-m", "pytest")  # test-command
    envs: tuple[str, ...] = ("dev",)  # test-envs


@dataclass(frozen=True)
class PlatformSettings:
    """The platforms locks are compiled for, and the one this run works on (issue 18)."""

    targets: tuple[str, ...] = ()  # platforms: the first one's locks are ENV.txt; () = the engine's own
    base_images: Mapping[str, str] = field(default_factory=dict)  # base-images: platform -> base image
    current: str = ""  # this run's platform (Settings.for_platform); "" = the engine's own
    lock_suffix: str = ""  # ".linux-arm64" for a platform other than the first: ENV.linux-arm64.txt
    native: str = ""  # the engine's own platform, when this run asked for it ("" = not asked)
    base_setting: str = ""  # base-image as set, before for_platform replaced {arch} or took base-images'
    # foreign-install: how a foreign platform's venv is installed: by uv on the build platform
    # (where the build platform's interpreter is the target's), or by uv under emulation
    foreign_install: ForeignInstall = "build-platform"


@dataclass(frozen=True)
class Settings:
    """Every setting venvship uses, with its final value: the project and its layout here, the
    rest in groups."""

    project_dir: Path
    project_name: str = "app"
    project_version: str | None = None
    name_source: NameSource = "pyproject"  # where project_name came from
    package: bool = True  # False: nothing to build; the source tree is copied to app_dir
    package_reason: str = ""  # why, for 'venvship envs'
    app_dir: str = DEFAULT_APP_DIR  # where a non-packaged app's source tree goes (root-owned, read-only)
    app_modules: tuple[str, ...] = ()  # app-module: a string or a list
    source: Source = "auto"
    requirements_dir: str = "requirements"
    # env name -> name of the environment it is layered on
    layers: Mapping[str, str] = field(default_factory=dict)
    env_extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # environments.NAME.extra
    ignore_envs: tuple[str, ...] = ()  # extras / groups that are not environments
    template_dir: str = ".venvship/templates"
    image: ImageSettings = field(default_factory=ImageSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    lock: LockSettings = field(default_factory=LockSettings)
    build: BuildSettings = field(default_factory=BuildSettings)
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    deb: DebSettings = field(default_factory=DebSettings)
    tests: TestSettings = field(default_factory=TestSettings)
    platforms: PlatformSettings = field(default_factory=PlatformSettings)

    @property
    def requirements_path(self) -> Path:
        return self.project_dir / self.requirements_dir

    def lock_path(self, env: str) -> Path:
        return self.requirements_path / self.lock_file(env)

    def lock_file(self, env: str) -> str:
        """The file name of an environment's lock for this run's platform: ENV.txt for the first
        platform (of the platforms setting, or the engine's own), ENV.OS-ARCH.txt for another."""
        return f"{env}{self.platforms.lock_suffix}.txt"

    def for_platform(self, platform: str, native: str) -> Settings:
        """These settings for one target platform: its base image (base-images, else base-image
        with {arch} replaced) and its lock files. ``native``: the engine's own platform."""
        primary = self.platforms.targets[0] if self.platforms.targets else native
        arch = platform.split("/")[1] if "/" in platform else platform
        setting = self.platforms.base_setting or self.image.base
        image = self.platforms.base_images.get(platform, setting).replace(ARCH_PLACEHOLDER, arch)
        suffix = "" if platform == primary else "." + platform.replace("/", "-")
        return replace(
            self, image=replace(self.image, base=image),
            platforms=replace(self.platforms, current=platform, lock_suffix=suffix, native=native,
                              base_setting=setting))

    def target_platforms(self, native: str) -> tuple[str, ...]:
        """The platforms 'venvship lock' compiles for: the setting, else the engine's own."""
        return self.platforms.targets or (native,)

    def index_args(self, installer: str = "uv") -> list[str]:
        """Index options for uv or pip (empty for PyPI's default); uv also takes the strategy."""
        args: list[str] = []
        if self.index.url:
            args += ["--index-url", self.index.url]
        for url in self.index.extra_urls:
            args += ["--extra-index-url", url]
        if installer == "uv" and self.index.strategy:
            args += ["--index-strategy", self.index.strategy]
        return args

    def binary_args(self) -> list[str]:
        """Wheels only, except the packages allowed as sdists by name."""
        args = ["--only-binary", ":all:"]
        for name in self.index.allow_sdist:
            args += ["--no-binary", name]
        return args

    def fingerprint(self) -> dict[str, Any]:
        """The settings that change what a resolver produces (part of the lock's input hash)."""
        return {
            "resolver": self.lock.resolver,
            "index_url": self.index.url,
            "extra_index_urls": list(self.index.extra_urls),
            "index_strategy": self.index.strategy,
            "allow_sdist": sorted(self.index.allow_sdist),
            # only when set: locks made before the setting existed stay fresh
            **({"override": sorted(self.lock.override)} if self.lock.override else {}),
        }


# key in [tool.venvship] -> (group, field, kind); group "" is Settings itself
_KEYS: dict[str, tuple[str, str, str]] = {
    "base-image": ("image", "base", "str"),
    "runtime-image": ("image", "runtime", "str"),
    "python": ("image", "python", "str"),
    "venv-path": ("image", "venv_path", "str"),
    "resolver": ("lock", "resolver", "str"),
    "source": ("", "source", "str"),
    "requirements-dir": ("", "requirements_dir", "str"),
    "index-url": ("index", "url", "str"),
    "extra-index-urls": ("index", "extra_urls", "list"),
    "index-strategy": ("index", "strategy", "str"),
    "ca-bundle": ("index", "ca_bundle", "str"),
    "netrc": ("index", "netrc", "str"),
    "build-packages": ("build", "packages", "list"),
    "runtime-packages": ("runtime", "packages", "list"),
    "build-requires": ("build", "requires", "list"),
    "allow-sdist": ("index", "allow_sdist", "list"),
    "override": ("lock", "override", "list"),
    "entrypoint": ("runtime", "entrypoint", "list"),
    "command": ("runtime", "command", "list"),
    "user": ("runtime", "user", "str"),
    "uid": ("runtime", "uid", "int"),
    "workdir": ("runtime", "workdir", "str"),
    "expose": ("runtime", "expose", "intlist"),
    "test-command": ("tests", "command", "command"),
    "test-envs": ("tests", "envs", "list"),
    "app-module": ("", "app_modules", "strlist"),
    "pylock": ("lock", "pylock", "bool"),
    "template-dir": ("", "template_dir", "str"),
    "ignore-envs": ("", "ignore_envs", "list"),
    "images": ("image", "tags", "list"),
    "layer-groups": ("image", "layer_groups", "bool"),
    # --- runtime keys ---
    "env": ("runtime", "env", "table"),
    "healthcheck": ("runtime", "healthcheck", "healthcheck"),
    "stop-signal": ("runtime", "stop_signal", "str"),
    # --- end runtime keys ---
    # --- apps keys ---
    "name": ("", "project_name", "str"),
    "package": ("", "package", "bool"),
    "app-dir": ("", "app_dir", "str"),
    "build-commands": ("build", "commands", "list"),
    # --- end apps keys ---
    # --- export keys ---
    "deb-name": ("deb", "name", "str"),
    "deb-version": ("deb", "version", "str"),
    "deb-maintainer": ("deb", "maintainer", "str"),
    "deb-description": ("deb", "description", "str"),
    "deb-depends": ("deb", "depends", "list"),
    "deb-python-depends": ("deb", "python_depends", "str"),
    "deb-link-entry-points": ("deb", "link_entry_points", "bool"),
    # --- end export keys ---
    # --- minimal runtime keys ---
    "runtime-programs": ("runtime", "programs", "list"),
    "minimal-keep-modules": ("runtime", "minimal_keep_modules", "list"),
    # --- end minimal runtime keys ---
    # --- platform keys ---
    "platforms": ("platforms", "targets", "platforms"),
    "base-images": ("platforms", "base_images", "platform-table"),
    "foreign-install": ("platforms", "foreign_install", "str"),
    # --- end platform keys ---
}
_GROUPS: dict[str, type[Any]] = {
    "image": ImageSettings, "index": IndexSettings, "lock": LockSettings, "build": BuildSettings,
    "runtime": RuntimeSettings, "deb": DebSettings, "tests": TestSettings,
    "platforms": PlatformSettings,
}
_TABLES = {"environments", "build-command-env"}
_HOST_VALUE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def build_command_values(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """build-command-env with "${NAME}" values taken from the host's environment (at build
    time only: lock and the other commands never need them)."""
    environ = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for name, value in settings.build.command_env.items():
        host = _HOST_VALUE.match(value)
        if host:
            if host.group(1) not in environ:
                raise ConfigError(f"build-command-env.{name} is taken from ${host.group(1)}, which is not set")
            value = environ[host.group(1)]
            if "\n" in value or "\0" in value:
                raise ConfigError(f"build-command-env.{name}: ${host.group(1)} must be one line")
        out[name] = value
    return out


def has_txt_requirements(project_dir: Path) -> bool:
    """requirements.txt-style inputs: requirements.txt, requirements-NAME.txt, requirements/*.txt."""
    return bool(txt_inputs(project_dir))


def _is_venvship_lock(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return b"generated by 'venvship lock'" in fh.read(300)
    except OSError:
        return False


def txt_inputs(project_dir: Path) -> list[Path]:
    """The requirements.txt layout's input files (venvship's own locks are never inputs)."""
    found = sorted(project_dir.glob("requirements*.txt")) + sorted((project_dir / "requirements").glob("*.txt"))
    return [p for p in found if p.is_file() and not _is_venvship_lock(p)]


def _table(tool: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    """A KEY -> VALUE table of environment variables."""
    table = tool.get(key, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: {key} must be a table of NAME = \"value\"")
    out: dict[str, str] = {}
    for name, value in table.items():
        if not _ENV_VAR.match(name):
            raise ConfigError(f"{where}: {key}: {name!r} is not an environment variable name")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{where}: {key}.{name} must be a string, got {value!r}")
        text = str(value)
        if "\n" in text or "\0" in text:
            raise ConfigError(f"{where}: {key}.{name} must be one line")
        out[name] = text
    return out


def packaging(project_dir: Path, data: Mapping[str, Any], setting: bool | None) -> tuple[bool, str]:
    """Whether there is an app to build, and why. PEP 517 treats a missing [build-system] as
    setuptools' legacy backend, which builds from setup.py (or setup.cfg's [metadata]): with none of
    them there is nothing to build, and the app is its source tree."""
    if setting is not None:
        return setting, f"package = {'true' if setting else 'false'} in [tool.venvship]"
    uv = data.get("tool", {}).get("uv", {})
    if isinstance(uv, dict) and isinstance(uv.get("package"), bool):
        return uv["package"], f"[tool.uv] package = {'true' if uv['package'] else 'false'}"
    if "build-system" in data:
        return True, "pyproject.toml has [build-system]"
    if (project_dir / "setup.py").is_file():
        return True, "setup.py (setuptools' legacy backend)"
    cfg = project_dir / "setup.cfg"
    if cfg.is_file() and re.search(r"(?m)^\[metadata\][^\[]*^name\s*=", cfg.read_text(errors="replace")):
        return True, "setup.cfg [metadata] (setuptools' legacy backend)"
    return False, "nothing to build: no [build-system], setup.py or setup.cfg [metadata]"


def read_pyproject(project_dir: Path) -> dict[str, Any]:
    path = project_dir / "pyproject.toml"
    if not path.exists():
        if has_txt_requirements(project_dir) or any((project_dir / "requirements").glob("*.in")):
            return {}  # a requirements-only app: settings are optional
        raise ConfigError(
            f"no pyproject.toml or requirements.txt in {project_dir}",
            hint="run venvship from the project's directory or pass --project DIR",
        )
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except PermissionError as exc:
        raise ConfigError(f"cannot read {path}: permission denied") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def _coerce(key: str, kind: str, value: Any, where: str, from_env: bool = False) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where}: {key} must be {expected}, got {value!r}")

    if kind == "str":
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if kind == "int":
        if isinstance(value, str) and value.isdigit():
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad("an integer")
        return value
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind == "command":  # a list of arguments, or one string split as a POSIX shell would
        if isinstance(value, str):
            try:
                value = shlex.split(value)
            except ValueError as exc:
                raise ConfigError(f"{where}: {key} {value!r} cannot be split into arguments: {exc}") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a string or a list of strings")
        if not value:
            raise bad("a command")
        return tuple(value)
    if kind == "table":
        if isinstance(value, str) and from_env:  # KEY=VALUE, comma- or space-separated
            pairs = [v.partition("=") for v in re.split(r"[\s,]+", value) if v]
            if not all(sep for _, sep, _ in pairs):
                raise bad("KEY=VALUE pairs")
            value = {k: v for k, _, v in pairs}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise bad("a table of strings")
        for name, text in value.items():
            if not _ENV_VAR.match(name) or "\n" in text:
                raise bad(f"a table of KEY = 'value' (variable names, one-line values; {name!r} is not)")
        return dict(value)
    if kind == "healthcheck":
        if isinstance(value, str) and from_env and value.startswith("http="):
            value = {"http": value[5:]}
        if isinstance(value, dict):
            if set(value) != {"http"} or not isinstance(value["http"], str) or not _HTTP_CHECK.match(value["http"]):
                raise bad('a command, or a table {http = "PORT/PATH"}')
            return Healthcheck(http=value["http"].strip())
        if isinstance(value, str):
            value = shlex.split(value)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise bad('a command, or a table {http = "PORT/PATH"}')
        return Healthcheck(command=tuple(value))
    if kind in ("platforms", "platform-table"):
        return _coerce_platforms(key, kind, value, where, from_env)
    if kind == "strlist" and isinstance(value, str):  # one name, or a list of them
        value = [v for v in re.split(r"[\s,]+", value) if v]
    if kind in ("list", "intlist", "strlist"):
        if isinstance(value, str) and from_env:  # whitespace- or comma-separated
            value = [v for v in re.split(r"[\s,]+", value) if v]
        if not isinstance(value, list):
            raise bad("a list")
        if kind == "intlist":
            try:
                return tuple(int(v) for v in value)
            except (TypeError, ValueError):
                raise bad("a list of integers") from None
        if not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return tuple(value)
    raise AssertionError(kind)  # pragma: no cover


def parse_platforms(text: str, where: str) -> tuple[str, ...]:
    """A comma-separated list of platforms (--platform), checked."""
    names = [p.strip() for p in text.split(",") if p.strip()]
    return tuple(_coerce_platforms(where, "platforms", names, "command line", False))


def _coerce_platforms(key: str, kind: str, value: Any, where: str, from_env: bool) -> Any:
    """platforms: a list of os/arch[/variant]; base-images: a table of platform = image."""
    if isinstance(value, str) and from_env:
        items = [v for v in re.split(r"[\s,]+", value) if v]
        if kind == "platform-table":
            pairs = [v.partition("=") for v in items]
            if not all(sep for _, sep, _ in pairs):
                raise ConfigError(f"{where}: {key} must be PLATFORM=IMAGE pairs, got {value!r}")
            value = {k: v for k, _, v in pairs}
        else:
            value = items
    if kind == "platforms":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key} must be a list of platforms like \"linux/arm64\", got {value!r}")
        names = list(value)
    else:
        if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
            raise ConfigError(f"{where}: {key} must be a table of \"linux/arm64\" = \"image\", got {value!r}")
        names = list(value)
    for name in names:
        if not _PLATFORM.match(name):
            raise ConfigError(f"{where}: {key}: {name!r} is not a platform (os/arch, like linux/arm64)")
    if kind == "platforms":
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: {key} names a platform twice")
        return tuple(names)
    return dict(value)


def _validate(values: dict[str, Any]) -> None:
    if values.get("resolver", "uv") not in RESOLVERS:
        raise ConfigError(f"resolver must be one of {', '.join(RESOLVERS)}, got {values['resolver']!r}")
    if values.get("foreign-install", "build-platform") not in FOREIGN_INSTALLS:
        raise ConfigError(f"foreign-install must be one of {', '.join(FOREIGN_INSTALLS)}, "
                          f"got {values['foreign-install']!r}")
    if values.get("source", "auto") not in SOURCES:
        raise ConfigError(f"source must be one of {', '.join(SOURCES)}, got {values['source']!r}")
    strategy = values.get("index-strategy")
    if strategy is not None and strategy not in INDEX_STRATEGIES:
        raise ConfigError(
            f"index-strategy must be one of {', '.join(INDEX_STRATEGIES)}, got {strategy!r}"
        )
    venv = values.get("venv-path", "/app")
    if not PurePosixPath(venv).is_absolute() or ".." in PurePosixPath(venv).parts:
        raise ConfigError(f"venv-path must be an absolute path without '..', got {venv!r}")
    if venv.rstrip("/") in ("", "/usr", "/bin", "/etc", "/lib", "/var", "/tmp"):
        raise ConfigError(f"venv-path {venv!r} would overwrite a system directory")
    for name in values.get("allow-sdist", ()):
        if not _PKG_NAME.match(name):
            raise ConfigError(f"allow-sdist: {name!r} is not a package name")
    overridden: set[str] = set()
    for text in values.get("override", ()):
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise ConfigError(f"override: {text!r} is not a requirement: {exc}") from None
        if req.url:
            raise ConfigError(f"override: {text!r} is a direct reference; name an index release, "
                              f"like '{req.name}>=1.0'")
        if canonicalize_name(req.name) in overridden:
            raise ConfigError(f"override: {req.name} is named twice")
        overridden.add(canonicalize_name(req.name))
    if values.get("extra-index-urls") and values.get("index-url") and strategy is None:
        raise ConfigError(
            "index-url and extra-index-urls are both set but no index-strategy is chosen",
            hint="mixing a private index with a public one invites dependency confusion; set "
            "index-strategy = 'first-index' (safe: a name found on the first index is only "
            "taken from there) or 'unsafe-best-match' explicitly",
        )
    for url in [values.get("index-url") or "", *values.get("extra-index-urls", ())]:
        parsed = urlsplit(url)
        if url and (parsed.scheme not in ("http", "https", "file") or not (parsed.netloc or parsed.path)):
            raise ConfigError(f"index URL {url!r} is not an http(s) or file URL")
        if parsed.username or parsed.password:
            raise ConfigError(
                "an index URL contains credentials; they would end up in the Dockerfile and the image history",
                hint="put them in a netrc file and set netrc = '~/.netrc' (passed as a BuildKit secret)",
            )
    for program in values.get("runtime-programs", ()):
        if not _PROGRAM.match(program):
            raise ConfigError(f"runtime-programs: {program!r} is not a program name or absolute path")
    for module in values.get("minimal-keep-modules", ()):
        if module not in MINIMAL_LEFT_OUT:
            raise ConfigError(f"minimal-keep-modules: {module!r} is not left out of the minimal runtime "
                              f"(left out: {', '.join(MINIMAL_LEFT_OUT)})")
    signal = values.get("stop-signal")
    if signal is not None and not _STOP_SIGNAL.match(signal):
        raise ConfigError(f"stop-signal must be a signal name such as SIGQUIT or a number, got {signal!r}")
    uid = values.get("uid", 10001)
    if not 0 < uid < 2**31:
        raise ConfigError(f"uid must be a positive integer, got {uid}")


def _recorded_name(project_dir: Path, values: Mapping[str, Any]) -> str | None:
    """The name the build backend gave 'venvship lock' (setup.py, setup.cfg, Poetry)."""
    from .metadata import read_record

    record = read_record(project_dir, values.get("requirements-dir", "requirements"))
    return record.name if record is not None else None


def load_settings(project_dir: Path, overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Read pyproject.toml, apply VENVSHIP_* variables, then ``overrides`` (CLI flags)."""
    project_dir = project_dir.resolve()
    environ = os.environ if environ is None else environ
    data = read_pyproject(project_dir)
    tool = data.get("tool", {}).get("venvship", {})
    if not isinstance(tool, dict):
        raise ConfigError("[tool.venvship] must be a table")
    values: dict[str, Any] = {}
    where = "pyproject.toml [tool.venvship]"
    for key, value in tool.items():
        if key in _TABLES:
            continue
        if key not in _KEYS:
            close = [k for k in _KEYS if k.replace("-", "") == key.replace("-", "").replace("_", "")]
            raise ConfigError(
                f"{where}: unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
            )
        values[key] = _coerce(key, _KEYS[key][2], value, where)

    layers: dict[str, str] = {}
    env_extras: dict[str, tuple[str, ...]] = {}
    envs_table = tool.get("environments", {})
    if not isinstance(envs_table, dict):
        raise ConfigError(f"{where}: environments must be a table")
    for env, spec in envs_table.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: environments.{env} must be a table")
        for k, v in spec.items():
            if k == "extra":  # requirements added to the environment
                if not isinstance(v, list) or not all(isinstance(r, str) for r in v):
                    raise ConfigError(f"{where}: environments.{env}.extra must be a list of requirements")
                env_extras[env] = tuple(v)
                continue
            if k != "base":
                raise ConfigError(f"{where}: environments.{env}: unknown key {k!r}")
            if not isinstance(v, str):
                raise ConfigError(f"{where}: environments.{env}.base must be a string")
            layers[env] = v
        if not _ENV_NAME.match(env):
            raise ConfigError(f"{where}: {env!r} is not a valid environment name")

    for key, (_, _, kind) in _KEYS.items():
        var = "VENVSHIP_" + key.upper().replace("-", "_")
        if var in environ and environ[var] != "":
            values[key] = _coerce(var, kind, environ[var], "environment", from_env=True)

    for name, value in (overrides or {}).items():  # a key, with "_" for "-": base_image=...
        if value is None or value == ():
            continue
        if name.replace("_", "-") not in _KEYS:
            raise AssertionError(f"unknown override {name}")  # programming error
        values[name.replace("_", "-")] = value

    _validate(values)
    project = data.get("project", {})
    name_source: NameSource = "pyproject"
    if "name" in values:
        name_source = "setting"
    elif project.get("name"):
        values["name"] = str(project["name"])
    elif recorded := _recorded_name(project_dir, values):  # setup.py, setup.cfg, Poetry
        values["name"], name_source = recorded, "backend"
    else:
        values["name"], name_source = project_dir.name, "directory"
    values["package"], package_reason = packaging(project_dir, data, values.get("package"))
    if (values.get("source", "auto") == "auto" and not values["package"]
            and detect_txt_layout(project_dir, data, values)):
        values["source"] = "requirements-txt"
    if values.get("source") == "requirements-txt" and "requirements-dir" not in values:
        values["requirements-dir"] = TXT_LOCKS_DIR
    if not values["package"] and "workdir" not in values:
        values["workdir"] = values.get("app-dir", DEFAULT_APP_DIR)
    app_dir = values.get("app-dir", DEFAULT_APP_DIR)
    if not PurePosixPath(app_dir).is_absolute() or app_dir.rstrip("/") in ("", "/usr", "/etc", "/bin", "/tmp"):
        raise ConfigError(f"app-dir must be an absolute path that is not a system directory, got {app_dir!r}")
    if values.get("build-commands") and values["package"]:
        raise ConfigError(
            "build-commands run in an app copied as a source tree, but this app is built as a "
            f"package ({package_reason})",
            hint="set package = false in [tool.venvship] to copy the source tree instead",
        )
    top: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {group: {} for group in _GROUPS}
    groups["build"]["command_env"] = _table(tool, "build-command-env", where)
    for key, value in values.items():
        group, name, _ = _KEYS[key]
        (groups[group] if group else top)[name] = value
    return Settings(
        project_dir=project_dir,
        project_version=project.get("version"),
        name_source=name_source,
        package_reason=package_reason,
        layers=layers,
        env_extras=env_extras,
        **top,
        **{group: cls(**groups[group]) for group, cls in _GROUPS.items()},
    )


def detect_txt_layout(project_dir: Path, data: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """The requirements.txt layout (for an app with nothing to build, or ``source =
    "requirements-txt"``): requirements.txt-style inputs, no ``.in`` files, and no [project]
    dependencies or groups (those are the pyproject layout)."""
    req_dir = project_dir / str(values.get("requirements-dir", "requirements"))
    if any(req_dir.glob("*.in")) or not has_txt_requirements(project_dir):
        return False
    project = data.get("project", {})
    return not (project.get("dependencies") or project.get("optional-dependencies")
                or data.get("dependency-groups"))
