"""`antares segment_params`: the algorithms and parameters come from the segmenters' declarations."""

import json

from antares.cli.main import cli
from antares.segmentation import SEGMENTERS


def test_lists_every_algorithm(runner):
    result = runner.invoke(cli, ["segment_params", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["algorithm"] for r in rows] == sorted(SEGMENTERS) == ["bis", "felzenszwalb", "slic"]
    assert all(r["description"] for r in rows)


def test_bis_parameters_with_defaults_and_ranges(runner):
    result = runner.invoke(cli, ["segment_params", "bis"])
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[3:]}
    assert "40.000" in lines["t"] and "float > 0" in lines["t"]
    assert "0.500" in lines["s"] and "float in [0, 1]" in lines["s"]
    assert "0.700" in lines["c"] and "float in [0, 1]" in lines["c"]
    declared = json.loads(runner.invoke(cli, ["segment_params", "bis", "--json"]).stdout)
    assert [p["parameter"] for p in declared["parameters"]] == [p.name for p in SEGMENTERS["bis"].params]
    assert {p["parameter"]: p["default"] for p in declared["parameters"]}["t"] == 40.0


def test_unknown_algorithm(runner):
    result = runner.invoke(cli, ["segment_params", "watershed"])
    assert result.exit_code == 2
    assert result.output.strip() == "antares: error: unknown algorithm 'watershed'; valid algorithms: bis, felzenszwalb, slic."
