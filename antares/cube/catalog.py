"""Looking up and indexing products and datasets: the ODC index calls the pipeline makes, in one place.

Every function takes an open ``datacube.Datacube`` (:func:`antares.cube.index.connect`) and
returns ODC's own objects (``datacube.model.Product``, ``datacube.model.Dataset``), so that
no module outside :mod:`antares.cube` calls the ODC API or imports ``datacube``.
"""

from __future__ import annotations


def find_datasets(dc, product: str, area=None, time=None, like=None, ensure_location: bool = False) -> list:
    """The active datasets of ``product`` (``dc.find_datasets``), optionally within an area, period or GeoBox.

    Parameters
    ----------
    dc : datacube.Datacube
    product : str
        Product name.
    area : odc.geo.geom.Geometry, optional
        Datasets whose extent intersects it.
    time : tuple or str, optional
        ``(start, end)`` (or one date) as ``dc.find_datasets(time=)`` takes it.
    like : odc.geo.geobox.GeoBox, optional
        Datasets over this GeoBox (its extent and, without ``time``, any time).
    ensure_location : bool
        Only datasets that have a location (files to read).

    Returns
    -------
    list of datacube.model.Dataset
    """
    query: dict = {"product": product}
    if area is not None:
        query["geopolygon"] = area
    if time is not None:
        query["time"] = time
    if like is not None:
        query["like"] = like
    if ensure_location:
        query["ensure_location"] = True
    return dc.find_datasets(**query)


def first_dataset(dc, product: str):
    """One active dataset of ``product`` (``None`` when it has none), without fetching the others."""
    return next(iter(dc.find_datasets_lazy(product=product, limit=1)), None)


def get_product(dc, name: str):
    """The indexed product ``name`` (a ``datacube.model.Product``), or ``None`` when it is not indexed."""
    return dc.index.products.get_by_name(name)


def product_exists(dc, name: str) -> bool:
    """True if product ``name`` is indexed."""
    return get_product(dc, name) is not None


def dataset_exists(dc, dataset_id) -> bool:
    """True if the dataset ``dataset_id`` (UUID or its string) is in the index (active or archived)."""
    return bool(dc.index.datasets.has(dataset_id))


def get_dataset(dc, dataset_id):
    """The dataset ``dataset_id`` (a ``datacube.model.Dataset``), or ``None`` when it is not in the index."""
    return dc.index.datasets.get(dataset_id)


def get_datasets(dc, ids) -> list:
    """The datasets of ``ids`` that are in the index, in the order of ``ids`` (one query for all).

    Returns
    -------
    list of datacube.model.Dataset
        Ids not in the index are left out.
    """
    ids = [str(i) for i in ids]
    if not ids:
        return []
    found = {str(d.id): d for d in dc.index.datasets.bulk_get(ids)}
    return [found[i] for i in ids if i in found]


def transaction(dc):
    """A context manager: the index changes made inside it are committed together or not at all.

    Nested uses join the outermost transaction (ODC's own nesting).
    """
    return dc.index.transaction()


def index_documents(dc, results) -> None:
    """Index ``(eo3 document, location URI)`` pairs with their lineage, in one transaction.

    Parameters
    ----------
    dc : datacube.Datacube
    results : iterable of (dict, str)
        eo3 dataset documents and the URIs of their locations.

    Raises
    ------
    InvalidInputError
        ODC refused a document (nothing of this batch is indexed).
    """
    from datacube.index.hl import Doc2Dataset
    from datacube.model.lineage import LineageRelations

    from antares.errors import InvalidInputError

    resolver = Doc2Dataset(dc.index, skip_lineage=False, verify_lineage=False)
    # The lineage of the whole batch is merged once: ODC's add() merges each dataset's tree against every
    # relation its sources already have, so the datasets of one batch that share sources (a time-series tile's
    # steps, 36 sources each) cost quadratically (12 steps: 9 s of 10 s indexing; docs/timeseries.md).
    relations = LineageRelations()
    with dc.index.transaction():
        for doc, uri in results:
            dataset, error = resolver(doc, uri)
            if dataset is None:
                raise InvalidInputError(f"dataset {doc['id']} refused: {' '.join(str(error).split())}")
            tree, dataset.source_tree = dataset.source_tree, None
            if tree is not None:
                relations.merge_tree(tree)
            dc.index.datasets.add(dataset, with_lineage=True)
        if relations.relations:
            dc.index.lineage.merge(relations)


def solar_day(dataset) -> str:
    """The local solar day of ``dataset`` (``YYYY-MM-DD``, from its time and longitude), as ODC groups by it."""
    from datacube.api.query import solar_day as odc_solar_day

    return str(odc_solar_day(dataset))
