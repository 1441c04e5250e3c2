"""`bi_change_params`, detect_change's antares3 flags and the several-values `-extra` (GreedyOption)."""

import json

import click
import pytest
from click.testing import CliRunner

from antares.cli.main import cli
from antares.cli.options import GreedyOption, extra_option, parse_extra_params


def test_greedy_option_takes_several_values_after_one_flag():
    @click.command()
    @extra_option("params")
    @click.option("-p_pre", "pre")
    @click.argument("rest", nargs=-1)
    def show(extra, pre, rest):
        click.echo(json.dumps({"extra": list(extra), "pre": pre, "rest": list(rest)}))

    result = CliRunner().invoke(show, ["-extra", "a=1", "b=2", "-p_pre", "x", "-extra", "c=3", "positional"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"extra": ["a=1", "b=2", "c=3"], "pre": "x", "rest": ["positional"]}
    assert isinstance(show.params[0], GreedyOption)


def test_extra_values_are_converted_and_checked():
    from antares.change import CHANGE_METHODS
    from antares.errors import UsageError

    params = CHANGE_METHODS.get("imadmaf").params
    assert parse_extra_params(params, "imadmaf", ["threshold=kapur", "p_value=0.05", "maf=false", "components=none",
                                                  "max_iterations=7"]) == {
        "threshold": "kapur", "p_value": 0.05, "maf": False, "components": None, "max_iterations": 7}
    with pytest.raises(UsageError, match="unknown parameter 'lambda' for imadmaf; valid parameters: threshold"):
        parse_extra_params(params, "imadmaf", ["lambda=1"])
    with pytest.raises(UsageError, match="The 'max_iterations' parameter of imadmaf must be an int >= 1. Got 'x'."):
        parse_extra_params(params, "imadmaf", ["max_iterations=x"])


def test_bi_change_params(runner):
    listed = runner.invoke(cli, ["bi_change_params"])
    assert listed.exit_code == 0 and "distance" in listed.output and "imadmaf" in listed.output
    one = runner.invoke(cli, ["bi_change_params", "imadmaf", "--json"])
    doc = json.loads(one.output)
    assert {p["parameter"] for p in doc["parameters"]} >= {"threshold", "p_value", "max_iterations", "min_delta",
                                                           "regularisation", "maf"}
    unknown = runner.invoke(cli, ["bi_change_params", "pca"])
    assert unknown.exit_code == 2 and "unknown algorithm 'pca'; valid algorithms: distance, imadmaf" in unknown.output


@pytest.mark.parametrize("extra, fragment", [
    (["-extra", "threshold=median"], "The 'threshold' parameter of imadmaf must be a threshold among"),
    (["-extra", "threshold=kapur", "nope=1"], "unknown parameter 'nope' for imadmaf"),
    (["-mmu", "-5"], "-mmu must be an area > 0"),
])
def test_detect_change_usage_errors_before_any_work(runner, extra, fragment):
    result = runner.invoke(cli, ["detect_change", "-a", "imadmaf", "-n", "x", "-p_pre", "a", "-p_post", "b",
                                 "--bbox", "0", "0", "1", "1", *extra],
                           env={"ANTARES_DB_URL": "postgresql+psycopg2://odc@127.0.0.1:5999/antares"})
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
