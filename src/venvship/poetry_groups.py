"""Poetry's dependency groups as environments: ``[tool.poetry.group.<name>.dependencies]`` (and
the older ``[tool.poetry.dev-dependencies]``, the ``dev`` group), each layered on ``main``.

Poetry writes constraints its own way; they are turned into PEP 508 requirements:
``^1.2.3`` is ``>=1.2.3,<2``, ``^0.2`` is ``>=0.2,<0.3``, ``~1.2`` is ``>=1.2,<1.3``, a bare
``1.2.3`` is ``==1.2.3``, ``*`` is any version; tables give ``version``, ``extras``,
``markers``, ``python`` (a ``python_version`` marker) and ``platform`` (``sys_platform``).
A git, path, URL or file dependency is not an index release and is refused with its name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import InputError

_OPS = r"\^|~=|~|===|==|!=|<=|>=|<|>|="
_TOKEN = re.compile(rf"(?P<op>{_OPS})?(?P<ver>[0-9][0-9A-Za-z.*+!_-]*)")


def _release(version: str) -> list[int]:
    match = re.match(r"\d+(?:\.\d+)*", version)
    assert match is not None
    return [int(x) for x in match.group().split(".")]


def specifier(constraint: str, where: str) -> str:
    """A Poetry version constraint as a PEP 440 specifier set ('' for any version)."""
    text = constraint.strip()
    if text in ("", "*"):
        return ""
    if "||" in text or "|" in text:
        raise InputError(f"{where}: {constraint!r}: alternatives ('||') have no PEP 440 form",
                         hint="write the group's requirement as one range")
    out: list[str] = []
    for token in re.split(r"[,\s]+", re.sub(rf"({_OPS})\s+", r"\1", text)):
        match = _TOKEN.fullmatch(token)
        if not match:
            raise InputError(f"{where}: {constraint!r} is not a version constraint venvship understands")
        op, ver = match.group("op") or "=", match.group("ver")
        if op == "^":
            nums = _release(ver)
            i = next((k for k, n in enumerate(nums) if n != 0), len(nums) - 1)
            upper = [*nums[:i], nums[i] + 1]
            out += [f">={ver}", f"<{'.'.join(map(str, upper))}"]
        elif op == "~":
            nums = _release(ver)
            upper = [nums[0], nums[1] + 1] if len(nums) >= 2 else [nums[0] + 1]
            out += [f">={ver}", f"<{'.'.join(map(str, upper))}"]
        else:
            out.append(f"{'==' if op == '=' else op}{ver}")
    return ",".join(out)


def _python_marker(constraint: str, where: str) -> str:
    spec = specifier(constraint, where)
    parts = []
    for item in filter(None, spec.split(",")):
        op, ver = re.match(r"(===|==|!=|<=|>=|<|>|~=)(.*)", item).groups()  # type: ignore[union-attr]
        if ver.endswith(".*"):
            ver = ver[:-2]
        parts.append(f'python_version {op} "{ver}"')
    return " and ".join(parts)


def requirements(name: str, spec: Any, where: str) -> list[str]:
    """One Poetry dependency entry as PEP 508 requirement strings."""
    if isinstance(spec, str):
        return [name + specifier(spec, where)]
    if isinstance(spec, list):
        return [r for item in spec for r in requirements(name, item, where)]
    if not isinstance(spec, Mapping):
        raise InputError(f"{where}: {name}: bad entry {spec!r}")
    for key in ("git", "path", "url", "file"):
        if key in spec:
            raise InputError(
                f"{where}: {name} is a {key} reference ({spec[key]}), not an index release",
                hint="locks need index packages with hashes; depend on a released version",
            )
    extras = spec.get("extras") or []
    req = name + (f"[{','.join(extras)}]" if extras else "") + specifier(str(spec.get("version", "*")), where)
    markers = [str(spec["markers"])] if spec.get("markers") else []
    if spec.get("python"):
        markers.append(_python_marker(str(spec["python"]), where))
    if spec.get("platform"):
        markers.append(f'sys_platform == "{spec["platform"]}"')
    markers = [m for m in markers if m]
    if markers:
        req += " ; " + " and ".join(f"({m})" if len(markers) > 1 else m for m in markers)
    return [req]


def groups(data: Mapping[str, Any]) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """group name -> (where it is declared, [(requirement, origin)])."""
    poetry = data.get("tool", {}).get("poetry", {})
    if not isinstance(poetry, Mapping):
        return {}
    found: dict[str, tuple[str, Mapping[str, Any]]] = {}
    legacy = poetry.get("dev-dependencies")
    if isinstance(legacy, Mapping):
        found["dev"] = ("pyproject.toml [tool.poetry.dev-dependencies]", legacy)
    for name, table in (poetry.get("group") or {}).items():
        deps = table.get("dependencies") if isinstance(table, Mapping) else None
        if isinstance(deps, Mapping):
            where = f"pyproject.toml [tool.poetry.group.{name}.dependencies]"
            if name in found:  # dev-dependencies and group.dev: Poetry merges them
                where = f"{found[name][0]} + {where}"
                deps = {**found[name][1], **deps}
            found[name] = (where, deps)
    out: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for name, (where, deps) in found.items():
        lines: list[tuple[str, str]] = []
        for dep, spec in deps.items():
            if dep == "python":
                continue
            lines += [(r, f"{where} {dep}") for r in requirements(dep, spec, f"{where} {dep}")]
        out[name] = (where, lines)
    return out
