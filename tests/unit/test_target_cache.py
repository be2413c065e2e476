"""The base image's interpreter is asked once per image id on a host, then read from the cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from venvship.interpreter import Interpreter
from venvship.ops.lock import target_cache_file, target_of_image
from venvship.settings import load_settings

ANSWER = {"python": "3.11.2", "implementation": "cpython", "machine": "x86_64", "sys_platform": "linux",
          "platform": "linux-x86_64", "executable": "/usr/bin/python3.11"}


class FakeEngine:
    """Stands in for the engine: one image id, and a count of the containers run."""

    def __init__(self, image_id: str) -> None:
        self.image_id = image_id
        self.runs = 0

    def require_image(self, ref: str, what: str = "image") -> dict[str, Any]:
        return {"Id": self.image_id}

    def run(self, image: str, command: list[str], **kwargs: Any) -> tuple[int, str]:
        self.runs += 1
        return 0, "some noise\n" + json.dumps(ANSWER) + "\n"


def test_one_container_per_image_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    settings = load_settings(ROOT / "examples" / "hello-app", environ={})
    engine = FakeEngine("sha256:" + "a" * 64)
    first = target_of_image(engine, settings)  # type: ignore[arg-type]
    second = target_of_image(engine, settings)  # type: ignore[arg-type]
    assert engine.runs == 1
    assert first == second == Interpreter.from_probe(ANSWER)

    other = FakeEngine("sha256:" + "b" * 64)  # a rebuilt base image: asked again
    assert target_of_image(other, settings) == first  # type: ignore[arg-type]
    assert other.runs == 1

    cache = target_cache_file(engine.image_id, settings.image.python)
    assert cache is not None and cache.is_file()
    cache.write_text("{not json")  # a damaged cache entry is asked again, and rewritten
    assert target_of_image(engine, settings) == first  # type: ignore[arg-type]
    assert engine.runs == 2 and json.loads(cache.read_text()) == {**ANSWER, "base_image_id": engine.image_id}


def test_no_cache_without_an_image_digest_or_a_writable_home(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert target_cache_file("", "python3") is None
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # mkdir fails: still answers, every time
    settings = load_settings(ROOT / "examples" / "hello-app", environ={})
    engine = FakeEngine("sha256:" + "c" * 64)
    for _ in range(2):
        assert target_of_image(engine, settings).python == "3.11.2"  # type: ignore[arg-type]
    assert engine.runs == 2
