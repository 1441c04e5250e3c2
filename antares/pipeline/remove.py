"""``antares dataset archive|restore|purge`` and ``antares product delete``: undo what was indexed wrongly.

Results that depend on what is removed are found first: datasets derived from it (lineage:
recipe outputs, ingests, label rasters, pixel classifications) and, for a product, the
segmentations and models made from it. Their presence refuses the removal, naming them,
unless ``cascade`` is given; then they are removed too (and listed). ``dry_run`` lists
everything and changes nothing. Files on disk are never deleted: ODC's purge removes index
records only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from antares.config import Settings
from antares.errors import InvalidInputError

PAST = {"archive": "archived", "restore": "restored", "purge": "purged"}


@dataclass
class RemoveReport:
    """What was (or, with ``dry_run``, would be) removed."""

    action: str
    dry_run: bool
    lines: list = field(default_factory=list)

    def out(self) -> list[str]:
        prefix = "dry run, nothing changed: would have " if self.dry_run else ""
        return [prefix + line if i == len(self.lines) - 1 else line for i, line in enumerate(self.lines)]


def _refuse_or_cascade(what: str, dependents: list[str], cascade: bool) -> None:
    if dependents and not cascade:
        raise InvalidInputError(f"{what}: results depend on them: {'; '.join(dependents)}. Remove them first, or give "
                                "--cascade to remove them too (--dry-run lists everything).")


def datasets(settings: Settings, action: str, product: str | None = None, ids=(), path: str | None = None,
             dry_run: bool = False, cascade: bool = False) -> RemoveReport:
    """Archive, restore or purge the datasets chosen by product, ids and path glob.

    Parameters
    ----------
    action : {"archive", "restore", "purge"}
        ``purge`` removes the index records of active and archived datasets (files stay).
    product, ids, path :
        See :func:`antares.cube.remove.select_datasets` (all given criteria must hold).
    dry_run : bool
        List, change nothing.
    cascade : bool
        Also archive/purge the active datasets derived from them (else their presence refuses).

    Raises
    ------
    UsageError
        No criterion, an id that is not a UUID.
    NotFoundError
        Unknown product or id, or nothing matches.
    InvalidInputError
        Datasets derived from them exist and ``cascade`` is False (they are counted and named).
    """
    from antares.cube.index import connect
    from antares.cube.remove import apply, derived_datasets, describe, select_datasets
    from antares.db.engine import database_url
    from antares.errors import NotFoundError

    archived = {"archive": False, "restore": True, "purge": None}[action]
    dc = connect(database_url(settings))
    try:
        chosen = select_datasets(dc, product, ids, path, archived)
        if not chosen:
            state = {"archive": "active ", "restore": "archived ", "purge": ""}[action]
            raise NotFoundError(f"no {state}dataset matches (--product {product or '-'}, --id {len(ids)} given, "
                                f"--path {path or '-'}); nothing to {action}.")
        report = RemoveReport(action, dry_run)
        derived = derived_datasets(dc, chosen) if action != "restore" else []
        if derived:
            _refuse_or_cascade(f"cannot {action} {describe(chosen)}", [describe(derived)], cascade)
            report.lines.append(f"--cascade includes {describe(derived)}")
        if not dry_run:
            apply(dc, action, chosen + derived)
        report.lines.append(f"{PAST[action]} {describe(chosen)}" + (" (index records only; files kept)"
                                                                     if action == "purge" else ""))
        return report
    finally:
        dc.close()


def delete_product(settings: Settings, name: str, dry_run: bool = False, cascade: bool = False) -> RemoveReport:
    """Delete product ``name``: its datasets (active and archived) and its definition.

    Results that depend on it: datasets derived from its datasets, segmentations of it (or
    whose label product it is) and models fitted on it. They refuse the deletion unless
    ``cascade``; then they are removed first (segmentations and models with their
    classifications, predictions and validations).

    Raises
    ------
    NotFoundError
        ``name`` is not indexed (the products are listed).
    InvalidInputError
        Results depend on it and ``cascade`` is False (they are named).
    """
    from antares.cube.index import connect
    from antares.cube.remove import apply, delete_product as delete, derived_datasets, describe, select_datasets
    from antares.db.engine import database_url, session_scope
    from antares.db.models import delete_models, model_names
    from antares.db.segmentations import delete_segmentations, segmentation_names

    dc = connect(database_url(settings))
    try:
        own = select_datasets(dc, product=name, archived=None)
        derived = [d for d in derived_datasets(dc, own) if d.product.name != name]
        with session_scope(settings) as session:
            segmentations = segmentation_names(session, product=name)
            models = model_names(session, product=name)
        dependents = ([describe(derived)] if derived else []) + \
                     ([f"segmentation(s) {', '.join(segmentations)}"] if segmentations else []) + \
                     ([f"model(s) {', '.join(models)} (and their classifications)"] if models else [])
        _refuse_or_cascade(f"cannot delete product {name}", dependents, cascade)
        report = RemoveReport("delete", dry_run)
        if dependents:
            report.lines.append(f"--cascade includes {'; '.join(dependents)}")
        if not dry_run:
            with session_scope(settings) as session:
                delete_segmentations(session, names=segmentations)
                if models:
                    delete_models(session, models)
            apply(dc, "purge", derived)
            delete(dc, name)
        report.lines.append(f"deleted product {name} and its {len(own)} dataset(s) (index records only; files kept)")
        return report
    finally:
        dc.close()
