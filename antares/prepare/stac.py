"""``stac``: STAC Item JSON files (Earth Search ``sentinel-2-l2a`` layout) -> eo3 documents.

Input
    ``*.json``/``*.geojson`` files under ``--path`` (or the one file named), each a STAC
    Item (``"type": "Feature"``) or an ItemCollection/FeatureCollection of items. JSON
    files that are neither are skipped when scanning a folder.

Conversion
    odc-stac 0.5 no longer has an eo3 converter (``odc.stac.eo3.stac2ds`` was removed
    in 0.4), so the document is assembled here, but the STAC parsing is odc-stac's
    (:func:`odc.stac.parse_item`, on pystac): which assets hold raster data, the
    ``proj:`` georeferencing of each (asset fields, else the item's: ``proj:epsg``,
    ``proj:code``, ``proj:wkt2`` or ``proj:projjson``, with ``proj:transform`` and
    ``proj:shape``), band indices, and asset hrefs made absolute against the JSON
    file (relative paths, absolute paths and ``file://`` URIs alike). The document is
    then built by :func:`antares.prepare.base.build_document` from those ``proj:``
    fields, without opening the files (``verify`` opens them, see below).

Assets to measurements
    An asset matches a measurement of the product when its key, its key without a
    ``-jp2`` suffix, or the ``name``/``common_name`` of its ``eo:bands`` entry equals
    the measurement's name or one of its aliases (case-insensitive): Earth Search's
    ``blue``, ``nir08``, ``swir16``, ``scl`` and the older ``B02``... keys all match
    ``s2_l2a``. Earth Search keys that ``s2_l2a`` has no alias for are in
    :data:`EARTH_SEARCH_KEYS`. When several assets match one measurement, the
    GeoTIFF wins over the JPEG 2000 copy. Other assets (thumbnails, metadata, ``aot``,
    ``wvp``) are ignored, and so are true-colour previews (``visual``, or role
    ``visual``/``overview``), whose ``eo:bands`` say red, green, blue.

Properties
    ``datetime`` (``start_datetime`` when null; ``dtr:*`` from a range), ``eo:platform``,
    ``eo:instrument``, ``eo:constellation``, ``eo:cloud_cover``, ``eo:gsd``,
    ``eo:sun_azimuth``/``eo:sun_elevation``, ``odc:region_code`` (the MGRS tile without the ``T``, as
    the s2_bands preparer names tiles, from ``s2:mgrs_tile``, ``grid:code`` or the
    ``mgrs:``/``sentinel:`` tile fields), the item's scalar ``s2:*`` fields, and
    ``antares:add_offset`` (read by ``to_reflectance``) from the reflectance bands' ``raster:bands``
    ``offset``/``scale`` (reflectance = (DN + offset) / 10000) when they give one.

Hrefs
    Local files are written as ``file://`` URIs. Remote hrefs (``https://``, ``s3://``,
    ...) are kept as they are; they are not verified.

Dataset ids are ``uuid5("stac:<product>:<collection>:<item id>")``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Iterator

from antares.errors import InvalidInputError
from antares.prepare.base import Candidate, MeasurementFile, Preparer, check_pixels, dataset_id, parse_datetime, read_band

log = logging.getLogger(__name__)

SUFFIXES = {".json", ".geojson"}

#: Earth Search ``sentinel-2-l2a`` asset keys that are not aliases in ``s2_l2a.yaml``.
EARTH_SEARCH_KEYS = {"rededge1": "B05", "rededge2": "B06", "rededge3": "B07", "nir09": "B09"}

#: STAC property -> eo3 property copied as they are.
PROPERTY_MAP = {
    "platform": "eo:platform",
    "constellation": "eo:constellation",
    "eo:cloud_cover": "eo:cloud_cover",
    "gsd": "eo:gsd",
    "view:sun_azimuth": "eo:sun_azimuth",
    "view:sun_elevation": "eo:sun_elevation",
}

PROJECTION_V1 = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
PROJECTION_V2 = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
PROJ_FIELDS = "proj:epsg (or proj:code, proj:wkt2, proj:projjson), proj:transform and proj:shape"


class StacPreparer(Preparer):
    """STAC Item JSON files (one item per file, or an ItemCollection) with proj: georeferencing on assets or item"""

    name = "stac"
    default_product = "s2_l2a"

    def __init__(self, verify: bool = True):
        """
        Parameters
        ----------
        verify : bool
            Open every local asset used: it must exist, decode fully, and have the CRS,
            shape and transform its ``proj:`` fields say.
        """
        self.verify = verify

    def find(self, root: Path, failures: list) -> Iterator[Candidate]:
        """Yield one candidate per STAC item; unreadable JSON and items without id are failures."""
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        for path in files:
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                failures.append((str(path), f"{path} is not readable JSON ({str(exc).splitlines()[0]}); "
                                            "a STAC Item or ItemCollection was expected."))
                continue
            kind = doc.get("type") if isinstance(doc, dict) else None
            features = [doc] if kind == "Feature" else doc.get("features") if kind == "FeatureCollection" else None
            if not isinstance(features, list) or not any(isinstance(f, dict) and "assets" in f for f in features):
                if path == root:
                    failures.append((str(path), f"{path} is not a STAC Item or ItemCollection (a GeoJSON Feature or "
                                                "FeatureCollection with assets was expected)."))
                else:
                    log.debug("skipping %s: not a STAC Item or ItemCollection", path)
                continue
            for number, feature in enumerate(features, start=1):
                item_id = feature.get("id") if isinstance(feature, dict) else None
                if not item_id or not isinstance(feature.get("assets"), dict):
                    failures.append((str(path), f"{path}: feature {number} has no id or no assets; a STAC Item needs both."))
                    continue
                collection = feature.get("collection") or ""
                yield Candidate(key=f"{collection}:{item_id}", label=f"{path} (item {item_id})",
                                files={"file": path, "item": feature})

    def prepare(self, candidate: Candidate, product: dict, product_name: str) -> dict:
        """Build the eo3 document of one STAC item.

        Returns
        -------
        dict
            eo3 document: one measurement per matched asset (band index kept for
            multi-band assets), grids from the ``proj:`` fields (the CRS of the assets),
            properties as in the module docstring.

        Raises
        ------
        InvalidInputError
            The item is not valid STAC, has no ``proj:`` georeferencing, no datetime,
            no asset matching the product, assets in several CRSs, or (``verify``) a
            local asset that is missing, corrupt or disagrees with its ``proj:`` fields.
        """
        path, feature = candidate.files["file"], candidate.files["item"]
        item_id = feature["id"]
        where = f"{path}: item {item_id}"
        parsed = _parse(path, feature, where)
        lookup = {m["name"].lower(): m["name"] for m in product["measurements"]}
        lookup.update({a.lower(): m["name"] for m in product["measurements"] for a in m.get("aliases", [])})
        chosen = _match_assets(parsed, feature["assets"], lookup)
        if not chosen:
            raise InvalidInputError(
                f"{where} has no asset matching a measurement of product {product['name']} "
                f"(assets: {', '.join(sorted(feature['assets']))}; measurements: "
                f"{', '.join(m['name'] for m in product['measurements'])})."
            )
        if all(source.geobox is None for _, source in chosen.values()):
            raise InvalidInputError(f"{where} has no proj: georeferencing; its assets or properties need {PROJ_FIELDS}.")
        bands, remote = [], {}
        for measurement, (asset, source) in sorted(chosen.items()):
            if source.geobox is None:
                raise InvalidInputError(f"{where}: asset {asset} has no proj: georeferencing; it needs {PROJ_FIELDS}.")
            band = _band(measurement, source)
            if band.path is None:
                remote[measurement] = source.uri
                # build_document needs a Path; the href replaces it below
                band = dataclasses.replace(band, path=Path(f"/remote/{measurement}"))
            elif self.verify:
                _verify(band, asset, where)
            bands.append(band)
        properties = _properties(feature, where, chosen)
        collection = feature.get("collection") or ""
        doc = self.build_document(dataset_id(f"stac:{product_name}:{collection}:{item_id}"), product_name, bands, properties,
                             label=candidate.label)
        for measurement, uri in remote.items():
            doc["measurements"][measurement]["path"] = uri
        return doc


def _parse(path: Path, feature: dict, where: str):
    """``odc.stac.parse_item`` of ``feature``, hrefs resolved against ``path``."""
    import odc.stac
    import pystac

    feature = dict(feature)
    extensions = list(feature.get("stac_extensions") or [])
    if _has_proj_fields(feature) and not any("/projection/" in e for e in extensions):
        # odc-stac reads proj: fields only when the item declares the projection extension
        uses_epsg = "proj:epsg" in json.dumps(feature)
        extensions.append(PROJECTION_V1 if uses_epsg else PROJECTION_V2)
        feature["stac_extensions"] = extensions
    try:
        item = pystac.Item.from_dict(feature)
        item.set_self_href(str(path.resolve()))
        return odc.stac.parse_item(item)
    except Exception as exc:  # pystac / odc-stac raise KeyError, ValueError, STACError... on malformed items
        first = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"{where} is not a valid STAC item ({first}); georeferencing needs {PROJ_FIELDS}.") from exc


def _has_proj_fields(feature: dict) -> bool:
    keys = set(feature.get("properties") or {})
    for asset in feature.get("assets", {}).values():
        if isinstance(asset, dict):
            keys |= set(asset)
    return any(k.startswith("proj:") for k in keys)


def _match_assets(parsed, assets: dict, lookup: dict) -> dict:
    """``{measurement: (asset key, RasterSource)}``: for each measurement, the best matching asset band."""
    from odc.stac import RasterSource

    per_asset: dict[str, int] = {}
    for asset, _ in parsed.bands:
        per_asset[asset] = per_asset.get(asset, 0) + 1
    found: dict[str, list] = {}
    for (asset, index), source in parsed.bands.items():
        info = assets.get(asset) or {}
        preview = asset.startswith("visual") or {"visual", "overview"} & set(info.get("roles") or [])
        if not isinstance(source, RasterSource) or preview:
            continue  # true-colour previews hold red, green and blue as uint8: never measurements
        names = []  # (rank, name)
        if per_asset[asset] == 1:
            names += [(0, asset), (1, asset.removesuffix("-jp2")), (3, EARTH_SEARCH_KEYS.get(asset.removesuffix("-jp2"), ""))]
        entries = info.get("eo:bands") or []
        if 0 < index <= len(entries) and isinstance(entries[index - 1], dict):
            names += [(2, entries[index - 1].get(k, "")) for k in ("name", "common_name")]
        for rank, name in names:
            measurement = lookup.get(str(name).lower())
            if measurement:
                jp2 = asset.endswith("-jp2") or source.uri.lower().endswith((".jp2", ".j2k"))
                found.setdefault(measurement, []).append(((jp2, rank, asset), asset, source))
                break
    chosen = {}
    for measurement, options in found.items():
        options.sort(key=lambda o: o[0])
        chosen[measurement] = options[0][1:]
        for _, other, _ in options[1:]:
            log.debug("measurement %s: using asset %s, not %s", measurement, options[0][1], other)
    return chosen


def _band(measurement: str, source) -> MeasurementFile:
    """A :class:`MeasurementFile` from odc-stac's parsed asset; ``path`` is None for a remote href."""
    from urllib.parse import unquote, urlparse

    geobox = source.geobox
    crs = f"epsg:{geobox.crs.epsg}" if geobox.crs.epsg else geobox.crs.to_wkt()
    url = urlparse(source.uri)
    if url.scheme == "file":
        path = Path(unquote(url.path))
    elif not url.scheme:
        path = Path(source.uri)
    else:
        path = None
    return MeasurementFile(measurement, path, crs, tuple(geobox.shape), tuple(geobox.transform)[:6],
                source.meta.nodata if source.meta is not None else None, source.band or 1,
                getattr(source.meta, "data_type", None))


def _verify(band: MeasurementFile, asset: str, where: str) -> None:
    """The local file of ``band`` exists, decodes, and has the georeferencing its proj: fields say."""
    if not band.path.is_file():
        raise InvalidInputError(f"{where}: asset {asset} points at {band.path}, which does not exist.")
    actual = read_band(band.name, band.path, band.band)
    same_grid = actual.shape == band.shape and all(
        abs(a - b) <= 1e-6 * max(1.0, abs(b)) for a, b in zip(actual.transform, band.transform)
    )
    if actual.crs != band.crs or not same_grid:
        raise InvalidInputError(
            f"{where}: asset {asset} says {band.crs}, proj:shape {list(band.shape)}, proj:transform {list(band.transform)} "
            f"but {band.path} has {actual.crs}, shape {list(actual.shape)}, transform {list(actual.transform)}; fix the item."
        )
    check_pixels(band.path, band.band)


def _properties(feature: dict, where: str, chosen: dict) -> dict:
    """eo3 properties of a STAC item (see the module docstring)."""
    stac = feature.get("properties") or {}
    start, end = stac.get("start_datetime"), stac.get("end_datetime")
    text = stac.get("datetime") or start
    if not text:
        raise InvalidInputError(f"{where} has no datetime (nor start_datetime); STAC items need one.")
    try:
        props = {"datetime": parse_datetime(text)}
        if start and end:
            props["dtr:start_datetime"] = parse_datetime(start).isoformat()
            props["dtr:end_datetime"] = parse_datetime(end).isoformat()
    except ValueError as exc:
        raise InvalidInputError(f"{where}: {exc}; STAC datetimes are RFC 3339, e.g. 2018-01-07T09:32:05Z.") from None
    for key, target in PROPERTY_MAP.items():
        if stac.get(key) is not None:
            props[target] = stac[key]
    if stac.get("instruments"):
        props["eo:instrument"] = ",".join(stac["instruments"]) if isinstance(stac["instruments"], list) else stac["instruments"]
    region = _region_code(stac)
    if region:
        props["odc:region_code"] = region
    props.update({k: v for k, v in stac.items() if k.startswith("s2:") and isinstance(v, (str, int, float, bool))})
    offset = _boa_add_offset(feature, chosen)
    if offset is not None:  # raster:bands declared scale 1e-4 and this offset
        props["antares:add_offset"] = offset
        props["antares:scale_factor"] = 1e-4
    props["antares:stac_id"] = feature["id"]
    if feature.get("collection"):
        props["antares:stac_collection"] = feature["collection"]
    return props


def _region_code(stac: dict) -> str | None:
    """The MGRS tile (``34TFR``) from the usual STAC fields, or None."""
    tile = stac.get("s2:mgrs_tile") or ""
    code = stac.get("grid:code") or ""
    if not tile and code.startswith("MGRS-"):
        tile = code[len("MGRS-"):]
    for prefix in ("mgrs", "sentinel"):
        parts = [stac.get(f"{prefix}:{k}") for k in ("utm_zone", "latitude_band", "grid_square")]
        if not tile and all(p is not None for p in parts):
            tile = f"{int(parts[0]):02d}{parts[1]}{parts[2]}"
    if not tile:
        return None
    return tile[1:] if tile.startswith("T") and len(tile) == 6 else tile


def _boa_add_offset(feature: dict, chosen: dict) -> int | None:
    """BOA_ADD_OFFSET in DN from ``raster:bands`` ``offset``/``scale`` of the reflectance assets, if consistent."""
    offsets = set()
    for measurement, (asset, source) in chosen.items():
        if measurement.upper() == "SCL":
            continue
        entries = (feature["assets"].get(asset) or {}).get("raster:bands") or []
        index = max(source.band or 1, 1)
        entry = entries[index - 1] if index <= len(entries) and isinstance(entries[index - 1], dict) else {}
        scale, offset = entry.get("scale"), entry.get("offset")
        if scale is None or offset is None or abs(scale - 1e-4) > 1e-12:
            return None
        offsets.add(round(offset / scale))
    return offsets.pop() if len(offsets) == 1 else None
