"""antares3 command lines parse to exactly what their antares forms parse to (issue 23).

Each case is an antares3 command line (from antares3's argparse definitions and documentation)
and the antares command line that means the same: both go through the real ``antares`` group
(:meth:`AntaresGroup.resolve_command`, then click), and the parameters the command receives
must be equal. Equal parameters mean the stage runs with the same inputs, so the outputs are
the same; the end-to-end runs of both forms live in tests/integration (test_antares3_e2e.py, and the
antares3 tests of test_apply_recipe.py, test_change_real_data.py and test_model_fit.py).
"""

import click
import pytest

from antares.cli.main import cli

CASES = [
    # apply_recipe: -name
    (["apply_recipe", "-recipe", "s2_10m_001", "-b", "2018-01-01", "-e", "2018-12-31", "-region", "jalisco",
      "-name", "rec"],
     ["apply_recipe", "--recipe", "s2_10m_001", "--begin", "2018-01-01", "--end", "2018-12-31", "--region", "jalisco",
      "--name", "rec"]),
    # segment: -b with several values, -extra k=v k=v, -r, --bands, --extra_kwargs
    (["segment", "-a", "bis", "-b", "ndvi_mean", "red_mean", "-n", "seg", "-p", "rec", "-r", "jalisco",
      "-extra", "t=40", "s=0.5", "c=0.7"],
     ["segment", "--algorithm", "bis", "--band", "ndvi_mean", "--band", "red_mean", "--name", "seg", "--product", "rec",
      "--region", "jalisco", "--extra", "t=40", "--extra", "s=0.5", "--extra", "c=0.7"]),
    (["segment", "-a", "slic", "--bands", "B04", "B08", "-n", "seg", "-p", "rec", "--extra_kwargs", "n_segments=50"],
     ["segment", "-a", "slic", "-b", "B04", "-b", "B08", "-n", "seg", "-p", "rec", "-extra", "n_segments=50"]),
    # model_fit: -name, --spatial_aggregation, -extra with several values
    (["model_fit", "-model", "rf", "-p", "rec", "-t", "train", "-name", "rf1", "--spatial_aggregation", "mean",
      "-extra", "n_estimators=50", "max_depth=8", "-sc", "sync"],
     ["model_fit", "--model", "rf", "--product", "rec", "--training", "train", "--name", "rf1",
      "--spatial-aggregation", "mean", "--extra", "n_estimators=50", "--extra", "max_depth=8", "--scheduler", "sync"]),
    # model_fit: -categorical_variables with several values, --remove-outliers, -filename (antares3's examples)
    (["model_fit", "-model", "xgb", "-p", "rec", "-t", "train", "-name", "x1", "-categorical_variables", "soil",
      "zone", "--remove-outliers"],
     ["model_fit", "--model", "xgb", "--product", "rec", "--training", "train", "--name", "x1",
      "--categorical-variables", "soil", "--categorical-variables", "zone", "--remove-outliers"]),
    (["model_fit", "-p", "s2_001_jalisco_2017_0", "-t", "jalisco_bits", "--region", "Jalisco", "--filename",
      "training_sentinel2_jalisco_bits.parquet"],
     ["model_fit", "--product", "s2_001_jalisco_2017_0", "--training", "jalisco_bits", "--region", "Jalisco",
      "-filename", "training_sentinel2_jalisco_bits.parquet"]),
    # model_predict_object: -r, --spatial_aggregation
    (["model_predict_object", "-p", "rec", "-m", "rf1", "-s", "seg", "-n", "map", "-r", "jalisco",
      "--spatial_aggregation", "mean"],
     ["model_predict_object", "--product", "rec", "--model", "rf1", "--segmentation", "seg", "--name", "map",
      "--region", "jalisco", "--spatial-aggregation", "mean"]),
    # db_to_vector: --filename, -p PROJ4
    (["db_to_vector", "-n", "map", "-region", "jalisco", "--filename", "map.gpkg", "-l", "classes", "-d", "GPKG",
      "-p", "+proj=utm +zone=14 +datum=WGS84 +units=m +no_defs"],
     ["db_to_vector", "--name", "map", "--region", "jalisco", "--file", "map.gpkg", "--layer", "classes",
      "--driver", "GPKG", "--crs", "+proj=utm +zone=14 +datum=WGS84 +units=m +no_defs"]),
    # db_to_raster: -res, -p, --filename
    (["db_to_raster", "-n", "map", "-region", "jalisco", "-f", "map.tif", "-res", "30", "-p", "EPSG:32614"],
     ["db_to_raster", "--name", "map", "--region", "jalisco", "--file", "map.tif", "--resolution", "30",
      "--crs", "EPSG:32614"]),
    # validate: -r
    (["validate", "-c", "map", "-val", "val", "-r", "jalisco"],
     ["validate", "--classification", "map", "--validation", "val", "--region", "jalisco"]),
    # ingest_validation: positional file, -scheme -field -name -year
    (["ingest_validation", "val.gpkg", "-scheme", "madmex", "-field", "code", "-name", "val2018", "-year", "2018"],
     ["ingest_validation", "val.gpkg", "--scheme", "madmex", "--field", "code", "--dataset", "val2018",
      "--year", "2018"]),
    # ingest_training: --shape FILE --interpret FIELD --dataset --scheme --year --filter N
    (["ingest_training", "--shape", "train.shp", "--interpret", "code", "--dataset", "t", "--scheme", "madmex",
      "--year", "2018", "--filter", "5"],
     ["ingest_training", "train.shp", "--field", "code", "--dataset", "t", "--scheme", "madmex", "--year", "2018",
      "--filter", "5"]),
    # prepare_metadata: -p -d -o -pattern
    (["prepare_metadata", "-p", "/data/s2", "-d", "s2_l2a", "-o", "meta.yaml", "-pattern", "T14*"],
     ["prepare_metadata", "--path", "/data/s2", "--dataset_name", "s2_l2a", "--outfile", "meta.yaml",
      "--pattern", "T14*"]),
]


def parse(args):
    """The parameters command ``args[0]`` receives for ``args``, through the real group."""
    ctx = click.Context(cli, info_name="antares")
    name, command, rest = cli.resolve_command(ctx, list(args))
    return command.make_context(name, list(rest), parent=ctx).params


@pytest.mark.parametrize("antares3, antares", CASES, ids=[c[0][0] + "-" + str(i) for i, c in enumerate(CASES)])
def test_antares3_form_parses_like_the_antares_form(antares3, antares):
    assert parse(antares3) == parse(antares)


def test_several_values_after_one_flag_equal_repeated_flags():
    params = parse(["segment", "-a", "bis", "-b", "B02", "B03", "B04", "-n", "s", "-p", "p",
                    "-extra", "t=40", "s=0.5"])
    assert list(params["bands"]) == ["B02", "B03", "B04"]
    assert len(params["extra"]) == 2


def test_values_after_a_flag_never_swallow_a_positional_argument():
    # ingest_training has a positional FILE: only k=v tokens extend a repeated option there
    params = parse(["ingest_training", "--field", "code", "--dataset", "t", "train.gpkg"])
    assert params["file"] == "train.gpkg"


def test_option_values_are_not_rewritten():
    params = parse(["ingest_training", "train.gpkg", "--field", "-name", "--dataset", "t"])
    assert params["field_name"] == "-name"


@pytest.mark.parametrize("args, message", [
    (["db_to_vector", "-n", "map", "-f", "x.gpkg", "-dir", "out"], "antares db_to_vector has no option -dir"),
    (["model_fit", "-model", "rf", "-p", "p", "-t", "t", "-filename", "x.parquet", "--load-dataset"],
     "antares model_fit has no option --load-dataset (an antares3 option): it read a pickle back"),
    (["prepare_metadata", "-p", "/data", "-d", "s2_l2a", "-b", "bucket"], "S3 bucket is not supported"),
])
def test_antares3_options_antares_lacks_are_refused_not_misread(args, message):
    with pytest.raises(click.UsageError) as caught:
        parse(args)
    assert message in caught.value.format_message()


def test_refusal_is_one_line_and_exit_2(runner):
    result = runner.invoke(cli, ["db_to_vector", "-n", "map", "-f", "x.gpkg", "-dir", "out"])
    assert result.exit_code == 2
    assert "no option -dir (an antares3 option)" in result.stderr
    assert "Traceback" not in result.output


# short option -> the two meanings antares3 itself gave it (antares3's meaning wins in each command; docs/antares3.md)
ANTARES3_CLASHES = {
    "-b": {"--begin", "--band"},  # apply_recipe/model_fit -b begin; segment (and detect_change) -b bands
    "-d": {"--driver", "--datasource"},  # db_to_vector -d driver; segment -d datasource
}


def _short_option_meanings():
    import collections

    ctx = click.Context(cli)
    uses = collections.defaultdict(lambda: collections.defaultdict(list))

    def walk(command, path):
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])
            return
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            names = [*param.opts, *param.secondary_opts]
            longs = [o for o in names if o.startswith("--")]
            for short in (o for o in names if not o.startswith("--")):
                uses[short][longs[0] if longs else param.name].append(" ".join(path))

    for name in cli.list_commands(ctx):
        walk(cli.get_command(ctx, name), [name])
    return uses


def test_every_short_option_has_one_meaning_across_commands():
    """A letter means one thing in every command, except where antares3 gave it two (listed, documented)."""
    clashes = {short: {k: sorted(v) for k, v in meanings.items()}
               for short, meanings in _short_option_meanings().items() if len(meanings) > 1}
    unexplained = {s: m for s, m in clashes.items() if set(m) != ANTARES3_CLASHES.get(s)}
    assert not unexplained, f"short options with two meanings: {unexplained}"
    text = (__import__("pathlib").Path(__file__).resolve().parents[2] / "docs" / "antares3.md").read_text()
    for short in clashes:
        assert f"`{short}`" in text, f"docs/antares3.md does not explain the antares3 clash of {short}"


def test_every_command_and_group_help_has_examples(runner):
    ctx = click.Context(cli)
    lacking = []

    def walk(command, path):
        if not (command.epilog or "").strip().lower().startswith(("example", "\b\nexample")):
            lacking.append(" ".join(path))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])

    for name in cli.list_commands(ctx):
        walk(cli.get_command(ctx, name), [name])
    assert not lacking, f"--help without examples: {lacking}"


def test_antares3_model_name_lgb_is_lightgbm():
    assert parse(["model_fit", "-model", "lgb", "-p", "p", "-t", "t", "-name", "m"]) == \
        parse(["model_fit", "--model", "lightgbm", "--product", "p", "--training", "t", "--name", "m"])
