# gradesync's container image; deploy/README.md tells how to run it. From the repository root:
#   docker build -t gradesync .
# The configuration is a mounted file (/etc/gradesync/gradesync.toml), overridden by
# GRADESYNC_<SECTION>__<KEY> variables, then by Docker secrets in /run/secrets.
# Another Python 3.11 base (a mirror, an offline registry) is a build argument:
#   docker build --build-arg PYTHON_IMAGE=registry.example.edu/python:3.11-slim-bookworm -t gradesync .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# pip and setuptools (all that ensurepip puts in a 3.11 virtualenv) only build it; they leave it
# once gradesync is in (about 22 MB that a running daemon never uses).
# The `gradesync` of the image sets a umask of 077 before anything else runs, so that every file
# it creates (the state and its -wal and -shm, event files, backups) is owner-only. It replaces
# pip's console script rather than wrapping the ENTRYPOINT because `docker exec gradesync
# gradesync state backup ...` and the HEALTHCHECK run the program without the entrypoint.
RUN python -m venv /opt/gradesync \
    && /opt/gradesync/bin/pip install . \
    && /opt/gradesync/bin/pip uninstall --yes --quiet setuptools pip \
    && printf '%s\n' \
        '#!/opt/gradesync/bin/python' \
        '"""gradesync in its container image: files it creates are owner-only."""' \
        'import os' \
        'import sys' \
        '' \
        'os.umask(0o077)' \
        'from gradesync.cli import main' \
        '' \
        'sys.exit(main())' \
        > /opt/gradesync/bin/gradesync \
    && chmod 0755 /opt/gradesync/bin/gradesync

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 gradesync \
    && useradd --system --uid 10001 --gid gradesync --no-create-home \
        --home-dir /var/lib/gradesync --shell /usr/sbin/nologin gradesync \
    && install -d -o gradesync -g gradesync -m 0700 /var/lib/gradesync \
    && install -d -m 0755 /etc/gradesync
COPY --from=build /opt/gradesync /opt/gradesync
# The health endpoint is on in the image: HEALTHCHECK asks it, Prometheus scrapes /metrics.
ENV PATH=/opt/gradesync/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GRADESYNC_CONFIG=/etc/gradesync/gradesync.toml \
    GRADESYNC_HEALTH__LISTEN=0.0.0.0:9108
# Relative paths of the configuration (state.path = "gradesync.db") land in the volume.
WORKDIR /var/lib/gradesync
USER 10001:10001
VOLUME ["/var/lib/gradesync"]
EXPOSE 9108
STOPSIGNAL SIGTERM
# `gradesync health` reads only GRADESYNC_HEALTH__LISTEN (or [health] listen), never the rest of
# the configuration: a bad edit to the mounted file does not mark a running daemon unhealthy.
HEALTHCHECK --interval=30s --timeout=15s --start-period=2m --retries=3 \
    CMD ["gradesync", "health"]
ENTRYPOINT ["gradesync"]
CMD ["run"]
