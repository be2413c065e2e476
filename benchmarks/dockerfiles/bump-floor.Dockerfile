# The dependency-bump floor (issue 17): not a way to ship an app, a yardstick. The least any
# Dockerfile does when one pinned distribution changes, whatever its design: ONE networked step
# (the CA as the BuildKit secret 'venvship_ca', as every variant gets it) that downloads the new
# wheel, checks its hash, installs it into an empty venv and compiles its bytecode, and an image
# that is the base plus that one layer. Everything else (uv, the empty venv) is cached from the
# build before the bump. The harness writes pin.txt (the bumped distribution's pin and hashes from
# venvship's lock) before and after the bump and times the second build (benchmarks/README.md).
ARG BASE_IMAGE=venvship-local/python:3.11-bookworm

FROM ${BASE_IMAGE} AS uv
ARG UV_VERSION=0.13.9
RUN --mount=type=secret,id=venvship_ca \
    python3 -m venv /opt/uv \
    && PIP_CERT=/run/secrets/venvship_ca /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"

FROM ${BASE_IMAGE} AS dep
ENV UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=0
RUN python3 -m venv --without-pip /app
COPY pin.txt /tmp/pin.txt
RUN --mount=type=secret,id=venvship_ca \
    --mount=type=bind,from=uv,source=/opt/uv/bin/uv,target=/bin/uv \
    SSL_CERT_FILE=/run/secrets/venvship_ca uv pip install --python /app/bin/python --no-cache \
        --require-hashes --no-deps --only-binary :all: --compile-bytecode -r /tmp/pin.txt

FROM ${BASE_IMAGE}
COPY --link --from=dep /app /app
