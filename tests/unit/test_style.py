"""QGIS styles from a legend: QML text, atomic writes and styles embedded in GeoPackages."""

import sqlite3
import xml.etree.ElementTree as ET

import pytest

from antares.errors import InvalidInputError, NotFoundError
from antares.export.style import embed_gpkg_style, raster_qml, vector_qml, write_qml
from antares.legend import LegendEntry

TRICKY = "Bosque 'alto' & <denso> — ñ \"x\""
LEGEND = [
    LegendEntry(3, "Agua", "#1f78b4"),
    LegendEntry(1, TRICKY, "#33a02c"),
    LegendEntry(12, "Urbano", "#e31a1c"),
]
BY_CODE = sorted(LEGEND, key=lambda e: e.code)


def _rgba(hex_colour):
    return ",".join(str(int(hex_colour[i : i + 2], 16)) for i in (1, 3, 5)) + ",255"


def _options(layer):
    return {o.get("name"): o.get("value") for o in layer.find("Option").findall("Option")}


def test_vector_qml_has_one_category_and_fill_per_class():
    text = vector_qml(LEGEND, attribute="class_code", opacity=0.5)
    assert text.startswith("<!DOCTYPE qgis")
    root = ET.fromstring(text)
    assert root.tag == "qgis" and root.get("version").startswith("3.")
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "class_code"
    cats = renderer.findall("categories/category")
    assert [c.get("value") for c in cats] == [str(e.code) for e in BY_CODE]
    assert [c.get("label") for c in cats] == [e.name for e in BY_CODE]
    assert cats[0].get("label") == TRICKY  # quotes, &, <, >, non-ASCII survive literally
    symbols = {s.get("name"): s for s in renderer.findall("symbols/symbol")}
    assert len(symbols) == len(LEGEND)
    for cat, entry in zip(cats, BY_CODE):
        symbol = symbols[cat.get("symbol")]
        assert symbol.get("type") == "fill"
        layer = symbol.find("layer")
        assert layer.get("class") == "SimpleFill"
        opts = _options(layer)
        assert opts["color"] == _rgba(entry.colour)
        assert opts["outline_color"] != opts["color"] and float(opts["outline_width"]) < 0.5
        outline = [int(v) for v in opts["outline_color"].split(",")[:3]]
        fill = [int(v) for v in opts["color"].split(",")[:3]]
        assert sum(outline) < sum(fill)  # darker
        legacy = {p.get("k"): p.get("v") for p in layer.findall("prop")}
        assert legacy["color"] == opts["color"]
    assert root.findtext("layerOpacity") == "0.5"


def test_raster_qml_palette():
    root = ET.fromstring(raster_qml(LEGEND, band=2, nodata=0))
    renderer = root.find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted" and renderer.get("band") == "2"
    entries = renderer.findall("colorPalette/paletteEntry")
    assert [(p.get("value"), p.get("color"), p.get("label"), p.get("alpha")) for p in entries] == [
        (str(e.code), e.colour, e.name, "255") for e in BY_CODE
    ]
    pixel = renderer.find("rasterTransparency/singleValuePixelList/pixelListEntry")
    assert (pixel.get("min"), pixel.get("max"), pixel.get("percentTransparent")) == ("0", "0", "100")
    no_nodata = ET.fromstring(raster_qml(LEGEND, nodata=None))
    assert no_nodata.find("pipe/rasterrenderer/rasterTransparency/singleValuePixelList") is None


def test_invalid_parameters_are_rejected():
    with pytest.raises(InvalidInputError, match="'opacity' parameter of vector_qml"):
        vector_qml(LEGEND, opacity=1.5)
    with pytest.raises(InvalidInputError, match="'nodata' parameter of raster_qml.*no class code"):
        raster_qml(LEGEND, nodata=3)
    with pytest.raises(InvalidInputError, match="no classes"):
        raster_qml([])
    with pytest.raises(InvalidInputError, match="control characters"):
        vector_qml([LegendEntry(1, "bad\x01name", "#000000")])


def test_write_qml_is_atomic_and_utf8(tmp_path):
    target = tmp_path / "map.qml"
    target.write_text("old")
    text = vector_qml(LEGEND)
    assert write_qml(target, text) == target
    assert target.read_text(encoding="utf-8") == text
    assert ET.parse(target).getroot().find("renderer-v2/categories/category").get("label") == TRICKY
    assert [p.name for p in tmp_path.iterdir()] == ["map.qml"]  # no temp files left
    from antares.errors import WriteError

    with pytest.raises(WriteError, match=r"missing/x\.qml: No such file or directory"):  # one line, the path named
        write_qml(tmp_path / "missing" / "x.qml", text)
    assert [p.name for p in tmp_path.iterdir()] == ["map.qml"]


@pytest.fixture
def gpkg(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    path = tmp_path / "segments.gpkg"
    gdf = gpd.GeoDataFrame(
        {"code": [1, 3], "class": [TRICKY, "Agua"]},
        geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10)],
        crs="EPSG:32613",
    )
    gdf.to_file(path, layer="segments", engine="pyogrio")
    return path


def _styles(path):
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT f_table_name, f_geometry_column, styleName, styleQML, useAsDefault, description"
            " FROM layer_styles ORDER BY id"
        ).fetchall()


def test_embed_gpkg_style_like_qgis(gpkg):
    import geopandas as gpd
    import pyogrio

    qml = vector_qml(LEGEND)
    embed_gpkg_style(gpkg, "segments", qml, description="antares legend")
    assert _styles(gpkg) == [("segments", "geom", "segments", qml, 1, "antares legend")]
    with sqlite3.connect(gpkg) as conn:
        assert conn.execute(
            "SELECT data_type, identifier FROM gpkg_contents WHERE table_name = 'layer_styles'"
        ).fetchall() == [("attributes", "layer_styles")]
        columns = [r[1] for r in conn.execute("PRAGMA table_info(layer_styles)")]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert columns == [
        "id", "f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName",
        "styleQML", "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time",
    ]
    names = [name for name, _ in pyogrio.list_layers(gpkg)]
    assert "segments" in names and "layer_styles" in names
    back = gpd.read_file(gpkg, layer="segments", engine="pyogrio")
    assert list(back["code"]) == [1, 3] and back["class"][0] == TRICKY
    info = pyogrio.read_info(gpkg, layer="segments")
    assert info["features"] == 2 and info["geometry_type"] == "Polygon"
    styles = pyogrio.read_dataframe(gpkg, layer="layer_styles")  # GDAL reads QGIS's table too
    assert list(styles["styleQML"]) == [qml] and bool(styles["useAsDefault"][0])

    # the same layer + style name again: replaced, not added
    qml2 = vector_qml(LEGEND, opacity=0.3)
    embed_gpkg_style(gpkg, "segments", qml2)
    assert [(r[2], r[3], r[4]) for r in _styles(gpkg)] == [("segments", qml2, 1)]
    # another style name: added and made the default, the old one is kept but not default
    embed_gpkg_style(gpkg, "segments", qml, style_name="alt")
    assert [(r[2], r[4]) for r in _styles(gpkg)] == [("segments", 0), ("alt", 1)]
    assert pyogrio.read_info(gpkg, layer="segments")["features"] == 2


def test_embed_gpkg_style_errors(gpkg, tmp_path):
    with pytest.raises(NotFoundError, match="no layer 'nope'.*segments"):
        embed_gpkg_style(gpkg, "nope", "<qgis/>")
    with sqlite3.connect(gpkg) as conn:  # the failed call left nothing behind
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'layer_styles'").fetchone() == (0,)
    missing = tmp_path / "missing.gpkg"
    with pytest.raises(InvalidInputError, match="does not exist"):
        embed_gpkg_style(missing, "segments", "<qgis/>")
    assert not missing.exists()
    not_gpkg = tmp_path / "plain.sqlite"
    sqlite3.connect(not_gpkg).close()
    with pytest.raises(InvalidInputError, match="not a GeoPackage"):
        embed_gpkg_style(not_gpkg, "segments", "<qgis/>")
