"""The project's metadata: when the backend is asked, how its answer becomes environments, and
which files define it (issue 13 item 3). No container: the recorded answer is written here."""

from __future__ import annotations

from pathlib import Path

from venvship import metadata
from venvship.environments import discover
from venvship.settings import load_settings


def test_a_complete_static_project_table_needs_no_backend() -> None:
    assert metadata.is_static({"project": {"name": "a", "dynamic": ["version"]}})
    assert not metadata.is_static({"project": {"name": "a", "dynamic": ["dependencies"]}})
    assert not metadata.is_static({"tool": {"poetry": {"name": "a"}}})


def test_requires_dist_splits_into_main_and_extras() -> None:
    main, extras = metadata.split_requires_dist([
        "six", 'iniconfig; extra == "test"', 'tomli; python_version < "3.11" and extra == "test"',
        'click (>=7.0) ; (python_version >= "3.8") and (extra == "cli")', 'colorama; os_name == "nt"',
    ], ["test", "cli"])
    assert main == ["six", 'colorama; os_name == "nt"']
    assert extras == {"test": ["iniconfig", 'tomli; python_version < "3.11"'],
                      "cli": ['click>=7.0; python_version >= "3.8"']}


def flowerish(root: Path) -> Path:
    (root / "requirements").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.venvship]\nrequirements-dir = "locks"\nignore-envs = ["min"]\n')
    (root / "setup.py").write_text(
        "from setuptools import setup\n"
        "setup(name='flowerish', long_description=open('README.rst').read(),\n"
        "      install_requires=open('requirements/' + 'default.txt').read().split())\n")
    (root / "README.rst").write_text("hello\n")
    (root / "requirements/default.txt").write_text("six\n")
    return root


def test_files_setup_py_reads_are_sources_but_prose_and_locks_are_not(tmp_path: Path) -> None:
    project = flowerish(tmp_path / "p")
    (project / "locks").mkdir()
    (project / "locks/main.txt").write_text("# venvship: env = main\n")
    files = metadata.source_files(project, {}, "locks")
    assert files == ["pyproject.toml", "setup.py", "requirements/default.txt"]


def test_recorded_answer_feeds_environments_name_and_check(tmp_path: Path) -> None:
    project = flowerish(tmp_path / "checkout")
    settings = load_settings(project, environ={})
    assert settings.project_name == "checkout"  # nothing recorded yet
    assert metadata.problems(settings) == [
        "project metadata: locks/project-metadata.json is missing "
        "(setup.py via setuptools.build_meta:__legacy__)"]
    assert "not read yet" in discover(settings).envs["main"].source
    data = {"tool": {"venvship": {}}}
    record = metadata.Record("flowerish", "1.0", ("six", 'six==1.15; extra == "min"', 'iniconfig; extra == "test"'),
                             ("min", "test"), "setuptools.build_meta:__legacy__",
                             metadata.hash_sources(project, metadata.source_files(project, data, "locks")))
    (project / "locks").mkdir()
    metadata.record_path(project, "locks").write_text(record.text())
    settings = load_settings(project, environ={})
    assert settings.project_name == "flowerish"
    envs = discover(settings)
    assert sorted(envs.envs) == ["build", "main", "test"]  # min: ignore-envs
    assert envs.envs["main"].input_text() == "six\n"
    assert metadata.problems(settings) == []
    # venvship's settings are not metadata; the requirements file is
    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text() + 'python = "python3"\n')
    assert metadata.problems(settings) == []
    (project / "requirements/default.txt").write_text("six\nclick\n")
    assert metadata.problems(settings) == [
        "project metadata: requirements/default.txt changed since locks/project-metadata.json was recorded"]
