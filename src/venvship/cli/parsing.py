"""How venvship's command line is parsed and shown, beyond typer's defaults.

- Global options (``--project/-C``, ``--progress``, ``--platform``, ``--debug``) work after the command too:
  ``venvship build --progress plain`` is ``venvship --progress plain build``.
- ``--help`` shows a value's name (``--image TAG``), never a type placeholder such as ``<bool>``
  or ``<list[str]>``, and nothing at all after a flag.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

# Global options that take a value, and those that do not (moved from after the command).
F = TypeVar("F", bound=Callable[..., Any])

GLOBAL_VALUE_OPTIONS = ("--project", "-C", "--progress", "--platform")
GLOBAL_FLAGS = ("--debug",)

# A value's name in --help, by parameter name; otherwise the parameter's name in capitals.
METAVARS = {
    "project": "DIR", "progress": "MODE", "image": "TAG", "base_image": "IMAGE",
    "runtime_image": "IMAGE", "build_arg": "KEY=VALUE", "env_var": "KEY=VALUE",
    "secret": "id=NAME,src=PATH", "env": "ENV", "upgrade_package": "NAME", "cache_from": "SRC",
    "cache_to": "DST", "output": "PATH", "venv": "DIR", "venv_path": "PATH", "fmt": "FORMAT",
    "python": "PYTHON", "network": "NETWORK", "args": "ARGS", "builder": "NAME",
    "start_timeout": "SECONDS", "section": "NAME", "resolver": "uv|pip-tools", "target": "STAGE",
    "platform": "OS/ARCH[,...]",
}


def _takes_value(arg: str) -> str | None:
    """The global option ``arg`` sets when it carries its value ('--progress=plain', '-Cdir')."""
    for name in GLOBAL_VALUE_OPTIONS:
        if name.startswith("--") and arg.startswith(name + "="):
            return name
        if not name.startswith("--") and arg.startswith(name) and len(arg) > len(name):
            return name
    return None


def move_global_options(args: list[str]) -> list[str]:
    """``args`` with the global options found after the command moved before it (pure).

    Everything after ``--`` stays where it is (arguments for the test command, say)."""
    i = 0
    while i < len(args):  # the options before the command
        arg = args[i]
        if arg in GLOBAL_VALUE_OPTIONS:
            i += 2
        elif arg.startswith("-") and arg != "-" and arg != "--":
            i += 1
        else:
            break
    if i >= len(args) or args[i] == "--":
        return list(args)
    head, command, rest = args[:i], args[i], args[i + 1:]
    moved: list[str] = []
    kept: list[str] = []
    j = 0
    while j < len(rest):
        arg = rest[j]
        if arg == "--":
            kept += rest[j:]
            break
        if arg in GLOBAL_VALUE_OPTIONS and j + 1 < len(rest):
            moved += rest[j:j + 2]
            j += 2
            continue
        if arg in GLOBAL_FLAGS or _takes_value(arg):
            moved.append(arg)
        else:
            kept.append(arg)
        j += 1
    return [*head, *moved, command, *kept]


def _plain_coercion(param: Any) -> None:
    """Give a parameter a coercion that takes the strings click parsed for a ``str`` or
    ``list[str]`` parameter as they are (and a ``Path`` through typer's own checks). Typer
    releases with runtime coercion (typer._coercion) otherwise build a pydantic TypeAdapter for
    every parameter, given or not, and importing pydantic for that was about 50 ms of every
    command (more on a loaded machine). Everything else (a value of another type) goes through
    typer's own coercion, built when first needed; older typer releases have no such step and are
    left alone."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", False) is not None:
        return
    coercion = _plain_class()
    if coercion is None or descriptor.file_annotation is not None:
        return
    param._runtime_param = coercion(annotation=descriptor.annotation, parameter_info=descriptor.parameter_info)


_PLAIN: list[Any] = []


def _plain_class() -> Any:
    """The RuntimeParam subclass _plain_coercion uses (None: this typer has no runtime coercion)."""
    if not _PLAIN:
        try:
            from dataclasses import dataclass

            from typer import _coercion, _param_types
        except ImportError:
            _PLAIN.append(None)
            return None
        base = getattr(_coercion, "RuntimeParam", None)
        build: Any = getattr(_coercion, "build_runtime_param", None)
        path: Any = getattr(_param_types, "coerce_cli_path", None)
        if base is None or build is None:
            _PLAIN.append(None)
            return None

        @dataclass(frozen=True)
        class PlainStrings(base):  # type: ignore[misc, valid-type]
            """str and list[str]: click's strings as they are; anything else: typer's coercion."""

            def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
                if self.annotation is str and isinstance(value, str):
                    return value
                if self.annotation == list[str] and isinstance(value, (list, tuple)) \
                        and all(isinstance(v, str) for v in value):
                    return list(value)
                if self.annotation is Path and path is not None and self.parameter_info.path_type is None \
                        and isinstance(value, (str, Path)) and str(value):  # typer's own checks, without pydantic
                    return path(Path(value), self.parameter_info, path_type=Path, param=param, ctx=ctx)
                typer_own = build(param.type_descriptor)
                param._runtime_param = typer_own  # from now on, typer's own coercion
                return typer_own._coerce_value(value, param=param, ctx=ctx)

        _PLAIN.append(PlainStrings)
    return _PLAIN[0]


# Parameters and contexts are typed Any here: the typer in requirements/ brings its own copy of
# click (typer._click), the older releases pip picks on Python 3.9 use click itself, so no one
# class names both; the attributes read below are the same in both.
def _polish(params: list[Any]) -> list[Any]:
    for param in params:
        _plain_coercion(param)
        kind = getattr(param, "param_type_name", "")
        if kind == "argument":
            if param.metavar is None:
                param.metavar = (param.name or "value").upper()
            if hasattr(param, "display_type_rich"):  # typer's own help: its name says enough
                param.display_type_rich = lambda ctx: None
            continue
        if kind != "option":
            continue
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif param.metavar is None:
            param.metavar = METAVARS.get(param.name or "", (param.name or "value").upper().replace("_", "-"))
    return params


class VenvshipCommand(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _polish(super().get_params(ctx))


class VenvshipGroup(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _polish(super().get_params(ctx))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, move_global_options(list(args)))


class VenvshipTyper(typer.Typer):
    """A Typer whose commands are VenvshipCommands (``cls`` may still be given); its group is
    ``Typer(cls=VenvshipGroup)``."""

    # typer's own parameters, passed on unchanged: their types are typer.Typer.command's.
    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        kwargs.setdefault("cls", VenvshipCommand)
        decorator: Callable[[F], F] = super().command(*args, **kwargs)
        return decorator
