"""Entry point. The only place that catches VenvshipError and turns it into an exit code."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType


def _interrupted_by(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt caused ``exc`` (typer turns one into a silent exit 130)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same clean-up as Ctrl-C: builds are cancelled, nothing written


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a CI cancel, 'docker stop', 'kill') stops venvship like Ctrl-C does."""
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (venvship used as a library): leave it alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    from .errors import VenvshipError

    args = list(sys.argv[1:] if argv is None else argv)
    own = args[:args.index("--")] if "--" in args else args  # after '--': the test command's
    debug = "--debug" in own or os.environ.get("VENVSHIP_DEBUG", "") not in ("", "0")
    from .cli import app

    try:
        # typer handles --help, usage errors (exit 2) and normal exits through SystemExit.
        with _sigterm_interrupts():
            app(args=args, prog_name="venvship")
    except SystemExit as exc:
        code = exc.code
        if code == 130 and _interrupted_by(exc):
            print("venvship: interrupted", file=sys.stderr)
        return code if isinstance(code, int) else (0 if code is None else 1)
    except VenvshipError as exc:
        if debug:
            raise
        print(f"venvship: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"venvship: hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("venvship: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
