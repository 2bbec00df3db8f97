# SQL Playground: the production server (gunicorn) on 0.0.0.0:8000, its data in the /data volume.
#
#   docker build -t sql-playground .
#   docker run -p 8000:8000 -v playground-data:/data sql-playground
#
# Settings come from the environment (PLAYGROUND_*, see .env.example); none is baked in here, and
# without PLAYGROUND_SECRET_KEY the server generates one into the volume and says so in its log.
# The base is a build argument so that a machine without a registry can build on a local Debian
# base (.ci/container-test does); everyone else gets the official image.
ARG BASE=python:3.12-slim

# -- dependencies: a virtual environment, rebuilt only when pyproject.toml changes ----------------
FROM ${BASE} AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# A venv works alike on the official image and on Debian's python3 (which has no `python`).
RUN python3 -m venv /opt/playground
WORKDIR /src
COPY pyproject.toml ./
RUN /opt/playground/bin/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' > requirements.txt \
 && /opt/playground/bin/pip install -r requirements.txt

# -- the app as a wheel ---------------------------------------------------------------------------
FROM deps AS wheel
RUN /opt/playground/bin/pip install "setuptools>=68" "wheel>=0.40"
COPY README.md ./
COPY playground ./playground
COPY templates ./templates
COPY static ./static
RUN /opt/playground/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# -- the image ------------------------------------------------------------------------------------
FROM ${BASE}
LABEL org.opencontainers.image.title="SQL Playground" \
      org.opencontainers.image.description="SQL and a parameter grid, run with bound parameters on a private sandbox"
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A user of its own, and a data folder it owns: a new volume mounted there takes this owner.
RUN groupadd --gid 10001 playground \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data --shell /usr/sbin/nologin playground \
 && mkdir /data \
 && chown 10001:10001 /data
COPY --from=deps /opt/playground /opt/playground
COPY --from=wheel /wheels /wheels
RUN /opt/playground/bin/pip install --no-deps /wheels/*.whl \
 && rm -r /wheels
ENV PATH=/opt/playground/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PLAYGROUND_DATA_DIR=/data \
    PLAYGROUND_HOST=0.0.0.0 \
    PLAYGROUND_PORT=8000
VOLUME ["/data"]
USER 10001:10001
WORKDIR /data
EXPOSE 8000
# `playground health` asks this server's /healthz: the bookkeeping database and every engine reached.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["playground", "health"]
# On SIGTERM the runs in flight finish first (up to a minute by default): `docker stop -t 75`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["playground"]
CMD ["serve"]
