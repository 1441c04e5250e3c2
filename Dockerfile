# The antares image: the CLI, and the dask scheduler and workers of docker-compose.yml.
#   docker build -t antares:latest .      (or: docker compose build)
#   docker run --rm antares:latest antares --version

FROM python:3.11-slim-bookworm

# gdal-bin: gdal_rasterize (db_to_raster), gdaldem (terrain checks); postgresql-client: psql and pg_isready for the
# database service; tini: PID 1 that forwards signals to dask and antares and reaps their
# children. psycopg2-binary (a dependency of antares) ships its own libpq.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gdal-bin postgresql-client tini \
 && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Dependencies first, in a layer of their own: only the packaging metadata is copied, a stub
# package is installed with every dependency and then removed, so a change to the code does
# not re-download and re-build the dependencies (minutes) on the next build. bokeh serves the
# dask dashboard (:8787).
# The tested versions (constraints.txt, make lock) are the ones installed.
COPY setup.py pyproject.toml README.md constraints.txt /opt/antares/
RUN mkdir -p /opt/antares/antares /opt/antares/config /opt/antares/recipes \
 && touch /opt/antares/antares/__init__.py \
 && pip install --no-cache-dir -c /opt/antares/constraints.txt /opt/antares "bokeh>=3.1" \
 && pip uninstall -y antares \
 && rm -rf /opt/antares/antares /opt/antares/config /opt/antares/recipes /opt/antares/build /opt/antares/*.egg-info

# JupyterLab for the notebook service (docker compose --profile notebook up -d notebook).
ARG JUPYTER=false
RUN if [ "$JUPYTER" = "true" ]; then pip install --no-cache-dir "jupyterlab>=4"; fi

# The code, editable without dependencies: antares finds its config/ (product definitions,
# grids) in the source tree, so the repository stays at /opt/antares.
COPY . /opt/antares
RUN pip install --no-cache-dir --no-deps -e /opt/antares

# Non-root user. UID 1000 matches the first user of most Linux hosts, so files written to
# the bind-mounted ./data belong to that user; other hosts: --build-arg UID=$(id -u).
ARG UID=1000
RUN useradd --create-home --uid "${UID}" --shell /bin/bash antares
USER antares
WORKDIR /home/antares

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["antares", "--help"]
