# (a) The naive single-stage Dockerfile: copy everything, then install the requirements and
# the app in one go. Any change to any file re-runs the whole install.
#
# Adaptations every variant in this benchmark shares (see benchmarks/README.md):
# - Debian's python3 is externally managed (PEP 668) and has no system pip, so pip runs in
#   a virtual environment where python:3.x images would use the system pip;
# - the TLS proxy's CA arrives as the BuildKit secret 'venvship_ca' and is only pointed at
#   (PIP_CERT), never written to a layer;
# - BUILD_PACKAGES (a C compiler and Python's headers) for the dependency built from source.
ARG BASE_IMAGE=venvship-local/python:3.11-bookworm
FROM ${BASE_IMAGE}

ARG BUILD_PACKAGES=""
RUN if [ -n "$BUILD_PACKAGES" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends $BUILD_PACKAGES \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# Stands in for the system pip of python:3.x images (made once, before the source).
RUN python3 -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

WORKDIR /app
COPY . .
RUN --mount=type=secret,id=venvship_ca \
    PIP_CERT=/run/secrets/venvship_ca pip install -r requirements.txt .

ARG APP_MODULE=app
ENV APP_MODULE=${APP_MODULE}
EXPOSE 8000
CMD ["sh", "-c", "exec python -m \"$APP_MODULE\""]
