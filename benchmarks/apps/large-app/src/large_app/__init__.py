"""large-app: the benchmark's larger app (big-app's service plus data, cloud and task-queue libraries)."""

from __future__ import annotations

__version__ = "0.4.0"

from .app import create_app

__all__ = ["__version__", "create_app"]
