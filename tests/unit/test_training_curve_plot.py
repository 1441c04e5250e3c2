"""The training-curve figure of the temporal deep models: its line data are the stored curve; PNG written whole."""

import numpy as np
import pytest

HISTORY = [{"epoch": 1, "loss": 1.2, "val_loss": 1.1, "val_oa": 0.4},
           {"epoch": 2, "loss": 0.9, "val_loss": 0.95, "val_oa": 0.55},
           {"epoch": 3, "loss": 0.7, "val_loss": 1.0, "val_oa": 0.5},
           {"epoch": 4, "loss": 0.6, "val_loss": None, "val_oa": None}]


def _lines(figure):
    lines = {}
    for axes in figure.axes:
        for line in axes.get_lines():
            lines[line.get_label()] = (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
    return lines


def test_figure_holds_the_stored_curve():
    from antares.export.plots import training_curve_figure

    figure = training_curve_figure(HISTORY, 2, "m")
    lines = _lines(figure)
    assert set(lines) == {"loss", "validation loss", "validation OA", "best epoch 2"}
    np.testing.assert_array_equal(lines["loss"][0], [1, 2, 3, 4])
    np.testing.assert_array_equal(lines["loss"][1], [1.2, 0.9, 0.7, 0.6])
    np.testing.assert_array_equal(lines["validation loss"][1], [1.1, 0.95, 1.0, np.nan])
    np.testing.assert_array_equal(lines["validation OA"][1], [0.4, 0.55, 0.5, np.nan])
    np.testing.assert_array_equal(lines["best epoch 2"][0], [2, 2])  # a vertical line at the best epoch
    # the validation OA is on its own axis in [0, 1], the losses on the first one
    assert figure.axes[1].get_ylim() == (0, 1) and "validation OA" not in [l.get_label() for l in figure.axes[0].get_lines()]


def test_png_written_through_a_temporary_file(tmp_path):
    from matplotlib.image import imread
    from PIL import Image

    from antares.export.plots import save_figure, training_curve_figure

    path = save_figure(training_curve_figure(HISTORY, None, "m"), tmp_path / "curve.png")
    assert path.stat().st_size > 0 and sorted(p.name for p in tmp_path.iterdir()) == ["curve.png"]
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 200
        size = image.size
    assert imread(path).shape[:2] == (size[1], size[0])


def test_plot_path_refusals(tmp_path):
    from antares.errors import AlreadyExistsError, UsageError
    from antares.pipeline.fit_timeseries import check_plot_path

    with pytest.raises(UsageError, match=r"^--plot .*curve.xyz: matplotlib cannot write a .xyz"):
        check_plot_path(tmp_path / "curve.xyz")
    (tmp_path / "c.png").write_bytes(b"x")
    with pytest.raises(AlreadyExistsError, match="use --overwrite"):
        check_plot_path(tmp_path / "c.png")
    assert check_plot_path(tmp_path / "c.png", overwrite=True) == (tmp_path / "c.png").absolute()
