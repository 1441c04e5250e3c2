"""Connect ODC 1.9 (postgis index driver) to the antares database and manage products.

antares hands its own database URL to ODC, so users never configure datacube
separately. The ODC tables live in the ``odc`` schema of the same database.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from antares.errors import InvalidInputError

log = logging.getLogger(__name__)

ENV_NAME = "antares"


def skip_iri_format_checkers() -> None:
    """Keep jsonschema's import from compiling the grammars of rfc3987-syntax (~2 s of CPU per process).

    datacube validates every product and metadata type it reads with jsonschema, and importing
    jsonschema builds the IRI format checkers of rfc3987-syntax when that package is installed
    (datacube's ``jsonschema[format-nongpl]`` extra installs it): 39 lark grammars, more CPU than
    a 1024 x 1024 tile's computation. ODC's schemas use no IRI format, so no check is lost.
    Effective only before jsonschema's first import in the process (then jsonschema skips the
    IRI formats, as it does when the package is missing): called where antares first reaches
    datacube (:func:`odc_environment`, so every command and dask worker task) and before a product
    definition is validated (:func:`read_product_definition`, which ``init_database`` calls first).
    """
    import sys

    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)



def odc_environment(url: str):
    """An ``ODCEnvironment`` using the postgis index driver on ``url`` (no config file read).

    ODC's connections get the connect timeout and TCP keepalives of antares's own
    (:data:`antares.config.CONNECT_ARGS`, as libpq parameters in the URL, unless the URL sets
    them): a database that vanishes under a query is noticed instead of hanging the command.
    Sets ``GDAL_NETCDF_BOTTOMUP=NO`` in the environment unless it is set (see
    :mod:`antares.prepare.netcdf`).
    """
    skip_iri_format_checkers()
    # NetCDF cubes are indexed with the grid of their coordinates in file order (antares.prepare.netcdf):
    # GDAL's netCDF driver must not flip the rows of a file whose georeferencing it does not recognise
    os.environ.setdefault("GDAL_NETCDF_BOTTOMUP", "NO")
    from datacube.cfg import ODCConfig
    from sqlalchemy.engine import make_url

    from antares.config import CONNECT_ARGS

    parsed = make_url(url)
    missing = {k: str(v) for k, v in CONNECT_ARGS.items() if k not in parsed.query}
    url = parsed.update_query_dict(missing).render_as_string(hide_password=False)

    cfg = ODCConfig(raw_dict={ENV_NAME: {"index_driver": "postgis", "db_url": url}})
    return cfg[ENV_NAME]


def connect(url: str, app: str = "antares"):
    """A ``datacube.Datacube`` on the antares database at ``url``."""
    from datacube import Datacube

    return Datacube(env=odc_environment(url), app=app)


def init_index(url: str) -> bool:
    """Create the ODC index (postgis driver) if missing.

    PostgreSQL 15 refuses ODC's role set-up, so permissions are not initialised
    (``init_db(with_permissions=False)``, the CLI's ``--no-init-users``).

    Returns
    -------
    bool
        True if the index was created now, False if it existed.
    """
    from datacube.index import index_connect

    index = index_connect(odc_environment(url), application_name="antares-init", validate_connection=False)
    try:
        return bool(index.init_db(with_default_types=True, with_permissions=False))
    finally:
        index.close()


def read_product_definition(path: str | Path) -> dict:
    """Read and validate one eo3 product definition YAML.

    Raises
    ------
    InvalidInputError
        The file is missing, not YAML, or not a valid ODC product definition.
    """
    import yaml

    skip_iri_format_checkers()  # validating imports jsonschema: init_database reads its products before connecting
    from datacube.model import Product
    from datacube.utils import InvalidDocException

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInputError(f"cannot read product definition {path}: {exc.strerror}.") from exc
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"product definition {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(doc, dict) or "name" not in doc:
        raise InvalidInputError(f"product definition {path} must be a mapping with a 'name'; see config/products/ for examples.")
    try:
        Product.validate(doc)
    except InvalidDocException as exc:
        raise InvalidInputError(f"product definition {path} is invalid: {str(exc).splitlines()[0]}") from exc
    return doc


#: Measurement keys that say how values are read (``value = pixel * scale_factor + add_offset``); changing them
#: changes no stored pixel, so ``product add`` applies it although ODC counts it as unsafe.
SCALE_KEYS = ("scale_factor", "add_offset")


@dataclass(frozen=True)
class ProductChange:
    """What adding one product definition did: ``added``, ``updated``, ``unchanged`` or ``kept``."""

    name: str
    action: str
    detail: str = ""


def add_product(dc, doc: dict) -> ProductChange:
    """Add the product ``doc`` to the index, or update it when the change is safe.

    An identical definition is left alone (``unchanged``). A definition that differs
    in ways ODC considers unsafe (dtype, measurements, ...) is not applied
    (``kept``, with the differences in ``detail``), except a change of the measurements'
    ``scale_factor``/``add_offset`` only (declaring the scale of a product indexed before
    antares read scales from declarations), which is applied.
    """
    existing = dc.index.products.get_by_name(doc["name"])
    product = dc.index.products.from_doc(doc)
    if existing is None:
        dc.index.products.add(product)
        log.debug("added product %s", doc["name"])
        return ProductChange(doc["name"], "added", "measurements " + ", ".join(m["name"] for m in doc["measurements"]))
    ok, safe, unsafe = dc.index.products.can_update(product, allow_unsafe_updates=False)
    if not safe and not unsafe:
        return ProductChange(doc["name"], "unchanged")
    if ok:
        dc.index.products.update(product)
        return ProductChange(doc["name"], "updated", ", ".join(str(c[0]) for c in safe))
    if all(c[0][-1] in SCALE_KEYS for c in unsafe):  # how values are read, not what is stored: declared on purpose
        dc.index.products.update(product, allow_unsafe_updates=True)
        return ProductChange(doc["name"], "updated", ", ".join(str(c[0]) for c in [*safe, *unsafe]))
    return ProductChange(doc["name"], "kept", "unsafe changes: " + ", ".join(str(c[0]) for c in unsafe))


def list_products(dc) -> list[dict]:
    """Indexed products: name, measurements (list of names), number of datasets, description."""
    rows = []
    for product in sorted(dc.index.products.get_all(), key=lambda p: p.name):
        rows.append({
            "name": product.name,
            "measurements": list(product.measurements),
            "datasets": dc.index.datasets.count(product=product.name),
            "description": product.definition.get("description", ""),
        })
    return rows


def list_datasets(dc, product: str | None = None) -> list[dict]:
    """Indexed datasets (of one product, or all): id, product, time, tile/granule, path.

    Raises
    ------
    NotFoundError
        ``product`` is not indexed (the indexed products are listed).
    """
    from antares.errors import NotFoundError

    names = sorted(p.name for p in dc.index.products.get_all())
    if product is not None and product not in names:
        raise NotFoundError(f"product '{product}' is not indexed. Indexed products: {', '.join(names) or '(none)'}.")
    rows = []
    for name in [product] if product else names:
        for ds in dc.index.datasets.search(product=name):
            center = ds.center_time
            rows.append({
                "id": str(ds.id),
                "product": name,
                "time": center.isoformat() if center else None,
                "tile": ds.metadata_doc.get("properties", {}).get("odc:region_code"),
                "path": ds.uri,
            })
    rows.sort(key=lambda r: (r["product"], r["time"] or "", r["id"]))
    return rows


def _location(path: str) -> str:
    """The folder URI of a measurement path: a file URI's, or that of the file in a GDAL ``vrt://"FILE"`` string."""
    import re

    quoted = re.match(r'vrt://[A-Za-z0-9]+:"(/[^"]+)"', path)
    if quoted:
        return Path(quoted.group(1)).parent.as_uri() + "/"
    return path.rsplit("/", 1)[0] + "/"


def add_dataset_documents(dc, documents: list[dict]) -> tuple[int, int, list]:
    """Add eo3 dataset documents to the index in one transaction; already indexed ids are skipped.

    Each document's location is the directory of its first measurement's file. The documents are
    resolved against their products (``Doc2Dataset``, lineage skipped) and written with ODC's
    ``datasets.bulk_add``, as ``datacube dataset add`` does on the postgis index: the dataset,
    search-field and spatial-index rows of 1,000 datasets per statement instead of several
    statements per dataset (2.4 x faster on 1,000 documents). Either all accepted documents
    are added or, if the database fails midway, none is.

    Returns
    -------
    (added, existing, failures)
        Counts, and ``(dataset id, message)`` for documents ODC refused.
    """
    import contextlib
    import io

    from datacube.index.abstract import DatasetTuple
    from datacube.index.hl import Doc2Dataset

    resolver = Doc2Dataset(dc.index, skip_lineage=True, verify_lineage=False)
    existing, failures, accepted = 0, [], []
    known = set()
    ids = [doc["id"] for doc in documents]
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        known.update(i for i, has in zip(chunk, dc.index.datasets.bulk_has(chunk)) if has)
    for doc in documents:
        if doc["id"] in known:
            existing += 1
            continue
        location = _location(next(iter(doc["measurements"].values()))["path"])
        dataset, error = resolver(doc, location)
        if dataset is None:
            failures.append((doc["id"], f"dataset {doc['id']} was refused by the index: {' '.join(str(error).split())}"))
            continue
        accepted.append(DatasetTuple(dataset.product, dataset.metadata_doc, dataset.uri))
        known.add(doc["id"])
    added = 0
    if accepted:
        # bulk_add prints a progress dot per batch on a terminal: kept out of antares's output
        with dc.index.transaction(), contextlib.redirect_stdout(io.StringIO()):
            added = dc.index.datasets.bulk_add(accepted, batch_size=1000).completed
    return added, existing, failures


def product_definition(dc, name: str) -> dict:
    """The definition of indexed product ``name``.

    Raises
    ------
    NotFoundError
        The product is not indexed (the indexed products are listed).
    """
    from antares.errors import NotFoundError

    product = dc.index.products.get_by_name(name)
    if product is None:
        names = sorted(p.name for p in dc.index.products.get_all())
        raise NotFoundError(
            f"product '{name}' is not indexed. Indexed products: {', '.join(names) or '(none)'}. "
            "Add a definition with 'antares product add FILE'."
        )
    return product.definition
