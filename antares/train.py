"""The Python API for training: fit a land-cover model on an xarray product and a GeoDataFrame of labelled polygons.

Notebook use::

    import geopandas as gpd
    from antares.train import fit

    result = fit(features, gpd.read_file("osm_landuse.gpkg"), "fclass", model="rf", cv=5, cv_spatial=2000)
    result.estimator.predict(...)   # a scikit-learn / LightGBM classifier
    result.cv["mean"]["overall_accuracy"]

The same functions run behind ``antares model_fit``, which reads the product tile by
tile from the datacube and the samples from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from antares.errors import InvalidInputError, UsageError


@dataclass
class FitResult:
    """A fitted model with what is needed to use and judge it.

    Attributes
    ----------
    estimator : classifier
        ``predict`` / ``predict_proba`` on (n, f) float64 features ordered as ``features``;
        classes are legend codes.
    features : list of str
        Measurement names, in column order.
    legend : list of antares.legend.LegendEntry
    params : dict
        Parameters set on the estimator (after a grid search: the best).
    cv : dict or None
        Cross-validation report (see :func:`antares.models.fitting.cross_validate`).
    samples_per_class : dict
        {code: number of samples used}.
    skipped : ndarray of int
        Row positions (in the input GeoDataFrame) of samples without a valid pixel.
    """

    estimator: object
    features: list
    legend: list
    params: dict
    cv: dict | None = None
    grid: list = field(default_factory=list)
    samples_per_class: dict = field(default_factory=dict)
    skipped: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def sample_table(features, codes, geoms, valid, pixels, unit: str, cv_spatial: float | None = None,
                 per_class: int | None = None, sample: float | None = None, seed: int = 0):
    """The (X, y, groups) a model is fitted on, from per-sample features or pixels.

    Parameters
    ----------
    features : ndarray (n, f) float64
        Aggregated features per sample (``unit='polygons'``).
    codes : ndarray (n,) int64
        Legend code per sample.
    geoms : ndarray (n,) of shapely geometries
        In a projected CRS when ``cv_spatial`` is given.
    valid : ndarray (n,) bool
        Samples with a valid value in every feature.
    pixels : (ndarray (m,), ndarray (f, m)) or None
        Sample index and values of every covered pixel (``unit='pixels'``).
    cv_spatial : float, optional
        Block side (CRS units) for spatial groups; pixels are otherwise grouped by polygon.
    per_class, sample, seed
        Stratified subsample (see :func:`antares.models.fitting.stratified_subsample`).

    Returns
    -------
    X : ndarray (k, f) float64
    y : ndarray (k,) int64
    groups : ndarray (k,) int64 or None
    """
    import shapely

    from antares.models.fitting import stratified_subsample
    from antares.sampling import spatial_blocks

    if cv_spatial is not None:
        centroids = shapely.get_coordinates(shapely.centroid(geoms))
        polygon_groups = spatial_blocks(centroids[:, 0], centroids[:, 1], cv_spatial)
    else:
        polygon_groups = np.arange(len(codes))
    if unit == "polygons":
        X, y = features[valid], codes[valid]
        groups = polygon_groups[valid] if cv_spatial is not None else None
    elif unit == "pixels":
        index, values = pixels
        good = np.all(np.isfinite(values), axis=0)
        index = index[good]
        X, y = values[:, good].T.astype(np.float64), codes[index]
        groups = polygon_groups[index]
    else:
        raise UsageError(f"unit must be polygons or pixels. Got {unit!r}.")
    keep = stratified_subsample(y, groups, per_class, sample, seed)
    return X[keep], y[keep], (groups[keep] if groups is not None else None)


def product_array(product) -> tuple[np.ndarray, list, object]:
    """(values (b, y, x) float32 NaN = nodata, measurement names, GeoBox) of an xarray product."""
    names = list(product.data_vars)
    if not names:
        raise InvalidInputError("the product has no measurements (data variables).")
    stack = []
    for name in names:
        band = product[name]
        if "time" in band.dims:
            if band.sizes["time"] != 1:
                raise InvalidInputError(f"measurement {name} has {band.sizes['time']} times; select one period first.")
            band = band.isel(time=0)
        values = band.values
        out = values.astype(np.float32)
        nodata = band.attrs.get("nodata")
        if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
            out[values == nodata] = np.nan
        stack.append(out)
    return np.stack(stack), names, product.odc.geobox


def fit(product, samples, field_name: str, model: str = "rf", aggregation: str = "mean", unit: str = "polygons",
        legend=None, params: dict | None = None, cv: int | None = None, cv_spatial: float | None = None,
        grid: dict | None = None, per_class: int | None = None, sample: float | None = None, seed: int = 0,
        n_jobs: int | None = None) -> FitResult:
    """Fit a land-cover classifier on the features of labelled polygons.

    Parameters
    ----------
    product : xarray.Dataset
        Features on an odc-geo grid (``product.odc.geobox``): one data variable per
        measurement, (y, x) or (time=1, y, x), nodata from each variable's ``nodata``
        attribute or NaN. Typically ``dc.load(product=..., like=geobox)`` of a recipe product.
    samples : geopandas.GeoDataFrame
        Polygons (or points) with a CRS; transformed to the product's CRS.
    field_name : str
        Column with the class (legend code or class name).
    model : {'rf', 'lightgbm'}
    aggregation : {'mean', 'median', 'min', 'max', 'std'} or 'pNN' (a percentile, as numpy.nanpercentile)
        NaN-aware aggregation of the pixels whose centres fall in a polygon.
    unit : {'polygons', 'pixels'}
    legend : list of LegendEntry, optional
        Default: codes by sorted class name (or the integer codes), palette colours.
    params, grid, cv, cv_spatial, per_class, sample, seed, n_jobs
        As for ``antares model_fit`` (``grid`` is {parameter: [values]}).

    Returns
    -------
    FitResult

    Raises
    ------
    InvalidInputError
        Missing column, no CRS, no valid sample, too few classes or samples.
    UsageError
        Unknown model, parameters, aggregation or unit.
    """
    from antares.models.fitting import check_classes, fit_model
    from antares.models.samples import AGGREGATIONS, aggregate, block_partials, by_pixels, is_aggregation, overlap_layers
    from antares.legend import assign_codes

    if not is_aggregation(aggregation):
        raise UsageError(f"aggregation must be one of {', '.join(AGGREGATIONS)} or a percentile pNN (p10, p90). "
                         f"Got {aggregation!r}.")
    if field_name not in samples.columns:
        raise InvalidInputError(f"the samples have no column '{field_name}'; columns: {', '.join(map(str, samples.columns))}.")
    if samples.crs is None:
        raise InvalidInputError("the samples have no CRS; set one with samples.set_crs(...).")
    values, names, geobox = product_array(product)
    samples = samples[samples.geometry.notna() & ~samples.geometry.is_empty & samples[field_name].notna()]
    codes, legend = assign_codes(samples[field_name].tolist(), legend, "samples", field_name)
    geoms = np.asarray(samples.to_crs(geobox.crs).geometry.values, dtype=object)
    with_pixels = unit == "pixels" or by_pixels(aggregation)
    parts, pixels = block_partials(values, geobox.affine, geoms, overlap_layers(geoms), with_pixels)
    features, _, valid = aggregate(parts, pixels, len(geoms), aggregation)
    X, y, groups = sample_table(features, codes, geoms, valid, pixels, unit, cv_spatial, per_class, sample, seed)
    check_classes(y, {e.code: e.name for e in legend})
    outcome = fit_model(model, X, y, groups, params, cv, grid, seed, n_jobs, codes=[e.code for e in legend])
    return FitResult(outcome.estimator, names, legend, outcome.params, outcome.cv, outcome.grid,
                     outcome.samples_per_class, np.flatnonzero(~valid))


@dataclass
class TimeseriesFitResult:
    """A fitted temporal deep model (see :func:`fit_timeseries`).

    Attributes
    ----------
    estimator : antares.deep.classifier.TemporalClassifier
        ``predict`` / ``predict_proba`` on ``{sensor: SensorSeries}``; ``to_bytes()`` for storage.
    legend : list of antares.legend.LegendEntry
    samples_per_class : dict
        {code: number of samples}.
    """

    estimator: object
    legend: list
    samples_per_class: dict = field(default_factory=dict)


def fit_timeseries(data, labels, model: str = "pse_tae", sensors=None, legend=None, params: dict | None = None,
                   seed: int = 0, extra=None, progress=None, mapping=None) -> TimeseriesFitResult:
    """Fit a temporal deep classifier (PSE-TAE, L-TAE, TempCNN) on labelled pixel-set series.

    Notebook use::

        from antares.train import fit_timeseries

        result = fit_timeseries("extractions.parquet", "sampling_label", model="ltae", sensors=["s1", "s2"],
                                params={"fusion": "decision", "epochs": 50})
        result.estimator.predict_proba(sets)

    Parameters
    ----------
    data : dict {sensor: antares.deep.data.SensorSeries} or str or Path or antares.deep.table.SeriesTable
        Pixel sets (N, T, C, S) per sensor, or a sample time-series table (parquet, see
        :func:`antares.deep.table.read_table`): wide (WorldCereal columns) or, with ``mapping``, long
        (parquet or CSV, one row per sample and date); or a table already read, such as a stored
        training set (``antares.Session().series(NAME)``, from ``antares ingest_training --timeseries``).
    labels : array-like (N,) or str or None
        Class (legend code or name) per sample; with a table path, the name of its label column (None:
        the column ``mapping`` names); with a table read, None (its labels) or one per sample.
    model : {'pse_tae', 'ltae', 'tempcnn'}
    sensors : list of str, optional
        Sensors of ``data`` to use (default: all; two need ``params['fusion']``).
    legend : list of LegendEntry, optional
        Default: codes by sorted class name (or the integer codes).
    params : dict, optional
        Model parameters (``antares model_params ltae``), checked before any work.
    seed : int
        Seed of weights, batches, dropout and the validation split (repeatable on CPU).
    extra : ndarray (N, E), optional
        Extra (geometric) features per sample for the pixel-set encoder.
    progress : callable, optional
        ``progress(epoch, epochs, loss, val_oa)``.
    mapping : str or Path, optional
        YAML mapping of a long table ``data`` (:mod:`antares.deep.long_table`).

    Returns
    -------
    TimeseriesFitResult

    Raises
    ------
    UsageError
        Unknown model or parameter, a sensor the data lacks, fusion with one sensor.
    InvalidInputError
        Fewer than 2 classes, a class with fewer than 2 samples, labels that do not match the samples.
    """
    from pathlib import Path

    from antares.legend import assign_codes
    from antares.models.fitting import check_classes
    from antares.models.registry import make_estimator, model_kind

    if hasattr(data, "sets") and hasattr(data, "labels"):  # a SeriesTable: read from a file or a stored set
        if mapping is not None:
            raise UsageError("mapping is for a long table given as a path; the table is read already.")
        data, labels = data.select(sensors or list(data.sets)), data.labels if labels is None else labels
    elif isinstance(data, (str, Path)):
        from antares.deep.table import read_table

        table = read_table(data, labels, mapping=mapping)
        data, labels = table.select(sensors or list(table.sets)), table.labels
    elif mapping is not None:
        raise UsageError("mapping is for a long table given as a path; data holds pixel sets already.")
    if model_kind(model).inputs != "pixel_sets":
        raise UsageError(f"fit_timeseries fits pixel-set models (pse_tae, ltae, tempcnn); {model} takes a feature "
                         "product: use antares.train.fit.")
    if sensors is not None:
        missing = [s for s in sensors if s not in data]
        if missing:
            raise UsageError(f"no {', '.join(missing)} series given; sensors: {', '.join(data)}.")
        data = {s: data[s] for s in sensors}
    labels = list(labels)
    if any(len(s) != len(labels) for s in data.values()):
        raise InvalidInputError(f"{len(labels)} label(s) for {', '.join(f'{k} {len(v)}' for k, v in data.items())} samples.")
    codes, legend = assign_codes(labels, legend, "samples", "label")
    names = {e.code: e.name for e in legend}
    check_classes(codes, names)
    estimator = make_estimator(model, params, seed)
    estimator.fit(data, codes, extra=extra, progress=progress)
    present, counts = np.unique(codes, return_counts=True)
    return TimeseriesFitResult(estimator, legend, {int(c): int(n) for c, n in zip(present, counts)})
