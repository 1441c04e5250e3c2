"""The quicklook and table of docs/monitor.md: every method on the nrt Romania cube (NDVI, SCL 4-7, 2016-2018 / 2019-2020).

Prints one Markdown table row per method (shares of the 100 x 100 pixels) and writes
docs/guide/img/monitor_romania.png. Run from the repository root:

    python benchmarks/monitor_quicklook.py
"""
import sys, numpy as np, warnings
sys.path.insert(0, "benchmarks"); sys.path.insert(0, ".")
warnings.simplefilter("ignore")
from monitor import ndvi_cube, HISTORY, MONITORING
from antares.monitor import monitor_array, break_year_doy
import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
import rasterio
values, times = ndvi_cube(1)
runs = [("ewma", {}), ("ewma", {"sensitivity": 4}), ("cusum", {}), ("mosum", {}), ("ccdc", {}), ("iqr", {})]
res = {}
for m, p in runs:
    r = monitor_array(values, times, HISTORY, MONITORING, m, p)
    y, d = break_year_doy(r.break_days)
    key = m + ("" if not p else " " + ",".join(f"{k}={v}" for k, v in p.items()))
    res[key] = r
    n = r.state.size
    print(f"| {key} | {np.mean(r.state==3)*100:.1f} | {np.mean(y==2019)*100:.1f} | {np.mean(y==2020)*100:.1f} | {np.mean(r.state==2)*100:.1f} | {np.mean(r.state==4)*100:.1f} | {np.nanmedian(r.magnitude):.3f} |")
tcd = rasterio.open("../shared/data/nrt-romania-s2l2a/labels/tree_cover_density_2018_20m.tif").read(1).astype(float)
tcd[tcd == 255] = np.nan
fig, axes = plt.subplots(1, 4, figsize=(16, 4.4))
axes[0].imshow(tcd, cmap="Greens", vmin=0, vmax=100); axes[0].set_title("Tree cover density 2018\n(%, 20 m, CLMS HRL)", fontsize=10)
for ax, key in zip(axes[1:], ["ewma sensitivity=4", "cusum", "ccdc"]):
    r = res[key]
    months = np.where(r.state == 3, (np.datetime64("1970-01-01") + r.break_days.astype("timedelta64[D]")).astype("datetime64[M]").astype(int) - (2019 - 1970) * 12 + 1, np.nan).astype(float)
    im = ax.imshow(months, cmap="viridis", vmin=1, vmax=24)
    ax.set_title(f"{key}\nbreak month; {np.mean(r.state == 3) * 100:.0f} % of pixels", fontsize=10)
for ax in axes: ax.set_xticks([]); ax.set_yticks([])
cb = fig.colorbar(im, ax=axes[1:], shrink=0.8, ticks=[1, 7, 13, 19, 24]); cb.ax.set_yticklabels(["2019-01", "2019-07", "2020-01", "2020-07", "2020-12"])
fig.suptitle("antares monitor on the nrt Romania cube (NDVI, SCL 4-7, history 2016-2018, monitoring 2019-2020); white: no break")
fig.savefig("docs/guide/img/monitor_romania.png", dpi=80, bbox_inches="tight")
