# venvship: assembles the root filesystem of the minimal runtime image (runtime-image = "minimal")
# in a stage of the base image. Run by the venv own interpreter (python -I -S -B) with the venv
# bind-mounted at its path. Standard library only, Python 3.8+, no shell.
# Copies: the interpreter the venv points at (every symlink on the way), its standard library
# minus --drop modules, the shared-library closure (the loader own trace, LD_TRACE_LOADED_OBJECTS)
# of the interpreter, lib-dynload, every ELF file in the venv, the files of --package and of
# --program; CA certificates, zoneinfo, the loader cache; writes passwd/group for the user, its
# home and /tmp (1777). Every mtime is clamped to --mtime. Nothing else: no shell, no apt.
import argparse
import glob
import os
import shutil
import stat
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ALWAYS = ["/etc/ssl", "/usr/lib/ssl", "/usr/share/ca-certificates", "/usr/share/zoneinfo",
          "/etc/localtime", "/etc/timezone", "/etc/nsswitch.conf", "/etc/ld.so.cache",
          "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/usr/lib/locale/C.utf8", "/usr/lib/locale/C.UTF-8",
          "/etc/mime.types", "/etc/os-release", "/etc/debian_version"]
# Loaded with dlopen, so never in a trace: name resolution before glibc 2.34, thread unwinding.
DLOPENED = ["libnss_files.so.2", "libnss_dns.so.2", "libresolv.so.2", "libgcc_s.so.1"]
PACKAGE_SKIP = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/lintian/", "/usr/share/info/")
STDLIB_NEVER = ("site-packages", "dist-packages", "EXTERNALLY-MANAGED")
# Never copied: the leap-second variants of the time zones (zoneinfo reads the main tree).
SKIP_PATHS = ("/usr/share/zoneinfo/right",)
# merged-/usr links (bin -> usr/bin): the paths programs are named by resolve as in the base image
TOP_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def fail(message):
    sys.stderr.write("venvship minimal runtime: %s\n" % message)
    sys.exit(1)


def elf_interp(path):
    """The PT_INTERP (the dynamic loader) of an ELF executable, or None."""
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
        for i in range(phnum):
            fh.seek(phoff + i * phentsize)
            ph = fh.read(phentsize)
            if wide:
                ptype, _, offset, _, _, filesz, _, _ = struct.unpack(end + "IIQQQQQQ", ph[:56])
            else:
                ptype, offset, _, _, filesz, _, _, _ = struct.unpack(end + "IIIIIIII", ph[:32])
            if ptype == 3:
                fh.seek(offset)
                return fh.read(filesz).rstrip(b"\0").decode("utf-8", "replace")
    return None


def is_elf(path):
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


class Tree:
    """A root filesystem under root: add() copies a path of this system into it."""

    def __init__(self, root, mtime, skip=None):
        self.root = root
        self.mtime = mtime
        self.done = set()
        self.skip = skip if skip is not None else set()  # already in the layer below
        self.elf = []
        os.makedirs(root, exist_ok=True)

    def dest(self, path):
        return self.root + path

    def mkdir(self, path):
        dest = self.dest(path)
        if not os.path.isdir(dest):
            os.makedirs(dest, exist_ok=True)
            os.chmod(dest, stat.S_IMODE(os.stat(path).st_mode) if os.path.isdir(path) else 0o755)

    def add(self, path, depth=0):
        """Copy path (file, symlink or directory): each symlink on the way is copied as a
        symlink and its target too, so every chain resolves in the image."""
        if depth > 40:
            fail("too many symlinks: %s" % path)
        path = os.path.normpath(path)
        if path in self.done or path in SKIP_PATHS:
            return
        parts = path.strip("/").split("/")
        current = "/"
        for i, part in enumerate(parts):
            here = os.path.join(current, part)
            rest = "/".join(parts[i + 1:])
            if os.path.islink(here):
                target = os.readlink(here)
                if here not in self.done and here not in self.skip:
                    self.mkdir(current)
                    if not os.path.lexists(self.dest(here)):
                        os.symlink(target, self.dest(here))
                self.done.add(here)
                resolved = os.path.normpath(os.path.join(current, target))
                self.add(resolved + ("/" + rest if rest else ""), depth + 1)
                return
            if not os.path.lexists(here):
                return
            if rest:
                if here not in self.done:
                    self.mkdir(here)
                current = here
        self.done.add(path)
        if os.path.isdir(path):
            self.mkdir(path)
            for name in sorted(os.listdir(path)):
                self.add(os.path.join(path, name), depth)
        elif os.path.isfile(path) and path not in self.skip:
            self.mkdir(os.path.dirname(path))
            shutil.copy2(path, self.dest(path), follow_symlinks=False)
            if is_elf(path):
                self.elf.append(path)

    def link_only(self, path):
        """Copy the symlink path itself, not what it points at."""
        if os.path.islink(path) and path not in self.done and path not in self.skip:
            self.mkdir(os.path.dirname(path))
            if not os.path.lexists(self.dest(path)):
                os.symlink(os.readlink(path), self.dest(path))
            self.done.add(path)

    def finish(self):
        # First the bytecode: a timestamp .pyc records the mtime of its source, so clamping the
        # source alone would make every standard-library .pyc stale (each start recompiles).
        for top, _, files in os.walk(self.root):
            if os.path.basename(top) == "__pycache__":
                for name in files:
                    if name.endswith(".pyc"):
                        restamp_pyc(os.path.join(top, name), self.mtime)
        for top, dirs, files in os.walk(self.root):
            for name in dirs + files:
                full = os.path.join(top, name)
                if os.lstat(full).st_mtime > self.mtime:
                    os.utime(full, (self.mtime, self.mtime), follow_symlinks=False)
        os.utime(self.root, (self.mtime, self.mtime))


def restamp_pyc(pyc, mtime):
    """A timestamp .pyc (PEP 552 flags 0) that matches its source (mtime and size in its header)
    gets the clamped mtime in its header too, so it stays valid once the source is clamped."""
    source = os.path.join(os.path.dirname(os.path.dirname(pyc)), os.path.basename(pyc).split(".")[0] + ".py")
    try:
        st = os.stat(source)
        with open(pyc, "r+b") as fh:
            head = fh.read(16)
            if len(head) < 16 or st.st_mtime <= mtime:
                return
            flags, stamp, size = struct.unpack("<III", head[4:16])
            if flags == 0 and stamp == int(st.st_mtime) & 0xFFFFFFFF and size == st.st_size & 0xFFFFFFFF:
                fh.seek(8)
                fh.write(struct.pack("<I", int(mtime) & 0xFFFFFFFF))
    except OSError:
        return


def traced(loader, path):
    """The libraries the loader maps for path, as ldd asks it, without a shell."""
    env = dict(os.environ, LD_TRACE_LOADED_OBJECTS="1")
    proc = subprocess.run([loader, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                          universal_newlines=True, errors="replace", timeout=120)
    found, missing = [], []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if "=> not found" in line:
            missing.append(line.split()[0])
            continue
        lib = line.split("=>", 1)[-1].strip().split(" (")[0].strip()
        if lib.startswith("/"):
            found.append(lib)
    return found, missing


def closure(tree, loader, files, inside=()):
    """Add the library closure of files (the trace lists it whole, not only the direct
    NEEDED); libraries under inside (the venv) are there already."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        for path, (libs, missing) in zip(files, pool.map(lambda f: traced(loader, f), files)):
            for lib in missing:
                sys.stderr.write("venvship minimal runtime: warning: %s needs %s, which the base"
                                 " image does not have either\n" % (path, lib))
            for lib in libs:
                if not any(lib == p or lib.startswith(p + "/") for p in inside):
                    tree.add(lib)


def venv_interpreter(venv):
    """The symlinks of the venv that leave it, and the interpreter they end at."""
    links = []
    for name in sorted(os.listdir(os.path.join(venv, "bin"))):
        full = os.path.join(venv, "bin", name)
        if name.startswith("python") and os.path.islink(full):
            target = os.path.normpath(os.path.join(os.path.dirname(full), os.readlink(full)))
            if not target.startswith(venv + "/"):
                links.append(target)
    executable = os.path.realpath(os.path.join(venv, "bin", "python"))
    if not os.path.isfile(executable):
        fail("%s/bin/python does not lead to an interpreter in the base image" % venv)
    return links, executable


def stdlib_dirs():
    import sysconfig
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    dynload = [os.path.realpath(p) for p in sys.path if p.endswith("lib-dynload") and os.path.isdir(p)]
    return stdlib, dynload


def dropped(name, drop):
    base = name.split(".")[0]
    return base in drop or name in STDLIB_NEVER or name.startswith("config-")


def add_stdlib(tree, stdlib, dynload, drop):
    tree.mkdir(stdlib)
    for name in sorted(os.listdir(stdlib)):
        full = os.path.join(stdlib, name)
        if full in dynload or dropped(name, drop):
            continue
        if name == "__pycache__":
            tree.mkdir(full)
            for pyc in sorted(os.listdir(full)):
                if not dropped(pyc, drop):
                    tree.add(os.path.join(full, pyc))
            continue
        tree.add(full)
    for directory in dynload:
        tree.mkdir(directory)
        for name in sorted(os.listdir(directory)):
            if not dropped(name, drop):
                tree.add(os.path.join(directory, name))


def package_files(name):
    lists = glob.glob("/var/lib/dpkg/info/%s.list" % name) + glob.glob("/var/lib/dpkg/info/%s:*.list" % name)
    if not lists:
        fail("runtime-packages: %s is not installed in the base stage" % name)
    out = []
    for path in lists:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if line and not line.startswith(PACKAGE_SKIP) and (os.path.islink(line) or os.path.isfile(line)):
                    out.append(line)
    return out


def program(name):
    found = name if name.startswith("/") else shutil.which(name, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if not found or not os.path.isfile(found):
        return None
    return found


def library_dirs(tree):
    dirs = []
    for path in sorted(tree.done):
        if os.path.basename(path).startswith("libc.so."):
            dirs.append(os.path.dirname(os.path.realpath(path)))
    return dirs


def write(tree, path, text, mode=0o644):
    tree.mkdir(os.path.dirname(path))
    with open(tree.dest(path), "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tree.dest(path), mode)


def write_package_status(tree):
    """/var/lib/dpkg/status.d/NAME: the status entry of every Debian package a copied file
    belongs to (as distroless images do), so that image scanners see what the image holds."""
    owners = {}
    for listing in sorted(glob.glob("/var/lib/dpkg/info/*.list")):
        name = os.path.basename(listing)[:-len(".list")].split(":")[0]
        with open(listing, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.rstrip("\n")
                owners.setdefault(line, name)
                # merged /usr: the package says /lib/..., the copy was made as /usr/lib/...
                real = os.path.join(os.path.realpath(os.path.dirname(line) or "/"), os.path.basename(line))
                owners.setdefault(real, name)
    used = set()
    for path in tree.done:
        for candidate in (path, os.path.realpath(path)):
            if candidate in owners and not os.path.isdir(candidate):  # a directory has many
                used.add(owners[candidate])
    try:
        with open("/var/lib/dpkg/status", encoding="utf-8", errors="replace") as fh:
            stanzas = fh.read().split("\n\n")
    except OSError:
        return
    for stanza in stanzas:
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith(" "))
        name = fields.get("Package")
        if name in used and "installed" in fields.get("Status", ""):
            write(tree, "/var/lib/dpkg/status.d/" + name, stanza.strip("\n") + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--uid", type=int, required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--mtime", type=int, default=315532800)
    ap.add_argument("--drop", action="append", default=[])
    ap.add_argument("--package", action="append", default=[])
    ap.add_argument("--program", action="append", default=[])
    ap.add_argument("--debug-out", default="")
    ap.add_argument("--debug-program", action="append", default=[])
    args = ap.parse_args()
    venv = os.path.normpath(args.venv)
    drop = set(args.drop)
    tree = Tree(args.out, args.mtime)

    links, executable = venv_interpreter(venv)
    for link in links:
        tree.add(link)
    tree.add(executable)
    loader = elf_interp(executable)
    if not loader or not os.path.exists(loader):
        fail("%s has no dynamic loader venvship can run" % executable)
    tree.add(loader)
    for path in TOP_LINKS:
        tree.link_only(path)
    stdlib, dynload = stdlib_dirs()
    add_stdlib(tree, stdlib, dynload, drop)
    for path in ALWAYS:
        tree.add(path)
    for name in args.package:
        for path in package_files(name):
            tree.add(path)
    for name in args.program:
        found = program(name)
        if found is None:
            fail("runtime-programs: %r is not a program in the base stage (add its Debian package"
                 " to runtime-packages)" % name)
        tree.add(found)
    venv_elf = []
    for top, dirs, files in os.walk(venv):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(top, name)
            if not os.path.islink(full) and is_elf(full):
                venv_elf.append(full)
    closure(tree, loader, list(tree.elf) + venv_elf, inside=(venv,))
    libdirs = library_dirs(tree)
    extra = []
    for name in DLOPENED:
        for directory in libdirs:
            if os.path.lexists(os.path.join(directory, name)):
                tree.add(os.path.join(directory, name))
                extra.append(os.path.realpath(os.path.join(directory, name)))
    closure(tree, loader, extra, inside=(venv,))

    write_package_status(tree)

    # The user: passwd and group entries, its home; /tmp for everyone (sticky).
    write(tree, "/etc/passwd", "root:x:0:0:root:/root:/usr/sbin/nologin\n"
          "%s:x:%d:%d::%s:/usr/sbin/nologin\n" % (args.user, args.uid, args.uid, args.home))
    write(tree, "/etc/group", "root:x:0:\n%s:x:%d:\n" % (args.user, args.uid))
    tree.mkdir("/tmp")
    os.chmod(tree.dest("/tmp"), 0o1777)
    tree.mkdir("/root")
    os.chmod(tree.dest("/root"), 0o700)
    os.makedirs(tree.dest(args.home), exist_ok=True)
    os.chown(tree.dest(args.home), args.uid, args.uid)
    os.chmod(tree.dest(args.home), 0o755)
    tree.finish()

    if args.debug_out:  # runtime-debug: the base image shell and tools, with their libraries
        debug = Tree(args.debug_out, args.mtime, skip=set(tree.done))
        for name in args.debug_program:
            found = program(name)
            if found is not None:
                debug.add(found)
        closure(debug, loader, list(debug.elf))
        debug.finish()


if __name__ == "__main__":
    main()
