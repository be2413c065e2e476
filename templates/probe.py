# venvship: what a Python interpreter says about itself, the one script venvship runs in a base
# image, an image's venv or a host interpreter: python -c "$(this file)" [verify CONFIG_JSON].
# Without arguments it prints one JSON line (interpreter()): version, implementation, platform,
# PEP 508 markers and, in a venv, the distributions installed in it; venvship reads it as an
# Interpreter (src/venvship/interpreter.py). With 'verify CONFIG_JSON' it is the in-image half of
# 'venvship verify', run by the image's venv interpreter as its own user with the image's
# environment (plus --env-var): it prints one line 'venvship-verify: {json}', interpreter() and what
# verify judges on the host (imports, entry points, ELF libraries, compilers).
# Standard library only, Python 3.8+, no shell needed (the loader is run directly, not ldd).
import contextlib
import importlib
import importlib.metadata as md
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import sysconfig
import traceback
from concurrent.futures import ThreadPoolExecutor

MARKER = "venvship-verify: "
COMPILERS = ("cc", "gcc", "g++", "c++", "clang", "tcc", "x86_64-linux-gnu-gcc")


def markers():
    """PEP 508 environment markers, as packaging.markers.default_environment() computes them."""
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": platform.python_version(),
        "os_name": os.name, "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(), "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "python_version": ".".join(platform.python_version_tuple()[:2]), "sys_platform": sys.platform,
    }


def installed(prefix):
    """The distributions installed in ``prefix`` (a venv): in its site directories and the
    entries of sys.path inside it, not those on sys.path outside it. Each name once."""
    prefix = os.path.realpath(prefix)
    scheme = sysconfig.get_paths(vars={"base": prefix, "platbase": prefix})
    dirs = [scheme["purelib"], scheme["platlib"], *(p for p in sys.path if p)]
    dirs = [d for d in dict.fromkeys(os.path.realpath(d) for d in dirs) if d.startswith(prefix + os.sep)]
    seen = set()
    for d in md.distributions(path=dirs):
        name = d.metadata["Name"]
        if name and canonical(name) not in seen:
            seen.add(canonical(name))
            yield d


def interpreter():
    """The interpreter: what a lock is compiled for, and what a venv holds."""
    in_venv = os.path.realpath(sys.base_prefix) != os.path.realpath(sys.prefix)
    return {
        "executable": sys.executable, "implementation": sys.implementation.name,
        "python": platform.python_version(), "machine": platform.machine(),
        "sys_platform": sys.platform, "platform": sysconfig.get_platform(),
        "prefix": sys.prefix, "in_venv": in_venv, "markers": markers(),
        "dists": {d.metadata["Name"]: d.version for d in installed(sys.prefix)} if in_venv else {},
    }


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


# ---- imports ---------------------------------------------------------------------------------
def describe(exc):
    text = str(exc).strip().splitlines()
    return "%s: %s" % (type(exc).__name__, text[-1] if text else "")


def resolve(spec):
    """Import 'module[:attr.path]' (extras and a factory call such as 'create_app()' dropped):
    None when it resolves, else why not. A factory is looked up, never called."""
    spec = re.sub(r"\[.*\]\s*$", "", spec).strip()
    module, _, attr = spec.partition(":")
    attr = re.sub(r"\(.*\)\s*$", "", attr).strip()
    try:
        with contextlib.redirect_stdout(sys.stderr):
            obj = importlib.import_module(module.strip())
    except BaseException as exc:  # noqa: BLE001 - SystemExit at import is a failure too
        if isinstance(exc, KeyboardInterrupt):
            raise
        return describe(exc)
    for part in filter(None, attr.split(".")):
        try:
            obj = getattr(obj, part)
        except BaseException as exc:  # noqa: BLE001 - a lazy attribute may raise anything
            if isinstance(exc, KeyboardInterrupt):
                raise
            if isinstance(exc, AttributeError):
                return "module %r has no attribute %r" % (module.strip(), attr)
            return describe(exc)
    return None


def top_level(dist, site_dirs):
    """The importable top-level names a distribution installs (top_level.txt, else its files)."""
    text = dist.read_text("top_level.txt")
    if text:
        return sorted({n.strip().replace("/", ".") for n in text.splitlines() if n.strip()})
    names = set()
    for f in dist.files or ():
        full = os.path.realpath(str(dist.locate_file(f)))
        for site in site_dirs:
            if not full.startswith(site + os.sep):
                continue
            parts = os.path.relpath(full, site).split(os.sep)
            if len(parts) > 1:
                names.add(parts[0])
            elif parts[0].endswith((".py", ".so", ".pyd")):
                names.add(parts[0].split(".")[0])
    return sorted(n for n in names if n.isidentifier() and n not in ("__init__", "__pycache__"))


def runnable(module):
    """Why 'python -m MODULE' could not run it (a package without __main__), or None."""
    import importlib.util

    mod = sys.modules.get(module)
    if mod is None or not hasattr(mod, "__path__"):
        return None
    try:
        found = importlib.util.find_spec(module + ".__main__")
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        return describe(exc)
    return None if found else "%r is a package without __main__: 'python -m' cannot run it" % module


# ---- ELF -------------------------------------------------------------------------------------
def elf_info(path):
    """(NEEDED, RPATH+RUNPATH, PT_INTERP) of an ELF file, or None when it is not a dynamic ELF."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        if len(head) < 52 or head[:4] != b"\x7fELF":
            return None
        wide = head[4] == 2
        end = "<" if head[5] == 1 else ">"
        if wide:
            phoff, = struct.unpack(end + "Q", head[32:40])
            phentsize, phnum = struct.unpack(end + "HH", head[54:58])
        else:
            phoff, = struct.unpack(end + "I", head[28:32])
            phentsize, phnum = struct.unpack(end + "HH", head[42:46])
        loads, dynamic, interp = [], None, None
        for i in range(phnum):
            fh.seek(phoff + i * phentsize)
            ph = fh.read(phentsize)
            if wide:
                ptype, _, offset, vaddr, _, filesz, _, _ = struct.unpack(end + "IIQQQQQQ", ph[:56])
            else:
                ptype, offset, vaddr, _, filesz, _, _, _ = struct.unpack(end + "IIIIIIII", ph[:32])
            if ptype == 1:
                loads.append((vaddr, offset, filesz))
            elif ptype == 2:
                dynamic = (offset, filesz)
            elif ptype == 3:
                fh.seek(offset)
                interp = fh.read(filesz).rstrip(b"\0").decode("utf-8", "replace")
        if dynamic is None:
            return None
        fh.seek(dynamic[0])
        raw = fh.read(dynamic[1])
        size = 16 if wide else 8
        fmt = end + ("qQ" if wide else "iI")
        needed, paths, strtab = [], [], None
        for i in range(0, len(raw) - size + 1, size):
            tag, val = struct.unpack(fmt, raw[i:i + size])
            if tag == 0:
                break
            if tag == 5:
                strtab = val
            elif tag == 1:
                needed.append(val)
            elif tag in (15, 29):
                paths.append(val)
        if strtab is None:
            return [], [], interp
        base = next((off + strtab - va for va, off, sz in loads if va <= strtab < va + sz), strtab)

        def string(at):
            fh.seek(base + at)
            chunk = fh.read(4096)
            return chunk.split(b"\0", 1)[0].decode("utf-8", "replace")

        return [string(n) for n in needed], [string(p) for p in paths], interp


def ld_so_conf_dirs(path="/etc/ld.so.conf", seen=None):
    import glob

    seen = set() if seen is None else seen
    if path in seen or not os.path.isfile(path):
        return []
    seen.add(path)
    dirs = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if line.startswith("include "):
                for inc in sorted(glob.glob(line.split(None, 1)[1])):
                    dirs += ld_so_conf_dirs(inc, seen)
            elif line:
                dirs.append(line)
    return dirs


def search_dirs():
    multiarch = getattr(sys.implementation, "_multiarch", "") or ""
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d] + ld_so_conf_dirs()
    for root in ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib"):
        if multiarch:
            dirs.append(root + "/" + multiarch)
        dirs.append(root)
    return list(dict.fromkeys(dirs))


def missing_by_reading(path, info, dirs):
    """The NEEDED libraries of ``path`` found neither in its RPATH/RUNPATH nor the system's dirs."""
    needed, paths, _ = info
    origin = os.path.dirname(path)
    own = []
    for entry in paths:
        for d in entry.split(":"):
            own.append(d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin))
    out = []
    for lib in needed:
        if "/" in lib:
            found = os.path.exists(lib)
        else:
            found = any(os.path.exists(os.path.join(d, lib)) for d in own + dirs)
        if not found:
            out.append(lib)
    return out


NOT_FOUND = re.compile(r"^\s*(\S+) => not found")
LOAD_ERROR = re.compile(r"error while loading shared libraries: ([^:\s]+): cannot open")
VERSION_NOT_FOUND = re.compile(r"(version `[^']+' not found)")


def missing_by_loader(loader, path):
    """The loader's own answer, as ldd asks it (LD_TRACE_LOADED_OBJECTS, no shell): each
    'NAME => not found' and 'version `X' not found'."""
    env = dict(os.environ, LD_TRACE_LOADED_OBJECTS="1")
    proc = subprocess.run([loader, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                          universal_newlines=True, errors="replace", timeout=60)
    out = [m.group(1) for m in map(NOT_FOUND.match, proc.stdout.splitlines()) if m]
    for line in proc.stderr.splitlines():
        m = VERSION_NOT_FOUND.search(line) or LOAD_ERROR.search(line)
        if m and m.group(1) not in out:
            out.append(m.group(1))
    return list(dict.fromkeys(out))


def shipped_libraries(prefix):
    """The file names of every shared library the venv ships itself (auditwheel's pkg.libs/,
    symlinks included): a bundled library NEEDED by another is loaded through the extension
    module's RPATH, not found by its own, so it is not missing from the runtime image."""
    names = set()
    for _root, dirs, files in os.walk(prefix):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        names.update(n for n in files if ".so" in n)
    return names


def elf_files(prefix):
    for root, dirs, files in os.walk(prefix):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith((".py", ".pyc", ".pyi", ".txt", ".json", ".typed", ".h", ".c", ".html")):
                continue
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            try:
                info = elf_info(path)
            except (OSError, struct.error, IndexError):
                continue
            if info is not None:
                yield path, info


def check_elf(prefix, method):
    files = list(elf_files(prefix))
    loader = None
    if method != "python":
        try:
            own = elf_info(os.path.realpath(sys.executable))
        except OSError:
            own = None
        if own and own[2] and os.path.exists(own[2]):
            loader = own[2]
    result = {"files": len(files), "method": "loader" if loader else "python", "loader": loader,
              "missing": []}
    dirs = search_dirs()

    def one(item):
        path, info = item
        if not info[0]:
            return path, []
        if loader:
            try:
                return path, missing_by_loader(loader, path)
            except (OSError, subprocess.SubprocessError):
                pass
        return path, missing_by_reading(path, info, dirs)

    shipped = shipped_libraries(prefix)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for path, libs in pool.map(one, sorted(files)):
            for lib in libs:
                if lib in shipped:
                    continue
                result["missing"].append({"file": os.path.relpath(path, prefix), "library": lib})
    return result


# ---- the probe -------------------------------------------------------------------------------
def executable(name):
    if not name:
        return None
    if "/" in name:
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    return shutil.which(name)


def verify(config):
    """The in-image half of 'venvship verify': interpreter() and what verify judges on the host."""
    prefix = os.path.realpath(sys.prefix)
    dists, requires, scripts, app = {}, {}, {}, None
    for d in installed(prefix):
        name = d.metadata["Name"]
        dists[name] = d.version
        requires[name] = list(d.requires or [])
        for ep in d.entry_points:
            if ep.group == "console_scripts":
                scripts.setdefault(ep.name, (name, ep.value))
        if app is None and canonical(name) == canonical(config.get("app", "")):
            app = d
    # Before any app import: an import may monkey-patch threads or subprocess (gevent, eventlet).
    elf = check_elf(prefix, config.get("elf", "auto")) if config.get("elf", "auto") != "off" else None
    compilers = sorted({c for c in COMPILERS if shutil.which(c)})
    site_dirs = {os.path.realpath(p) for p in sys.path if p and os.path.realpath(p).startswith(prefix + os.sep)}
    bindir = os.path.join(sys.prefix, "bin")

    entry_points = []
    if app is not None:
        for ep in app.entry_points:
            if ep.group != "console_scripts":
                continue
            script = os.path.join(bindir, ep.name)
            error = None if executable(script) else "the script %s is missing" % script
            entry_points.append({"name": ep.name, "value": ep.value, "error": error or resolve(ep.value)})

    commands = []
    for name in config.get("executables") or []:
        found = executable(name)
        entry = {"argv0": name, "path": found, "entry_point": None}
        if found and os.path.dirname(os.path.realpath(found)) == os.path.realpath(bindir):
            script = scripts.get(os.path.basename(found))
            if script is not None:
                entry["entry_point"] = {"name": os.path.basename(found), "dist": script[0],
                                        "value": script[1], "error": resolve(script[1])}
        commands.append(entry)

    modules = config.get("modules")
    if modules is None:  # console scripts' modules are checked (and named) by their entry point
        modules = top_level(app, site_dirs) if app is not None else []
    modules = list(dict.fromkeys(m for m in modules if m))
    imports = {m: resolve(m) for m in modules}
    targets = []
    for t in config.get("targets") or []:
        if t.get("file"):  # a source tree's script: it must be there; running it is --start's job
            path = os.path.join(os.getcwd(), t["spec"])
            targets.append(dict(t, error=None if os.path.isfile(path) else "no such file: %s" % path))
            continue
        error = resolve(t["spec"])
        if error is None and t.get("main"):
            error = runnable(t["spec"])
        targets.append(dict(t, error=error))

    print(MARKER + json.dumps({
        **interpreter(), "uid": os.getuid(), "dists": dists, "requires": requires,
        "compilers": compilers, "app_found": app is not None, "entry_points": entry_points,
        "commands": commands, "imports": imports, "targets": targets, "elf": elf,
    }))


def main(argv):
    if argv[:1] != ["verify"]:
        print(json.dumps(interpreter(), sort_keys=True))
        return
    try:
        verify(json.loads(argv[1]) if len(argv) > 1 else {})
    except Exception:  # noqa: BLE001 - say what broke the probe itself, on the marker line
        print(MARKER + json.dumps({"probe_error": traceback.format_exc()[-2000:]}))
        sys.stdout.flush()
        os._exit(3)
    sys.stdout.flush()
    os._exit(0)  # threads an imported module started must not keep the probe waiting


if __name__ == "__main__":
    main(sys.argv[1:])
