# venvship: builds the wheel of the app in-process from a locked, hash-checked build environment.
# Usage: venvship_build_wheel.py BACKEND BACKEND_PATH OUTDIR   (BACKEND_PATH "-" for none)
import importlib
import importlib.metadata
import os
import re
import sys

backend_name, backend_path, outdir = sys.argv[1:4]
version = os.environ.get("VENVSHIP_APP_VERSION", "")
if version:
    os.environ.setdefault("SETUPTOOLS_SCM_PRETEND_VERSION", version)
if backend_path != "-":
    sys.path[:0] = [os.path.abspath(p) for p in backend_path.split(os.pathsep)]
module, _, attr = backend_name.partition(":")
backend = importlib.import_module(module)
for part in filter(None, attr.split(".")):
    backend = getattr(backend, part)
hook = getattr(backend, "get_requires_for_build_wheel", None)
missing = []
for req in (hook() if hook else []):
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
print("built", backend.build_wheel(outdir))
