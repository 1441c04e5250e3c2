"""model_fit_timeseries on a subset of the real WorldCereal extractions: CLI = API, stored as safetensors, refusals."""

import numpy as np
import pytest

from helpers import db_rows, invoke_ok

TABLE = "worldcereal-belgium/original/test_public_extractions.parquet"
CLASSES = ("sorghum", "maize", "other_oilseeds")
PARAMS = ["-extra", "epochs=3", "-extra", "batch_size=8", "-extra", "patience=2"]


@pytest.fixture(scope="module")
def subset(data_dir, tmp_path_factory):
    """12 samples of each of 3 classes of the real table, as its own parquet file."""
    import pandas as pd

    frame = pd.read_parquet(data_dir / TABLE)
    part = pd.concat([frame[frame["sampling_label"] == c].head(12) for c in CLASSES])
    path = tmp_path_factory.mktemp("deep") / "subset.parquet"
    part.to_parquet(path)
    return path


def _settings(settings):
    from antares.config import load_settings

    return load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})


def test_fit_store_load_predict(settings, runner, subset):
    from antares.deep.table import read_table
    from antares.pipeline.train import load_model
    from antares.train import fit_timeseries

    env = {"ANTARES_DB_URL": settings.db_url}
    args = ["model_fit_timeseries", "--timeseries", str(subset), "--label", "sampling_label", "--sensors", "s1,s2",
            "--fusion", "tsa", "-model", "ltae", "--name", "deep_ltae", "--seed", "4", "--device", "cpu", *PARAMS]
    result = invoke_ok(runner, args, env)
    assert "ltae fitted on 36 samples (maize 12, other_oilseeds 12, sorghum 12)" in result.output
    (kind, product, arch, size), = db_rows(settings.db_url, "SELECT kind, product, metadata->>'architecture', "
                                           "octet_length(blob) FROM antares.model WHERE name = 'deep_ltae'")
    assert (kind, product, arch) == ("ltae", "table:subset.parquet", "ltae") and size > 10_000
    estimator, meta = load_model(_settings(settings), "deep_ltae")
    assert meta["format"] == "safetensors" and meta["sensors"]["s1"]["channels"] == ["VH", "VV"]
    assert len(meta["sensors"]["s2"]["channels"]) == 10 and meta["sensors"]["s2"]["days"][0] == 335  # 2016-12-01
    table = read_table(subset, "sampling_label")
    sets = table.select(["s1", "s2"])
    # the same fit through the Python API: identical probabilities (seeded, one thread)
    api = fit_timeseries(sets, table.labels, "ltae", params={"epochs": 3, "batch_size": 8, "patience": 2,
                                                             "fusion": "tsa", "device": "cpu"}, seed=4)
    stored = estimator.predict_proba(sets)
    np.testing.assert_array_equal(stored, api.estimator.predict_proba(sets))
    codes = {e["name"]: e["code"] for e in meta["legend"]}
    assert sorted(codes) == sorted(CLASSES) and sorted(estimator.classes_) == sorted(codes.values())
    shown = invoke_ok(runner, ["model", "show", "deep_ltae"], env).output
    assert "architecture ltae, fusion tsa (tsa)" in shown and "epoch 1: loss" in shown
    assert "stored as: safetensors weights + JSON configuration" in shown


@pytest.mark.parametrize("extra_args, code, message", [
    (["--sensors", "s2", "--fusion", "early"], 2, "--fusion early needs two sensors (--sensors s1,s2); got s2"),
    (["--sensors", "s1,s2"], 2, "--sensors s1,s2 needs --fusion early, pse, tsa or decision"),
    (["--sensors", "s3"], 2, "--sensors must be s2, s1 or s1,s2. Got 's3'"),
    (["-model", "rf"], 2, "-model 'rf' is not a pixel-set time-series model; valid: pse_tae, ltae, tempcnn"),
    (["-extra", "n_head=0"], 2, "The 'n_head' parameter of LTae must be an int in [1, 64]. Got 0"),
    (["--label", "nope"], 1, "has no label column 'nope'"),
])
def test_bad_input_one_line_nothing_written(settings, runner, subset, extra_args, code, message):
    from antares.cli.main import cli

    env = {"ANTARES_DB_URL": settings.db_url}
    args = ["model_fit_timeseries", "--timeseries", str(subset), "--label", "sampling_label", "-model", "ltae",
            "--name", "deep_refused", *PARAMS]
    for i in range(0, len(extra_args), 2):  # the case's options replace the defaults
        if extra_args[i] in args:
            args[args.index(extra_args[i]) + 1] = extra_args[i + 1]
        else:
            args += extra_args[i:i + 2]
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == code, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.model WHERE name = 'deep_refused'")[0][0] == 0


def test_cuda_without_cuda_is_refused(settings, runner, subset):
    import torch

    from antares.cli.main import cli

    if torch.cuda.is_available():  # a machine with a GPU: --device cuda is accepted (the fit itself is tested above)
        from antares.deep.classifier import resolve_device

        assert resolve_device("cuda") == "cuda"
        return
    result = runner.invoke(cli, ["model_fit_timeseries", "--timeseries", str(subset), "--label", "sampling_label",
                                 "-model", "tempcnn", "--name", "deep_cuda", "--device", "cuda"],
                           env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 2 and "--device cuda: torch" in result.output and "sees no CUDA device" in result.output
