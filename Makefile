# antares — the commands of README.md. `make install` is called by the other targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
ANTARES := $(VENV)/bin/antares
export ANTARES_HOME ?= $(HOME)/.antares
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TORCH_VERSION ?= 2.13.0

.PHONY: install system-packages test demo clean

install: system-packages $(VENV)/.installed

# PostgreSQL server, the PostGIS package of the installed server's major version, gdal-bin,
# python3-venv; each only when missing, so a second run costs nothing.
system-packages:
	@need=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="postgresql"; \
	{ command -v gdaldem && command -v gdal_rasterize; } >/dev/null 2>&1 || need="$$need gdal-bin"; \
	$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || need="$$need python3-venv"; \
	if [ -n "$$need" ]; then \
	  echo "installing system packages: $$need"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$need >/dev/null; \
	fi; \
	major=$$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sed 's|/usr/lib/postgresql/\([0-9]*\)/.*|\1|' | sort -n | tail -1); \
	if [ -z "$$major" ]; then echo "make install: PostgreSQL server not found after install (apt-get install postgresql)" >&2; exit 1; fi; \
	if [ ! -e /usr/share/postgresql/$$major/extension/postgis.control ]; then \
	  echo "installing system packages: postgresql-$$major-postgis-3"; \
	  ( [ -n "$$need" ] || $(SUDO) apt-get update -qq ) && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql-$$major-postgis-3 >/dev/null; \
	fi

$(VENV)/.installed: setup.py
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	# torch first and pinned: pip takes the 192 MB CPU wheel (torch-2.13.0+cpu) from the local wheel directory
	# rather than the CUDA build of the index (about 3 GB) that a bare "torch>=2.2" brings; measured: 77 s (docs/deep.md)
	$(VENV)/bin/python -m pip install -q torch==$(TORCH_VERSION)
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	touch $@

test: install
	$(VENV)/bin/python -m pytest -q tests

# The main job on real Sentinel-2 L2A data (a 1 km² Romanian forest site with SCL and the Copernicus
# tree-cover density, from the PyPI wheel nrt==0.2.1, downloaded once into $(ANTARES_HOME)/cache):
# index -> apply_recipe (2018) -> segment -> ingest_training_from_raster -> model_fit ->
# model_predict_object -> db_to_vector + db_to_raster -> validate, and a PNG quicklook.
# DEMO_DATA=DIR runs it on a local copy of the data (e.g. DEMO_DATA=../shared/data/nrt-romania-s2l2a).
demo: install
	$(ANTARES) db start
	$(ANTARES) init
	$(ANTARES) demo $(if $(DEMO_DATA),--data $(DEMO_DATA))

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
