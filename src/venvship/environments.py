"""Environments: what each one asks for directly, and which environment it is layered on.

Two sources: the pip-tools layout (``requirements/<env>.in``, ``-c main.txt`` layers an
environment on ``main``) and pyproject.toml (``[project.dependencies]`` is ``main``; every
``[dependency-groups]`` group and ``[project.optional-dependencies]`` extra is layered on it).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from . import metadata as metadata_
from .errors import ConfigError, InputError
from .settings import Settings, read_pyproject, txt_inputs

BUILD_ENV = "build"  # the reserved environment that locks the app's build backend
_LAYER_LINE = re.compile(r"^(?:-c|--constraint)[ =]\s*(\S+)$")
_INCLUDE_LINE = re.compile(r"^(?:-r|--requirement)[ =]\s*(\S+)$")
_INDEX_LINE = re.compile(r"(-i|--index-url|--extra-index-url)[ =]\s*(\S+)")


@dataclass(frozen=True)
class InputLine:
    requirement: str  # normalised text, e.g. "flask>=3"
    origin: str  # "requirements/main.in:3"

    @property
    def name(self) -> str:
        return canonicalize_name(Requirement(self.requirement).name)


@dataclass(frozen=True)
class Environment:
    name: str
    lines: tuple[InputLine, ...]
    source: str  # where it is declared, for messages
    base: str | None = None

    def input_text(self) -> str:
        return "".join(f"{line.requirement}\n" for line in self.lines)


@dataclass(frozen=True)
class EnvironmentSet:
    envs: dict[str, Environment]

    def order(self, names: list[str] | None = None) -> list[str]:
        """Names in dependency order (bases first), restricted to ``names`` and their bases."""
        wanted = names if names else list(self.envs)
        for name in wanted:
            self.get(name)
        done: list[str] = []

        def visit(name: str) -> None:
            if name in done:
                return
            base = self.envs[name].base
            if base is not None:
                visit(base)
            done.append(name)

        for name in sorted(wanted, key=lambda n: (n != "main", n)):
            visit(name)
        return done

    def get(self, name: str) -> Environment:
        if name not in self.envs:
            known = ", ".join(sorted(self.envs)) or "none"
            raise InputError(f"no environment named {name!r} (known: {known})")
        return self.envs[name]

    def chain(self, name: str) -> list[str]:
        """``name`` and every environment below it, bottom first: ['main', 'dev']."""
        out = [name]
        while (base := self.envs[out[0]].base) is not None:
            out.insert(0, base)
        return out

    def closure(self, *names: str) -> list[str]:
        """Everything installing ``names`` installs: each one and every environment it is layered
        on, bases first, each once. With ``main.in`` saying ``-r base.in``, closure("main") is
        ['base', 'main']; the deps stage, export, install, tox and staleness checks all use this."""
        out: list[str] = []
        for name in names:
            for below in self.chain(self.get(name).name):
                if below not in out:
                    out.append(below)
        return out

    def input_hash(self, name: str, settings: Settings) -> str:
        """What a lock's ``inputs-sha256`` records: the inputs of the environment and those below
        it, and the settings that change what it resolves to."""
        payload = {
            "envs": {n: self.envs[n].input_text() for n in self.chain(name)},
            "settings": settings.fingerprint(),
            **({"build": True} if name == BUILD_ENV else {}),
        }
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def parse_requirement(text: str, origin: str) -> InputLine:
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise InputError(f"{origin}: malformed requirement {text!r}: {exc}") from None
    # A direct reference (git, URL) is kept here: discover() replaces it by the override setting
    # or refuses it, naming it (apply_overrides).
    return InputLine(str(req), origin)


def apply_overrides(env: Environment, overrides: Sequence[str]) -> Environment:
    """``[tool.venvship] override``: each requirement replaces every line naming its package
    (uv's override-dependencies), keeping the line's extras and, if it has none, its marker.
    A direct reference left over is refused: these machines reach package registries only, and
    a lock needs index releases with hashes."""
    by_name = {canonicalize_name(Requirement(o).name): Requirement(o) for o in overrides}
    lines: list[InputLine] = []
    for line in env.lines:
        req = Requirement(line.requirement)
        name = canonicalize_name(req.name)
        new = by_name.get(name)
        if new is not None:
            merged = Requirement(str(new))
            merged.extras = set(new.extras) | set(req.extras)
            if merged.marker is None:
                merged.marker = req.marker
            lines.append(InputLine(str(merged), f"{line.origin}, replaced by [tool.venvship] override"))
        elif req.url:
            raise InputError(
                f"{line.origin}: {req.name} is a direct URL reference ({req.url}); locks need "
                "index releases with hashes, and builds reach package registries only",
                hint=f"replace it by an index release: [tool.venvship] override = "
                f"[\"{req.name}>=VERSION\"]",
            )
        else:
            lines.append(line)
    return Environment(env.name, tuple(lines), env.source, env.base)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) with backslash continuations joined and ``--hash`` options
    dropped: a hashed requirements.txt used as an input reads as its requirements."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        start, acc = pending if pending is not None else (number, "")
        if raw.rstrip().endswith("\\") and not raw.lstrip().startswith("#"):
            pending = (start, acc + raw.rstrip()[:-1] + " ")
            continue
        pending = None
        out.append((start, re.sub(r"\s--hash[ =]\S+", "", " " + acc + raw).strip()))
    if pending is not None:
        out.append((pending[0], pending[1].strip()))
    return out


def _parse_in_file(path: Path, rel: str, seen: tuple[Path, ...] = (),
                   layer_of: Callable[[Path], str | None] | None = None,
                   indexes: Mapping[str, str] | None = None) -> tuple[list[InputLine], str | None]:
    """Lines of a ``.in`` file and the environment it is layered on (from ``-c x.txt``).
    ``layer_of`` (the requirements.txt layout) names the environment an included file is."""
    if path in seen:
        raise InputError(f"{rel}: -r include cycle")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {rel}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{rel} is not UTF-8 text") from None
    lines: list[InputLine] = []
    base: str | None = None
    for number, raw in _logical_lines(text):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        origin = f"{rel}:{number}"
        if layer_of is not None and re.fullmatch(r"(?:(?:-e|--editable)[ =]\s*)?(?:file:)?\.(?:\[[^\]]*\])?/?", line):
            continue  # '-e .': the project itself, which venvship builds (or, with nothing to build, copies)
        included = _INCLUDE_LINE.match(line) or _LAYER_LINE.match(line)
        if layer_of is not None and included:
            below = layer_of((path.parent / included.group(1)).resolve())
            if below is None:
                raise InputError(f"{origin}: {included.group(1)} is not one of the requirement files")
            if base is not None and base != below:
                raise InputError(f"{origin}: an environment can be layered on one other only")
            base = below
            continue
        if m := _LAYER_LINE.match(line):
            target = Path(m.group(1))
            if target.suffix not in (".txt", ".in") or target.parent != Path("."):
                raise InputError(f"{origin}: -c must name a lock beside it, like '-c main.txt'")
            if base is not None and base != target.stem:
                raise InputError(f"{origin}: an environment can be layered on one other only")
            base = target.stem
            continue
        if m := _INCLUDE_LINE.match(line):
            inc = path.parent / m.group(1)
            if inc.suffix == ".in" and inc.parent == path.parent:
                # pip-tools' "dev includes main": layer on it rather than copy its lines.
                if base is not None and base != inc.stem:
                    raise InputError(f"{origin}: an environment can be layered on one other only")
                base = inc.stem
                continue
            sub, _ = _parse_in_file(inc, str(Path(rel).parent / m.group(1)), (*seen, path))
            lines.extend(sub)
            continue
        index = _INDEX_LINE.fullmatch(line)
        if index and indexes is not None:  # the requirements.txt layout: a user's file, kept as it is
            option = "index-url" if index.group(1) in ("-i", "--index-url") else "extra-index-urls"
            if indexes.get(index.group(2).rstrip("/")) != option:
                raise InputError(
                    f"{origin}: {line!r}: venvship takes indexes from its settings",
                    hint=f"set {option} in [tool.venvship] to {index.group(2)!r} (credentials go in a "
                    "netrc file: netrc = '~/.netrc'); the line can then stay",
                )
            continue
        if line.startswith("-"):
            raise InputError(
                f"{origin}: unsupported option line {line!r}",
                hint="index settings belong in [tool.venvship]; the project itself is "
                "installed by venvship, so '-e .' is not needed",
            )
        lines.append(parse_requirement(line, origin))
    return lines, base


def _from_requirements(settings: Settings) -> dict[str, Environment]:
    envs: dict[str, Environment] = {}
    req_dir = settings.requirements_path
    for path in sorted(req_dir.glob("*.in")):
        name = path.stem
        rel = f"{settings.requirements_dir}/{path.name}"
        if name == BUILD_ENV:
            raise InputError(f"{rel}: 'build' is reserved for the app's build requirements")
        lines, base = _parse_in_file(path, rel)
        envs[name] = Environment(name, tuple(lines), rel, base)
    return envs


def txt_env_name(project_dir: Path, path: Path) -> str:
    """requirements.txt -> main; requirements-NAME.txt -> NAME; requirements/NAME.txt -> NAME."""
    if path.parent == project_dir:
        rest = path.stem[len("requirements"):].lstrip("-_.")
        return canonicalize_name(rest) if rest else "main"
    return canonicalize_name(path.stem)


def _from_txt(settings: Settings) -> dict[str, Environment]:
    """The requirements.txt layout: the user's files are inputs, read and never written."""
    root = settings.project_dir
    files: dict[str, Path] = {}
    for path in txt_inputs(root):
        name = txt_env_name(root, path)
        rel = str(path.relative_to(root))
        if name == BUILD_ENV:
            raise InputError(f"{rel}: 'build' is reserved for the app's build requirements")
        if name in files:
            raise InputError(f"{rel} and {files[name].relative_to(root)} would both be the "
                             f"environment {name!r}")
        files[name] = path
    by_path = {p.resolve(): n for n, p in files.items()}
    for name in [*files, BUILD_ENV]:  # venvship never writes a user's input file
        if settings.lock_path(name).resolve() in by_path:
            raise ConfigError(
                f"requirements-dir {settings.requirements_dir!r} would put the {name!r} lock over the "
                f"input {settings.lock_path(name).relative_to(root)}",
                hint="leave requirements-dir unset (locks go to requirements.lock/) or pick another directory",
            )
    indexes = {u.rstrip("/"): "extra-index-urls" for u in settings.index.extra_urls}
    if settings.index.url:
        indexes[settings.index.url.rstrip("/")] = "index-url"
    parsed = {name: _parse_in_file(path, str(path.relative_to(root)), layer_of=by_path.get, indexes=indexes)
              for name, path in files.items()}
    below_main: set[str] = set()  # what main includes (-r requirements-base.txt) is not on main
    cursor = parsed["main"][1] if "main" in parsed else None
    while cursor is not None and cursor not in below_main and cursor in parsed:
        below_main.add(cursor)
        cursor = parsed[cursor][1]
    envs: dict[str, Environment] = {}
    for name, path in files.items():
        lines, base = parsed[name]
        if base is None and name != "main" and path.parent == root and name not in below_main:
            base = "main"  # requirements-dev.txt: layered on requirements.txt
        envs[name] = Environment(name, tuple(lines), str(path.relative_to(root)), base)
    if "main" not in envs:
        raise InputError(
            "no main environment: the requirements.txt layout needs requirements.txt "
            f"or requirements/main.txt (found: {', '.join(sorted(envs)) or 'none'})",
            hint="add a requirements.txt that says '-r requirements/NAME.txt' for the file the image installs",
        )
    return envs


def _from_pyproject(data: dict[str, Any]) -> dict[str, Environment]:
    project = data.get("project", {})
    envs: dict[str, Environment] = {}
    deps = project.get("dependencies", [])
    if not isinstance(deps, list):
        raise ConfigError("pyproject.toml: [project] dependencies must be a list")
    where = "pyproject.toml [project.dependencies]"
    envs["main"] = Environment(
        "main", tuple(parse_requirement(d, f"{where}[{i}]") for i, d in enumerate(deps)), where
    )
    groups = data.get("dependency-groups", {})

    def group_lines(name: str, stack: tuple[str, ...] = ()) -> list[InputLine]:
        if name in stack:
            raise InputError(f"pyproject.toml [dependency-groups]: include-group cycle at {name!r}")
        if name not in groups:
            raise InputError(f"pyproject.toml [dependency-groups]: no group named {name!r}")
        out: list[InputLine] = []
        for i, item in enumerate(groups[name]):
            if isinstance(item, dict) and "include-group" in item:
                out.extend(group_lines(str(item["include-group"]), (*stack, name)))
            elif isinstance(item, str):
                out.append(parse_requirement(item, f"pyproject.toml [dependency-groups] {name}[{i}]"))
            else:
                raise InputError(f"pyproject.toml [dependency-groups] {name}[{i}]: bad entry {item!r}")
        return out

    for name in groups:
        envs[canonicalize_name(name)] = Environment(
            canonicalize_name(name), tuple(group_lines(name)),
            f"pyproject.toml [dependency-groups] {name}", "main",
        )
    _add_uv_dev_dependencies(envs, data)
    _add_poetry_groups(envs, data)
    extras = project.get("optional-dependencies", {})
    self_name = canonicalize_name(str(project.get("name", "")))

    def extra_lines(name: str, stack: tuple[str, ...] = ()) -> list[InputLine]:
        """An extra's requirements; a self-reference like ``app[test]`` is inlined."""
        if name in stack:
            raise InputError(f"pyproject.toml [project.optional-dependencies]: cycle at {name!r}")
        where = f"pyproject.toml [project.optional-dependencies] {name}"
        out: list[InputLine] = []
        for i, item in enumerate(extras.get(name, [])):
            line = parse_requirement(item, f"{where}[{i}]")
            req = Requirement(line.requirement)
            if self_name and canonicalize_name(req.name) == self_name:
                for extra in sorted(req.extras):
                    if extra not in extras:
                        raise InputError(f"{where}[{i}]: {self_name} has no extra {extra!r}")
                    out.extend(extra_lines(extra, (*stack, name)))
                continue
            out.append(line)
        return out

    for name in extras:
        envs[canonicalize_name(name)] = Environment(
            canonicalize_name(name), tuple(extra_lines(name)),
            f"pyproject.toml [project.optional-dependencies] {name}", "main",
        )
    if BUILD_ENV in envs:
        raise InputError(f"{envs[BUILD_ENV].source}: 'build' is reserved for build requirements")
    return envs


def _add_uv_dev_dependencies(envs: dict[str, Environment], data: dict[str, Any]) -> None:
    """``[tool.uv] dev-dependencies`` (uv's older spelling of the ``dev`` group) is the ``dev``
    environment, layered on main; merged into ``[dependency-groups] dev`` when both exist, as uv does."""
    uv = data.get("tool", {}).get("uv", {})
    deps = uv.get("dev-dependencies") if isinstance(uv, dict) else None
    if deps is None:
        return
    where = "pyproject.toml [tool.uv] dev-dependencies"
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise InputError(f"{where} must be a list of requirement strings")
    lines = tuple(parse_requirement(d, f"{where}[{i}]") for i, d in enumerate(deps))
    if "dev" in envs:
        old = envs["dev"]
        envs["dev"] = Environment("dev", old.lines + lines, f"{old.source} + {where}", old.base)
    else:
        envs["dev"] = Environment("dev", lines, where, "main")


def _add_poetry_groups(envs: dict[str, Environment], data: dict[str, Any]) -> None:
    """Poetry's ``[tool.poetry.group.<name>.dependencies]`` (and ``dev-dependencies``): an
    environment each, layered on main; merged into a ``[dependency-groups]`` group of the same name."""
    from .poetry_groups import groups

    for name, (where, reqs) in groups(data).items():
        env = canonicalize_name(name)
        lines = tuple(parse_requirement(req, origin) for req, origin in reqs)
        if env in envs:
            old = envs[env]
            envs[env] = Environment(env, old.lines + lines, f"{old.source} + {where}", old.base)
        else:
            envs[env] = Environment(env, lines, where, "main")


def build_requirements(settings: Settings, data: dict[str, Any] | None = None) -> Environment:
    """The app's build requirements: ``[build-system] requires`` plus ``build-requires``."""
    data = read_pyproject(settings.project_dir) if data is None else data
    system = data.get("build-system", {})
    # PEP 517's fallback when a project names no backend.
    requires = system.get("requires", ["setuptools>=40.8.0"])
    where = "pyproject.toml [build-system] requires"
    if "requires" not in system:
        where = "PEP 517's default backend (setuptools)"
    lines = [parse_requirement(r, f"{where}[{i}]") for i, r in enumerate(requires)]
    if not settings.package:  # only sdists allowed by allow-sdist are built, against this lock
        where = f"{where}, for the allowed sdists (the app itself has nothing to build)"
    lines += [
        parse_requirement(r, f"[tool.venvship] build-requires[{i}]")
        for i, r in enumerate(settings.build.requires)
    ]
    return Environment(BUILD_ENV, tuple(lines), where)


def _relabel(envs: dict[str, Environment], label: str) -> dict[str, Environment]:
    """Requirements recorded from the build backend: say so instead of '[project...]'."""
    pending = label.endswith(")")

    def fix(text: str) -> str:
        if pending:
            return label if text.startswith("pyproject.toml [project.") else text
        return (text.replace("pyproject.toml [project.dependencies]", f"{label}: Requires-Dist")
                .replace("pyproject.toml [project.optional-dependencies]", f"{label}: extra"))

    return {n: replace(e, source=fix(e.source), lines=tuple(replace(ln, origin=fix(ln.origin)) for ln in e.lines))
            for n, e in envs.items()}


def discover(settings: Settings, *, include_build: bool = True,
             metadata: metadata_.Record | None = None) -> EnvironmentSet:
    """``metadata``: the backend's answer to use instead of the recorded one (venvship lock)."""
    data = read_pyproject(settings.project_dir)
    data, label, pending = metadata_.effective_pyproject(settings, data, metadata)
    source = settings.source
    if source == "auto":
        source = "requirements" if any(settings.requirements_path.glob("*.in")) else "pyproject"
    if source == "requirements-txt":
        envs = _from_txt(settings)
    else:
        envs = _from_requirements(settings) if source == "requirements" else _from_pyproject(data)
    if label is not None and source == "pyproject":
        envs = _relabel(envs, label)
    for name in settings.ignore_envs:  # extras and groups that are not environments
        if name != "main":
            envs.pop(canonicalize_name(name), None)
    if not envs:
        raise InputError(f"no environments: {settings.requirements_dir}/*.in has no files")
    for env, extra in settings.env_extras.items():  # [tool.venvship.environments.NAME] extra
        if env not in envs:
            raise ConfigError(f"[tool.venvship.environments.{env}] extra: no environment named {env!r}")
        where = f"[tool.venvship.environments.{env}] extra"
        added = tuple(parse_requirement(r, f"{where}[{i}]") for i, r in enumerate(extra))
        envs[env] = Environment(env, envs[env].lines + added, envs[env].source, envs[env].base)
    for layered, on in settings.layers.items():
        if layered not in envs:
            if pending or layered in settings.ignore_envs:
                continue  # the backend has not named its extras yet
            raise ConfigError(f"[tool.venvship.environments.{layered}]: no environment named {layered!r}")
        # base = "" : a standalone environment, not layered on anything
        envs[layered] = Environment(layered, envs[layered].lines, envs[layered].source, on or None)
    for environment in envs.values():
        if environment.base is not None and environment.base not in envs:
            raise InputError(
                f"{environment.source}: layered on {environment.base!r}, which is not an environment"
            )
    for name in envs:  # cycle check
        seen = [name]
        below = envs[name].base
        while below is not None:
            if below in seen:
                cycle = " -> ".join([*seen[seen.index(below):], below])
                raise InputError(f"layering cycle: {cycle}")
            seen.append(below)
            below = envs[below].base
    if include_build:
        envs[BUILD_ENV] = build_requirements(settings, data)
    return EnvironmentSet({name: apply_overrides(e, settings.lock.override) for name, e in envs.items()})
