"""--plot of model_fit_timeseries and model show on the real WorldCereal table: the PNG shows the stored curve."""

import numpy as np
import pytest

from helpers import db_rows, invoke_ok

TABLE = "worldcereal-belgium/original/test_public_extractions.parquet"


@pytest.fixture(scope="module")
def small(data_dir, tmp_path_factory):
    import pandas as pd

    frame = pd.read_parquet(data_dir / TABLE)
    part = pd.concat([frame[frame["sampling_label"] == c].head(15) for c in ("sorghum", "maize")])
    path = tmp_path_factory.mktemp("plot") / "small.parquet"
    part.to_parquet(path)
    return path


def test_fit_and_show_write_the_stored_curve(settings, runner, small, tmp_path):
    from PIL import Image

    from antares.config import load_settings
    from antares.pipeline.fit_timeseries import plot_training_curve
    from antares.pipeline.train import load_model

    env = {"ANTARES_DB_URL": settings.db_url}
    fitted = tmp_path / "fit.png"
    result = invoke_ok(runner, ["model_fit_timeseries", "--timeseries", str(small), "--label", "sampling_label",
                                "-model", "tempcnn", "--name", "deep_plot", "--device", "cpu", "-extra", "epochs=4",
                                "-extra", "batch_size=8", "--plot", str(fitted)], env)
    assert f"written to {fitted}" in result.output
    shown = tmp_path / "show.png"
    assert f"written to {shown}" in invoke_ok(runner, ["model", "show", "deep_plot", "--plot", str(shown)], env).output
    for path in (fitted, shown):
        with Image.open(path) as image:
            assert image.format == "PNG" and path.stat().st_size > 0 and min(image.size) > 100
    local = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    _, meta = load_model(local, "deep_plot", estimator=False)
    report = plot_training_curve(local, "deep_plot", tmp_path / "again.png")
    lines = {line.get_label(): line for axes in report.figure.axes for line in axes.get_lines()}
    history = meta["history"]
    assert len(history) == 4 and report.epochs == 4
    np.testing.assert_array_equal(lines["loss"].get_xdata(), [h["epoch"] for h in history])
    np.testing.assert_array_equal(lines["loss"].get_ydata(), [h["loss"] for h in history])
    np.testing.assert_array_equal(lines["validation loss"].get_ydata(), [h["val_loss"] for h in history])
    np.testing.assert_array_equal(lines["validation OA"].get_ydata(), [h["val_oa"] for h in history])
    assert list(lines[f"best epoch {meta['best_epoch']}"].get_xdata()) == [meta["best_epoch"]] * 2
    # the same figure written twice is the same image
    with Image.open(shown) as a, Image.open(tmp_path / "again.png") as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_bad_plot_path_refused_before_the_fit(settings, runner, small, tmp_path):
    from antares.cli.main import cli

    env = {"ANTARES_DB_URL": settings.db_url}
    result = runner.invoke(cli, ["model_fit_timeseries", "--timeseries", str(small), "--label", "sampling_label",
                                 "-model", "tempcnn", "--name", "deep_plot_refused", "--plot", str(tmp_path / "c.xyz")],
                           env=env)
    assert result.exit_code == 2 and "--plot" in result.output and "cannot write a .xyz" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.model WHERE name = 'deep_plot_refused'")[0][0] == 0
    missing = runner.invoke(cli, ["model", "show", "no_such_model_19", "--plot", str(tmp_path / "m.png")], env=env)
    assert missing.exit_code != 0 and not (tmp_path / "m.png").exists()
