"""Change layers in ``antares view`` (opened in headless Chromium) and ``antares quicklook``, on real Sentinel-2 L2A.

The change detections are made by ``detect_change`` on the two clear Romania dates (2018 vs 2020), one with
the two classifications of tests/integration/test_change_transitions_real_data.py (objects with a class
before and after), one without. What the page and the figure show is compared with the change objects read
from PostGIS and the class names of the scheme.
"""

import base64
import io
import json
import re

import numpy as np
import pytest

from helpers import db_rows, invoke_ok
from test_change_transitions_real_data import chg_product, maps
from test_view_browser_real_data import _chromium

_FIXTURES = (chg_product, maps)  # used by name below
BASE = ["detect_change", "-a", "distance", "-p_pre", "chg_ro", "-p_post", "chg_ro", "-y_pre", "2018", "-y_post", "2020",
        "-b", "B08", "-b", "B11", "--bbox", "22.140", "45.195", "22.166", "45.215", "-extra", "threshold=otsu"]
NAMES = {1: "forest", 2: "open land"}


@pytest.fixture(scope="module")
def changes(settings, maps, chg_product, tmp_path_factory):
    from click.testing import CliRunner

    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}
    runner = CliRunner()
    invoke_ok(runner, BASE + ["-n", "vchg_lab", "-lc_pre", "chg_map_2018", "-lc_post", "chg_map_2020",
                              "--no-label-filter"], env)
    invoke_ok(runner, BASE + ["-n", "vchg_plain"], env)
    return runner, env, tmp_path_factory.mktemp("vchg")


def _objects(settings, name):
    return db_rows(settings.db_url, "SELECT o.object_id, o.pre_class, o.post_class FROM antares.change_object o "
                   "JOIN antares.change_detection d ON d.id = o.change_id WHERE d.name = :n ORDER BY 1", n=name)


def _label(pre, post):
    return f"{'?' if pre is None else NAMES[pre]} → {'?' if post is None else NAMES[post]}"


def test_change_layers_in_headless_chromium(settings, changes):
    runner, env, tmp = changes
    labelled, plain = _objects(settings, "vchg_lab"), _objects(settings, "vchg_plain")
    transitions = {_label(pre, post) for _, pre, post in labelled}
    assert len(labelled) > 5 and len(plain) > 5 and len(transitions) >= 2  # the test means something
    out = tmp / "change.html"
    result = invoke_ok(runner, ["view", "vchg_lab", "change:vchg_plain", "-f", str(out)], env)
    assert f"wrote {out.resolve()}: 2 layer(s)" in result.output
    assert f"change vchg_lab: {len(labelled)} change objects, {len(transitions)} transition(s)" in result.output
    page = out.read_text()
    assert page.count('"type": "Feature"') == len(labelled) + len(plain)
    for text in transitions:
        assert page.count(f'"change": {json.dumps(text)}') == sum(1 for _, a, b in labelled if _label(a, b) == text)

    dom = _chromium("--dump-dom", out.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert len(re.findall(r"<path\b[^>]*class=\"leaflet-interactive\"", html)) == len(labelled) + len(plain)
    legend = html[html.index('class="antares-legend"'):]
    shown = re.findall(r'<span class="antares-legend-name">([^<]*)</span>', legend)
    assert sorted(shown) == sorted(transitions | {"change"})  # every transition, and the plain layer's one entry
    for name in ("vchg_lab", "vchg_plain"):
        assert re.search(rf"<span> {name} \(change\)</span>", html), name
    png = tmp / "change.png"
    shot = _chromium(f"--screenshot={png}", "--window-size=900,700", out.resolve().as_uri())
    assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    from matplotlib.image import imread

    image = imread(png)[..., :3]
    assert image.shape[:2] == (700, 900) and image.std() > 0.02  # not a blank page
    red = (np.abs(image - np.array([0xe3, 0x1a, 0x1c]) / 255).max(axis=2) < 0.08).sum()
    assert red > 100  # the plain detection's objects, drawn in their colour


def test_a_large_change_layer_is_an_image_of_the_transition_colours(settings, changes):
    from antares.config import load_settings
    from antares.pipeline.view import view

    _, _, tmp = changes
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    report = view(s, ["vchg_lab"], tmp / "raster.html", max_objects=2, raster_size=512)
    assert "(image)" in report.lines()[1]
    page = (tmp / "raster.html").read_text()
    assert '"type": "Feature"' not in page
    from matplotlib.image import imread

    images = re.findall(r'L\.imageOverlay\(\s*"data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    rgba = (imread(io.BytesIO(base64.b64decode(images[0])), format="png") * 255).round().astype(int)
    drawn = {"#%02x%02x%02x" % tuple(p) for p in rgba[rgba[..., 3] > 0][:, :3]}
    legend = dict(zip(re.findall(r'<span class="antares-legend-name">([^<]*)</span>', page),
                      re.findall(r'background:(#[0-9a-f]{6})"></span><span class="antares-legend-name">', page)))
    assert set(legend) == {_label(a, b) for _, a, b in _objects(settings, "vchg_lab")}
    assert drawn == set(legend.values()) and len(drawn) == len(legend)  # one colour per transition, all drawn


def test_quicklook_of_a_change_detection(settings, changes):
    from antares.cli.main import cli
    from antares.config import load_settings
    from antares.pipeline.plot import quicklook

    runner, env, tmp = changes
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    report = quicklook(s, "vchg_lab", tmp / "q.png", size=400)
    assert (tmp / "q.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = report.figure.axes[0]
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == sorted(
        {_label(a, b) for _, a, b in _objects(settings, "vchg_lab")})
    assert "change detection vchg_lab: distance between chg_ro 2018 and chg_ro 2020" in report.credits
    assert "classes from chg_map_2018 and chg_map_2020" in report.credits
    plain = invoke_ok(runner, ["quicklook", "change:vchg_plain", "-f", str(tmp / "p.svg")], env)
    assert f"change vchg_plain, {len(_objects(settings, 'vchg_plain'))} change objects" in plain.output
    assert (tmp / "p.svg").read_text().lstrip().startswith("<?xml")
    unknown = runner.invoke(cli, ["quicklook", "change:nope", "-f", str(tmp / "n.png")], env=env)
    assert unknown.exit_code == 1 and unknown.stderr.count("\n") == 1
    assert "no layer named 'change:nope'; layers: " in unknown.stderr and "change: " in unknown.stderr
    assert "vchg_lab" in unknown.stderr and not (tmp / "n.png").exists()


def test_db_to_vector_of_a_change_detection_counts_its_objects(settings, changes):
    import pyogrio

    from antares.config import load_settings
    from antares.pipeline.export import db_to_vector

    _, _, tmp = changes
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    calls = []
    report = db_to_vector(s, "vchg_plain", tmp / "plain.fgb", progress=lambda done, total: calls.append((done, total)))
    n = len(_objects(settings, "vchg_plain"))
    assert report.features == n == len(pyogrio.read_dataframe(tmp / "plain.fgb"))
    assert calls == [(n, n)]  # one batch (fewer than 10,000 objects), of all of them
