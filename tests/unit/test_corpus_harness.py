"""The corpus tier's pure parts: reading an app's own lock, comparing pins, the generated docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.corpus import pins, report
from tests.corpus.apps import APPS


def test_uv_lock_pins_leave_the_project_out_and_keep_every_version(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(
        'version = 1\n'
        '[[package]]\nname = "myapp"\nversion = "0.1.0"\nsource = { editable = "." }\n'
        '[[package]]\nname = "Typing_Extensions"\nversion = "4.15.0"\nsource = { registry = "https://pypi.org/simple" }\n'
        '[[package]]\nname = "numpy"\nversion = "2.2.6"\nsource = { registry = "https://pypi.org/simple" }\n'
        '[[package]]\nname = "numpy"\nversion = "2.3.1"\nsource = { registry = "https://pypi.org/simple" }\n'
    )
    assert pins.app_lock_pins(lock) == {"typing-extensions": {"4.15.0"}, "numpy": {"2.2.6", "2.3.1"}}


def test_requirements_pins_skip_options_comments_and_ranges(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("-r base.txt\nDjango[argon2]==6.1\n# a==1\nclick>=8\nasync-timeout==5.0.1 ; python_version < '3.12'\n")
    assert pins.app_lock_pins(req) == {"django": {"6.1"}, "async-timeout": {"5.0.1"}}


def test_pins_compare_as_versions_not_strings() -> None:
    result = pins.compare({"django-compressor": {"4.6"}, "flask": {"3.0.0"}, "gone": {"1"}},
                          {"django-compressor": "4.6.0", "flask": "3.1.0", "new": "2"})
    assert result["kept"] == 1
    assert result["moved"] == {"flask": {"app": ["3.0.0"], "venvship": "3.1.0"}}
    assert result["only_in_app_lock"] == ["gone"] and result["only_in_venvship"] == ["new"]


def test_the_report_names_each_failing_step_and_the_settings(tmp_path: Path) -> None:
    data = {"apps": {
        "datasette": {"result": "pass", "layout": "setuptools", "settings": 'base-image = "x"\nexpose = [8001]\n',
                      "steps": {"lock": {"status": "ok", "seconds": 1.0, "detail": "main: 3 pinned"}},
                      "seconds": 1.0},
        "mkdocs": {"result": "fail", "layout": "hatch", "settings": 'base-image = "x"\n',
                   "failure": "build: exit 13: boom | bang", "seconds": 2.0,
                   "steps": {"lock": {"status": "ok", "seconds": 2.0}, "build": {"status": "fail", "detail": "x"}}},
    }}
    results = tmp_path / "corpus-results.json"
    results.write_text(json.dumps(data))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- corpus-status -->\nold\n<!-- /corpus-status -->\nrest\n")
    report.write(results, tmp_path / "corpus.md", readme)
    md = (tmp_path / "corpus.md").read_text()
    assert "| mkdocs |" in md and "build: exit 13: boom \\| bang" in md and "expose = [8001]" in md
    table = readme.read_text()
    assert "old" not in table and table.startswith("intro\n") and table.endswith("rest\n")
    assert "| datasette | pass (CI) | `expose` |" in table
    assert "| flower | not run |" in table  # every app of apps.py has a row


def test_every_app_has_valid_settings_and_a_base_image() -> None:
    for app in APPS.values():
        table = report.tomllib.loads("[tool.venvship]\n" + app.settings)["tool"]["venvship"]
        assert table["base-image"] == app.base_image, app.name
    assert len(APPS) == 9 and any(a.ci for a in APPS.values())


def test_unknown_corpus_apps_are_a_usage_error() -> None:
    from tests.corpus.conftest import selected_apps

    class Config:
        def __init__(self, value: str) -> None:
            self.value = value

        def getoption(self, name: str) -> str:
            return self.value

    with pytest.raises(pytest.UsageError, match="unknown app"):
        selected_apps(Config("datasette,nosuchapp"))  # type: ignore[arg-type]
    assert selected_apps(Config("ci")) == [a.name for a in APPS.values() if a.ci]  # type: ignore[arg-type]
    assert selected_apps(Config("")) == list(APPS)  # type: ignore[arg-type]
