# venvship: asks the app's PEP 517 backend what else it needs to build a wheel
# (get_requires_for_build_wheel: setup_requires, a backend's own plugins) and, with "metadata",
# for the project's metadata (prepare_metadata_for_build_wheel, else a built wheel's METADATA).
# Run by 'venvship lock' in the lock stage, in the project's source tree, from a venv holding the
# backend. The answer goes to OUTFILE, never to stdout: backends print freely ("running egg_info").
# Usage: requires_hook.py BACKEND BACKEND_PATH OUTFILE [requires|metadata]  (BACKEND_PATH "-": none)
import email.parser
import importlib
import json
import os
import sys
import tempfile
import zipfile

backend_name, backend_path, outfile = sys.argv[1:4]
what = sys.argv[4] if len(sys.argv) > 4 else "requires"
if backend_path != "-":
    sys.path[:0] = [os.path.abspath(p) for p in backend_path.split(os.pathsep)]
sys.path.insert(0, os.getcwd())  # setup.py may import its own helpers, as under pip
module, _, attr = backend_name.partition(":")
backend = importlib.import_module(module)
for part in filter(None, attr.split(".")):
    backend = getattr(backend, part)


def answer(text):
    with open(outfile + ".tmp", "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(outfile + ".tmp", outfile)


if what == "requires":
    hook = getattr(backend, "get_requires_for_build_wheel", None)
    answer("".join(req + "\n" for req in (hook() if hook else [])))
    sys.exit(0)

scratch = tempfile.mkdtemp(prefix="venvship-metadata-")
prepare = getattr(backend, "prepare_metadata_for_build_wheel", None)
if prepare is not None:
    with open(os.path.join(scratch, prepare(scratch), "METADATA"), "rb") as fh:
        raw = fh.read()
    how = "prepare_metadata_for_build_wheel"
else:  # the hook is optional (PEP 517): build the wheel and read its METADATA
    wheel = os.path.join(scratch, backend.build_wheel(scratch))
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        raw = zf.read(name)
    how = "build_wheel"
msg = email.parser.BytesParser().parsebytes(raw, headersonly=True)
answer(json.dumps({
    "name": msg.get("Name", ""),
    "version": msg.get("Version", ""),
    "requires-dist": msg.get_all("Requires-Dist") or [],
    "provides-extra": msg.get_all("Provides-Extra") or [],
    "hook": how,
}, indent=1, sort_keys=True) + "\n")
