"""venvship: the bytecode of a venv site-packages, as `uv pip install --compile-bytecode` writes
it, from a cache of .pyc files: the stage of a layer group re-installs all its members when one pin
moves, and compiles only the sources it has not compiled before.

Run by the venv own interpreter (VENV/bin/python, no -I/-E: uv workers are not isolated
either, and the PYTHON* variables change what they write) after `uv pip install` WITHOUT
--compile-bytecode:  python compile_cached.py --cache DIR [SITE_DIR ...]
Standard library only; runs on CPython 3.9 to 3.13 but caches on CPython 3.11+ only, and refuses
(exit 3, nothing written) on an older one or another implementation: before 3.11 marshal marks an
interned string as shared (FLAG_REF) only when something else in the process holds it, so the bytes
of a .pyc depend on the compiling process (its own code, the modules it has imported), not only
on the source: uv 0.13.9 and this script, compiling the same six.py
on 3.9, write different bytes (same code), and so do two runs of uv installing pygments alone
(measured; presumably which worker compiles which file, after what, varies from run to run). 3.11 and later mark every interned string. The
Dockerfile keeps uv --compile-bytecode for those interpreters. No single quote in this file: the
Dockerfile writes it with printf (render.printf_file).

What uv 0.13.9 does for --compile-bytecode (crates/uv-installer/src/compile.rs and
pip_compileall.py, the script as embedded in the 0.13.9 binary; checked by tests/integration/
test_compile_cached.py on real wheels, byte for byte):
- it walks each site-packages directory of the venv (the interpreter purelib, then platlib if
  it is another directory) with walkdir: not following symbolic links, skipping every entry named
  __pycache__ (and all below it), sending each regular file whose extension is "py" (Rust: a file
  named exactly ".py" has none; a symbolic link to a .py file is not a regular file) to workers.
  A path with a CR or LF in it is skipped with a warning; paths go through a UTF-8 pipe.
- workers: UV_CONCURRENT_INSTALLS or the available parallelism (CPUs) Python processes
  `VENV/bin/python pip_compileall.py`, working directory the site-packages directory, environment
  inherited plus PYTHONUNBUFFERED=1. Each reads paths on stdin and calls, with warnings ignored,
      compileall.compile_file(path, invalidation_mode=MODE, force=FORCE, quiet=2)
  MODE: PYC_INVALIDATION_MODE (TIMESTAMP, CHECKED_HASH, UNCHECKED_HASH; another value fails the
  install), else py_compile._get_default_invalidation_mode() (CHECKED_HASH if SOURCE_DATE_EPOCH
  is set, else TIMESTAMP). FORCE: True unless the mode is TIMESTAMP.
- so: ddir None (the code co_filename is the source absolute path as walked), optimize -1
  (the interpreter own level: PYTHONOPTIMIZE, in the file name as opt-N too), the .pyc at
  importlib.util.cache_from_source(path) (PYTHONPYCACHEPREFIX moves it); written by py_compile:
  __pycache__ by os.makedirs, the file by a temporary file and a rename, mode the source mode
  plus owner write (0o200), masked by 0o666 and the umask. A source that does not compile (a
  SyntaxError, a vendored Python 2 file, a bad encoding) gets no .pyc and no message; so does an
  OSError. uv does not add the .pyc files to RECORD.
This script walks the same way and, for each source, looks its .pyc up in the cache by a key of
everything the bytes depend on: the interpreter (cache tag, magic number, sys.version), the
optimization level, whether debug ranges are kept, the invalidation mode (and for TIMESTAMP the
source mtime and size, which the header holds), the source absolute path (co_filename) and
the sha256 of its bytes. A hit writes the cached bytes as py_compile writes a .pyc (same path,
same mode); a miss calls compileall.compile_file exactly as uv does and stores what it wrote
(a temporary file and a rename: concurrent build steps share the cache). A source whose .pyc
path already exists is compiled as uv would, never from the cache. Misses are compiled by
worker processes, as many as uv starts.
"""

import compileall
import hashlib
import importlib.util
import os
import py_compile
import sys
import sysconfig
import tempfile
import time
import warnings

FORMAT = "1"  # the cache layout; bump it when a key or an entry changes meaning
HEADER = 16  # bytes of a .pyc header: magic, flags, then mtime and size or the source hash


def invalidation_mode(environ):
    """The mode uv passes (pip_compileall.py): PYC_INVALIDATION_MODE, else py_compile default."""
    name = environ.get("PYC_INVALIDATION_MODE")
    if name is not None:
        try:
            return py_compile.PycInvalidationMode[name]
        except KeyError:
            valid = ", ".join(m.name for m in py_compile.PycInvalidationMode)
            raise SystemExit("venvship: invalid PYC_INVALIDATION_MODE %r (valid: %s)" % (name, valid)) from None
    if environ.get("SOURCE_DATE_EPOCH"):
        return py_compile.PycInvalidationMode.CHECKED_HASH
    return py_compile.PycInvalidationMode.TIMESTAMP


def workers(environ):
    """As many as uv starts: UV_CONCURRENT_INSTALLS, else the CPUs this process may use."""
    value = environ.get("UV_CONCURRENT_INSTALLS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def site_dirs():
    """The venv site-packages directories uv compiles: purelib, then platlib if another."""
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


def interpreter_key(environ, flags=None, xoptions=None):
    """What the bytes depend on besides the source and its path: the interpreter and its
    compile settings. A directory of the cache each."""
    flags = sys.flags if flags is None else flags
    xoptions = sys._xoptions if xoptions is None else xoptions
    no_debug_ranges = bool(environ.get("PYTHONNODEBUGRANGES")) or "no_debug_ranges" in xoptions
    parts = [FORMAT, sys.implementation.name, sys.implementation.cache_tag,
             importlib.util.MAGIC_NUMBER.hex(), sys.version, str(flags.optimize), str(no_debug_ranges)]
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:24]
    return "%s-%s" % (sys.implementation.cache_tag, digest)


def entry_key(mode, path, source, stat_result=None):
    """The cache key of one source: the mode, its absolute path, its bytes (and for TIMESTAMP the
    mtime and size the header holds, as compileall reads them)."""
    parts = [mode.name, path, hashlib.sha256(source).hexdigest()]
    if mode == py_compile.PycInvalidationMode.TIMESTAMP:
        parts += [str(int(stat_result.st_mtime) & 0xFFFFFFFF), str(stat_result.st_size & 0xFFFFFFFF)]
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def header_matches(data, mode, source, stat_result=None):
    """A cached entry is a .pyc of this source for this interpreter (a cheap check of the header
    against the source: a damaged or foreign entry is compiled again)."""
    if len(data) <= HEADER or data[:4] != importlib.util.MAGIC_NUMBER:
        return False
    flags = int.from_bytes(data[4:8], "little")
    if mode == py_compile.PycInvalidationMode.TIMESTAMP:
        return flags == 0 and data[8:16] == (
            (int(stat_result.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
            + (stat_result.st_size & 0xFFFFFFFF).to_bytes(4, "little"))
    checked = mode == py_compile.PycInvalidationMode.CHECKED_HASH
    return flags == (0b11 if checked else 0b01) and data[8:16] == importlib.util.source_hash(source)


def sources(top):
    """The files uv sends to its workers, in walk order: regular files (not symbolic links)
    named *.py (not exactly .py), not below a __pycache__, not through a linked directory."""
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name == "__pycache__":
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from sources(entry.path)
        elif (entry.is_file(follow_symlinks=False) and entry.name.endswith(".py") and entry.name != ".py"
              and "\n" not in entry.path and "\r" not in entry.path and utf8(entry.path)):
            yield entry.path


def utf8(path):
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes (surrogateescape): uv sends a mangled path
        return False
    return True


def write_pyc(cfile, data, source_path):
    """As py_compile writes: __pycache__ by os.makedirs, the mode of the source plus owner write
    (masked by 0o666 and the umask), a temporary file renamed over the .pyc."""
    try:
        mode = os.stat(source_path).st_mode
    except OSError:
        mode = 0o666
    mode |= 0o200
    dirname = os.path.dirname(cfile)
    if dirname:
        os.makedirs(dirname, exist_ok=True)
    tmp = "%s.%s" % (cfile, id(cfile))
    fd = os.open(tmp, os.O_EXCL | os.O_CREAT | os.O_WRONLY, mode & 0o666)
    try:
        with open(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, cfile)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def store(path, data):
    """An entry appears whole, by one rename, or not at all (a full disk only costs the cache)."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with open(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as err:
        sys.stderr.write("venvship: bytecode cache: not stored (%s)\n" % err)


def compile_like_uv(path, mode):
    """uv pip_compileall.py for one file: errors muted, warnings ignored."""
    force = mode != py_compile.PycInvalidationMode.TIMESTAMP
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        compileall.compile_file(path, invalidation_mode=mode, force=force, quiet=2)


def compile_and_store(job):
    """A miss: compile as uv does, then keep what py_compile wrote. Returns 1 if compiled."""
    path, cfile, entry, mode = job
    compile_like_uv(path, mode)
    if entry is None:
        return 0
    try:
        with open(cfile, "rb") as fh:
            data = fh.read()
    except OSError:  # it did not compile: nothing to keep (it is compiled again next time)
        return 0
    store(entry, data)
    return 1


def lookup(path, mode, root):
    """One source: its cached .pyc written in place (None), or the miss to compile."""
    cfile = importlib.util.cache_from_source(path)
    if os.path.lexists(cfile):  # a wheel shipped it, or it is a link: as uv, never cached
        return (path, cfile, None, mode)
    try:
        with open(path, "rb") as fh:
            source = fh.read()
        st = os.stat(path) if mode == py_compile.PycInvalidationMode.TIMESTAMP else None
    except OSError:
        return (path, cfile, None, mode)
    key = entry_key(mode, path, source, st)
    entry = os.path.join(root, key[:2], key + ".pyc")
    try:
        with open(entry, "rb") as fh:
            data = fh.read()
    except OSError:
        data = b""
    if not header_matches(data, mode, source, st):
        return (path, cfile, entry, mode)
    write_pyc(cfile, data, path)
    return None


POOL_FROM = 16  # fewer misses are compiled in this process: starting workers costs more


def run(dirs, cache, environ, jobs):
    """Every source of the dirs: (files, from the cache, compiled, stored)."""
    mode = invalidation_mode(environ)
    root = os.path.join(cache, "v" + FORMAT, interpreter_key(environ))
    paths = [path for top in dirs for path in sources(top)]
    # one thread: a hit is a read and a write of a small file; threads measured no faster
    looked = [lookup(p, mode, root) for p in paths]
    misses = [m for m in looked if m is not None]
    if len(misses) >= POOL_FROM and jobs > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            stored = sum(pool.imap_unordered(compile_and_store, misses, chunksize=4))
    else:
        stored = sum(compile_and_store(job) for job in misses)
    return len(paths), len(paths) - len(misses), len(misses), stored


def supported(implementation=None, version=None):
    """CPython 3.11+: marshal output that does not depend on the compiling process."""
    implementation = sys.implementation.name if implementation is None else implementation
    version = sys.version_info[:2] if version is None else version
    return implementation == "cpython" and tuple(version) >= (3, 11)


def main(argv):
    if not supported():
        sys.stderr.write("venvship: compile_cached.py needs CPython 3.11 or later (this is %s %s): "
                         "install with uv --compile-bytecode\n"
                         % (sys.implementation.name, ".".join(map(str, sys.version_info[:3]))))
        return 3
    args = list(argv)
    cache = None
    if len(args) >= 2 and args[0] == "--cache":
        cache, args = args[1], args[2:]
    if not cache or any(a.startswith("-") for a in args):
        sys.stderr.write("usage: python compile_cached.py --cache DIR [SITE_DIR ...]\n")
        return 2
    started = time.monotonic()
    dirs = args or site_dirs()
    files, hits, compiled, stored = run(dirs, cache, os.environ, workers(os.environ))
    sys.stderr.write("venvship: bytecode of %d files: %d from the cache, %d compiled (%d kept) in %.2f s\n"
                     % (files, hits, compiled, stored, time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
