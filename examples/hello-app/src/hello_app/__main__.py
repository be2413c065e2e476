"""Entry point: `hello-app` serves on 0.0.0.0:8000; `hello-app --once` prints one response."""

from __future__ import annotations

import argparse
import json
import os

from . import create_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hello-app")
    parser.add_argument("--once", action="store_true", help="print the / response and exit")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)
    app = create_app()
    if args.once:
        with app.test_client() as client:
            print(json.dumps(client.get("/").get_json(), sort_keys=True))
        return 0
    from werkzeug.serving import run_simple

    run_simple("0.0.0.0", args.port, app, threaded=True)  # noqa: S104 - a container's port
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
