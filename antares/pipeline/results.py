"""``antares list KIND``, ``antares delete KIND NAME`` and ``antares rename KIND OLD NEW``: every result can be seen and removed.

A deletion first finds the results that depend on the one named (see
:func:`antares.db.results.dependants`); they refuse it, named, unless ``cascade`` is given.
Rows are deleted in one transaction; files (a product's or a segmentation's label product's
directory under ``$ANTARES_HOME/products``) are removed only after that transaction commits,
so a crash in between leaves files without rows, never rows without files: such orphaned
directories are reported by the next ``delete`` (and ``list products``), with the command
that removes them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from antares.config import Settings
from antares.errors import InvalidInputError, NotFoundError, UsageError
from antares.pipeline.remove import RemoveReport, _refuse_or_cascade

KINDS = ("product", "segmentation", "classification", "model", "training_set", "validation_set", "region", "change",
         "pca")
RENAMABLE = ("classification", "model", "training_set", "validation_set", "region", "change")


def _check_kind(kind: str, allowed=KINDS) -> None:
    if kind not in allowed:
        raise UsageError(f"unknown kind {kind!r}; kinds: {', '.join(allowed)}.")


def _missing(session, kind: str, name: str) -> NotFoundError:
    from antares.db.results import names

    known = names(session, kind)
    shown = ", ".join(known[:20]) + (f", ... ({len(known)} in all)" if len(known) > 20 else "")
    return NotFoundError(f"no {kind.replace('_', ' ')} named '{name}'. Existing: {shown or '(none)'}.")


def orphaned_product_dirs(settings: Settings) -> list[Path]:
    """Directories under ``$ANTARES_HOME/products`` that no indexed product owns (left by a crash).

    A directory ``products/NAME`` is orphaned when no product ``NAME`` is indexed and no
    staging suffix marks it as a run in progress (``.NAME.*`` staging directories of an
    interrupted ``--overwrite`` are reported too: they start with a dot).
    """
    from antares.cube.index import connect, list_products
    from antares.db.engine import database_url

    root = Path(settings.home) / "products"
    if not root.is_dir():
        return []
    dc = connect(database_url(settings))
    try:
        products = {p["name"] for p in list_products(dc)}
    finally:
        dc.close()
    return sorted(d for d in root.iterdir() if d.is_dir() and d.name not in products)


def _orphan_lines(settings: Settings) -> list[str]:
    orphans = orphaned_product_dirs(settings)
    if not orphans:
        return []
    return [f"orphaned files (no product of that name; left by an interrupted deletion or run): "
            f"{', '.join(str(d) for d in orphans)}; remove them with: rm -r {' '.join(str(d) for d in orphans)}"]


def _product_files(settings: Settings, name: str) -> Path | None:
    """``$ANTARES_HOME/products/NAME`` when it exists (files elsewhere, from ``--outdir``, are the user's)."""
    from antares.names import product_dir

    path = product_dir(settings.home, name)
    return path if path.is_dir() else None


def delete_result(settings: Settings, kind: str, name: str, dry_run: bool = False, cascade: bool = False,
                  after_commit=None) -> RemoveReport:
    """Delete result ``name`` of ``kind`` with what depends on it (``cascade``), rows first, files after the commit.

    Parameters
    ----------
    kind : {"product", "segmentation", "classification", "model", "training_set", "validation_set", "region", "change", "pca"}
    name : str
    dry_run : bool
        List what would be deleted; change nothing.
    cascade : bool
        Also delete the results that depend on it (else their presence refuses, naming them).
    after_commit : callable, optional
        Called once the rows are committed, before files are removed (tests use it to crash
        there).

    Returns
    -------
    RemoveReport
        Lines saying what was (or would be) deleted, orphaned files found, and files removed.

    Raises
    ------
    UsageError
        Unknown kind.
    NotFoundError
        No result of ``kind`` named ``name`` (the existing ones are listed).
    InvalidInputError
        Results depend on it and ``cascade`` is False.
    """
    _check_kind(kind)
    orphans = _orphan_lines(settings)
    if kind == "product":
        from antares.pipeline.remove import delete_product

        files = _product_files(settings, name)
        report = delete_product(settings, name, dry_run, cascade)
        report.lines[:0] = orphans
        return _remove_files(report, [files] if files else [], dry_run, after_commit)

    from antares.db.engine import open_database, session_scope
    from antares.db.results import delete, delete_models, dependants, exists

    open_database(settings)
    report = RemoveReport("delete", dry_run)
    report.lines.extend(orphans)
    files: list[Path] = []
    with session_scope(settings) as session:
        if not exists(session, kind, name):
            raise _missing(session, kind, name)
        deps = dependants(session, kind, name)
        listed = [f"{k}(s) {', '.join(v)}" for k, v in deps.items()]
        label = kind.replace("_", " ")
        _refuse_or_cascade(f"cannot delete {label} {name}", listed, cascade)
        if listed:
            report.lines.append(f"--cascade includes {'; '.join(listed)}")
        if not dry_run:
            if kind == "training_set":
                delete_models(session, deps.get("model", []))
            delete(session, kind, name)
    if kind == "segmentation":
        files = _delete_label_product(settings, name, dry_run)
    report.lines.append(f"deleted {label} {name}")
    return _remove_files(report, files, dry_run, after_commit)


def _delete_label_product(settings: Settings, name: str, dry_run: bool) -> list[Path]:
    """Purge the label product ``name`` of a deleted segmentation (index records); its files for removal."""
    from antares.cube.index import connect
    from antares.cube.remove import delete_product
    from antares.db.engine import database_url

    files = _product_files(settings, name)
    dc = connect(database_url(settings))
    try:
        if dc.index.products.get_by_name(name) is not None and not dry_run:
            delete_product(dc, name)
    finally:
        dc.close()
    return [files] if files else []


def _remove_files(report: RemoveReport, files: list[Path], dry_run: bool, after_commit) -> RemoveReport:
    if after_commit is not None and not dry_run:
        after_commit()
    for path in files:
        if not dry_run:
            shutil.rmtree(path)
        report.lines.insert(len(report.lines) - 1, f"removed files {path}" if not dry_run else f"files {path}")
    return report


def rename_result(settings: Settings, kind: str, old: str, new: str) -> str:
    """Rename result ``old`` of ``kind`` to ``new`` (names of database rows only).

    Products and segmentations are refused: their names are those of indexed products and of
    directories of files; re-run with the new name instead.

    Raises
    ------
    UsageError
        Unknown or non-renamable kind; ``new`` breaks the name rule.
    NotFoundError
        No ``old``.
    AlreadyExistsError
        ``new`` exists.
    """
    from antares.db.engine import open_database, session_scope
    from antares.db.results import exists, rename
    from antares.errors import AlreadyExistsError
    from antares.names import check_name

    if kind in ("product", "segmentation"):
        raise UsageError(f"a {kind}'s name is the name of its indexed product and files; it cannot be renamed. "
                         f"Run the stage again with the new name and delete the old one (antares delete {kind} {old}).")
    _check_kind(kind, RENAMABLE)
    check_name(new, "NEW")
    open_database(settings)
    with session_scope(settings) as session:
        if not exists(session, kind, old):
            raise _missing(session, kind, old)
        if exists(session, kind, new):
            raise AlreadyExistsError(f"a {kind.replace('_', ' ')} named '{new}' exists; delete it first "
                                     f"(antares delete {kind} {new}) or choose another name.")
        if rename(session, kind, old, new) != 1:
            raise InvalidInputError(f"{kind} {old} could not be renamed (it changed meanwhile); try again.")
    return f"renamed {kind.replace('_', ' ')} {old} to {new}"


def list_results(settings: Settings, kind: str) -> list[dict]:
    """Rows of ``antares list segmentations`` / ``classifications`` (with sizes and creation time)."""
    from antares.db.engine import open_database, session_scope
    from antares.db.results import list_classifications, list_segmentations

    open_database(settings)
    with session_scope(settings) as session:
        rows = list_segmentations(session) if kind == "segmentations" else list_classifications(session)
    for row in rows:
        if row.get("area_km2") is not None:
            row["area_km2"] = round(float(row["area_km2"]), 4)
    return rows
