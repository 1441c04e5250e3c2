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

# PostgreSQL server, the PostGIS package of the installed server's major version, gdal-bin.
system-packages:
	@need=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="postgresql"; \
	command -v gdaldem >/dev/null 2>&1 || need="$$need gdal-bin"; \
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

demo: install
	@test -d $(DATA)/nrt-romania-s2l2a || { echo "make demo: $(DATA)/nrt-romania-s2l2a not found; set DATA=/path/to/shared/data" >&2; exit 1; }
	$(ANTARES) db start
	$(ANTARES) init
	$(ANTARES) index --path $(DATA)/nrt-romania-s2l2a/geotiff/10m --dataset_name s2_bands \
	  --pattern '(?P<date>\d{4}-\d{2}-\d{2})/(?P<band>B\d[0-9A]|SCL)\.tif$$' --product s2_l2a
	$(ANTARES) list products
	$(ANTARES) load -p s2_l2a -b 2018-01-01 -e 2018-12-31 -m B04 -m B08 -m SCL

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
