"""Results of this session's corpus runs, by app (written out by tests/corpus/conftest.py)."""

from __future__ import annotations

from typing import Any

RESULTS: dict[str, dict[str, Any]] = {}
