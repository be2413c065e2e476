"""Entry point: `large-app` serves on 0.0.0.0:8000 with uvicorn; `large-app --once` prints one response."""

from __future__ import annotations

import argparse
import json
import os


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="large-app")
    parser.add_argument("--once", action="store_true", help="print the / response and exit")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)
    from . import create_app

    app = create_app()
    if args.once:
        import warnings

        warnings.simplefilter("ignore")  # one request through the ASGI stack, quietly
        from fastapi.testclient import TestClient

        with TestClient(app) as client:
            print(json.dumps(client.get("/").json(), sort_keys=True))
        return 0
    import uvicorn

    uvicorn.run(app, host="0.0.0.0", port=args.port)  # noqa: S104 - a container's port
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
