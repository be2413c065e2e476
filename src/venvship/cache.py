"""venvship's cache on this host: what a command keeps for the next one, each entry under a key
of everything it depends on (rendered Dockerfiles, verify passes, interpreter descriptions, the
lock stage's answers)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$XDG_CACHE_HOME/venvship, else ~/.cache/venvship."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "venvship"
