"""Change detections (``antares detect_change``) as map layers: ``antares view`` and ``antares quicklook``.

A change detection made with ``-lc_pre``/``-lc_post`` has a class before and after for each object:
its objects are coloured by transition (``forest → open land``), one colour of matplotlib's ``tab20``
each in the order of (pre, post) codes, and objects whose classes are unknown in grey. Without
classifications every object is one colour, labelled ``change``.
"""

from __future__ import annotations

import logging

from antares.errors import InvalidInputError, NotFoundError

log = logging.getLogger(__name__)

#: The colour of change objects without classes, and of objects whose class is unknown.
CHANGE_COLOUR, UNKNOWN_COLOUR = "#e31a1c", "#888888"


class ChangeStyle:
    """How the objects of one change detection are labelled and coloured.

    Parameters
    ----------
    names : dict of int to str, or None
        The class names of the post classification's scheme; None when the detection has no classes.
    transitions : list of (int or None, int or None)
        The (pre, post) class codes present, each given its own colour in this order.
    """

    def __init__(self, names: dict | None, transitions: list):
        import matplotlib

        self.names = names
        palette = matplotlib.colormaps["tab20"]
        known = sorted(t for t in transitions if None not in t)
        self.colours = {t: matplotlib.colors.to_hex(palette(i % 20)) for i, t in enumerate(known)}

    def label(self, pre, post) -> str:
        """``pre → post`` in class names (``change`` without classes; ``?`` for an unknown class)."""
        if self.names is None:
            return "change"
        return f"{self._name(pre)} → {self._name(post)}"

    def _name(self, code) -> str:
        return "?" if code is None else self.names.get(int(code), f"class {code}")

    def colour(self, pre, post) -> str:
        """``#rrggbb`` of an object of classes ``pre`` and ``post``."""
        if self.names is None:
            return CHANGE_COLOUR
        return self.colours.get((pre, post), UNKNOWN_COLOUR)

    def legend(self, present) -> list:
        """(label, colour) of each transition in ``present`` (set of (pre, post)), in code order."""
        key = (lambda t: (t[0] is None, t[0] or 0, t[1] is None, t[1] or 0))
        entries = [(self.label(*t), self.colour(*t)) for t in sorted(present, key=key)]
        return list(dict.fromkeys(entries))


def change_source(conn, name: str):
    """(row, srid, style) of change detection ``name``: its database row, the SRID of its objects and its colours.

    Raises
    ------
    NotFoundError
        No change detection ``name`` (the names are listed).
    InvalidInputError
        The detection is in a CRS without an EPSG code, or has no change object.
    """
    from antares.db.changes import change_detection, change_names, transitions
    from antares.db.classifications import classification
    from antares.db.training import scheme_legend

    row = change_detection(conn, name)
    if row is None:
        raise NotFoundError(f"change detection '{name}' does not exist; change detections: "
                            f"{', '.join(change_names(conn)) or '(none)'}.")
    if not row.crs.upper().startswith("EPSG:"):
        raise InvalidInputError(f"change detection '{name}' is in a CRS without an EPSG code; it cannot be drawn.")
    if not row.n_objects:
        raise InvalidInputError(f"change detection '{name}' has no change object; nothing to draw.")
    present = [(r[0], r[1]) for r in transitions(conn, row.id)]
    names = None
    lc = row.inputs.get("lc_post") or row.inputs.get("lc_pre")
    if lc:
        found = classification(conn, lc)
        names = {e.code: e.name for e in scheme_legend(conn, found.scheme_id)} if found is not None else {}
    return row, int(row.crs.split(":")[1]), ChangeStyle(names, present)


def change_layer(conn, name: str, max_objects: int, raster_size: int):
    """(layer, what) of change detection ``name`` for :func:`antares.pipeline.view.view`.

    At most ``max_objects`` objects are drawn as vectors (popups: object id, area, score, classes before and
    after); beyond, the layer is an image of ``raster_size`` pixels a side on the Web Mercator grid.

    Returns
    -------
    (antares.export.webmap.VectorLayer or ImageLayer, str)

    Raises
    ------
    NotFoundError, InvalidInputError
        See :func:`change_source`.
    """
    from antares.db.changes import change_objects_extent, change_objects_query
    from antares.export.webmap import ImageLayer, VectorLayer
    from antares.pipeline.view import _frame, _latlon_bounds, _rasterise, _simplify

    row, srid, style = change_source(conn, name)
    present: set = set()

    def colour_of(r):  # rows (object_id, area_m2, pixel_count, score, pre, post, tie, wkb)
        present.add((r[4], r[5]))
        return style.colour(r[4], r[5])

    if row.n_objects > max_objects:
        extent = change_objects_extent(conn, row.id, srid, 3857)
        rgba, _, (left, right, bottom, top) = _rasterise(conn, change_objects_query(row.id, srid, 3857), extent,
                                                         colour_of, size=raster_size)
        return (ImageLayer(f"{name} (change)", rgba, _latlon_bounds((left, bottom, right, top)),
                           legend=style.legend(present), note=f"{row.n_objects} objects > {max_objects}: drawn as an image"),
                f"{row.n_objects} change objects (image)")
    rows = conn.execute(change_objects_query(row.id, srid, 4326)).all()
    transitions = [(r[4], r[5]) for r in rows]  # None stays None (a DataFrame column would make it NaN)
    frame = _simplify(_frame(rows, ["object_id", "area_m2", "pixel_count", "score", "pre", "post", "tie"]))
    frame["_colour"] = [style.colour(*t) for t in transitions]
    frame["change"] = [style.label(*t) for t in transitions]
    frame["area_m2"] = frame.area_m2.astype(float).round(1)
    frame["score"] = frame.score.astype(float).round(3)
    frame = frame.drop(columns=["pre", "post", "tie"])
    popup = [("object_id", "object id"), ("change", "change"), ("area_m2", "area (m²)"), ("score", "score")]
    legend = style.legend(set(transitions))
    return (VectorLayer(f"{name} (change)", frame, popup, legend),
            f"{len(frame)} change objects, {len(legend)} transition(s)" if style.names is not None
            else f"{len(frame)} change objects")


def change_image(conn, name: str, size: int):
    """(RGBA, (left, right, bottom, top), odc CRS, legend, what, credits) of change detection ``name`` in its CRS.

    The objects are burnt (pixel-centre rule) into an image of at most ``size`` pixels a side, opaque, in
    their transition's colour; the credits name the method and the products (and years) compared.

    Raises
    ------
    NotFoundError, InvalidInputError
        See :func:`change_source`.
    """
    from odc.geo import CRS

    from antares.db.changes import change_objects_extent, change_objects_query
    from antares.pipeline.view import _rasterise

    row, srid, style = change_source(conn, name)
    present: set = set()

    def colour_of(r):
        present.add((r[4], r[5]))
        return style.colour(r[4], r[5])

    box = change_objects_extent(conn, row.id, srid, srid)
    rgba, n, grid = _rasterise(conn, change_objects_query(row.id, srid, srid), box, colour_of, size=size, opaque=True)
    inputs = row.inputs

    def side(key):
        return f"{inputs.get(key)}" + (f" {inputs[key + '_year']}" if inputs.get(key + "_year") else "")

    credits = f"change detection {name}: {row.method} between {side('pre')} and {side('post')}"
    if inputs.get("lc_pre"):
        credits += f", classes from {inputs['lc_pre']} and {inputs.get('lc_post')}"
    return rgba, grid, CRS(row.crs), style.legend(present), f"{n} change objects", credits
