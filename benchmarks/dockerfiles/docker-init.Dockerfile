# (b) What `docker init` generates for a Python project: one stage, dependencies installed
# before the source is copied, a pip cache mount, requirements.txt bind-mounted instead of
# copied, and a non-root user. The source runs in place (the template does not install it).
#
# Adaptations every variant in this benchmark shares (see benchmarks/README.md):
# - no '# syntax=docker/dockerfile:1' line: there is no registry to pull the frontend from,
#   the engine's built-in frontend supports everything used here;
# - Debian's python3 is externally managed (PEP 668) and has no system pip: a venv;
# - the TLS proxy's CA arrives as the BuildKit secret 'venvship_ca' (PIP_CERT);
# - BUILD_PACKAGES (a C compiler and Python's headers) for the dependency built from source;
# - the app uses a src/ layout, so PYTHONPATH points at src/ (the template runs ./app.py).
ARG BASE_IMAGE=venvship-local/python:3.11-bookworm
FROM ${BASE_IMAGE} AS base

# Prevents Python from writing pyc files.
ENV PYTHONDONTWRITEBYTECODE=1
# Keeps Python from buffering stdout and stderr.
ENV PYTHONUNBUFFERED=1

WORKDIR /app

# Create a non-privileged user that the app will run under.
ARG UID=10001
RUN adduser \
    --disabled-password \
    --gecos "" \
    --home "/nonexistent" \
    --shell "/sbin/nologin" \
    --no-create-home \
    --uid "${UID}" \
    appuser

ARG BUILD_PACKAGES=""
RUN if [ -n "$BUILD_PACKAGES" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends $BUILD_PACKAGES \
        && rm -rf /var/lib/apt/lists/*; \
    fi
RUN python3 -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

# Download dependencies as a separate step to take advantage of Docker's caching.
# Leverage a cache mount to /root/.cache/pip to speed up subsequent builds.
# Leverage a bind mount to requirements.txt to avoid having to copy them into
# into this layer.
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=requirements.txt,target=requirements.txt \
    --mount=type=secret,id=venvship_ca \
    PIP_CERT=/run/secrets/venvship_ca python -m pip install -r requirements.txt

# Switch to the non-privileged user to run the application.
USER appuser

# Copy the source code into the container.
COPY . .
ENV PYTHONPATH=/app/src

ARG APP_MODULE=app
ENV APP_MODULE=${APP_MODULE}
EXPOSE 8000
CMD ["sh", "-c", "exec python -m \"$APP_MODULE\""]
