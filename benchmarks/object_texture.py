"""Per-object GLCM (``antares.object_texture.object_glcm``) against scikit-image per object, objects/s in one run.

A synthetic 1024² raster of ~8,000 Voronoi objects (about 130 pixels each, like the SLIC segments of the Brandenburg
study), 2 bands, 32 levels, distance 1, 4 angles, all 7 features. antares: one vectorised call over the raster
(median of 3). scikit-image: for 200 objects, ``graycomatrix`` of the object's bounding box with every pixel outside
the object set to an extra level (dropped from the matrix) and 7 ``graycoprops``, the loop a user would write;
values checked equal on those objects.

    PYTHONPATH=$PWD python benchmarks/object_texture.py

Results: benchmarks/results/object_texture.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def raster(size=1024, n=8000, seed=0):
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, size, (n, 2))
    yy, xx = np.mgrid[:size, :size]
    _, labels = cKDTree(centres).query(np.stack([yy.ravel(), xx.ravel()], axis=1))
    labels = labels.reshape(size, size).astype(np.int64) + 1
    values = rng.normal(0.3, 0.1, (2, size, size)) + 0.05 * np.sin(xx / 5.0)
    return labels, values.astype(np.float32)


def skimage_object(labels, values, obj, ranges, levels):
    from skimage.feature import graycomatrix, graycoprops

    from antares.object_texture import FEATURES
    from antares.recipes.texture import SKIMAGE_NAMES, quantize

    rows, cols = np.nonzero(labels == obj)
    box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    out = []
    for b in range(values.shape[0]):
        q = quantize(values[b][box], levels, ranges[b]).astype(np.int64)
        q[(labels[box] != obj) | (q < 0)] = levels
        P = graycomatrix(q.astype(np.uint16), [1], np.radians([0, 45, 90, 135]), levels + 1, symmetric=True)
        P = P[:levels, :levels]
        out.append([graycoprops(P, SKIMAGE_NAMES[f]).mean() for f in FEATURES])
    return np.asarray(out).T.ravel()  # feature-major, as antares


def main() -> dict:
    from antares.object_texture import object_glcm

    labels, values = raster()
    ranges, levels = [(0.0, 0.6), (0.0, 0.6)], 32
    times = []
    for _ in range(3):
        t = time.perf_counter()
        ids, table = object_glcm(labels, values, ranges, levels)
        times.append(time.perf_counter() - t)
    pick = np.random.default_rng(1).choice(ids, 200, replace=False)
    t = time.perf_counter()
    ref = np.stack([skimage_object(labels, values, o, ranges, levels) for o in pick])
    sk_seconds = time.perf_counter() - t
    np.testing.assert_allclose(table[np.searchsorted(ids, pick)], ref, rtol=1e-9, atol=1e-12)
    ours = len(ids) / float(np.median(times))
    theirs = len(pick) / sk_seconds
    result = {"objects": int(len(ids)), "pixels": int(labels.size), "antares_objects_per_s": round(ours, 1),
              "antares_seconds": [round(x, 3) for x in times], "skimage_objects_per_s": round(theirs, 1),
              "ratio": round(ours / theirs, 1), "equal_on": int(len(pick)), "load_average": os.getloadavg()[0]}
    print(json.dumps(result))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "object_texture.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
