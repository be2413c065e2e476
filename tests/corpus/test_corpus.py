"""The real-app corpus tier: each app of ../shared/corpus, unpacked into a temporary directory,
with only a [tool.venvship] table added, goes through lock, lock --check, build, a run of the
container (HTTP from the host or the CLI's output), verify, install --venv and export --format tar.

    flock /tmp/venvship-docker.lock .venv/bin/python -m pytest tests/corpus --run-corpus \
        [--corpus-apps uv-docker-example,datasette]

Each app's steps, times and pins are recorded (tests/corpus/conftest.py writes
docs/corpus-results.json and docs/corpus.md at the end of the session).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.conftest import ROOT
from tests.corpus import pins as pinlib
from tests.corpus.apps import APPS, App, Cli, Http
from tests.corpus.record import RESULTS

CORPUS = Path(os.environ.get("VENVSHIP_CORPUS_DIR", str(ROOT.parent / "shared" / "corpus")))

pytestmark = pytest.mark.corpus

STEPS = ("lock", "lock --check", "build", "run", "verify", "install --venv", "export --format tar")


def _venvship(*args: str, cwd: Path, timeout: float = 2400) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "venvship", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "NO_COLOR": "1"})


def _docker(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise StepFailed(f"docker {' '.join(args[:3])} … exited {proc.returncode}: {_tail(proc.stderr)}")
    return proc


def _tail(text: str, lines: int = 3) -> str:
    errors = [ln for ln in text.splitlines() if ln.startswith("venvship: error:")]
    if errors:
        hints = [ln for ln in text.splitlines() if ln.startswith("venvship: hint:")]
        return " ".join(errors[-1:] + hints[:1])
    rest = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(rest[-lines:])[:600]


class StepFailed(Exception):
    pass


class NotApplicable(Exception):
    """A step this machine cannot run for this app (said in the report, never silent)."""


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def host_python(minor: str) -> str | None:
    """A working pythonX.Y on this host: on PATH, else one pyenv installed (not necessarily active)."""
    candidates = [shutil.which(f"python{minor}")]
    candidates += sorted(str(p) for p in Path.home().glob(f".pyenv/versions/{minor}.*/bin/python{minor}"))
    for c in candidates:
        if c and subprocess.run([c, "-c", "pass"], capture_output=True, timeout=60).returncode == 0:
            return c
    return None


def unpack(app: App, dest: Path) -> Path:
    archive = CORPUS / f"{app.name}.tar.gz"
    if not archive.is_file():
        pytest.fail(f"corpus archive missing: {archive} (CI needs ../shared/corpus beside the clone; "
                    f"or set VENVSHIP_CORPUS_DIR)", pytrace=False)
    with tarfile.open(archive) as tar:
        if sys.version_info >= (3, 12):
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)  # our own corpus archives
    project = dest / app.name
    assert project.is_dir(), f"{archive} has no top-level {app.name}/"
    return project


def add_settings(project: Path, settings: str) -> bytes:
    """Append the [tool.venvship] table (or write a pyproject.toml with only it). Returns the
    pyproject bytes venvship must leave as they are."""
    pyproject = project / "pyproject.toml"
    original = pyproject.read_bytes() if pyproject.exists() else b""
    assert b"[tool.venvship" not in original, "the app already has venvship settings"
    sep = b"" if not original or original.endswith(b"\n") else b"\n"
    new = original + sep + (b"\n" if original else b"") + b"[tool.venvship]\n" + settings.encode()
    pyproject.write_bytes(new)
    return new


def check_http(app: App, check: Http, image: str, containers: list[str]) -> str:
    args = ["run", "-d", "--publish", f"127.0.0.1::{check.port}"]
    if check.entrypoint is not None:
        args += ["--entrypoint", check.entrypoint]
    cid = _docker(*args, image, *check.command).stdout.strip()
    containers.append(cid)
    port = _docker("port", cid, str(check.port)).stdout.splitlines()[0].rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{port}{check.path}"
    deadline = time.monotonic() + check.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        state = _docker("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", cid).stdout.split()
        if state[0] != "true":
            logs = _docker("logs", cid, check=False)
            raise StepFailed(f"container exited {state[1]} before answering: {_tail(logs.stdout + logs.stderr)}")
        try:
            opener = urllib.request.build_opener(_NoRedirect)
            with opener.open(url, timeout=5) as resp:
                status = resp.status
        except urllib.error.HTTPError as e:
            status = e.code
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
            time.sleep(1)
            continue
        if status in check.statuses:
            return f"GET {check.path} -> {status}"
        logs = _docker("logs", cid, check=False)
        raise StepFailed(f"GET {check.path} -> {status}, expected {check.statuses}: {_tail(logs.stdout + logs.stderr)}")
    logs = _docker("logs", cid, check=False)
    raise StepFailed(f"GET {check.path}: no answer in {check.timeout:.0f} s ({last}): {_tail(logs.stdout + logs.stderr)}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def check_cli(check: Cli, image: str, workdir: Path) -> str:
    mount: list[str] = []
    if check.files:
        src = workdir / "corpus-in"
        for rel, text in check.files.items():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_text(text)
        for p in [src, *src.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        mount = ["--volume", f"{src}:/corpus-in:ro"]
    seen = []
    for argv, pattern in check.runs:
        entry = ["--entrypoint", check.entrypoint] if check.entrypoint else []
        proc = _docker("run", "--rm", *mount, *entry, image, *argv, check=False, timeout=300)
        out = proc.stdout + proc.stderr
        if proc.returncode != 0 or not re.search(pattern, out):
            raise StepFailed(f"{' '.join(argv)} exited {proc.returncode}, expected /{pattern}/: {_tail(out)}")
        seen.append(f"{' '.join(argv)}: ok")
    return "; ".join(seen)


@pytest.mark.parametrize("name", list(APPS))
def test_app(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    app = APPS[name]
    record: dict[str, Any] = {
        "app": app.name, "layout": app.layout, "settings": app.settings, "notes": app.notes,
        "ci": app.ci, "app_lock": app.app_lock, "steps": {}, "result": "fail",
        "no_cache": bool(request.config.getoption("--corpus-no-cache")),
    }
    no_cache = ("--no-cache",) if record["no_cache"] else ()
    RESULTS[name] = record
    record["failure"] = f"corpus archive missing or unreadable: {CORPUS / (app.name + '.tar.gz')}"
    project = unpack(app, tmp_path)
    record["failure"] = None
    original = _files(project)
    runtime_image = request.config.getoption("--corpus-runtime-image")
    record["runtime_image"] = runtime_image or None
    # first: the table's own keys come before any [tool.venvship.*] sub-table of the settings
    minimal = runtime_image == "minimal"
    settings = (f'runtime-image = "{runtime_image}"\n' if runtime_image else "") + (
        app.minimal_settings if minimal else "") + app.settings
    pyproject_after = add_settings(project, settings)
    theirs = pinlib.app_lock_pins(project / app.app_lock) if app.app_lock else None

    image = f"venvship-corpus-{app.name.lower()}:{uuid.uuid4().hex[:10]}"
    containers: list[str] = []
    failed: str | None = None

    def step(label: str, fn: Callable[[], str]) -> None:
        nonlocal failed
        if failed is not None:
            record["steps"][label] = {"status": "not run"}
            return
        t0 = time.monotonic()
        try:
            detail = fn()
            status = "ok"
        except StepFailed as e:
            detail, status = str(e), "fail"
        except NotApplicable as e:
            detail, status = str(e), "n/a"
        except subprocess.TimeoutExpired as e:
            detail, status = f"timed out after {e.timeout:.0f} s", "fail"
        record["steps"][label] = {"status": status, "seconds": round(time.monotonic() - t0, 1), "detail": detail}
        if status == "fail":
            failed = f"{label}: {detail}"

    def cli(*args: str) -> Callable[[], str]:
        def run() -> str:
            proc = _venvship(*args, cwd=project)
            if proc.returncode != 0:
                raise StepFailed(f"exit {proc.returncode}: {_tail(proc.stderr)}")
            # the command's own summary: stdout's unindented lines (not '  + pkg' nor progress)
            summary = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip() and not ln[0].isspace()]
            if not summary:
                summary = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()][-1:]
            return "; ".join(summary)[:400]
        return run

    def lock() -> str:
        out = cli("lock")()
        files = pinlib.venvship_lock_files(project, set(original))
        ours = pinlib.venvship_pins(files)
        record["locks"] = [str(f.relative_to(project)) for f in files]
        record["pinned"] = len(ours)
        if theirs is not None:
            cmp = pinlib.compare(theirs, ours)
            record["pins"] = cmp
            moved = {n: m for n, m in cmp["moved"].items() if n not in app.allowed_moves}  # type: ignore[union-attr]
            if moved:
                shown = ", ".join(f"{n} {'/'.join(m['app'])}->{m['venvship']}" for n, m in list(moved.items())[:6])
                raise StepFailed(f"{len(moved)} of {len(moved) + cmp['kept']} pins of {app.app_lock} moved "
                                 f"(kept {cmp['kept']}): {shown}")
        return out

    def run() -> str:
        if isinstance(app.check, Http):
            return check_http(app, app.check, image, containers)
        return check_cli(app.check, image, tmp_path)

    venv = tmp_path / "venv"

    def install() -> str:
        minor = re.search(r":(\d+\.\d+)", app.base_image)
        python = host_python(minor.group(1)) if minor else None
        if minor and python is None:
            raise NotApplicable(f"this host has no python{minor.group(1)} (the locks' interpreter)")
        out = cli("install", "--venv", str(venv), *(["--python", python] if python else []))()
        if app.host_check:
            argv, pattern = app.host_check
            proc = subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], capture_output=True, text=True,
                                  timeout=120)
            if proc.returncode != 0 or not re.search(pattern, proc.stdout + proc.stderr):
                raise StepFailed(f"{' '.join(argv)} in the venv exited {proc.returncode}: {_tail(proc.stdout + proc.stderr)}")
        return out

    def export() -> str:
        # a source-tree app too: the venv plus its tree at app-dir (README, "Exporting the venv")
        return cli("export", "--format", "tar", "--output", str(tmp_path / "dist"), *no_cache)()

    def unchanged() -> None:
        now = _files(project)
        changed = sorted(p for p, h in original.items() if p != "pyproject.toml" and now.get(p) != h)
        if (project / "pyproject.toml").read_bytes() != pyproject_after:
            changed.append("pyproject.toml")
        record["app_files_changed"] = changed
        if changed:
            raise StepFailed(f"venvship changed the app's own files: {', '.join(changed[:8])}")

    try:
        step("lock", lock)
        step("lock --check", cli("lock", "--check"))
        step("build", cli("build", "--image", image, "--no-verify", *no_cache))
        step("run", run)
        step("verify", cli("verify", image))
        step("install --venv", install)
        step("export --format tar", export)
        if failed is None:
            step("app files unchanged", lambda: unchanged() or "only the [tool.venvship] table was added")
    finally:
        for cid in containers:
            _docker("rm", "-f", cid, check=False)
        _docker("rmi", "-f", image, check=False)
    record["seconds"] = round(sum(s.get("seconds", 0) for s in record["steps"].values()), 1)
    record["result"] = "pass" if failed is None else "fail"
    record["failure"] = failed
    if failed:
        pytest.fail(f"{name}: {failed}", pytrace=False)
