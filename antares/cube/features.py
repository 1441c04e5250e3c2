"""Reading an indexed product's pixels onto a GeoBox as the arrays the stages compute with.

:func:`load_features` gives the features segment, model_fit and model_predict read (float32,
NaN = nodata); :func:`load_labels` a label product's segment ids.
"""

from __future__ import annotations

import numpy as np

from antares.cube.catalog import find_datasets
from antares.cube.load import load_on
from antares.errors import InvalidInputError


def load_features(dc, product: str, bands: list, geobox, datasets=None, time=None, one_time: bool = False) -> np.ndarray:
    """The ``bands`` of ``product`` on ``geobox`` as float32 (bands, y, x), NaN where nodata.

    The first time is used; with ``one_time``, InvalidInputError is raised when the
    product has datasets at more than one time there (choose the period with ``time``).
    Without ``time`` and ``one_time``, datasets on ``geobox``'s grid are read straight from
    their files (:func:`_read_on_grid`: the same values, without ``dc.load``'s overhead).
    """
    if time is None and not one_time:
        features = _read_on_grid(dc, product, bands, geobox, datasets)
        if features is not None:
            return features
    data = load_on(dc, geobox, bands, datasets=datasets, product=product, time=time)
    if data.sizes.get("time", 0) == 0:
        return np.full((len(bands), *geobox.shape), np.nan, np.float32)
    if one_time and data.sizes["time"] > 1:
        times = ", ".join(str(t)[:19] for t in data.time.values[:5])
        raise InvalidInputError(f"product {product} has datasets at {data.sizes['time']} times here ({times}); "
                                "features come from one period: choose it with -b/-e.")
    return np.stack([_as_features(data[band].isel(time=0).values, data[band].attrs.get("nodata")) for band in bands])


def _as_features(values: np.ndarray, nodata) -> np.ndarray:
    """``values`` as float32 with NaN where they equal ``nodata``."""
    out = values.astype(np.float32)
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        out[values == nodata] = np.nan
    return out


def _read_on_grid(dc, product: str, bands: list, geobox, datasets=None) -> np.ndarray | None:
    """What :func:`load_features` returns without ``time``, read straight from the files; None when it cannot.

    The datasets are those ``dc.load(like=geobox)`` takes: ``datasets``, or the product's
    datasets found there (see :func:`antares.cube.blockread.read_first_time`).
    """
    from antares.cube.blockread import read_first_time

    if datasets is None:
        datasets = find_datasets(dc, product, like=geobox, ensure_location=True)
    datasets = list(datasets)
    if not datasets:
        return np.full((len(bands), *geobox.shape), np.nan, np.float32)
    read = read_first_time(datasets, bands, geobox)
    if read is None:
        return None
    return np.stack([_as_features(*read[band]) for band in bands])


def load_labels(dc, segmentation: str, geobox) -> np.ndarray:
    """The segment ids (y, x) int64 of label product ``segmentation`` on ``geobox`` (0 = no object)."""
    data = load_on(dc, geobox, ["segment_id"], product=segmentation)
    if data.sizes.get("time", 0) == 0:
        return np.zeros(geobox.shape, np.int64)
    return data.segment_id.isel(time=0).values.astype(np.int64)


def load_feature_series(dc, product: str, bands: list, geobox, time=None) -> tuple[np.ndarray, np.ndarray]:
    """Every time of ``product``'s ``bands`` on ``geobox``: a time-series product's steps as arrays.

    Parameters
    ----------
    dc : datacube.Datacube
    product : str
    bands : list of str
    geobox : odc.geo.geobox.GeoBox
    time : (begin, end), optional
        Only the datasets of this period.

    Returns
    -------
    times : numpy.ndarray (t,) datetime64[ns]
        Sorted (``dc.load``'s order).
    values : numpy.ndarray (t, b, y, x) float32
        NaN where nodata; ``t`` is 0 where the product has no dataset on ``geobox``.
    """
    data = load_on(dc, geobox, bands, product=product, time=time)
    n = data.sizes.get("time", 0)
    if n == 0:
        return np.zeros(0, "datetime64[ns]"), np.zeros((0, len(bands), *geobox.shape), np.float32)
    values = np.stack([np.stack([_as_features(data[band].isel(time=t).values, data[band].attrs.get("nodata"))
                                 for band in bands]) for t in range(n)])
    return data.time.values.astype("datetime64[ns]"), values


def tile_labels_and_series(url: str, segmentation: str, product: str, bands: list, geobox, time=None):
    """The segment labels of one tile and, when it holds an object, the series of ``bands`` on it.

    Parameters
    ----------
    url : str
        The database URL (a tile job opens its own connection: it may run on a dask worker).
    segmentation, product : str
        The label product of the segmentation and the time-series product, on ``geobox``.
    bands : list of str
    geobox : odc.geo.geobox.GeoBox
    time : (start, end), optional

    Returns
    -------
    None or (labels, times, values)
        None when the tile holds no object; else :func:`load_labels` (int, shape ``geobox.shape``)
        and :func:`load_feature_series` (times ``(t,)``, values float32 ``(t, bands, y, x)``).
    """
    from antares.cube.index import connect

    dc = connect(url)
    try:
        labels = load_labels(dc, segmentation, geobox)
        if not labels.any():
            return None
        times, values = load_feature_series(dc, product, bands, geobox, time)
    finally:
        dc.close()
    return labels, times, values


def tile_labels_and_sources(url: str, segmentation: str, sources: list, geobox, time=None):
    """:func:`tile_labels_and_series` for several products (the sensors of a fusion model) on one tile.

    Parameters
    ----------
    url, segmentation, geobox, time
        As :func:`tile_labels_and_series`.
    sources : list of (str, list of str)
        Each product and the bands read from it.

    Returns
    -------
    None or (labels, list of (times, values))
        Per source, :func:`load_feature_series` (times ``(t,)``, values float32 ``(t, bands, y, x)``).
    """
    from antares.cube.index import connect

    dc = connect(url)
    try:
        labels = load_labels(dc, segmentation, geobox)
        if not labels.any():
            return None
        series = [load_feature_series(dc, product, bands, geobox, time) for product, bands in sources]
    finally:
        dc.close()
    return labels, series
