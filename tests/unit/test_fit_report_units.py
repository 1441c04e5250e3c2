"""model_fit's printed report names the unit its accuracies count (issue 18: polygons or pixels)."""

import numpy as np
import pytest

from antares.legend import LegendEntry
from antares.models.fitting import fit_model
from antares.pipeline.train import FitReport


@pytest.mark.parametrize("unit", ["polygons", "pixels"])
def test_cv_and_grid_lines_name_the_unit(unit):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (40, 3)), rng.normal(3, 1, (40, 3))])
    y = np.repeat([1, 2], 40)
    groups = np.arange(80) // 4  # 20 groups of 4 samples, never split
    outcome = fit_model("rf", X, y, groups, {"n_estimators": 5}, 4, {"max_depth": [2, 3]}, 0, 1, codes=[1, 2])
    legend = [LegendEntry(1, "a", "#000000"), LegendEntry(2, "b", "#ffffff")]
    report = FitReport("m", "rf", samples=80, used=80, per_class=outcome.samples_per_class, cv=outcome.cv,
                       grid=outcome.grid, legend=legend, unit=unit)
    lines = report.lines()
    assert f"4-fold grouped cross-validation, accuracy counted in held-out {unit}:" in lines
    grid = [line for line in lines if line.startswith("grid ")]
    assert len(grid) == 2 and all(line.endswith(f"(held-out {unit})") for line in grid)
    assert lines[0].startswith(f"model m (rf) fitted on 80 {unit[:-1]} sample(s)")
    # the folds hold out every sample once: the printed n_test count the same unit as the title
    assert sum(f["n_test"] for f in outcome.cv["folds"]) == 80
