"""Removing what was indexed: select datasets, find what was derived from them, archive, restore, purge.

ODC's own operations (``index.datasets.archive/restore/purge``, ``index.products.delete``)
do the work; this module chooses the datasets (by product, id or path glob) and follows the
lineage to the datasets derived from them (recipe outputs, ingests, label rasters, pixel
classifications all record their sources), so that nothing is removed from under a result
without saying so.
"""

from __future__ import annotations

import fnmatch
import uuid

from antares.errors import NotFoundError, UsageError


def dataset_path(dataset) -> str:
    """The local path of a dataset's location (its URI when it is not a local file)."""
    from datacube.utils.uris import uri_to_local_path

    uri = dataset.uri or ""
    return str(uri_to_local_path(uri)) if uri.startswith("file://") else uri


def select_datasets(dc, product: str | None = None, ids=(), path: str | None = None, archived: bool | None = False) -> list:
    """The datasets named by product, ids and a glob on their document path (all criteria must hold).

    Parameters
    ----------
    dc : datacube.Datacube
    product : str, optional
    ids : iterable of str
        Dataset ids (UUIDs).
    path : str, optional
        A glob (``fnmatch``) matched against each dataset's location, as a local path
        (``/data/s2/2018-01-07``) or as the URI ``antares list datasets`` shows
        (``file:///data/s2/2018-01-07/``): e.g. ``'*/2018-0[1-3]-*'``.
    archived : bool or None
        False: active datasets; True: archived ones; None: both.

    Returns
    -------
    list of datacube.model.Dataset
        Sorted by product, time and id.

    Raises
    ------
    UsageError
        No criterion given, or an id that is not a UUID.
    NotFoundError
        Unknown product (the products are listed), an id not in the index.
    """
    if not product and not ids and not path:
        raise UsageError("name the datasets: give --product NAME, --id UUID (repeat) or --path GLOB.")
    if product and dc.index.products.get_by_name(product) is None:
        names = sorted(p.name for p in dc.index.products.get_all())
        raise NotFoundError(f"product '{product}' is not indexed. Indexed products: {', '.join(names) or '(none)'}.")
    if ids:
        wanted = []
        for i in ids:
            try:
                wanted.append(str(uuid.UUID(str(i))))
            except ValueError:
                raise UsageError(f"--id {i!r} is not a dataset id (a UUID such as 2b0a6b5c-...).") from None
        found = {str(d.id): d for d in dc.index.datasets.bulk_get(wanted)}
        missing = [i for i in wanted if i not in found]
        if missing:
            raise NotFoundError(f"dataset(s) {', '.join(missing)} not in the index.")
        datasets = [d for d in found.values() if archived is None or (d.is_archived == archived)]
        if product:
            datasets = [d for d in datasets if d.product.name == product]
    else:
        query = {"product": product} if product else {}
        datasets = list(dc.index.datasets.search(archived=archived, **query))
    if path:
        datasets = [d for d in datasets if fnmatch.fnmatch(dataset_path(d), path) or fnmatch.fnmatch(d.uri or "", path)]
    return sorted(datasets, key=lambda d: (d.product.name, d.center_time, str(d.id)))


def derived_datasets(dc, datasets) -> list:
    """Every active dataset derived from ``datasets`` (the lineage followed down to any depth), not among them."""
    chosen = {str(d.id) for d in datasets}
    found: set = set()

    def walk(tree):
        for children in (tree.children or {}).values():
            for child in children:
                found.add(str(child.dataset_id))
                walk(child)

    for d in datasets:
        walk(dc.index.lineage.get_derived_tree(d.id, max_depth=0))
    out = [d for d in dc.index.datasets.bulk_get(sorted(found - chosen)) if not d.is_archived]
    return sorted(out, key=lambda d: (d.product.name, d.center_time, str(d.id)))


def describe(datasets, limit: int = 5) -> str:
    """``N dataset(s) of product a (3), b (1): id, id, ...`` for messages."""
    counts: dict = {}
    for d in datasets:
        counts[d.product.name] = counts.get(d.product.name, 0) + 1
    shown = ", ".join(str(d.id) for d in datasets[:limit]) + (" ..." if len(datasets) > limit else "")
    products = ", ".join(f"{name} ({n})" for name, n in sorted(counts.items()))
    return f"{len(datasets)} dataset(s) of {products}: {shown}"


def apply(dc, action: str, datasets) -> None:
    """Archive, restore or purge ``datasets`` in one index transaction (purge archives first, as ODC requires)."""
    ids = [d.id for d in datasets]
    if not ids:
        return
    with dc.index.transaction():
        if action == "archive":
            dc.index.datasets.archive(ids)
        elif action == "restore":
            dc.index.datasets.restore(ids)
        elif action == "purge":
            dc.index.datasets.archive([d.id for d in datasets if not d.is_archived])
            dc.index.datasets.purge(ids)
        else:
            raise UsageError(f"unknown action {action!r}; valid: archive, restore, purge.")


def purge_product_datasets(dc, product: str) -> None:
    """Purge the active datasets of ``product`` (nothing when it is not indexed); its definition stays.

    Runs in the caller's index transaction when there is one (see
    :func:`antares.cube.catalog.transaction`), else in its own.
    """
    if dc.index.products.get_by_name(product) is not None:
        apply(dc, "purge", dc.find_datasets(product=product))


def delete_product(dc, name: str) -> None:
    """Purge every dataset of product ``name`` (active or archived) and delete its definition."""
    product = dc.index.products.get_by_name(name)
    if product is None:
        names = sorted(p.name for p in dc.index.products.get_all())
        raise NotFoundError(f"product '{name}' is not indexed. Indexed products: {', '.join(names) or '(none)'}.")
    deleted = dc.index.products.delete([product], allow_delete_active=True)
    if not deleted:
        raise NotFoundError(f"product '{name}' could not be deleted (ODC kept it: it still has datasets).")
