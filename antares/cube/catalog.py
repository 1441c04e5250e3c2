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
    relations, added = LineageRelations(), set()
    with dc.index.transaction():
        for doc, uri in results:
            dataset, error = resolver(doc, uri)
            if dataset is None:
                raise InvalidInputError(f"dataset {doc['id']} refused: {' '.join(str(error).split())}")
            tree, dataset.source_tree = dataset.source_tree, None
            if tree is not None:
                relations.merge_tree(tree)
            dc.index.datasets.add(dataset, with_lineage=True)
            added.add(dataset.id)
        if relations.relations:
            merge_new_lineage(dc, relations, added)


def merge_new_lineage(dc, relations, added: set) -> None:
    """Write the lineage of datasets just added, checked against the relations that touch them only.

    ODC's ``index.lineage.merge`` reads every relation of every dataset named in the batch - the sources'
    too - and checks the union for cycles and conflicting classifiers in Python. A source used by many derived
    products (one Sentinel-2 scene: every tile, step and recipe over it) makes that grow with everything derived
    from it before: 4 s for one 12-step tile after 17 earlier runs on the same 36 inputs, against 0.6 s on a
    fresh index (docs/timeseries.md). When every relation's derived dataset was added by this batch, no source
    is, and no relation in the index names one of the new datasets as its *source* (nothing derived from them
    yet), no cycle can form, and a conflicting classifier needs a relation that names one of them as *derived*:
    so the relations that touch the new datasets are all the check needs (ODC's own ``relations_diff`` on them,
    then its driver's ``write_relations``, in the caller's transaction). Any other batch goes through ODC's
    ``merge`` unchanged.

    Parameters
    ----------
    dc : datacube.Datacube
        In a transaction (``dc.index.transaction()``).
    relations : datacube.model.lineage.LineageRelations
        The batch's (derived, source, classifier) relations, without homes.
    added : set of uuid.UUID
        The ids of the datasets this batch added.

    Raises
    ------
    InvalidInputError
        The relations conflict with the index (another classifier for a pair, or a cycle).
    """
    from datacube.model import LineageRelation
    from datacube.model.lineage import InconsistentLineageException, LineageRelations

    from antares.errors import InvalidInputError

    derived, sources = set(relations.by_derived), set(relations.by_source)
    try:
        if relations._homes or not derived <= added or sources & added:
            dc.index.lineage.merge(relations)
            return
        with dc.index.lineage._db_connection() as connection:  # the transaction's connection
            touching = list(connection.get_all_relations(sorted(derived)))
            if any(rel.source_id in added for rel in touching):  # something already derived from them
                dc.index.lineage.merge(relations)
                return
            new, _, _, _ = relations.relations_diff(existing_relations=LineageRelations(relations=touching),
                                                    allow_updates=False)
            connection.write_relations([LineageRelation(classifier=classifier, derived_id=ids.derived_id,
                                                        source_id=ids.source_id) for ids, classifier in new.items()],
                                       allow_updates=False)
    except InconsistentLineageException as exc:
        raise InvalidInputError(f"lineage of {len(derived)} dataset(s) refused by the index: {exc}") from exc


def solar_day(dataset) -> str:
    """The local solar day of ``dataset`` (``YYYY-MM-DD``, from its time and longitude), as ODC groups by it."""
    from datacube.api.query import solar_day as odc_solar_day

    return str(odc_solar_day(dataset))
