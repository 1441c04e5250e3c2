"""The source datasets of a product's datasets, followed through ODC's lineage to any depth."""

from __future__ import annotations

from antares.errors import NotFoundError


def product_sources(dc, product: str) -> list[dict]:
    """For each dataset of ``product``: its source datasets at every depth (``antares run lineage``).

    Parameters
    ----------
    dc : datacube.Datacube
    product : str
        An indexed product (a recipe's, a segmentation's label product, ...).

    Returns
    -------
    list of dict
        One per dataset of ``product`` (sorted by time, then id): ``{"id", "time", "sources"}``,
        ``sources`` a list of ``{"id", "product", "time", "depth"}`` (1 = read directly), sorted
        by depth, product, time and id. A dataset indexed from files has no sources.

    Raises
    ------
    NotFoundError
        ``product`` is not indexed (the products are listed).
    """
    if dc.index.products.get_by_name(product) is None:
        names = sorted(p.name for p in dc.index.products.get_all())
        raise NotFoundError(f"product '{product}' is not indexed. Indexed products: {', '.join(names) or '(none)'}.")
    out = []
    for dataset in sorted(dc.index.datasets.search(product=product), key=lambda d: (d.center_time, str(d.id))):
        depth_of: dict[str, int] = {}

        def walk(tree, depth):
            for children in (tree.children or {}).values():
                for child in children:
                    key = str(child.dataset_id)
                    depth_of[key] = min(depth, depth_of.get(key, depth))
                    walk(child, depth + 1)

        walk(dc.index.lineage.get_source_tree(dataset.id, max_depth=0), 1)
        found = {str(d.id): d for d in dc.index.datasets.bulk_get(sorted(depth_of))}
        sources = [{"id": key, "product": found[key].product.name if key in found else None,
                    "time": found[key].center_time.isoformat() if key in found and found[key].center_time else None,
                    "depth": depth} for key, depth in depth_of.items()]
        sources.sort(key=lambda s: (s["depth"], s["product"] or "", s["time"] or "", s["id"]))
        out.append({"id": str(dataset.id), "time": dataset.center_time.isoformat() if dataset.center_time else None,
                    "sources": sources})
    return out
