"""A self-contained HTML map (Leaflet through folium) of vector and image layers, for ``antares view``.

The page loads nothing at open: Leaflet's JavaScript and CSS (vendored from the npm package
``leaflet@1.9.4``, BSD-2-Clause, in ``antares/export/assets/leaflet``) are inlined, its images
become ``data:`` URIs, image layers are PNG ``data:`` URIs, and folium's default CDN assets
(jQuery, Bootstrap, awesome-markers) are left out. A tile basemap is added only on request
(``basemap="osm"``), the one thing that then needs a network.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field
from importlib import resources

from antares.errors import AntaresError

#: Basemaps by name: (tile URL, attribution).
BASEMAPS = {"osm": ("OpenStreetMap", '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
                    "contributors")}
_EXTERNAL = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?!data:)[^\"'\s>]+", re.IGNORECASE)


@dataclass
class VectorLayer:
    """Features to draw, in EPSG:4326, one colour each.

    Parameters
    ----------
    title : str
        The layer's name in the layer control and the legend.
    frame : geopandas.GeoDataFrame
        Geometries in EPSG:4326 with a ``_colour`` column (``#rrggbb``) and the ``popup`` columns.
    popup : list of (column, label)
        The attributes an object's popup shows.
    legend : list of (name, colour)
        The legend's entries.
    outline : bool
        Draw outlines only (segments), else filled polygons.
    """

    title: str
    frame: object
    popup: list
    legend: list
    outline: bool = False
    note: str = ""


@dataclass
class ImageLayer:
    """An RGBA image on the Web Mercator grid (EPSG:3857), drawn between ``bounds``.

    Parameters
    ----------
    rgba : numpy.ndarray of uint8, shape (y, x, 4)
        North up, on an EPSG:3857 grid; alpha 0 is transparent.
    bounds : ((south, west), (north, east))
        Latitude and longitude (degrees) of the image's corners.
    legend : list of (name, colour)
        Class entries; or ``ramp``: (colour map name, low, high, what) for a continuous value.
    """

    title: str
    rgba: object
    bounds: tuple
    legend: list = field(default_factory=list)
    ramp: tuple | None = None
    note: str = ""


def _asset(name: str) -> str:
    return resources.files("antares.export").joinpath("assets", "leaflet", name).read_text(encoding="utf-8")


def _asset_uri(name: str) -> str:
    data = resources.files("antares.export").joinpath("assets", "leaflet", name).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def leaflet_css() -> str:
    """Leaflet's CSS with its images inlined as ``data:`` URIs."""
    return re.sub(r"url\((images/[\w.-]+\.png)\)", lambda m: f"url({_asset_uri(m.group(1))})", _asset("leaflet.css"))


def png_uri(rgba) -> str:
    """A ``data:image/png;base64,...`` URI of an RGBA uint8 image (y, x, 4)."""
    from matplotlib.image import imsave

    buffer = io.BytesIO()
    imsave(buffer, rgba, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _legend_html(layers) -> str:
    parts = ['<div class="antares-legend" style="position:absolute;bottom:24px;right:10px;z-index:1000;'
             'background:rgba(255,255,255,0.92);padding:6px 9px;font:12px sans-serif;max-height:60%;overflow:auto;'
             'border:1px solid #999;border-radius:4px">']
    for layer in layers:
        parts.append(f'<div class="antares-legend-layer" style="font-weight:bold;margin-top:4px">'
                     f'{html.escape(layer.title)}</div>')
        if layer.note:
            parts.append(f'<div style="color:#555;font-size:11px">{html.escape(layer.note)}</div>')
        for name, colour in layer.legend:
            parts.append(f'<div class="antares-legend-entry"><span style="display:inline-block;width:12px;height:12px;'
                         f'margin-right:5px;vertical-align:middle;border:1px solid #333;background:{colour}"></span>'
                         f'<span class="antares-legend-name">{html.escape(str(name))}</span></div>')
        ramp = getattr(layer, "ramp", None)
        if ramp:
            import matplotlib

            cmap, low, high, what = ramp
            stops = ", ".join(matplotlib.colors.to_hex(matplotlib.colormaps[cmap](i / 8)) for i in range(9))
            parts.append(f'<div>{html.escape(what)}</div><div style="width:150px;height:10px;background:'
                         f'linear-gradient(to right, {stops})"></div><div style="width:150px;display:flex;'
                         f'justify-content:space-between"><span>{low:.4g}</span><span>{high:.4g}</span></div>')
    parts.append("</div>")
    return "".join(parts)


def write_html(layers: list, path, bounds: tuple, basemap: str | None = None, title: str = "antares") -> str:
    """The HTML text of a Leaflet map of ``layers``, each a toggleable overlay, with one legend box.

    Parameters
    ----------
    layers : list of VectorLayer or ImageLayer
    path : path-like
        Only named in errors; the caller writes the returned text.
    bounds : (west, south, east, north)
        Degrees (EPSG:4326) the map opens on.
    basemap : {None, "osm"}
        A tile basemap (needs a network when the page is opened); none by default.

    Returns
    -------
    str
        The page; it references no external script, style sheet or image (checked).

    Raises
    ------
    AntaresError
        The rendered page references an external asset (a folium change antares does not handle).
    """
    import folium
    from branca.element import Element

    class OfflineMap(folium.Map):
        default_js: list = []
        default_css: list = []

    west, south, east, north = bounds
    fmap = OfflineMap(location=[(south + north) / 2, (west + east) / 2], tiles=None, control_scale=True,
                      prefer_canvas=False, zoom_start=12)
    root = fmap.get_root()
    root.header.add_child(Element(f"<title>{html.escape(title)}</title>"), name="antares_title")
    root.header.add_child(Element(f"<style>{leaflet_css()}</style>"), name="leaflet_css_inline")
    root.header.add_child(Element(f"<script>{_asset('leaflet.js')}</script>"), name="leaflet_js_inline")
    if basemap is not None:
        tiles, attribution = BASEMAPS[basemap]
        folium.TileLayer(tiles, attr=attribution, name=f"basemap ({basemap})").add_to(fmap)
    for layer in layers:
        if isinstance(layer, ImageLayer):
            folium.raster_layers.ImageOverlay(png_uri(layer.rgba), bounds=[list(b) for b in layer.bounds],
                                              name=layer.title, mercator_project=False, interactive=False,
                                              opacity=1.0).add_to(fmap)
            continue
        frame = layer.frame
        points = bool(len(frame)) and frame.geometry.geom_type.isin(["Point", "MultiPoint"]).all()
        outline = layer.outline

        def style(feature, outline=outline):
            colour = feature["properties"]["_colour"]
            return {"color": colour if outline else "#333333", "weight": 1.2 if outline else 0.5,
                    "fillColor": colour, "fillOpacity": 0.0 if outline else 0.65}

        fields = [c for c, _ in layer.popup]
        folium.GeoJson(frame[[*fields, "_colour", "geometry"]], name=layer.title, style_function=style,
                       marker=folium.CircleMarker(radius=4) if points else None,
                       popup=folium.GeoJsonPopup(fields=fields, aliases=[a for _, a in layer.popup], labels=True),
                       ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    root.html.add_child(Element(_legend_html(layers)), name="antares_legend")
    fmap.fit_bounds([[south, west], [north, east]])
    text = root.render()
    external = _EXTERNAL.findall(text)
    if external:
        raise AntaresError(f"the map for {path} would load {len(external)} external asset(s) ({external[0][:120]}); "
                           "this folium version is not supported: report it.")
    return text
