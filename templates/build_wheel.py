# venvship: builds the app in-process with its PEP 517 backend, from a locked, hash-checked
# build environment (no isolation, nothing fetched). Used by the Dockerfile and by venvship install.
# Usage: build_wheel.py BACKEND BACKEND_PATH OUTDIR [wheel|editable]   (BACKEND_PATH "-": none)
import importlib
import importlib.metadata
import os
import re
import sys

backend_name, backend_path, outdir = sys.argv[1:4]
kind = sys.argv[4] if len(sys.argv) > 4 else "wheel"
version = os.environ.get("VENVSHIP_APP_VERSION", "")
if version:
    os.environ.setdefault("SETUPTOOLS_SCM_PRETEND_VERSION", version)
if backend_path != "-":
    sys.path[:0] = [os.path.abspath(p) for p in backend_path.split(os.pathsep)]
module, _, attr = backend_name.partition(":")
backend = importlib.import_module(module)
for part in filter(None, attr.split(".")):
    backend = getattr(backend, part)
build = getattr(backend, "build_" + kind, None)
if build is None:
    sys.exit("venvship: error: the build backend " + backend_name + " has no build_" + kind + " hook")
requires = getattr(backend, "get_requires_for_build_" + kind, None)



def applies(req):
    """Whether the marker of a requirement holds here, e.g. setuptools; python_version >= "3.12"."""
    if ";" not in req:
        return True
    try:
        from packaging.requirements import Requirement
    except ImportError:  # no packaging in this build env: only unconditional ones are checked
        return False
    marker = Requirement(req).marker
    return marker is None or marker.evaluate({"extra": ""})


missing = []
for req in (requires() if requires else []):
    if not applies(req):
        continue
    name = re.match(r"\s*([A-Za-z0-9._-]+)", req)
    try:
        importlib.metadata.version(name.group(1) if name else req)
    except importlib.metadata.PackageNotFoundError:
        missing.append(req)
if missing:
    sys.exit(
        "venvship: error: the build backend also needs " + ", ".join(missing)
        + "; add them to [tool.venvship] build-requires and run venvship lock"
    )
os.makedirs(outdir, exist_ok=True)
try:
    built = build(outdir)
except LookupError as exc:  # setuptools-scm / hatch-vcs: no version without .git
    if version or "version" not in str(exc).lower():
        raise
    sys.exit(
        "venvship: error: the version comes from git tags and .git is not in the build (" + str(exc)
        + "); pass --build-arg VENVSHIP_APP_VERSION=X.Y.Z (venvship build does)"
    )
print("venvship-built:" + built)
