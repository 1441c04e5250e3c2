"""QGIS layer styles built from a legend: QML files and styles embedded in GeoPackages.

A vector style is a *categorized* renderer on the class-code attribute (one solid fill
with a thin, darker outline per class); a raster style is a *paletted* renderer on the
class band. Both follow the structure QGIS 3.x writes (``<Option type="Map">`` symbol
properties, plus the legacy ``<prop k= v=>`` entries older versions read), so QGIS 3
loads them as they are. The output is deterministic: the same legend gives the same text.

:func:`embed_gpkg_style` stores a QML in the GeoPackage's ``layer_styles`` table the way
QGIS does on *Save as Default > Datasource Database*, so the layer opens styled in QGIS.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

from antares.errors import InvalidInputError, NotFoundError
from antares.legend import LegendEntry, check_legend

log = logging.getLogger(__name__)

#: The QGIS version written into the QML (any QGIS 3 reads the structure used here).
QGIS_VERSION = "3.28.0-Firenze"
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
_OUTLINE_WIDTH_MM = "0.26"  # QGIS's default outline width
_OUTLINE_DARKEN = 0.6  # outline colour = fill colour * this factor
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# layer_styles as QGIS creates it through GDAL's GPKG driver (QgsOgrProviderMetadata::saveStyle).
_LAYER_STYLES_DDL = (
    'CREATE TABLE "layer_styles" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "f_table_catalog" TEXT(256),'
    ' "f_table_schema" TEXT(256), "f_table_name" TEXT(256), "f_geometry_column" TEXT(256), "styleName" TEXT(30),'
    ' "styleQML" TEXT, "styleSLD" TEXT, "useAsDefault" BOOLEAN, "description" TEXT, "owner" TEXT(30),'
    ' "ui" TEXT(30), "update_time" DATETIME DEFAULT (strftime(\'%Y-%m-%dT%H:%M:%fZ\',\'now\')))'
)


def _entries(legend, func: str) -> list[LegendEntry]:
    entries = check_legend(list(legend), f"The 'legend' parameter of {func}")
    for e in entries:
        if _NOT_XML.search(e.name):
            raise InvalidInputError(
                f"The 'legend' parameter of {func} has class {e.code} named {e.name!r}, which holds "
                "control characters that XML cannot store. Remove them from the legend file."
            )
    return entries


def _rgba(colour: str, factor: float = 1.0) -> str:
    """``#rrggbb`` as QGIS's ``r,g,b,255``, optionally darkened by ``factor``."""
    rgb = (round(int(colour[i : i + 2], 16) * factor) for i in (1, 3, 5))
    return ",".join(str(v) for v in rgb) + ",255"


def _qgis_root() -> ET.Element:
    return ET.Element("qgis", {"version": QGIS_VERSION, "styleCategories": "Symbology"})


def _to_text(root: ET.Element) -> str:
    ET.indent(root, space="  ")
    return _DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n"


def _data_defined(parent: ET.Element) -> None:
    """The empty data-defined property collection QGIS writes with each symbol (layer)."""
    opts = ET.SubElement(ET.SubElement(parent, "data_defined_properties"), "Option", type="Map")
    ET.SubElement(opts, "Option", type="QString", name="name", value="")
    ET.SubElement(opts, "Option", name="properties")
    ET.SubElement(opts, "Option", type="QString", name="type", value="collection")


def _fill_symbol(parent: ET.Element, name: str, colour: str) -> None:
    attrs = {"type": "fill", "name": name, "alpha": "1", "clip_to_extent": "1", "force_rhr": "0"}
    symbol = ET.SubElement(parent, "symbol", attrs)
    _data_defined(symbol)
    layer = ET.SubElement(symbol, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"})
    props = {  # QGIS 3.28's SimpleFill properties, in its order
        "border_width_map_unit_scale": "3x:0,0,0,0,0,0", "color": _rgba(colour), "joinstyle": "bevel",
        "offset": "0,0", "offset_map_unit_scale": "3x:0,0,0,0,0,0", "offset_unit": "MM",
        "outline_color": _rgba(colour, _OUTLINE_DARKEN), "outline_style": "solid",
        "outline_width": _OUTLINE_WIDTH_MM, "outline_width_unit": "MM", "style": "solid",
    }
    options = ET.SubElement(layer, "Option", type="Map")
    for k, v in props.items():
        ET.SubElement(options, "Option", type="QString", name=k, value=v)
    for k, v in props.items():  # read by QGIS < 3.26 and 2.x
        ET.SubElement(layer, "prop", k=k, v=v)
    _data_defined(layer)


def vector_qml(legend, attribute: str = "code", opacity: float = 1.0) -> str:
    """A QGIS style (QML) that colours polygons by class code.

    Parameters
    ----------
    legend : sequence of LegendEntry
        The classes; one category per class, in code order.
    attribute : str, default "code"
        The integer attribute holding the class code.
    opacity : float, default 1.0
        Layer opacity in [0, 1].

    Returns
    -------
    str
        The QML text (UTF-8 when written): a ``categorizedSymbol`` renderer on ``attribute``
        whose categories have value = code and label = name, each with a solid fill of the
        class colour and a 0.26 mm outline of a darker shade.

    Raises
    ------
    InvalidInputError
        If the legend is empty or invalid, or a parameter is out of range.

    Examples
    --------
    >>> from antares.legend import LegendEntry
    >>> qml = vector_qml([LegendEntry(1, "Forest", "#33a02c")])
    >>> 'attr="code"' in qml and 'label="Forest"' in qml
    True
    """
    entries = _entries(legend, "vector_qml")
    if not isinstance(attribute, str) or not attribute:
        raise InvalidInputError(f"The 'attribute' parameter of vector_qml must be a non-empty str. Got {attribute!r}.")
    if isinstance(opacity, bool) or not isinstance(opacity, (int, float)) or not 0 <= opacity <= 1:
        raise InvalidInputError(f"The 'opacity' parameter of vector_qml must be a float in [0, 1]. Got {opacity!r}.")
    root = _qgis_root()
    renderer = ET.SubElement(root, "renderer-v2", {
        "type": "categorizedSymbol", "attr": attribute, "symbollevels": "0",
        "enableorderby": "0", "forceraster": "0", "referencescale": "-1",
    })
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for i, e in enumerate(entries):
        attrs = {"value": str(e.code), "type": "long", "label": e.name, "symbol": str(i), "render": "true"}
        ET.SubElement(categories, "category", attrs)
        _fill_symbol(symbols, str(i), e.colour)
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerOpacity").text = f"{float(opacity):g}"
    return _to_text(root)


def raster_qml(legend, band: int = 1, nodata: int | None = 0) -> str:
    """A QGIS style (QML) that colours a classified raster by class code.

    Parameters
    ----------
    legend : sequence of LegendEntry
        The classes; one palette entry per class, in code order.
    band : int, default 1
        The (1-based) band holding class codes.
    nodata : int or None, default 0
        A pixel value drawn fully transparent (whether or not the file declares it as
        nodata); None for none. Must not be a class code.

    Returns
    -------
    str
        The QML text: a ``paletted`` renderer on ``band`` with one
        ``<paletteEntry value=code color="#rrggbb" label=name alpha="255"/>`` per class,
        and nearest-neighbour resampling.

    Raises
    ------
    InvalidInputError
        If the legend is invalid, ``band`` < 1, or ``nodata`` is a class code.

    Examples
    --------
    >>> from antares.legend import LegendEntry
    >>> 'type="paletted"' in raster_qml([LegendEntry(1, "Forest", "#33a02c")])
    True
    """
    entries = _entries(legend, "raster_qml")
    if isinstance(band, bool) or not isinstance(band, int) or band < 1:
        raise InvalidInputError(f"The 'band' parameter of raster_qml must be an int >= 1. Got {band!r}.")
    if nodata is not None and (isinstance(nodata, bool) or not isinstance(nodata, int)
                               or any(e.code == nodata for e in entries)):
        raise InvalidInputError(
            "The 'nodata' parameter of raster_qml must be None or an int that is no class code of the legend "
            f"(0 or 65535). Got {nodata!r}."
        )
    root = _qgis_root()
    pipe = ET.SubElement(root, "pipe")
    nearest = {"zoomedInResamplingMethod": "nearestNeighbour", "zoomedOutResamplingMethod": "nearestNeighbour"}
    ET.SubElement(ET.SubElement(pipe, "provider"), "resampling", enabled="false", maxOversampling="2", **nearest)
    renderer = ET.SubElement(pipe, "rasterrenderer", {
        "type": "paletted", "band": str(band), "opacity": "1", "alphaBand": "-1", "nodataColor": "",
    })
    transparency = ET.SubElement(renderer, "rasterTransparency")
    if nodata is not None:
        pixels = ET.SubElement(transparency, "singleValuePixelList")
        ET.SubElement(pixels, "pixelListEntry", min=str(nodata), max=str(nodata), percentTransparent="100")
    palette = ET.SubElement(renderer, "colorPalette")
    for e in entries:
        ET.SubElement(palette, "paletteEntry", value=str(e.code), color=e.colour, label=e.name, alpha="255")
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    colorize = {"colorizeRed": "255", "colorizeGreen": "128", "colorizeBlue": "128", "colorizeStrength": "100"}
    ET.SubElement(pipe, "huesaturation", saturation="0", grayscaleMode="0", colorizeOn="0", **colorize)
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    ET.SubElement(pipe, "resamplingStage").text = "resamplingFilter"
    ET.SubElement(root, "blendMode").text = "0"
    return _to_text(root)


def write_qml(path: str | os.PathLike, text: str) -> Path:
    """Write a QML file atomically (UTF-8, via a temporary file in the same directory).

    Parameters
    ----------
    path : str or path-like
        The ``.qml`` file; QGIS loads ``NAME.qml`` beside ``NAME.tif`` / ``NAME.gpkg``
        automatically. Its directory must exist.
    text : str
        The QML, e.g. from :func:`vector_qml` or :func:`raster_qml`.

    Returns
    -------
    Path
        ``path``. Readers see the old file or the complete new one, never a partial one.
    """
    from antares.cube.write import write_text

    return write_text(path, text)


def embed_gpkg_style(
    gpkg_path: str | os.PathLike,
    layer: str,
    qml: str,
    style_name: str | None = None,
    geometry_column: str = "geom",
    description: str = "",
) -> None:
    """Store a QML as the default style of a GeoPackage layer, as QGIS does.

    The style goes into the ``layer_styles`` table (created with QGIS's schema and
    registered in ``gpkg_contents`` as ``attributes`` when missing), with
    ``useAsDefault = 1``; other styles of the layer stop being the default. A style of
    the same layer and name is replaced. All of it happens in one transaction.

    Parameters
    ----------
    gpkg_path : str or path-like
        An existing GeoPackage.
    layer : str
        The layer (table) the style is for; it must be listed in ``gpkg_contents``.
    qml : str
        The style, e.g. from :func:`vector_qml`.
    style_name : str, optional
        The name shown in QGIS's style manager; default the layer name (as QGIS).
    geometry_column : str, default "geom"
        Used only when ``gpkg_geometry_columns`` does not name the layer's geometry
        column; pass "" for a table without geometry.
    description : str, default ""
        Stored in the ``description`` column.

    Raises
    ------
    InvalidInputError
        If the file does not exist or is not a GeoPackage.
    NotFoundError
        If the GeoPackage has no layer ``layer``.

    Examples
    --------
    >>> embed_gpkg_style("map.gpkg", "segments", vector_qml(legend))  # doctest: +SKIP
    """
    path = Path(gpkg_path)
    if not path.is_file():
        raise InvalidInputError(f"GeoPackage {str(path)!r} does not exist. Write the layer first, then embed its style.")
    name = layer if style_name is None else style_name
    # mode=rw: never create an empty database in place of a missing file
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=rw", uri=True, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _embed(conn, path, layer, qml, name, geometry_column, description)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise InvalidInputError(f"Cannot store a style in {str(path)!r}: {exc}. Is it a writable GeoPackage?") from exc
    finally:
        conn.close()
    log.debug("Embedded style %r of layer %r in %s", name, layer, path)


def _embed(conn, path: Path, layer: str, qml: str, name: str, geometry_column: str, description: str) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    if "gpkg_contents" not in tables:
        raise InvalidInputError(f"{str(path)!r} is not a GeoPackage (it has no gpkg_contents table).")
    layers = [r[0] for r in conn.execute("SELECT table_name FROM gpkg_contents")]
    if layer not in layers:
        listed = ", ".join(sorted(x for x in layers if x != "layer_styles")) or "none"
        raise NotFoundError(f"GeoPackage {str(path)!r} has no layer {layer!r}. Its layers: {listed}.")
    if "gpkg_geometry_columns" in tables:
        row = conn.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (layer,)).fetchone()
        if row is not None:
            geometry_column = row[0]
    if "layer_styles" not in tables:
        conn.execute(_LAYER_STYLES_DDL)
    if "layer_styles" not in layers:
        conn.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, srs_id)"
            " VALUES ('layer_styles', 'attributes', 'layer_styles', '', strftime('%Y-%m-%dT%H:%M:%fZ','now'), 0)"
        )
    else:
        conn.execute(
            "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now')"
            " WHERE table_name = 'layer_styles'"
        )
    conn.execute("UPDATE layer_styles SET useAsDefault = 0 WHERE f_table_name = ? AND useAsDefault", (layer,))
    values = (geometry_column, qml, description, layer, name)
    updated = conn.execute(
        "UPDATE layer_styles SET f_geometry_column = ?, styleQML = ?, styleSLD = '', useAsDefault = 1,"
        " description = ?, update_time = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE f_table_name = ? AND styleName = ?",
        values,
    ).rowcount
    if not updated:
        conn.execute(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_geometry_column, styleQML, styleSLD,"
            " useAsDefault, description, owner, f_table_name, styleName) VALUES ('', '', ?, ?, '', 1, ?, '', ?, ?)",
            values,
        )
