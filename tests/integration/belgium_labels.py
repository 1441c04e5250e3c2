"""Reference labels on WorldCereal's Belgium patch, derived from WorldCereal's own model output (not ground truth).

``geotiff/products/worldcereal_cropland_model_output.tif`` band 1 (``classification``) is 0 = not cropland,
1 = cropland (39 % / 61 % of the 100 x 100 pixels). The crop-type product of the same patch is not usable as a
reference for a map: 9,945 of its 10,000 pixels are one class ("other crop"), so any map agrees with it by
predicting that class. Scores against these labels are AGREEMENT with WorldCereal's model, not accuracy.

Class codes here start at 1 (antares' 0 is nodata): 1 = not cropland, 2 = cropland.
"""

from pathlib import Path

import numpy as np

CROPLAND = "worldcereal-belgium/geotiff/products/worldcereal_cropland_model_output.tif"
LEGEND = "code,name,colour\n1,not_cropland,#d9d9d9\n2,cropland,#e6a817\n"


def cropland_labels(data_dir: Path, outdir: Path) -> tuple[Path, Path, np.ndarray, object]:
    """Write the cropland classification as codes 1/2 (GeoTIFF, the patch's grid) and its legend CSV.

    Returns
    -------
    (raster path, legend CSV path, codes (100, 100) uint16, rasterio Affine of the grid)
    """
    import rasterio

    with rasterio.open(data_dir / CROPLAND) as src:
        assert src.descriptions[0] == "classification"
        classes = src.read(1)
        profile = src.profile
        transform = src.transform
    assert set(np.unique(classes)) <= {0, 1}
    codes = (classes + 1).astype(np.uint16)
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / "belgium_cropland_codes.tif"
    profile.update(count=1, dtype="uint16", nodata=0)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(codes, 1)
    legend = outdir / "belgium_cropland_legend.csv"
    legend.write_text(LEGEND)
    return path, legend, codes, transform
