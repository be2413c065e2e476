"""One index of venvship's package data (as cibuildwheel's util/resources.py): the Jinja templates
and the scripts that run in containers or on the host, and venvship's own tool locks.

Templates and scripts live in the repository's top-level ``templates/`` and ship in the wheel as
``venvship/templates``; the tool locks live in ``src/venvship/tools``. Everything else reads them
through the names below, never by a path of its own.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import ConfigError

# ---- Jinja templates (names for the loader; users may override the Dockerfile's blocks) ----
DOCKERFILE = "Dockerfile.j2"  # the multi-stage Dockerfile ('venvship dockerfile')
MACROS = "macros.j2"  # its shared RUN pieces
EXPORT = "export.j2"  # its export-* stages ('venvship export')
LOCK_SH = "lock.sh.j2"  # the script the lock stage runs ('venvship lock')
METADATA_SH = "metadata.sh.j2"  # the lock stage's script asking the backend for the metadata
LOCK_PREAMBLE = "lock-preamble.sh.j2"  # the first lines of both

# ---- scripts (file names in the templates directory) ----
BUILD_WHEEL = "build_wheel.py"  # venvship install's host build of the app's wheel
REQUIRES_HOOK = "requires_hook.py"  # lock stage: the backend's get_requires_for_build_wheel
SDIST_REQUIRES = "sdist_requires.py"  # lock stage: build requirements of allowed sdists
PROBE = "probe.py"  # what an interpreter says about itself: lock stage, install, verify, export
MINIMAL_ROOTFS = "minimal_rootfs.py"  # stage runtime-rootfs: the minimal runtime's root filesystem
COMPILE_CACHED = "compile_cached.py"  # the layer groups' bytecode, from a cache of .pyc files

# ---- venvship's own tool locks (pinned, hashed; installed in the tools stage) ----
TOOLS_UV = "uv.txt"
TOOLS_PIP_TOOLS = "pip-tools.txt"
TOOLS_SBOM = "sbom.txt"


def templates_dir() -> Path:
    """Templates ship inside the wheel as venvship/templates; a checkout has them at the top."""
    packaged = Path(str(resources.files("venvship"))) / "templates"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "templates"
    if checkout.is_dir():
        return checkout
    raise ConfigError("venvship's templates are missing from its installation")  # pragma: no cover


def path(name: str) -> Path:
    """The file of a template or script named above."""
    return templates_dir() / name


def text(name: str) -> str:
    """The text of a template or script named above."""
    return path(name).read_text(encoding="utf-8")


def tool_lock(name: str) -> str:
    """The text of one of venvship's own tool locks (TOOLS_*)."""
    return (resources.files("venvship") / "tools" / name).read_text(encoding="utf-8")
