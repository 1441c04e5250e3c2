"""``prepare_metadata`` and ``index``: files -> eo3 documents -> ODC index."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from antares.config import Settings

log = logging.getLogger(__name__)


@dataclass
class IndexReport:
    """Outcome of one ``index`` call. ``failures`` are ``(file or dataset, message)``."""

    prepared: int = 0
    added: int = 0
    existing: int = 0
    failures: list = field(default_factory=list)
    product: str = ""
    product_change: object = None

    def lines(self, max_failures: int | None = 20) -> list[str]:
        """Failure lines (at most ``max_failures``), the product line if one was added, and a summary."""
        shown = self.failures if max_failures is None else self.failures[:max_failures]
        out = [f"failed: {message}" for _, message in shown]
        if len(self.failures) > len(shown):
            out.append(f"... and {len(self.failures) - len(shown)} more failures (run with -v to see all)")
        if self.product_change is not None:
            out.append(f"product {self.product}: {self.product_change.action} ({self.product_change.detail})")
        refused = sum(1 for key, _ in self.failures if key in self._refused_ids)
        found = self.prepared + len(self.failures) - refused
        out.append(
            f"{self.added} dataset(s) indexed into {self.product}, {self.existing} already indexed, "
            f"{len(self.failures)} failed (of {found} found)"
        )
        return out

    @property
    def _refused_ids(self) -> set:
        return {key for key, message in self.failures if message.startswith("dataset ") and "refused by the index" in message}


def _open(settings: Settings):
    from antares.cube.index import connect
    from antares.db.engine import database_url, open_database

    open_database(settings).dispose()  # clear errors for an unreachable or uninitialised database
    return connect(database_url(settings))


def derive_product(base: dict, name: str, documents: list[dict]) -> dict:
    """A product named ``name`` with the measurements of ``base`` present in every document.

    Loose band files seldom carry every band of a full Sentinel-2 product, and ODC
    requires each dataset to have all measurements of its product, so ``index`` and
    ``prepare_metadata`` derive a product from the base definition when the product
    named by ``--product`` is not indexed yet.

    Raises
    ------
    InvalidInputError
        No measurement is common to all documents.
    """
    import copy

    from antares.errors import InvalidInputError

    common = set.intersection(*(set(d["measurements"]) for d in documents)) if documents else set()
    measurements = [m for m in base["measurements"] if m["name"] in common]
    if not measurements:
        raise InvalidInputError(f"the datasets found share no measurement of product {base['name']}; cannot derive product {name}.")
    doc = copy.deepcopy(base)
    doc["name"] = name
    doc["description"] = f"{base.get('description', base['name'])} (subset: {', '.join(m['name'] for m in measurements)})"
    doc["metadata"] = {"product": {"name": name}}
    doc["measurements"] = measurements
    return doc


@dataclass
class Prepared:
    """Documents and failures of a preparer run, the product used, and a derived product definition."""

    documents: list
    failures: list
    product: str
    derived: dict | None = None


def prepare(settings: Settings, path, preparer: str, product: str | None = None, **options) -> Prepared:
    """Run ``preparer`` over ``path`` for ``product``.

    When ``product`` is not indexed, its definition is derived from the preparer's
    default product (e.g. ``s2_l2a``) restricted to the measurements the files have
    (see :func:`derive_product`); it is returned in ``derived`` and not yet added.

    Raises
    ------
    InvalidInputError
        ``path`` is missing or nothing under it is recognised.
    NotFoundError
        Neither ``product`` nor the preparer's default product is indexed.
    """
    from urllib.parse import unquote, urlparse

    from antares.cube.index import product_definition
    from antares.prepare import get_preparer

    prep = get_preparer(preparer, **options)
    name = product or prep.default_product
    dc = _open(settings)
    try:
        existing = dc.index.products.get_by_name(name)
        definition = existing.definition if existing is not None else product_definition(dc, prep.default_product)
    finally:
        dc.close()
    result = prep.run(Path(path), definition, name)
    if existing is not None:
        needed = [m["name"] for m in definition["measurements"]]
        complete, failures = [], list(result.failures)
        for doc in result.documents:
            missing = [m for m in needed if m not in doc["measurements"]]
            if missing:
                folder = unquote(urlparse(next(iter(doc["measurements"].values()))["path"]).path).rsplit("/", 1)[0]
                failures.append((doc["id"], f"{folder}: "
                                            f"product {name} needs measurement(s) {', '.join(missing)}, which the files lack; "
                                            "index into a new product with --product NEW_NAME to derive one from the bands present."))
            else:
                complete.append(doc)
        return Prepared(complete, failures, name)
    if not result.documents:  # every dataset failed: report the failures, derive nothing
        return Prepared([], result.failures, name)
    derived = derive_product(definition, name, result.documents)
    keep = {m["name"] for m in derived["measurements"]}
    for doc in result.documents:
        doc["measurements"] = {k: v for k, v in doc["measurements"].items() if k in keep}
    return Prepared(result.documents, result.failures, name, derived)


def write_documents(documents: list[dict], outfile: str | Path) -> None:
    """Write eo3 documents as one multi-document YAML, atomically (temp file + rename).

    Raises
    ------
    WriteError
        The file could not be written (a full disk ...); the free space is named.
    """
    import yaml

    from antares.cube.write import write_text

    write_text(outfile, yaml.safe_dump_all(documents, sort_keys=False))


def index_path(settings: Settings, path, preparer: str, product: str | None = None, **options) -> IndexReport:
    """Prepare every dataset under ``path`` and add it to the ODC index.

    Dataset ids are stable (uuid5 of what identifies a dataset for the preparer:
    product, tile, time and grid for loose bands; the resolved path for SAFE folders
    and DEMs), so indexing the same files again adds nothing. A dataset that fails is reported; the others are indexed.

    Raises
    ------
    InvalidInputError
        ``path`` is missing or nothing under it is recognised.
    NotFoundError
        ``product`` is not indexed.
    """
    from antares.cube.index import add_dataset_documents, connect
    from antares.db.engine import database_url

    prepared = prepare(settings, path, preparer, product, **options)
    report = IndexReport(prepared=len(prepared.documents), failures=list(prepared.failures), product=prepared.product)
    dc = connect(database_url(settings))
    try:
        if prepared.derived is not None:
            from antares.cube.index import add_product

            report.product_change = add_product(dc, prepared.derived)
        report.added, report.existing, refused = add_dataset_documents(dc, prepared.documents)
    finally:
        dc.close()
    report.failures.extend(refused)
    log.debug("indexed %d datasets into %s", report.added, prepared.product)
    return report


def add_product_file(settings: Settings, path):
    """Add the product definition in ``path`` (see :func:`antares.cube.index.add_product`)."""
    from antares.cube.index import add_product, read_product_definition

    doc = read_product_definition(path)
    dc = _open(settings)
    try:
        return add_product(dc, doc)
    finally:
        dc.close()
