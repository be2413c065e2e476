"""hello-app: a tiny Flask service."""

from __future__ import annotations

import platform
import sys

from flask import Flask, jsonify

__version__ = "1.2.0"


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def index():  # type: ignore[no-untyped-def]
        return jsonify(
            message="hello from venvship",
            app_version=__version__,
            python=platform.python_version(),
            prefix=sys.prefix,
        )

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        return "ok\n"

    return app
