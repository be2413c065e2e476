"""``venvship tox``: a tox 4 ``[testenv]`` that installs exactly the locked versions.

tox installs ``deps`` with pip; a requirements file with ``--hash`` puts pip in hash-checking
mode, so ``-r requirements/main.txt -r requirements/dev.txt`` installs every locked pin, by
hash, and nothing else. The project itself is built by tox (``package = wheel``) and installed
with ``--no-deps``.

Editing is line-based and pure (:func:`update_ini`): only the managed keys of one section
change; comments, other sections and other keys stay byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import lockfile
from ..environments import EnvironmentSet
from ..errors import ConfigError
from ..interpreter import Interpreter
from ..settings import Settings
from . import testenvs

# Keys venvship owns: rewritten on every --write.
MANAGED = ("base_python", "deps")
# Keys written only when the section lacks them: the user's choice wins.
DEFAULTS = ("package", "skip_install", "commands")
# The names tox reads each key by: an existing key is found under any of them.
_ALIASES = {"base_python": ("base_python", "basepython"), "deps": ("deps",), "package": ("package",),
            "skip_install": ("skip_install",), "commands": ("commands",)}
NEW_FILE_HEAD = "[tox]\nmin_version = 4.0\n"
COMMENT = "# base_python and deps are managed by 'venvship tox --write' (from the locks)"
_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*(?:[#;].*)?$")
_KEY = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]")


@dataclass(frozen=True)
class ToxSection:
    name: str
    values: Mapping[str, str]  # key -> value text (multi-line values start with "\n")
    warning: str | None = None  # said on stderr, never written

    def text(self) -> str:
        return f"[{self.name}]\n{COMMENT}\n" + "".join(_entry(k, v) for k, v in self.values.items())


def _entry(key: str, value: str) -> str:
    if "\n" in value:
        lines = [ln for ln in value.split("\n") if ln]
        return f"{key} =\n" + "".join(f"    {ln}\n" for ln in lines)
    return f"{key} = {value}\n"


def section(settings: Settings, envs: EnvironmentSet, name: str = "testenv",
            selected: Sequence[str] = ()) -> ToxSection:
    """The section; InputError when a test environment does not exist or lacks the test tool."""
    chosen = testenvs.select(settings, envs, selected)
    locks = chosen.locks
    values: dict[str, str] = {}
    main = lockfile.read(settings.lock_path("main"), "main")
    target = Interpreter.from_header(main.header) if main is not None else None
    if target is not None:
        exe = "python" if target.implementation == "cpython" else target.implementation
        values["base_python"] = f"{exe}{target.minor}"
    values["deps"] = "\n" + "\n".join(f"-r {settings.requirements_dir}/{settings.lock_file(n)}" for n in locks)
    if settings.package:
        values["package"] = "wheel"
    else:  # nothing to build: the tests run against the source tree
        values["skip_install"] = "true"
    values["commands"] = " ".join(_quote(a) for a in settings.tests.command) + " {posargs}"
    return ToxSection(name, values, chosen.warning)


def _quote(arg: str) -> str:
    return arg if arg and not re.search(r"[\s\"'{}]", arg) else '"' + arg.replace('"', '\\"') + '"'


def update_ini(text: str, sec: ToxSection) -> str:
    """``text`` with ``sec``'s managed keys replaced and its default keys added if missing."""
    if not text.strip():
        return NEW_FILE_HEAD + "\n" + sec.text()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((i for i, ln in enumerate(lines)
                  if (m := _SECTION.match(ln)) and m["name"].strip() == sec.name), None)
    if start is None:
        sep = "" if lines[-1].strip() == "" else "\n"
        return "".join(lines) + sep + sec.text()
    end = next((i for i in range(start + 1, len(lines)) if _SECTION.match(lines[i])), len(lines))
    body = lines[start + 1:end]
    for key, value in sec.values.items():
        span = _find_key(body, _ALIASES[key])
        if span is None:
            last = max((i for i, ln in enumerate(body) if ln.strip()), default=-1)
            body[last + 1:last + 1] = [_entry(key, value)]
        elif key in MANAGED:
            body[span[0]:span[1]] = [_entry(key, value)]
    return "".join(lines[:start + 1]) + "".join(body) + "".join(lines[end:])


def _find_key(body: list[str], names: tuple[str, ...]) -> tuple[int, int] | None:
    """(first, end) line indexes of a key and its indented continuation lines."""
    for i, line in enumerate(body):
        m = _KEY.match(line)
        if m and m["key"].strip() in names:
            j = i + 1
            while j < len(body) and body[j][:1] in (" ", "\t") and body[j].strip():
                j += 1
            return i, j
    return None


def tox_ini_path(settings: Settings) -> Path:
    """Where venvship writes: tox.ini. Refuses when tox would read another file first."""
    project = settings.project_dir
    ini = project / "tox.ini"
    if ini.exists():
        return ini
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    for where, used in (("tox.toml", (project / "tox.toml").exists()),
                        ("pyproject.toml", re.search(r"^\[tool\.tox(\]|\.)", pyproject, re.M))):
        if used:
            raise ConfigError(
                f"this project configures tox in {where}; venvship writes tox.ini only",
                hint="run 'venvship tox' and copy the printed section into your config",
            )
    return ini


def write(settings: Settings, sec: ToxSection) -> tuple[Path, bool]:
    """Write or update tox.ini; returns (path, whether it changed)."""
    path = tox_ini_path(settings)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    new = update_ini(old, sec)
    if new != old:
        lockfile.write_atomically({path: new})
    return path, new != old
