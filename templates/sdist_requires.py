# venvship: the build requirements of every sdist the locks allow (allow-sdist), found at lock
# time so that the build lock holds them, hash-checked: the build stage builds those sdists with
# --build-constraint build.txt --require-build-hashes and would otherwise fail on a missing hash.
# Run by 'venvship lock' in the lock stage with the tools venv's interpreter (which has pip).
# Usage: sdist_requires.py OUTFILE LOGFILE NAME... ; pins are read from /venvship/out/*.pins (this
# run's locks) and /venvship/in/sdist-pins/*.txt (the locks it leaves alone).
# Each sdist is downloaded by pip (index settings from PIP_* variables); its [build-system]
# requires (PEP 517's setuptools default without one) and what its backend's
# get_requires_for_build_wheel adds are written to OUTFILE, one requirement a line.
import glob
import os
import re
import sys

# what only a new sdist needs is imported for it: a warm lock knows every answer (about 15 ms)
outfile, logfile, names = sys.argv[1], sys.argv[2], sys.argv[3:]
here = os.path.dirname(os.path.abspath(__file__))


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


wanted = {canonical(n) for n in names}
pins = {}
for path in sorted(glob.glob("/venvship/out/*.pins") + glob.glob("/venvship/in/sdist-pins/*.txt")):
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            m = re.match(r"\s*([A-Za-z0-9._-]+)==([^\s;]+)", line)
            if m and canonical(m.group(1)) in wanted:
                pins[canonical(m.group(1))] = m.group(2)

# Answers are facts about one sdist in one image: an earlier lock's (kept by the host under a key of
# the image, the index and these scripts) arrive in KNOWN; new ones are returned in ANSWERS.
KNOWN, ANSWERS = "/venvship/in/sdist-known", "/venvship/out/sdist-answers"
log = open(logfile, "a", encoding="utf-8")
found = []
for name, version in sorted(pins.items()):
    known = os.path.join(KNOWN, f"{name}=={version}.txt")
    if os.path.isfile(known):
        log.write(f"== {name}=={version}: known from an earlier lock\n")
        with open(known, encoding="utf-8") as fh:
            found += [line.strip() for line in fh if line.strip()]
        continue
    import subprocess
    import tarfile
    import tempfile
    import zipfile

    try:
        import tomllib
    except ImportError:  # Python < 3.11: pip's own copy
        from pip._vendor import tomli as tomllib
    work = tempfile.mkdtemp(prefix="venvship-sdist-")
    log.write(f"== {name}=={version}\n")
    log.flush()
    rc = subprocess.call([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                          "--no-binary", name, "--dest", work, f"{name}=={version}"],
                         stdout=log, stderr=log)
    archives = [f for f in os.listdir(work) if f.endswith((".tar.gz", ".zip", ".tar.bz2", ".tgz"))]
    if rc != 0 or not archives:
        sys.exit(f"cannot download the sdist of {name}=={version} (see the log)")
    archive = os.path.join(work, archives[0])
    src = os.path.join(work, "src")
    if archive.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(src)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(src)
    tops = [os.path.join(src, d) for d in os.listdir(src)]
    root = tops[0] if len(tops) == 1 and os.path.isdir(tops[0]) else src
    system = {}
    if os.path.isfile(os.path.join(root, "pyproject.toml")):
        with open(os.path.join(root, "pyproject.toml"), "rb") as fh:
            system = tomllib.load(fh).get("build-system", {})
    requires = list(system.get("requires", ["setuptools>=40.8.0"]))
    backend = system.get("build-backend", "setuptools.build_meta:__legacy__")
    backend_path = os.pathsep.join(system.get("backend-path", [])) or "-"
    found += requires
    # What the backend asks for on top (setup_requires, a backend's plugins): best effort.
    venv = os.path.join(work, "venv")
    answer = os.path.join(work, "requires.txt")
    uv = os.path.join(os.path.dirname(sys.executable), "uv")
    ok = (subprocess.call([sys.executable, "-m", "venv", "--without-pip", venv], stdout=log, stderr=log) == 0
          and subprocess.call([uv, "pip", "install", "--quiet", "--python", os.path.join(venv, "bin", "python"),
                               *requires], stdout=log, stderr=log) == 0
          and subprocess.call([os.path.join(venv, "bin", "python"), os.path.join(here, "requires_hook.py"),
                               backend, backend_path, answer, "requires"], cwd=root, stdout=log, stderr=log) == 0)
    if ok:
        with open(answer, encoding="utf-8") as fh:
            extra = [line.strip() for line in fh if line.strip()]
        found += extra
        os.makedirs(ANSWERS, exist_ok=True)
        with open(os.path.join(ANSWERS, f"{name}=={version}.txt"), "w", encoding="utf-8") as fh:
            fh.writelines(req + "\n" for req in dict.fromkeys(requires + extra))
    else:
        log.write(f"{name}: get_requires_for_build_wheel failed; [build-system] requires only\n")

with open(outfile, "w", encoding="utf-8") as fh:
    for req in dict.fromkeys(found):
        fh.write(req + "\n")
