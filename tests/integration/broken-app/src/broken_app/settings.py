import os

if not os.environ.get("BROKEN_APP_SECRET"):
    raise RuntimeError("BROKEN_APP_SECRET is not set")
SECRET = os.environ["BROKEN_APP_SECRET"]
