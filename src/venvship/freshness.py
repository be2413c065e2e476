"""Are these locks usable for this target? One judgement, typed problems; callers word them.

``lock --check``, ``build`` and ``export`` (through ``lock --check``'s wording), ``install`` and
the build's integrity check all ask :func:`judge` and act on the kinds of problem they care
about. The layered-pin rule (a layered lock pins what its base pins, at the same version) is
:func:`pin_conflicts`, which ``venvship lock`` applies to the locks it is about to write too.
Pure apart from reading the lock files (and the project's other lock files for adoption).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from . import lockfile, preferences
from .environments import BUILD_ENV, EnvironmentSet
from .errors import LockIntegrityError, VenvshipError
from .interpreter import Interpreter
from .lockfile import Lock
from .settings import Settings


@dataclass(frozen=True)
class Problem:
    """Why the lock of ``env`` cannot be used as it is; one subclass a reason. Callers word it,
    naming the file with :func:`lock_path`."""

    env: str


@dataclass(frozen=True)
class Missing(Problem):
    """No lock file."""


@dataclass(frozen=True)
class Damaged(Problem):
    """A lock that cannot be trusted: unreadable, not pinned and hashed, no venvship header, or
    changed after it was generated. ``error`` says which (raised as it is where fatal)."""

    error: LockIntegrityError


@dataclass(frozen=True)
class ToAdopt(Problem):
    """Pins to adopt, not a lock yet: a requirements file venvship did not write, or another
    tool's lock file (``message`` is lock --check's sentence)."""

    message: str


@dataclass(frozen=True)
class InputsChanged(Problem):
    """The inputs (or the settings they depend on) changed since the lock was compiled."""


@dataclass(frozen=True)
class OtherBaseImage(Problem):
    """Compiled for the base image ``locked``, the settings name ``wanted``."""

    locked: str
    wanted: str


@dataclass(frozen=True)
class OtherInterpreter(Problem):
    """Compiled for another implementation or Python X.Y, or another platform, than the target
    (``locked`` is None when the header does not say)."""

    locked: Interpreter | None
    target: Interpreter

    @property
    def python_differs(self) -> bool:
        return self.locked is None or self.locked.series != self.target.series

    @property
    def platform_differs(self) -> bool:
        return self.locked is None or self.locked.system != self.target.system


@dataclass(frozen=True)
class PinConflict(Problem):
    """A layered lock pins ``name`` at ``version``, its base's lock at ``base_version``."""

    base: str
    name: str
    version: str
    base_version: str


@dataclass(frozen=True)
class Verdict:
    locks: Mapping[str, Lock] = field(default_factory=dict)  # every lock read intact
    problems: tuple[Problem, ...] = ()

    def first(self, *kinds: type[Problem]) -> Problem | None:
        """The first problem of these kinds (of any kind without ``kinds``), in the order judged."""
        return next((p for p in self.problems if not kinds or isinstance(p, kinds)), None)


def lock_path(settings: Settings, env: str) -> str:
    """The lock of ``env`` as messages name it: requirements/main.txt (another platform's:
    requirements/main.linux-arm64.txt)."""
    return f"{settings.requirements_dir}/{settings.lock_file(env)}"


def interpreter_problems(locks: Mapping[str, Lock], target: Interpreter) -> list[OtherInterpreter]:
    """Every lock compiled for another implementation, Python X.Y or platform than ``target``
    (the same minor version at another patch level fits)."""
    out = []
    for env, lock in locks.items():
        problem = OtherInterpreter(env, Interpreter.from_header(lock.header), target)
        if problem.python_differs or problem.platform_differs:
            out.append(problem)
    return out


def pin_conflicts(env: str, lock: Lock, base: str, base_lock: Lock) -> list[PinConflict]:
    """The layered-pin rule: every distribution both pin, at the same version."""
    return [PinConflict(env, base, name, pin.version, other.version)
            for name, pin in lock.pins.items()
            if (other := base_lock.pins.get(name)) is not None and other.version != pin.version]


def _to_adopt(settings: Settings, env: str) -> ToAdopt | None:
    rel = lock_path(settings, env)
    try:
        prefs = preferences.for_env(settings.project_dir, settings.requirements_dir, env,
                                    first_lock_sources=env != BUILD_ENV)
    except VenvshipError as exc:
        return ToAdopt(env, exc.message)
    if prefs is None or not prefs.adopted:
        return None
    if prefs.source == rel:
        return ToAdopt(env, f"{rel} was not written by venvship ({prefs.kind}): run 'venvship lock' to "
                            f"adopt its {len(prefs.pins)} pin(s) as they are and add hashes")
    return ToAdopt(env, f"{rel} is missing: run 'venvship lock' to create it from {prefs.source}'s pins "
                        "(kept as they are, hashes added)")


def judge(settings: Settings, envs: EnvironmentSet, names: Sequence[str], *,
          target: Interpreter | None = None, adoption: bool = False) -> Verdict:
    """Every problem of the locks of ``names`` (in that order, bases before what is layered on
    them): for each, missing, damaged, or (``adoption``) pins to adopt; else changed inputs,
    another base image, another interpreter than ``target`` (when given) and pins that disagree
    with its base's lock (when that is among ``names``)."""
    locks: dict[str, Lock] = {}
    problems: list[Problem] = []
    for env in names:
        rel = lock_path(settings, env)
        if adoption and (adopt := _to_adopt(settings, env)) is not None:
            problems.append(adopt)
            continue
        try:
            lock = lockfile.read(settings.lock_path(env), env)
            if lock is None:
                problems.append(Missing(env))
                continue
            lockfile.check_integrity(lock, rel)
        except LockIntegrityError as exc:
            problems.append(Damaged(env, exc))
            continue
        locks[env] = lock
        if lock.header.get("inputs-sha256") != envs.input_hash(env, settings):
            problems.append(InputsChanged(env))
        if lock.header.get("base-image") != settings.image.base:
            problems.append(OtherBaseImage(env, str(lock.header.get("base-image")), settings.image.base))
        if target is not None:
            problems += interpreter_problems({env: lock}, target)
        base = envs.get(env).base
        if base is not None and base in locks:
            problems += pin_conflicts(env, lock, base, locks[base])
    return Verdict(locks, tuple(problems))
