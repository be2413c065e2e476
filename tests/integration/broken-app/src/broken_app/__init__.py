"""broken-app: imports fine by itself; each of its other parts fails in its own way."""
