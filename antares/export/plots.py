"""Figures of ``antares plot``: a pixel's time series with its masked observations.

Pure matplotlib (``Figure`` + Agg canvas, no pyplot state); the callers load the data and write the file
with :func:`save_figure`, whose format follows the file's extension.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from antares.errors import UsageError

GREY = "#9a9a9a"
MARKERS = "xo^sv<>dph*+"


def figure_formats() -> dict:
    """{extension: description} of the formats matplotlib's Agg canvas writes (png, svg, pdf, ...)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return FigureCanvasAgg(Figure()).get_supported_filetypes()


def check_figure_path(path) -> str:
    """The format of ``path`` from its extension.

    Raises
    ------
    UsageError
        The extension is not one matplotlib writes (the valid ones are listed).
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    formats = figure_formats()
    if suffix not in formats:
        raise UsageError(f"-f {path}: matplotlib cannot write a {('.' + suffix) if suffix else 'file without extension'}; "
                         f"use one of {', '.join('.' + f for f in sorted(formats))}.")
    return suffix


def save_figure(figure, path) -> Path:
    """Write ``figure`` to ``path`` (format by extension) through a temporary file renamed when complete."""
    from antares.cube.write import write_failure

    path = Path(path).absolute()
    fmt = check_figure_path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        figure.savefig(tmp, format=fmt, bbox_inches="tight")
        if tmp.stat().st_size == 0:
            raise OSError(f"{tmp} is empty after writing")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_failure(path, exc, "free some space or choose another -f") from exc
    return path


def timeseries_figure(times, series: dict, reasons, title: str, units: dict | None = None):
    """A figure of one panel per measurement: clear observations joined by a line, masked ones grey.

    Parameters
    ----------
    times : numpy.ndarray of datetime64, shape (t,)
    series : {measurement: numpy.ndarray of float, shape (t,)}
        Values, NaN where there is no value (nodata).
    reasons : sequence of str, shape (t,)
        ``""`` for a clear observation, else why it is masked (``cloud_high_probability``, ``nodata`` ...).
    title : str
    units : {measurement: str}, optional

    Returns
    -------
    matplotlib.figure.Figure
        Panel ``i`` has the clear observations as a ``Line2D`` labelled ``"MEASUREMENT clear"`` and the
        masked ones of each reason as a ``Line2D`` (markers only) labelled ``"masked: REASON"``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    reasons = np.asarray(reasons, dtype=object)
    clear = reasons == ""
    kinds = sorted(set(reasons[~clear].tolist()), key=lambda r: (len(r.split(" ")[1]) if r.startswith("SCL") else 0, r))
    figure = Figure(figsize=(9, 2.4 * len(series) + 0.6), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, values) in zip(axes, series.items()):
        values = np.asarray(values, dtype=np.float64)
        ok = clear & np.isfinite(values)
        ax.plot(times[ok], values[ok], "-o", color="#1f77b4", markersize=3, linewidth=1, label=f"{name} clear")
        for i, reason in enumerate(kinds):
            picked = (reasons == reason) & np.isfinite(values)
            if picked.any():
                ax.plot(times[picked], values[picked], linestyle="none", marker=MARKERS[i % len(MARKERS)],
                        color=GREY, markersize=4, label=f"masked: {reason}")
        ax.set_ylabel(f"{name}" + (f" ({units[name]})" if units and units.get(name) else ""), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axes[0].set_title(title, fontsize=9)
    return figure


def nice_length(span: float) -> float:
    """The largest 1, 2 or 5 × 10^k not over ``span`` (a scale bar's length)."""
    import math

    if span <= 0:
        raise ValueError(f"span must be > 0. Got {span}.")
    power = 10 ** math.floor(math.log10(span))
    return max(m * power for m in (1, 2, 5) if m * power <= span)


def map_figure(rgba, extent: tuple, crs_name: str, metres: bool, title: str, credits: str,
               legend: list | None = None, ramp: tuple | None = None):
    """A map figure: the image, its legend (classes or a colour ramp), a scale bar and the credits.

    Parameters
    ----------
    rgba : numpy.ndarray of uint8, shape (y, x, 4)
        North up.
    extent : (left, right, bottom, top)
        In the units of the CRS.
    crs_name : str
    metres : bool
        The CRS's unit is the metre: a scale bar is drawn (else none: degrees have no constant length).
    legend : list of (name, colour), optional
    ramp : (colour map name, low, high, what), optional

    Returns
    -------
    matplotlib.figure.Figure
        The scale bar is the ``Line2D`` labelled ``"scale bar"`` (its x data span its length in metres).
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    figure = Figure(figsize=(7.5, 5.5), dpi=120)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(1, 1, 1)
    ax.imshow(rgba, extent=extent, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.tick_params(labelsize=7)
    ax.set_xlabel(f"x, {crs_name}", fontsize=7)
    ax.set_ylabel("y", fontsize=7)
    if legend:
        ax.legend(handles=[Patch(facecolor=c, edgecolor="#333333", label=n) for n, c in legend],
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    if ramp:
        cmap, low, high, what = ramp
        mappable = matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(low, high), matplotlib.colormaps[cmap])
        figure.colorbar(mappable, ax=ax, shrink=0.7, label=what)
    if metres:
        left, right, bottom, top = extent
        length = nice_length((right - left) / 4)
        x0, y0 = left + (right - left) * 0.05, bottom + (top - bottom) * 0.05
        ax.plot([x0, x0 + length], [y0, y0], color="black", linewidth=3, solid_capstyle="butt", label="scale bar")
        ax.text(x0 + length / 2, y0 + (top - bottom) * 0.015, f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m",
                ha="center", va="bottom", fontsize=7, bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none"})
        ax.set_xlim(left, right)
        ax.set_ylim(bottom, top)
    figure.text(0.01, 0.005, credits, fontsize=5.5, color="#555555")
    return figure


def samples_figure(features, codes, legend: list, measurements: list, title: str):
    """Per-class distributions of the samples' features: one panel per measurement, one box per class.

    Parameters
    ----------
    features : numpy.ndarray of float, shape (n, f)
        One row per sample (its mean over its pixels), NaN where it has no valid pixel.
    codes : numpy.ndarray of int, shape (n,)
        The samples' class codes.
    legend : list of antares.legend.LegendEntry
    measurements : list of str, length f

    Returns
    -------
    matplotlib.figure.Figure
        Panel ``i`` (``figure.axes[i]``) is measurement ``i``; its x tick labels are the class names
        (classes with at least one finite value, in legend order) and ``ax.antares_data`` holds the
        values drawn per class name.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(measurements)
    cols = min(n, 3)
    rows = -(-n // cols)
    figure = Figure(figsize=(4.2 * cols, 3.2 * rows + 0.4), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    for i, name in enumerate(measurements):
        ax = axes[i]
        data, labels, colours = [], [], []
        for entry in legend:
            values = features[codes == entry.code, i]
            values = values[np.isfinite(values)]
            if len(values):
                data.append(values)
                labels.append(entry.name)
                colours.append(entry.colour)
        boxes = ax.boxplot(data, patch_artist=True, showfliers=True, flierprops={"markersize": 2})
        for patch, colour in zip(boxes["boxes"], colours):
            patch.set_facecolor(colour)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=45, ha="right", fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
        ax.antares_data = dict(zip(labels, data))
    for ax in axes[n:]:
        ax.set_visible(False)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def training_curve_figure(history: list, best_epoch, title: str):
    """The training curve of a temporal deep model: losses and validation overall accuracy per epoch.

    Parameters
    ----------
    history : list of dict
        One per epoch, as stored with the model: ``epoch`` (1-based), ``loss`` (mean training loss),
        ``val_loss`` and ``val_oa`` (validation loss and overall accuracy in [0, 1]; None when there
        was no validation split).
    best_epoch : int or None
        The epoch whose weights were kept (marked by a vertical dashed line).
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        Left axis: lines ``loss`` and ``validation loss`` (labels as given); right axis (the figure's
        second axes): line ``validation OA``. The line data are the stored values (None as NaN).
    """
    from matplotlib.figure import Figure

    def column(key):
        return np.array([np.nan if h.get(key) is None else float(h[key]) for h in history], dtype=float)

    epochs = np.array([int(h["epoch"]) for h in history])
    figure = Figure(figsize=(7, 4), dpi=100)
    loss_axes = figure.add_subplot()
    loss_axes.plot(epochs, column("loss"), "-o", color="tab:blue", markersize=3, label="loss")
    loss_axes.plot(epochs, column("val_loss"), "-s", color="tab:orange", markersize=3, label="validation loss")
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("loss")
    oa_axes = loss_axes.twinx()
    oa_axes.plot(epochs, column("val_oa"), "-^", color="tab:green", markersize=3, label="validation OA")
    oa_axes.set_ylabel("validation overall accuracy")
    oa_axes.set_ylim(0, 1)
    handles = loss_axes.get_lines() + oa_axes.get_lines()
    if best_epoch is not None:
        handles.append(loss_axes.axvline(int(best_epoch), color=GREY, linestyle="--", label=f"best epoch {best_epoch}"))
    loss_axes.legend(handles=handles, loc="center right", fontsize="small")
    loss_axes.set_title(title)
    return figure
