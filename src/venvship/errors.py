"""One error hierarchy; each class has its own exit code. Only ``__main__`` catches them.

The table below is the public contract (README "Exit codes" repeats it).
"""

from __future__ import annotations

import re


class VenvshipError(Exception):
    """Base class: a problem the user can act on. Printed as one line, no traceback."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class ConfigError(VenvshipError):
    """pyproject.toml or its venvship settings are missing, unreadable or invalid."""

    exit_code = 3


class InputError(VenvshipError):
    """Requirement inputs are malformed, an environment is unknown, layering is cyclic."""

    exit_code = 4


class ResolutionError(VenvshipError):
    """The resolver could not produce a lock (unknown package, unsatisfiable pins)."""

    exit_code = 5


class LayeringConflictError(ResolutionError):
    """A layered environment cannot be satisfied with its base environment's pins."""

    exit_code = 6


class StaleLockError(VenvshipError):
    """A lock is missing, stale, compiled for another target, or diverges (lock --check)."""

    exit_code = 7


class LockIntegrityError(VenvshipError):
    """A lock file was edited by hand, or lacks a hash or an exact pin."""

    exit_code = 8


class DockerUnavailableError(VenvshipError):
    """The Docker engine does not answer."""

    exit_code = 10


class BuildKitUnavailableError(VenvshipError):
    """Neither docker buildx nor a BuildKit-capable classic client works."""

    exit_code = 11


class ImageError(VenvshipError):
    """An image reference is malformed, or the image is not present."""

    exit_code = 12


class BuildError(VenvshipError):
    """The docker build failed."""

    exit_code = 13


class VerifyError(VenvshipError):
    """The built image does not match its locks or its promises."""

    exit_code = 14


class VenvError(VenvshipError):
    """A target virtual environment is unusable (relative path, not writable, wrong Python)."""

    exit_code = 15


class IndexUnavailableError(VenvshipError):
    """The package index failed, timed out or disappeared."""

    exit_code = 16


# What pip, uv, pip-tools and apt print when they cannot reach the index at all (refused, timed
# out, no DNS, 5xx), as opposed to a package they could not find. One pattern for the resolver's
# output (lock), a failing build step's output (any build) and host installs.
INDEX_UNREACHABLE = re.compile(
    r"(Failed to fetch|error sending request|Connection refused|connection closed|dns error|"
    r"timed out|Could not connect|HTTP status server error|Max retries exceeded|ConnectionError|"
    r"Failed to establish a new connection|Retrying \(Retry\(total=|Network is unreachable|"
    r"tcp connect error|Temporary failure in name resolution|Temporary failure resolving|"
    r"\b50[0-9] (Server Error|Internal Server Error|Bad Gateway|Service Unavailable|Gateway Time))",
    re.IGNORECASE,
)


class ExportError(VenvshipError):
    """Exporting the venv as a tarball or a Debian package failed."""

    exit_code = 17


class PushError(VenvshipError):
    """Pushing a verified image to its registry failed."""

    exit_code = 18


class ReproducibilityError(VenvshipError):
    """build --check-reproducible: a --no-cache build gave another image id."""

    exit_code = 19


class ImageStoreError(VenvshipError):
    """The engine's image store cannot do what was asked (registry cache export, multi-platform images)."""

    exit_code = 20


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "other error",
    2: "command-line usage error",
    **{
        cls.exit_code: (cls.__doc__ or "").strip().splitlines()[0].rstrip(".")
        for cls in (
            ConfigError,
            InputError,
            ResolutionError,
            LayeringConflictError,
            StaleLockError,
            LockIntegrityError,
            DockerUnavailableError,
            BuildKitUnavailableError,
            ImageError,
            BuildError,
            VerifyError,
            VenvError,
            IndexUnavailableError,
            ExportError,
            PushError,
            ReproducibilityError,
            ImageStoreError,
        )
    },
    130: "interrupted",
}
