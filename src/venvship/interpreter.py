"""A Python interpreter, described once: what templates/probe.py reports about it (in a base
image, an image's venv or on this host) and what a lock's header records it was compiled for.

Pure apart from :func:`probe_source` (reads the packaged script) and :func:`probe` (runs a host
interpreter).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from . import resources

PROBE_FILE = resources.PROBE


def probe_source() -> str:
    """The probe script's text, run as ``python -c TEXT`` (no file needs to be in the image)."""
    return resources.text(PROBE_FILE)


@dataclass(frozen=True)
class Interpreter:
    """An interpreter: from the probe's answer (every field) or a lock header (the first five)."""

    implementation: str  # sys.implementation.name: cpython, pypy
    python: str  # the full version, 3.11.2
    sys_platform: str  # linux
    machine: str  # x86_64
    platform: str = ""  # sysconfig.get_platform(): linux-x86_64
    executable: str = ""
    prefix: str = ""
    in_venv: bool = False
    markers: Mapping[str, str] = field(default_factory=dict)  # PEP 508 environment markers
    dists: Mapping[str, str] = field(default_factory=dict)  # in a venv: canonical name -> version
    command: str = ""  # how it was asked for (install's --python), when it was

    @classmethod
    def from_probe(cls, data: Mapping[str, Any], command: str = "") -> Interpreter:
        """The probe's JSON answer (extra keys, such as verify's, are ignored)."""
        return cls(
            implementation=str(data["implementation"]), python=str(data["python"]),
            sys_platform=str(data["sys_platform"]), machine=str(data["machine"]),
            platform=str(data.get("platform", "")), executable=str(data.get("executable", "")),
            prefix=str(data.get("prefix", "")), in_venv=bool(data.get("in_venv", False)),
            markers={str(k): str(v) for k, v in dict(data.get("markers") or {}).items()},
            dists={canonicalize_name(k): str(v) for k, v in dict(data.get("dists") or {}).items()},
            command=command,
        )

    @classmethod
    def from_header(cls, header: Mapping[str, str]) -> Interpreter | None:
        """What a lock was compiled for: ``python = cpython 3.11.2`` and ``platform = linux
        x86_64 (linux-x86_64)``; None when the header does not say."""
        python = header.get("python", "").split()
        plat = header.get("platform", "").split()
        if len(python) != 2 or len(plat) < 2:
            return None
        return cls(python[0], python[1], plat[0], plat[1], " ".join(plat[2:]).strip("()"))

    def header(self) -> dict[str, str]:
        """The lock header's lines for this interpreter (read back by :meth:`from_header`)."""
        return {"python": f"{self.implementation} {self.python}",
                "platform": f"{self.sys_platform} {self.machine} ({self.platform})"}

    @property
    def minor(self) -> str:
        """3.11 for 3.11.2: what a lock's markers depend on in practice."""
        return ".".join(self.python.split(".")[:2])

    @property
    def series(self) -> tuple[str, str]:
        """(implementation, X.Y): two interpreters of one series can share a lock."""
        return self.implementation, self.minor

    @property
    def system(self) -> tuple[str, str]:
        """(sys_platform, machine)."""
        return self.sys_platform, self.machine

    def describe(self) -> str:
        return f"{self.implementation} {self.python} on {self.sys_platform} {self.machine}"


def parse_answer(output: str) -> dict[str, Any]:
    """The probe's JSON line: the last line of ``output`` (whatever printed before it)."""
    data: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return data


def probe(command: str) -> Interpreter | None:
    """Ask a host interpreter about itself; None when it does not run."""
    exe = shutil.which(command) or (command if Path(command).exists() else None)
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, "-c", probe_source()], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    try:
        return Interpreter.from_probe(parse_answer(proc.stdout), exe)
    except (ValueError, KeyError, TypeError):
        return None
