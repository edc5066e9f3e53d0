# syntax=docker/dockerfile:1
# Image of the assess service. The same image runs `assess serve` (the default CMD) and the
# one-shot `assess db upgrade && assess keys ensure` job in compose.yaml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Unprivileged runtime user; fixed ids so volume ownership is predictable.
RUN groupadd --system --gid 10001 assess \
    && useradd --system --uid 10001 --gid assess --home-dir /home/assess --create-home --shell /usr/sbin/nologin assess

RUN python -m venv "$VIRTUAL_ENV"

WORKDIR /app

# Dependencies first, in their own layer: rebuilt only when the lock changes. Every file is
# checked against the lock's hashes. The lock names no index or mirror (pip-compile
# --no-emit-index-url --no-emit-find-links): pip installs from PyPI, or from whatever index
# PIP_INDEX_URL names at build time.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

# The project itself. It is installed *editable*, from /app, on purpose: the code finds its
# Alembic scripts relative to the package (service/db/migrate.py: MIGRATIONS_DIR is the parent
# of the `service` package / "migrations"; api/openapi_doc.py and cli.py find openapi/ the same
# way). A regular `pip install .` would copy `service` into site-packages, where no migrations/
# sits next to it, and `assess db upgrade` would fail. The editable install keeps `service`
# importing from /app/service, beside /app/migrations, and still puts `assess` on PATH.
# (Dependencies come only from the hash-checked lock above, hence --no-deps.)
COPY pyproject.toml alembic.ini ./
COPY migrations ./migrations
COPY openapi ./openapi
COPY rubrics ./rubrics
COPY service ./service
RUN pip install --no-deps -e . \
    && rm -rf build \
    && python -c "import service.db.migrate as m; assert (m.MIGRATIONS_DIR / 'env.py').is_file(), m.MIGRATIONS_DIR"

# Writable state lives outside the (root-owned, read-only to the app) source tree:
# ASSESS_DATA_DIR for the embedded database (unused when DATABASE_URL is set) and
# /var/lib/assess/keys for the signing keys, where compose mounts a named volume. Docker
# seeds an empty named volume from this directory, so the volume is owned by `assess`.
ENV ASSESS_DATA_DIR=/var/lib/assess \
    HOST=0.0.0.0 \
    PORT=8000
RUN mkdir -p /var/lib/assess/keys && chown -R assess:assess /var/lib/assess

USER assess

EXPOSE 8000

# CMD, not ENTRYPOINT, so compose can run other `assess` commands (or `sh -c ...`) with the
# same image. `assess serve` applies migrations, ensures the signing keys, then starts granian
# on HOST:PORT with WORKERS processes; granian shuts down gracefully on SIGTERM.
CMD ["assess", "serve"]
