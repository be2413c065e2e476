"""Reproducible images, the pure parts: SOURCE_DATE_EPOCH's default, and how --check-reproducible
explains a difference from two `docker save` archives (made here as tar files)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from venvship.ops import build, repro
from venvship.settings import load_settings


def settings():  # type: ignore[no-untyped-def]
    return load_settings(EXAMPLES / "hello-app", {})


def test_source_date_epoch_is_the_environment_s_then_the_commit_s_then_1980(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "_git", lambda project, *args: "1700000000" if args[0] == "log" else None)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    assert build.source_date_epoch(settings()) == (1600000000, "the environment's SOURCE_DATE_EPOCH")
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert build.source_date_epoch(settings()) == (1700000000, "the last commit's time")
    monkeypatch.setattr(build, "_git", lambda project, *args: None)
    epoch, why = build.source_date_epoch(settings())
    assert epoch == 315532800 and "1980-01-01" in why
    args = build.label_args(settings())
    assert args["SOURCE_DATE_EPOCH"] == "315532800" and args["VENVSHIP_CREATED"] == "1980-01-01T00:00:00Z"


def test_a_malformed_source_date_epoch_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from venvship.errors import ConfigError

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH='yesterday'"):
        build.source_date_epoch(settings())


def _layer(files: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        for name, (data, mtime) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _saved(tmp_path: Path, name: str, layers: list[bytes], created: str) -> repro.Saved:
    """An archive shaped like 'docker save' of Docker 25+ (manifest.json, blobs/sha256/...)."""
    ids = [f"sha256:{hashlib.sha256(layer).hexdigest()}" for layer in layers]
    config = {"created": created, "rootfs": {"type": "layers", "diff_ids": ids},
              "history": [{"created_by": f"/bin/sh -c step {i}"} for i in range(len(layers))]
              + [{"created_by": "LABEL x=y", "empty_layer": True}]}
    path = tmp_path / f"{name}.tar"
    members = {f"blobs/sha256/{i.split(':')[1]}": layer for i, layer in zip(ids, layers)}
    members["config.json"] = json.dumps(config).encode()
    members["manifest.json"] = json.dumps([{"Config": "config.json", "Layers": list(members)[:-1]}]).encode()
    with tarfile.open(path, "w") as archive:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with tarfile.open(path) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
    return repro.Saved(path, config, list(manifest[0]["Layers"]))


def test_explain_names_the_first_differing_layer_and_its_files(tmp_path: Path) -> None:
    same = _layer({"etc/passwd": (b"app:x:10001\n", 315532800)})
    first = _saved(tmp_path, "a", [same, _layer({"app/ok.py": (b"x", 1), "app/built-at.txt": (b"1", 5)})], "c")
    second = _saved(tmp_path, "b", [same, _layer({"app/ok.py": (b"x", 1), "app/built-at.txt": (b"2", 6)})], "c")
    text = repro.explain(first, second)
    assert text.startswith("layer 2 of 2 differs (step 1): 1 file(s) differ")
    assert "/app/built-at.txt: size 1, mode 644, mtime 1970-01-01T00:00:05Z, owner 0:0, sha256 " in text
    assert "ok.py" not in text


def test_explain_names_the_config_when_the_layers_are_equal(tmp_path: Path) -> None:
    layer = _layer({"a": (b"x", 1)})
    text = repro.explain(_saved(tmp_path, "a", [layer], "2026-01-01"), _saved(tmp_path, "b", [layer], "2026-01-02"))
    assert "the layers are identical; the image configs differ" in text
    assert 'created: "2026-01-01" | "2026-01-02"' in text


def test_entry_differences_name_files_only_in_one_build() -> None:
    entry = repro.Entry("app/x", "file", 1, 0o644, 0, "0:0", "ab" * 32)
    assert repro.entry_differences({"app/x": entry}, {}) == [
        "/app/x: only in the first build (size 1, mode 644, mtime 1970-01-01T00:00:00Z, owner 0:0, sha256 abababababab)"]
