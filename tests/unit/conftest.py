"""Unit tests must not start processes or talk to a daemon: subprocess is forbidden here."""

from __future__ import annotations

import subprocess

import pytest


@pytest.fixture(autouse=True)
def _forbid_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"unit tests must not run subprocesses: {args!r}")

    for name in ("Popen", "run", "call", "check_call", "check_output"):
        monkeypatch.setattr(subprocess, name, forbidden)
