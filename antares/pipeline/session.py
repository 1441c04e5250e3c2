"""``antares.Session``: the database's products and results as xarray and GeoDataFrames, for notebooks.

Example::

    import antares

    session = antares.Session()                      # ANTARES_DB_URL / the embedded database
    data = session.load("b10")                       # xarray.Dataset (time, y, x)
    objects = session.classification("map_2017")     # GeoDataFrame: class, confidence, entropy, area_m2
    pixels = session.predict("rf_2017", data)        # xarray.Dataset: class, confidence, entropy
    session.run(SegmentRequest("b10", "slic_nb", area, "slic"))  # any stage, from its request object
"""

from __future__ import annotations

import numpy as np

from antares.errors import InvalidInputError, NotFoundError


#: The stage :meth:`Session.run` runs for each request type ("module:function").
STAGES = {"RecipeRequest": "antares.pipeline.recipe:apply_recipe", "SegmentRequest": "antares.pipeline.segment:segment",
          "SampleRequest": "antares.pipeline.train:training_features", "FitRequest": "antares.pipeline.train:model_fit",
          "PredictRequest": "antares.pipeline.predict:model_predict_object",
          "PixelRequest": "antares.pipeline.predict_pixels:model_predict", "ViewRequest": "antares.pipeline.view:view"}


class Session:
    """One antares database, read from Python.

    Parameters
    ----------
    url : str, optional
        The database URL (``postgresql+psycopg2://...``); default: the settings' (``ANTARES_DB_URL``, the
        config file, or the embedded database of ``ANTARES_HOME``), as for the command line.
    home : str, optional
        The antares home directory (``ANTARES_HOME``).

    Examples
    --------
    >>> import antares
    >>> session = antares.Session()  # doctest: +SKIP
    >>> session.classification("map_2017").groupby("class").area_m2.sum()  # doctest: +SKIP
    """

    def __init__(self, url: str | None = None, home: str | None = None):
        from antares.config import load_settings

        self.settings = load_settings(flags={"db_url": url, "home": home})

    def __repr__(self) -> str:
        return f"antares.Session(home={str(self.settings.home)!r})"

    def load(self, product: str, time: tuple | None = None, measurements: list | None = None, region: str | None = None):
        """Load ``product`` on its native grid.

        Parameters
        ----------
        product : str
        time : (str, str), optional
            First and last date (YYYY-MM-DD), inclusive.
        measurements : list of str, optional
            All by default.
        region : str, optional
            A registered region.

        Returns
        -------
        xarray.Dataset
            Variables (time, y, x) in the product's dtypes and CRS, nodata as declared by the product.

        Raises
        ------
        NotFoundError
            Unknown product, measurement or region, or no dataset in the period.

        Examples
        --------
        >>> data = session.load("b10", measurements=["B04", "B08"])  # doctest: +SKIP
        >>> data.B08.isel(time=0).plot()  # doctest: +SKIP
        """
        from antares.pipeline.inspect import load_product

        begin, end = time if time else (None, None)
        return load_product(self.settings, product, begin, end, measurements, region)[0]

    def _frame(self, rows, columns: list, srid: int):
        import geopandas as gpd
        import shapely

        cols = list(zip(*rows)) if rows else [[] for _ in range(len(columns) + 1)]
        data = {c: np.asarray(v) for c, v in zip(columns, cols[:-1])}
        return gpd.GeoDataFrame(data, geometry=shapely.from_wkb([bytes(g) for g in cols[-1]]), crs=f"EPSG:{srid}")

    def segments(self, name: str):
        """The segments (objects) of segmentation ``name``.

        Returns
        -------
        geopandas.GeoDataFrame
            Columns ``segment_id`` (int64), ``area_m2`` (true area, m²), ``pixel_count``, geometry
            (multipolygons in the segmentation's CRS), ordered by ``segment_id``.

        Raises
        ------
        NotFoundError
            No segmentation ``name`` (the names are listed).

        Examples
        --------
        >>> segments = session.segments("bis_2017")  # doctest: +SKIP
        >>> segments.area_m2.describe()  # doctest: +SKIP
        """
        from antares.db.engine import session_scope
        from antares.db.segmentations import segment_srid, segmentation, segmentation_names, segments_query

        with session_scope(self.settings) as conn:
            row = segmentation(conn, name)
            if row is None:
                raise NotFoundError(f"segmentation '{name}' does not exist; segmentations: "
                                    f"{', '.join(segmentation_names(conn)) or '(none)'}.")
            srid = segment_srid(conn, row.id)
            if srid is None:
                raise InvalidInputError(f"segmentation '{name}' has no segments; re-run 'antares segment'.")
            rows = conn.execute(segments_query(row.id, srid, srid)).all()
        return self._frame(rows, ["segment_id", "area_m2", "pixel_count"], srid)

    def classification(self, name: str):
        """The classified objects of classification ``name``.

        Returns
        -------
        geopandas.GeoDataFrame
            Columns ``segment_id``, ``code`` (legend code), ``class`` (its name), ``confidence`` (largest
            class probability), ``entropy`` (nats), ``area_m2``, geometry in the segmentation's CRS; the
            legend as ``frame.attrs["legend"]`` (list of ``antares.legend.LegendEntry``).

        Raises
        ------
        NotFoundError
            No classification ``name`` (the names are listed).

        Examples
        --------
        >>> objects = session.classification("map_2017")  # doctest: +SKIP
        >>> objects.plot(column="class", legend=True)  # doctest: +SKIP
        """
        from antares.db.classifications import objects_query
        from antares.db.engine import session_scope
        from antares.pipeline.export import _source

        with session_scope(self.settings) as conn:
            src = _source(conn, name)
            rows = conn.execute(objects_query(src.id, src.segmentation_id, src.srid, None, False, False, src.srid)).all()
        frame = self._frame(rows, ["segment_id", "code", "confidence", "entropy", "area_m2"], src.srid)
        names = {e.code: e.name for e in src.legend}
        frame.insert(2, "class", [names.get(int(c), f"class {c}") for c in frame.code])
        frame.attrs["legend"] = list(src.legend)
        return frame

    def changes(self, name: str):
        """The change objects of change detection ``name`` (``antares detect_change``).

        Returns
        -------
        geopandas.GeoDataFrame
            Columns ``object_id``, ``area_m2``, ``pixel_count``, ``score`` (the method's change score),
            ``pre_class`` and ``post_class`` (legend codes, None without ``-lc_pre/-lc_post``),
            ``class_tie``, geometry in the change detection's CRS; ``frame.attrs["method"]``.

        Raises
        ------
        NotFoundError
            No change detection ``name`` (the names are listed).

        Examples
        --------
        >>> changed = session.changes("ro_change_2018_2020")  # doctest: +SKIP
        >>> changed.area_m2.sum() / 1e4  # hectares of change  # doctest: +SKIP
        """
        from antares.db.changes import change_detection, change_names, change_objects_query
        from antares.db.engine import session_scope
        from antares.errors import InvalidInputError, NotFoundError

        with session_scope(self.settings) as conn:
            row = change_detection(conn, name)
            if row is None:
                raise NotFoundError(f"no change detection '{name}'; change detections: "
                                    f"{', '.join(change_names(conn)) or '(none)'}.")
            if not row.crs.upper().startswith("EPSG:"):
                raise InvalidInputError(f"change detection '{name}' is in a CRS without an EPSG code ({row.crs}).")
            srid = int(row.crs.split(":")[1])
            rows = conn.execute(change_objects_query(row.id, srid, srid)).all()
        frame = self._frame(rows, ["object_id", "area_m2", "pixel_count", "score", "pre_class", "post_class",
                                   "class_tie"], srid)
        frame.attrs["method"] = row.method
        return frame

    def samples(self, name: str, kind: str = "training"):
        """The labelled samples of training (or validation) set ``name``.

        Parameters
        ----------
        kind : {"training", "validation"}

        Returns
        -------
        geopandas.GeoDataFrame
            Columns ``sample_id``, ``code``, ``class``, geometry in EPSG:4326 (whatever CRS each sample was
            ingested in); the legend as ``frame.attrs["legend"]``.

        Raises
        ------
        NotFoundError
            No such set (the sets of that kind are listed).

        Examples
        --------
        >>> samples = session.samples("osm_train")  # doctest: +SKIP
        >>> samples["class"].value_counts()  # doctest: +SKIP
        """
        import geopandas as gpd

        from antares.db.engine import session_scope
        from antares.db.training import list_sample_sets, read_samples, sample_set, scheme_legend

        if kind not in ("training", "validation"):
            raise InvalidInputError(f"kind must be 'training' or 'validation'. Got {kind!r}.")
        with session_scope(self.settings) as conn:
            row = sample_set(conn, kind, name)
            if row is None:
                names = [s["name"] for s in list_sample_sets(conn, kind)]
                raise NotFoundError(f"{kind} set '{name}' does not exist; {kind} sets: {', '.join(names) or '(none)'}.")
            legend = scheme_legend(conn, row.scheme_id)
            ids, codes, geoms, _ = read_samples(conn, row.id, srid=4326)
        names = {e.code: e.name for e in legend}
        frame = gpd.GeoDataFrame({"sample_id": ids, "code": codes, "class": [names.get(int(c), f"class {c}") for c in codes]},
                                 geometry=list(geoms), crs="EPSG:4326")
        frame.attrs["legend"] = list(legend)
        return frame

    def series(self, name: str):
        """The labelled time series of training set ``name`` (``antares ingest_training --timeseries``).

        Returns
        -------
        antares.deep.table.SeriesTable
            ``sets`` {sensor: SensorSeries, values (N, T, C, S) float32, ``days`` from ``origin``},
            ``labels`` (class names of the set's scheme), ``ids``; ready for
            :func:`antares.train.fit_timeseries`.

        Raises
        ------
        NotFoundError
            No such set (the stored ones are listed).

        Examples
        --------
        >>> from antares.train import fit_timeseries  # doctest: +SKIP
        >>> result = fit_timeseries(session.series("crops_be"), None, model="ltae")  # doctest: +SKIP
        """
        from antares.pipeline.series_sets import read_series_set

        return read_series_set(self.settings, name).table

    def predict(self, model, data, chunk: int = 1_000_000):
        """Classify every pixel of ``data`` with a stored model (its name) or a :class:`antares.train.FitResult`.

        Parameters
        ----------
        model : str or antares.train.FitResult
        data : xarray.Dataset
            Variables named as the model's features, dims (y, x) or (time, y, x) with one time step;
            the declared ``nodata`` attribute and NaN are no value.
        chunk : int
            Pixels classified at a time (memory: chunk × features × 8 bytes and the class probabilities).

        Returns
        -------
        xarray.Dataset
            On ``data``'s (y, x) grid: ``class`` (int32 legend codes, 0 = no value), ``confidence``
            (float32, the largest class probability, NaN = no value), ``entropy`` (float32, Shannon entropy
            of the class probabilities in nats, NaN = no value), as ``antares model_predict_object``
            computes them for objects.

        Raises
        ------
        InvalidInputError
            A feature of the model is missing from ``data``, or ``data`` has more than one time step.

        Examples
        --------
        >>> pixels = session.predict("rf_2017", session.load("b10"))  # doctest: +SKIP
        >>> pixels["class"].plot()  # doctest: +SKIP
        """
        import xarray as xr

        from antares.pipeline.predict import predict_features

        if isinstance(model, str):
            from antares.pipeline.train import load_model

            estimator, meta = load_model(self.settings, model)
            features = list(meta["features"])
        else:
            estimator, features = model.estimator, list(model.features)
        missing = [f for f in features if f not in data.data_vars]
        if missing:
            raise InvalidInputError(f"the data has no variable {', '.join(missing)} of the model's features "
                                    f"{', '.join(features)}; load them (measurements=...).")
        if "time" in data.dims:
            if data.sizes["time"] != 1:
                raise InvalidInputError(f"the data has {data.sizes['time']} time steps; select one (data.isel(time=0)).")
            data = data.isel(time=0)
        first = data[features[0]]
        values = np.empty((first.size, len(features)), np.float64)
        for i, name in enumerate(features):
            var = data[name].transpose(*first.dims)
            column = var.values.astype(np.float64).ravel()
            nodata = var.attrs.get("nodata")
            if nodata is not None and np.isfinite(float(nodata)):
                column[column == float(nodata)] = np.nan
            values[:, i] = column
        classes = np.zeros(first.size, np.int32)
        confidence = np.full(first.size, np.nan, np.float32)
        entropy = np.full(first.size, np.nan, np.float32)
        for start in range(0, first.size, chunk):
            ids = np.arange(start, min(start + chunk, first.size), dtype=np.int64)
            ok, cls, conf, ent, _ = predict_features(estimator, ids, values[start:start + chunk])
            classes[ok], confidence[ok], entropy[ok] = cls, conf, ent
        shape, coords = first.shape, {k: v for k, v in first.coords.items() if k in first.dims or k == "spatial_ref"}
        out = xr.Dataset({"class": (first.dims, classes.reshape(shape), {"nodata": 0}),
                          "confidence": (first.dims, confidence.reshape(shape)),
                          "entropy": (first.dims, entropy.reshape(shape), {"units": "nat"})}, coords=coords)
        return out

    def run(self, request, progress=None):
        """Run the stage that ``request`` asks for, as the command line does, and return its report.

        Parameters
        ----------
        request : a request of :mod:`antares.pipeline.requests`
            :class:`~antares.pipeline.requests.RecipeRequest` (``apply_recipe``),
            :class:`~antares.pipeline.requests.SegmentRequest` (``segment``),
            :class:`~antares.pipeline.requests.SampleRequest` (the training features, ``training_features``),
            :class:`~antares.pipeline.requests.FitRequest` (``model_fit``),
            :class:`~antares.pipeline.requests.PredictRequest` (``model_predict_object``),
            :class:`~antares.pipeline.requests.PixelRequest` (``model_predict``) or
            :class:`~antares.pipeline.requests.ViewRequest` (``view``). It was validated when made.
        progress : callable or bool, optional
            ``progress(done, total)`` as the stage reports it (tiles, windows, folds, layers); ``True`` draws
            a ``tqdm.auto`` bar (a widget in Jupyter).

        Returns
        -------
        object
            The stage's report (``RecipeReport``, ``SegmentReport``, ``TrainingFeatures``, ``FitReport``,
            ``PredictReport``, ``PixelReport``, ``ViewReport``); its ``lines()`` are what the command prints.

        Raises
        ------
        UsageError
            ``request`` is not one of these requests (they are listed).
        AntaresError
            What the stage raises (see each stage).

        Examples
        --------
        >>> from odc.geo.geom import box
        >>> from antares.pipeline.requests import PredictRequest, SegmentRequest
        >>> area = box(12.55, 52.47, 12.57, 52.48, "EPSG:4326")
        >>> session.run(SegmentRequest("b10", "slic_nb", area, "slic", scheduler="sync"))  # doctest: +SKIP
        >>> session.run(PredictRequest("b10", "rf_2017", "slic_nb", "map_nb"), progress=True)  # doctest: +SKIP
        """
        import importlib

        from antares.errors import UsageError

        target = STAGES.get(type(request).__name__) if type(request).__module__ == "antares.pipeline.requests" else None
        if target is None:
            raise UsageError(f"Session.run takes a request of antares.pipeline.requests ({', '.join(STAGES)}). "
                             f"Got {type(request).__name__}.")
        module, function = target.split(":")
        stage = getattr(importlib.import_module(module), function)
        if progress is True:
            from tqdm.auto import tqdm

            with tqdm(desc=function, total=None) as bar:
                def draw(done, total):
                    bar.total = total
                    bar.update(done - bar.n)

                return stage(self.settings, request, progress=draw)
        return stage(self.settings, request, progress=progress or None)

    def store_model(self, result, name: str, product: str, scheme: str, overwrite: bool = False) -> str:
        """Store a model fitted in the notebook as ``antares model_fit`` stores one (skops or LightGBM text, never pickle).

        Parameters
        ----------
        result : antares.train.FitResult
            From :func:`antares.train.fit`; its estimator must be of a registered model kind (``rf``, ``lightgbm``).
        name : str
            The model's name (the name rule of :func:`antares.names.check_name`).
        product : str
            The product whose measurements are the model's features (recorded; predictions check it).
        scheme : str
            The class scheme of its classes: an existing scheme must have the result's legend (same codes and
            names); a new one is created with it.
        overwrite : bool
            Replace a stored model of the same name (and its classifications).

        Returns
        -------
        str
            The kind stored (``rf``, ``lightgbm``).

        Raises
        ------
        AlreadyExistsError
            Model ``name`` exists and ``overwrite`` is False.
        InvalidInputError
            The estimator is of no registered kind, or ``scheme`` exists with another legend.
        RunningError
            A ``model_fit`` of the same name is running.

        Examples
        --------
        >>> result = fit(data, samples, "class", legend=samples.attrs["legend"])  # doctest: +SKIP
        >>> session.store_model(result, "rf_notebook", "b10", scheme="osm_train")  # doctest: +SKIP
        """
        from antares.db.engine import session_scope
        from antares.db.models import model_exists, replace_model
        from antares.db.training import create_scheme, scheme_id, scheme_legend
        from antares.errors import AlreadyExistsError
        from antares.models.registry import MODELS
        from antares.models.store import library_versions, serialize
        from antares.names import check_name
        from antares.pipeline.run import recorded_run
        from antares.pipeline.train import _jsonable

        check_name(name)
        estimator = result.estimator
        kinds = [k for k in MODELS if isinstance(estimator, MODELS.get(k).factory())]
        if not kinds:
            raise InvalidInputError(f"the estimator is a {type(estimator).__name__}, of no registered model kind "
                                    f"({', '.join(MODELS)}); fit it with antares.train.fit.")
        kind = kinds[0]
        legend = list(result.legend)
        meta = {"features": list(result.features), "aggregation": "mean", "unit": "polygons",
                "legend": [{"code": e.code, "name": e.name, "colour": e.colour} for e in legend],
                "classes": [int(c) for c in estimator.classes_], "product": product, "crs": None,
                "training_set": None, "params": result.params, "cv": result.cv, "grid": result.grid,
                "samples_per_class": {str(k): int(v) for k, v in result.samples_per_class.items()},
                "source": "antares.Session.store_model", "versions": library_versions()}
        blob = serialize(estimator)
        with recorded_run(self.settings, "model_fit", name) as run:
            with session_scope(self.settings) as session:
                if model_exists(session, name) and not overwrite:
                    raise AlreadyExistsError(f"model '{name}' exists; use overwrite=True to replace it or choose another name.")
                sid = scheme_id(session, scheme)
                if sid is None:
                    sid = create_scheme(session, scheme, legend, description=f"from antares.Session.store_model {name}")
                else:
                    stored = {(e.code, e.name) for e in scheme_legend(session, sid)}
                    if not {(e.code, e.name) for e in legend} <= stored:
                        raise InvalidInputError(
                            f"scheme '{scheme}' has another legend ({', '.join(f'{c}={n}' for c, n in sorted(stored))}) than "
                            f"the model's ({', '.join(f'{e.code}={e.name}' for e in legend)}); give another scheme name.")
                run.start({"model": kind, "product": product, "source": "notebook", "params": _jsonable(result.params)},
                          {"product": product}, session=session)
                replace_model(session, name, kind, sid, run.id, product, blob, _jsonable(meta))
                run.finish(session=session)
        return kind
