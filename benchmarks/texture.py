"""Benchmark: GLCM texture (issue 18 item 4: >= 20 x scikit-image's per-window loop, equal values).

On a synthetic SIZE x SIZE float32 image (smooth field + noise, values 0..1), for ``--windows``
pixels at random positions (fixed seed) away from the edges:

  - scikit-image: for each pixel, ``graycomatrix`` of its window (quantised with the same levels,
    normed, symmetric) and ``graycoprops`` of the seven features, averaged over the offsets: the
    per-window loop a user would write;
  - antares: :func:`antares.recipes.texture.glcm_features` on the whole image (every pixel, after
    the numba warm-up); its per-pixel time is the image's time over its pixel count.

Both rates are pixels/s (single thread); the ratio is antares / scikit-image, the median of
``--repeat`` runs. Values at the sampled pixels are compared (rtol 2e-6, the float32 output).
Results go to benchmarks/results/texture.json.

    python benchmarks/texture.py [--size 512] [--windows 2000] [--window 7] [--levels 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ANGLES = [0, 45, 90, 135]


def main(argv=None) -> dict:
    from skimage.feature import graycomatrix, graycoprops

    from antares.recipes.texture import FEATURES, SKIMAGE_NAMES, glcm_features, quantize

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--windows", type=int, default=2000)
    p.add_argument("--window", type=int, default=7)
    p.add_argument("--levels", type=int, default=32)
    p.add_argument("--distances", type=int, nargs="+", default=[1])
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:a.size, 0:a.size]
    img = (0.5 + 0.3 * np.sin(yy / 9.0) * np.cos(xx / 13.0) + rng.normal(0, 0.08, yy.shape)).astype(np.float32)
    half = a.window // 2
    pix = rng.integers(half, a.size - half, size=(a.windows, 2))
    q = quantize(img, a.levels, (0, 1)).astype(np.uint8)
    rad = np.radians(ANGLES)

    def skimage_loop():
        out = np.empty((len(pix), len(FEATURES)))
        for n, (y, x) in enumerate(pix):
            glcm = graycomatrix(q[y - half:y + half + 1, x - half:x + half + 1], a.distances, rad,
                                levels=a.levels, symmetric=True, normed=True)
            out[n] = [graycoprops(glcm, SKIMAGE_NAMES[f]).mean() for f in FEATURES]
        return out

    glcm_features(img[:16, :16], a.window, a.distances, ANGLES, a.levels, (0, 1))  # numba warm-up
    ours_rates, ref_rates, ratios = [], [], []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        ref = skimage_loop()
        t1 = time.perf_counter()
        got = glcm_features(img, a.window, a.distances, ANGLES, a.levels, (0, 1))
        t2 = time.perf_counter()
        ref_rate, ours_rate = len(pix) / (t1 - t0), img.size / (t2 - t1)
        ref_rates.append(ref_rate)
        ours_rates.append(ours_rate)
        ratios.append(ours_rate / ref_rate)
    ours = np.stack([got[f][pix[:, 0], pix[:, 1]] for f in FEATURES], axis=1)
    np.testing.assert_allclose(ours, ref, rtol=2e-6, atol=1e-6)
    result = {
        "size": a.size, "windows": a.windows, "window": a.window, "levels": a.levels, "distances": a.distances,
        "angles": ANGLES, "repeat": a.repeat, "skimage_pixels_per_s": statistics.median(ref_rates),
        "antares_pixels_per_s": statistics.median(ours_rates), "ratio": statistics.median(ratios),
        "goal_ratio": 20.0, "equal": True, "machine": platform.processor() or platform.machine(),
    }
    print(f"GLCM {a.window}x{a.window}, {a.levels} levels, distances {a.distances}, angles {ANGLES}, 7 features:")
    print(f"  scikit-image per-window loop: {result['skimage_pixels_per_s']:,.0f} pixels/s ({a.windows} windows)")
    print(f"  antares glcm_features:        {result['antares_pixels_per_s']:,.0f} pixels/s ({a.size}x{a.size} image)")
    print(f"  ratio (median of {a.repeat}): {result['ratio']:.1f} x (goal >= 20: "
          f"{'MET' if result['ratio'] >= 20 else 'MISSED'}); values equal at the {a.windows} sampled pixels")
    out = HERE / "results" / "texture.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
