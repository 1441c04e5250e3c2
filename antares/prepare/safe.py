"""``s2_l2a_safe`` and ``s2_l1c_safe``: Sentinel-2 products in ESA's SAFE format.

One dataset per granule (``*.SAFE/GRANULE/<granule>``) of the compact naming
convention (products from December 2016 on)::

    S2A_MSIL2A_20180107T093351_N0209_R036_T34TER_20180107T120000.SAFE/
        MTD_MSIL2A.xml                                   processing baseline, spacecraft,
                                                         BOA_ADD_OFFSET, quantification, file list
        GRANULE/L2A_T34TER_A013280_20180107T093351/
            MTD_TL.xml                                   CRS, grids, sensing time, angles
            IMG_DATA/R10m/T34TER_20180107T093351_B02_10m.jp2
            IMG_DATA/R20m/T34TER_20180107T093351_SCL_20m.jp2 ...
    S2A_MSIL1C_20170216T102101_N0204_R065_T33UUU_20170216T102204.SAFE/
        MTD_MSIL1C.xml                                   (QUANTIFICATION_VALUE, RADIO_ADD_OFFSET)
        GRANULE/L1C_T33UUU_A008642_20170216T102101/
            MTD_TL.xml
            IMG_DATA/T33UUU_20170216T102101_B01.jp2 ...

Each band is taken at its native resolution only (L2A: ``R10m`` for B02 B03 B04 B08,
``R20m`` for B05 B06 B07 B8A B11 B12 SCL, ``R60m`` for B01 B09); the resampled copies
in the other folders are ignored.

**Which bands are required.** A band whose file is missing fails the dataset when the
product metadata lists it (an ``IMAGE_FILE`` entry of the granule in
``Product_Info/Product_Organisation/Granule_List``, at the band's native resolution).
A band neither on disk nor listed is simply absent, so subsets of a product (e.g. a
SAFE rebuilt with only some bands) can be indexed into a product derived with
``--product NEW_NAME``. ``Spectral_Information_List`` is not used for this: it names
all 13 bands even in L2A products, which have no B10 file.

**Georeferencing** comes from ``MTD_TL.xml`` (``HORIZONTAL_CS_CODE``, ``Size`` and
``Geoposition`` per resolution) and must agree with the CRS and geotransform GDAL
reads from each JP2; a disagreement fails the dataset, naming the file.

**Radiometry.** From processing baseline 04.00 ESA adds a radiometric offset to the
DN (``BOA_ADD_OFFSET`` for L2A, ``RADIO_ADD_OFFSET`` for L1C, -1000 in practice):
reflectance = (DN + offset) / quantification value. The offset is recorded as
``antares:add_offset`` (and ``antares:add_offset_per_band`` when bands differ), the
scale as ``antares:scale_factor`` = 1 / quantification; see
:func:`antares.cube.reflectance.to_reflectance`.

Metadata XML is parsed by local element names, so the versioned namespaces of the ESA
schemas (``psd-12``, ``psd-14``, ...) do not matter.

Dataset ids are uuid5 of (preparer, product, resolved SAFE path, granule folder name):
indexing the same SAFE again is a no-op.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from antares.errors import InvalidInputError
from antares.prepare.base import Candidate, MeasurementFile, Preparer, check_pixels, dataset_id, parse_datetime, read_band

log = logging.getLogger(__name__)

# ESA's bandId order (Spectral_Information_List, BOA_ADD_OFFSET/RADIO_ADD_OFFSET band_id).
BAND_IDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
NATIVE_RESOLUTION = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10,
                     "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20, "SCL": 20}


# --------------------------------------------------------------------------- XML helpers


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse(path: Path):
    """The root element of the XML file ``path``.

    Raises
    ------
    InvalidInputError
        The file cannot be read or is not well-formed XML.
    """
    import xml.etree.ElementTree as ET

    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InvalidInputError(f"{path} is not well-formed XML ({exc}); re-extract the SAFE.") from exc
    except OSError as exc:
        raise InvalidInputError(f"{path} cannot be read: {exc.strerror}.") from exc


def _all(elem, path: str) -> list:
    """Elements at ``path`` ("A/B/C", local names): A anywhere below ``elem``, then children."""
    first, *rest = path.split("/")
    found = [e for e in elem.iter() if _local(e.tag) == first]
    for step in rest:
        found = [c for e in found for c in e if _local(c.tag) == step]
    return found


def _text(elem, path: str) -> str | None:
    found = _all(elem, path)
    return found[0].text.strip() if found and found[0].text else None


def _number(text: str | None, path: Path, what: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{path}: {what} is {text!r}, a number was expected; re-extract the SAFE.") from None


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class TileMetadata:
    """What ``MTD_TL.xml`` says about one granule.

    ``grids`` maps a resolution in metres to ``((rows, cols), (a, b, c, d, e, f))``,
    the affine transform in the CRS ``crs`` (``EPSG:326xx``/``EPSG:327xx``). Angles
    are in degrees; ``None`` when the file has none.
    """

    path: Path
    crs: str
    grids: dict
    sensing_time: object
    tile_id: str | None
    sun_zenith: float | None = None
    sun_azimuth: float | None = None
    view_zenith: float | None = None
    view_azimuth: float | None = None


def read_tile_metadata(path: Path) -> TileMetadata:
    """Parse ``GRANULE/<granule>/MTD_TL.xml`` (L1C or L2A).

    Raises
    ------
    InvalidInputError
        The file is missing, not XML, or lacks ``HORIZONTAL_CS_CODE``, ``SENSING_TIME``
        or the ``Size``/``Geoposition`` of a resolution.
    """
    import numpy as np

    root = _parse(path)
    crs = _text(root, "Tile_Geocoding/HORIZONTAL_CS_CODE")
    when = _text(root, "General_Info/SENSING_TIME")
    if not crs or not when:
        missing = " and ".join(n for n, v in (("HORIZONTAL_CS_CODE", crs), ("SENSING_TIME", when)) if not v)
        raise InvalidInputError(f"{path} has no {missing}; it is not a Sentinel-2 tile metadata file, re-extract the SAFE.")
    try:
        sensing_time = parse_datetime(when)
    except ValueError:
        raise InvalidInputError(f"{path}: SENSING_TIME {when!r} is not a date (YYYY-MM-DDTHH:MM:SS.fffZ expected).") from None
    sizes = {e.get("resolution"): e for e in _all(root, "Tile_Geocoding/Size")}
    grids = {}
    for geo in _all(root, "Tile_Geocoding/Geoposition"):
        res = geo.get("resolution")
        if res not in sizes:
            raise InvalidInputError(f"{path} has a Geoposition but no Size for resolution {res}; re-extract the SAFE.")
        rows, cols, ulx, uly, xdim, ydim = (_number(_text(e, n), path, f"{n} of resolution {res}")
                                            for e, n in ((sizes[res], "NROWS"), (sizes[res], "NCOLS"), (geo, "ULX"),
                                                         (geo, "ULY"), (geo, "XDIM"), (geo, "YDIM")))
        grids[int(float(res))] = ((int(rows), int(cols)), (xdim, 0.0, ulx, 0.0, ydim, uly))
    if not grids:
        raise InvalidInputError(f"{path} has no Tile_Geocoding/Geoposition; re-extract the SAFE.")

    def angle(p):
        text = _text(root, p)
        return None if text is None else _number(text, path, p)

    views = [(_number(_text(e, "ZENITH_ANGLE"), path, "viewing ZENITH_ANGLE"),
              _number(_text(e, "AZIMUTH_ANGLE"), path, "viewing AZIMUTH_ANGLE"))
             for e in _all(root, "Mean_Viewing_Incidence_Angle_List/Mean_Viewing_Incidence_Angle")]
    view_zenith = view_azimuth = None
    if views:
        zen, azi = np.radians(np.array(views)).T
        view_zenith = float(np.degrees(zen.mean()))
        view_azimuth = float(np.degrees(np.arctan2(np.sin(azi).mean(), np.cos(azi).mean())) % 360)  # circular mean
    return TileMetadata(path, crs.upper(), grids, sensing_time, _text(root, "General_Info/TILE_ID"),
                        angle("Mean_Sun_Angle/ZENITH_ANGLE"), angle("Mean_Sun_Angle/AZIMUTH_ANGLE"), view_zenith, view_azimuth)


@dataclass(frozen=True)
class ProductMetadata:
    """What the product-level ``MTD_MSIL2A.xml``/``MTD_MSIL1C.xml`` says.

    ``offsets`` maps band names (``B01`` ... ``B12``) to the DN offset (empty before
    baseline 04.00); ``image_files`` are the ``IMAGE_FILE`` entries (paths relative to
    the SAFE, without ``.jp2``).
    """

    path: Path
    baseline: str | None
    spacecraft: str | None
    quantification: float
    offsets: dict = field(default_factory=dict)
    image_files: tuple = ()
    cloud_cover: float | None = None
    relative_orbit: int | None = None


def read_product_metadata(path: Path, quantification_tag: str, offset_tag: str) -> ProductMetadata:
    """Parse the product-level metadata of a SAFE.

    Parameters
    ----------
    path : Path
        ``MTD_MSIL2A.xml`` or ``MTD_MSIL1C.xml``.
    quantification_tag, offset_tag : str
        ``BOA_QUANTIFICATION_VALUE``/``BOA_ADD_OFFSET`` (L2A) or
        ``QUANTIFICATION_VALUE``/``RADIO_ADD_OFFSET`` (L1C).

    Raises
    ------
    InvalidInputError
        The file is missing or not XML; the baseline is 04.00 or later and the offsets
        are missing (the DN could not be turned into reflectance).
    """
    root = _parse(path)
    baseline = _text(root, "Product_Info/PROCESSING_BASELINE")
    names = {e.get("bandId"): _band_name(e.get("physicalBand", "")) for e in _all(root, "Spectral_Information_List/Spectral_Information")}
    offsets = {}
    for e in _all(root, offset_tag):  # BOA_ADD_OFFSET_VALUES_LIST (L2A), Radiometric_Offset_List (L1C)
        band_id = e.get("band_id", "")
        name = names.get(band_id) or (BAND_IDS[int(band_id)] if band_id.isdigit() and int(band_id) < len(BAND_IDS) else None)
        if name is None:
            raise InvalidInputError(f"{path}: {offset_tag} has band_id {band_id!r}, 0 to 12 was expected; re-extract the SAFE.")
        value = _number(e.text, path, f"{offset_tag} of band_id {band_id}")
        offsets[name] = int(value) if value.is_integer() else value
    if not offsets and baseline and _baseline_number(baseline) >= 4.0:
        raise InvalidInputError(
            f"{path}: processing baseline {baseline} but no {offset_tag}; ESA products from baseline 04.00 carry the DN "
            "offset there, without it reflectance would be wrong — re-download the product."
        )
    quant = _text(root, f"Product_Image_Characteristics/QUANTIFICATION_VALUES_LIST/{quantification_tag}") or \
        _text(root, f"Product_Image_Characteristics/{quantification_tag}")
    cloud = _text(root, "Cloud_Coverage_Assessment")
    orbit = _text(root, "Datatake/SENSING_ORBIT_NUMBER")
    return ProductMetadata(
        path, baseline, _text(root, "Datatake/SPACECRAFT_NAME"),
        _number(quant, path, quantification_tag) if quant else 10000.0, offsets,
        tuple(e.text.strip() for e in _all(root, "Granule_List/Granule/IMAGE_FILE") if e.text),
        _number(cloud, path, "Cloud_Coverage_Assessment") if cloud else None,
        int(orbit) if orbit and orbit.isdigit() else None,
    )


def _band_name(physical: str) -> str:
    """``B1`` -> ``B01``, ``B8A`` -> ``B8A``."""
    match = re.fullmatch(r"B(\d)", physical.upper())
    return f"B0{match.group(1)}" if match else physical.upper()


def _baseline_number(baseline: str) -> float:
    try:
        return float(baseline)
    except ValueError:
        return 0.0


# --------------------------------------------------------------------------- preparers


class SafePreparer(Preparer):
    """Sentinel-2 SAFE folders (shared by the L2A and L1C preparers)."""

    level = ""  # "L2A" or "L1C"
    other_level = ""
    quantification_tag = ""
    offset_tag = ""
    bands: tuple = ()

    def __init__(self, verify: bool = True):
        self.verify = verify

    @property
    def product_mtd(self) -> str:
        return f"MTD_MSI{self.level}.xml"

    def band_location(self, img_data: Path, band: str) -> tuple[Path, str]:  # pragma: no cover - interface
        """The folder holding ``band`` at its native resolution and the file name's glob."""
        raise NotImplementedError

    def find(self, root: Path, failures: list) -> Iterator[Candidate]:
        """Yield one candidate per granule of each ``*.SAFE`` folder under ``root`` (or ``root`` itself).

        A SAFE whose product metadata is missing or unreadable, or that has no granule, and a
        zipped SAFE, are appended to ``failures`` as ``(file, message)``. SAFEs of the other
        level are skipped.

        Raises
        ------
        InvalidInputError
            ``root`` holds SAFEs of the other level only (the message names the right preparer).
        """
        if root.is_dir() and root.suffix == ".SAFE":
            safes, zips = [root], []
        else:
            safes = sorted(p for p in root.rglob("*.SAFE") if p.is_dir())
            zips = sorted(p for p in root.rglob(f"S2*_MSI{self.level}_*.zip") if p.is_file())
        for z in zips:
            failures.append((str(z), f"{z} is a zipped SAFE; unzip it (unzip -d {z.parent} {z}) and index the folder."))
        others = []
        for safe in safes:
            mtd = safe / self.product_mtd
            if not mtd.exists():
                if (safe / f"MTD_MSI{self.other_level}.xml").exists() or f"_MSI{self.other_level}_" in safe.name:
                    log.debug("skipping %s: a Level-%s product", safe, self.other_level[1:])
                    others.append(safe)
                    continue
                old = sorted(safe.glob("*MTD_SAF*.xml"))
                hint = (f"it holds {old[0].name}, the pre-2016 SAFE format, which antares does not read" if old
                        else "re-download or re-extract the product")
                failures.append((str(mtd), f"{mtd} is missing (the product metadata of the SAFE); {hint}."))
                continue
            try:
                product = read_product_metadata(mtd, self.quantification_tag, self.offset_tag)
            except InvalidInputError as exc:
                failures.append((str(mtd), str(exc)))
                continue
            granules = sorted(g for g in (safe / "GRANULE").glob("*") if g.is_dir())
            if not granules:
                failures.append((str(safe / "GRANULE"), f"{safe / 'GRANULE'} has no granule folder; re-extract the SAFE."))
            for granule in granules:
                yield Candidate(key=f"{safe.resolve()}:{granule.name}", label=str(granule),
                                files={"safe": safe, "granule": granule}, properties={"product": product})
        if not safes or len(others) < len(safes) or zips or failures:
            return
        raise InvalidInputError(
            f"{root} holds only Level-{self.other_level[1:]} SAFE folders (e.g. {others[0].name}), not Level-{self.level[1:]}; "
            f"index them with --dataset_name s2_{self.other_level.lower()}_safe."
        )

    def prepare(self, candidate: Candidate, product: dict, product_name: str) -> dict:
        """The eo3 document of one granule: its bands at native resolution, on the grids of ``MTD_TL.xml``.

        Only bands that are measurements of ``product`` (by name or alias) are included.

        Raises
        ------
        InvalidInputError
            ``MTD_TL.xml`` is missing or unusable; a band the product metadata lists is
            missing (the band and the folder looked in are named); a JP2 is unreadable,
            corrupt or truncated (with ``verify``), or its CRS, shape or transform disagree
            with ``MTD_TL.xml``.
        """
        safe, granule = candidate.files["safe"], candidate.files["granule"]
        meta: ProductMetadata = candidate.properties["product"]
        mtd_tl = granule / "MTD_TL.xml"
        if not mtd_tl.exists():
            raise InvalidInputError(f"{mtd_tl} is missing (the granule's CRS, grids and sensing time); re-extract the SAFE.")
        tile = read_tile_metadata(mtd_tl)
        names = {m["name"].upper(): m["name"] for m in product["measurements"]}
        names.update({a.upper(): m["name"] for m in product["measurements"] for a in m.get("aliases", [])})
        listed = self._listed_bands(meta, safe, granule)
        bands = []
        for band in self.bands:
            folder, pattern = self.band_location(granule / "IMG_DATA", band)
            found = sorted(folder.glob(pattern))
            if not found:
                if band in listed:
                    raise InvalidInputError(f"{folder}: band {band} ({pattern}) is missing, though {meta.path.name} lists it; "
                                            "re-download or re-extract the SAFE.")
                continue
            if len(found) > 1:
                raise InvalidInputError(f"{folder}: {len(found)} files for band {band} ({', '.join(p.name for p in found)}); "
                                        "keep only one.")
            if band.upper() not in names:
                log.debug("%s: band %s is not a measurement of %s; skipped", granule, band, product["name"])
                continue
            bands.append(self._check_grid(read_band(names[band.upper()], found[0]), band, tile))
        if not bands:
            raise InvalidInputError(f"{granule / 'IMG_DATA'} holds no band file of product {product['name']} "
                                    f"({self.describe()}); re-extract the SAFE.")
        if self.verify:
            for b in bands:
                check_pixels(b.path)
        properties = self._properties(safe, granule, meta, tile, [b.name for b in bands])
        doc = self.build_document(dataset_id(f"{self.name}:{product_name}:{safe.resolve()}:{granule.name}"), product_name,
                             bands, properties, label=candidate.label)
        doc["accessories"] = {"metadata:product": {"path": meta.path.resolve().as_uri()},
                              "metadata:tile": {"path": mtd_tl.resolve().as_uri()}}
        return doc

    def _listed_bands(self, meta: ProductMetadata, safe: Path, granule: Path) -> set:
        """Bands the product metadata lists for ``granule`` at their native resolution."""
        from fnmatch import fnmatch

        prefix = f"GRANULE/{granule.name}/"
        entries = [safe / f"{e}.jp2" for e in meta.image_files if e.startswith(prefix)]
        if not entries:
            log.debug("%s lists no IMAGE_FILE for %s; every band is optional", meta.path, granule.name)
        listed = set()
        for band in self.bands:
            folder, pattern = self.band_location(granule / "IMG_DATA", band)
            if any(p.parent == folder and fnmatch(p.name, pattern) for p in entries):
                listed.add(band)
        return listed

    def _check_grid(self, band: MeasurementFile, name: str, tile: TileMetadata) -> MeasurementFile:
        """``band`` if its CRS, shape and transform are those ``MTD_TL.xml`` gives for its resolution."""
        from rasterio.crs import CRS

        res = NATIVE_RESOLUTION[name]
        if res not in tile.grids:
            raise InvalidInputError(f"{tile.path} has no Size/Geoposition for resolution {res} (band {name}); re-extract the SAFE.")
        shape, transform = tile.grids[res]
        try:
            same_crs = CRS.from_user_input(band.crs) == CRS.from_user_input(tile.crs)
        except Exception:  # noqa: BLE001 - an unparsable code is a disagreement
            same_crs = False
        close = all(math.isclose(a, b, abs_tol=1e-3) for a, b in zip(band.transform, transform))
        if not (same_crs and close and tuple(band.shape) == shape):
            raise InvalidInputError(
                f"{band.path}: the JP2 is in {band.crs}, {band.shape[0]}x{band.shape[1]} px of {band.transform[0]:g} m "
                f"from ({band.transform[2]:.2f}, {band.transform[5]:.2f}), but {tile.path.name} says {tile.crs}, "
                f"{shape[0]}x{shape[1]} px from ({transform[2]:.2f}, {transform[5]:.2f}); the SAFE is inconsistent, re-extract it."
            )
        return band

    def _properties(self, safe: Path, granule: Path, meta: ProductMetadata, tile: TileMetadata, measurements: list) -> dict:
        match = re.search(r"_T(\d{2}[A-Z]{3})(?:_|$)", tile.tile_id or "") or re.search(r"_T(\d{2}[A-Z]{3})(?:_|$)", granule.name) \
            or re.search(r"_T(\d{2}[A-Z]{3})_", safe.name)
        spacecraft = meta.spacecraft or {"S2A": "Sentinel-2A", "S2B": "Sentinel-2B", "S2C": "Sentinel-2C"}.get(safe.name[:3])
        props = {
            "datetime": tile.sensing_time,
            "odc:file_format": "JPEG2000",
            "eo:constellation": "sentinel-2",
            "eo:instrument": "MSI",
            "sentinel:product_name": safe.name[:-5] if safe.name.endswith(".SAFE") else safe.name,
        }
        if match:
            props["odc:region_code"] = match.group(1)
        if spacecraft:
            props["eo:platform"] = spacecraft.lower()
        if meta.baseline:
            props["sentinel:processing_baseline"] = meta.baseline
        if tile.tile_id:
            props["sentinel:sentinel_tile_id"] = tile.tile_id
        if meta.relative_orbit is not None:
            props["sat:relative_orbit"] = meta.relative_orbit
        if meta.cloud_cover is not None:
            props["eo:cloud_cover"] = meta.cloud_cover
        if tile.sun_zenith is not None:
            props["eo:sun_elevation"] = 90.0 - tile.sun_zenith
        if tile.sun_azimuth is not None:
            props["eo:sun_azimuth"] = tile.sun_azimuth
        if tile.view_zenith is not None:
            props["view:incidence_angle"] = round(tile.view_zenith, 6)
            props["view:azimuth"] = round(tile.view_azimuth, 6)
        offsets = {m: meta.offsets.get(m, 0) for m in measurements if m in NATIVE_RESOLUTION and m != "SCL"}
        common = Counter(offsets.values()).most_common(1)[0][0] if offsets else 0
        props["antares:add_offset"] = common
        if len(set(offsets.values())) > 1:
            props["antares:add_offset_per_band"] = offsets
        props["antares:scale_factor"] = 1.0 / meta.quantification
        return props


class S2L2ASafePreparer(SafePreparer):
    """Sentinel-2 L2A SAFE folders (*.SAFE with MTD_MSIL2A.xml, GRANULE/*/MTD_TL.xml and IMG_DATA/R10m|R20m|R60m/*_<band>_<res>m.jp2)"""

    name = "s2_l2a_safe"
    default_product = "s2_l2a"
    level, other_level = "L2A", "L1C"
    quantification_tag, offset_tag = "BOA_QUANTIFICATION_VALUE", "BOA_ADD_OFFSET"
    bands = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12", "SCL")

    def band_location(self, img_data: Path, band: str) -> tuple[Path, str]:
        res = NATIVE_RESOLUTION.get(band)
        return img_data / f"R{res}m", f"*_{band}_{res}m.jp2"


class S2L1CSafePreparer(SafePreparer):
    """Sentinel-2 L1C SAFE folders (*.SAFE with MTD_MSIL1C.xml, GRANULE/*/MTD_TL.xml and IMG_DATA/*_<band>.jp2)"""

    name = "s2_l1c_safe"
    default_product = "s2_l1c"
    level, other_level = "L1C", "L2A"
    quantification_tag, offset_tag = "QUANTIFICATION_VALUE", "RADIO_ADD_OFFSET"
    bands = BAND_IDS

    def band_location(self, img_data: Path, band: str) -> tuple[Path, str]:
        return img_data, f"*_{band}.jp2"
