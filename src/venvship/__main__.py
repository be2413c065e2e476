"""Entry point. The only place that catches VenvshipError and turns it into an exit code."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    from .errors import VenvshipError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("VENVSHIP_DEBUG", "") not in ("", "0")
    from .cli import app

    try:
        # typer handles --help, usage errors (exit 2) and normal exits through SystemExit.
        app(args=args, prog_name="venvship")
    except SystemExit as exc:
        code = exc.code
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
