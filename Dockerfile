# gradesync's container image; deploy/README.md tells how to run it. From the repository root:
#   docker build -t gradesync .
# The configuration is a mounted file (/etc/gradesync/gradesync.toml), overridden by
# GRADESYNC_<SECTION>__<KEY> variables, then by Docker secrets in /run/secrets.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/gradesync \
    && /opt/gradesync/bin/pip install .

FROM python:3.11-slim-bookworm
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
HEALTHCHECK --interval=30s --timeout=15s --start-period=2m --retries=3 \
    CMD ["gradesync", "health"]
ENTRYPOINT ["gradesync"]
CMD ["run"]
