# (c) The multi-stage pattern of uv's Docker guide ("Intermediate layers", "Non-editable
# installs", "Compiling bytecode", "Caching"): dependencies synced from uv.lock before the
# project is copied, a uv cache mount, bytecode compiled, and only the venv copied into a
# final image without uv.
#
# Adaptations every variant in this benchmark shares (see benchmarks/README.md):
# - the guide copies uv from ghcr.io/astral-sh/uv:<version>; there is no registry here, so
#   the first stage pip-installs the same pinned uv and the builder copies the binary the
#   same way (COPY --from=... /bin/uv);
# - the TLS proxy's CA arrives as the BuildKit secret 'venvship_ca' (SSL_CERT_FILE);
# - BUILD_PACKAGES (a C compiler and Python's headers) for the dependency built from source;
# - the final stage gets a non-root user, as in uv-docker-example.
ARG BASE_IMAGE=venvship-local/python:3.11-bookworm

FROM ${BASE_IMAGE} AS uv
ARG UV_VERSION=0.13.9
RUN --mount=type=secret,id=venvship_ca \
    python3 -m venv /opt/uv \
    && PIP_CERT=/run/secrets/venvship_ca /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"

FROM ${BASE_IMAGE} AS builder
COPY --from=uv /opt/uv/bin/uv /bin/uv
ARG BUILD_PACKAGES=""
RUN if [ -n "$BUILD_PACKAGES" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends $BUILD_PACKAGES \
        && rm -rf /var/lib/apt/lists/*; \
    fi
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=0

WORKDIR /app
# Install the dependencies only: they change far less often than the project.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=secret,id=venvship_ca \
    SSL_CERT_FILE=/run/secrets/venvship_ca \
    uv sync --locked --no-install-project --no-editable --no-dev

# Then the project itself, non-editable, so the final image needs the venv only.
COPY . /app
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=secret,id=venvship_ca \
    SSL_CERT_FILE=/run/secrets/venvship_ca \
    uv sync --locked --no-editable --no-dev

FROM ${BASE_IMAGE}
RUN groupadd --system --gid 999 nonroot \
    && useradd --system --gid 999 --uid 999 --create-home nonroot
COPY --from=builder --chown=nonroot:nonroot /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH"
USER nonroot
WORKDIR /app

ARG APP_MODULE=app
ENV APP_MODULE=${APP_MODULE}
EXPOSE 8000
CMD ["sh", "-c", "exec python -m \"$APP_MODULE\""]
