"""Placeholder: this module's commands are being written; register() adds nothing yet."""

from __future__ import annotations

from typing import Any


def register(app: Any) -> None:
    del app
