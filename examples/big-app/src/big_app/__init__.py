"""big-app: a small but realistically-dependent HTTP service (the benchmark's larger app)."""

from __future__ import annotations

__version__ = "0.4.0"

from .app import create_app

__all__ = ["__version__", "create_app"]
