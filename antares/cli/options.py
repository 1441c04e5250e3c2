"""Options shared by several commands, defined once."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace an existing result of the same name.")


def area_options(fn):
    """-region NAME | --bbox MINX MINY MAXX MAXY [--bbox-crs EPSG] | -lat MIN MAX -long MIN MAX."""
    options = [
        click.option("-region", "--region", default=None, help="Registered region (antares list regions)."),
        click.option("--bbox", nargs=4, type=float, default=None, metavar="MINX MINY MAXX MAXY",
                     help="Bounding box in --bbox-crs."),
        click.option("--bbox-crs", default="EPSG:4326", show_default=True, help="CRS of --bbox."),
        click.option("-lat", "--lat", nargs=2, type=float, default=None, metavar="MIN MAX", help="Latitude range (degrees)."),
        click.option("-long", "--long", nargs=2, type=float, default=None, metavar="MIN MAX", help="Longitude range (degrees)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def grid_options(fn):
    """--grid PRESET | --crs EPSG --resolution R --tile-size PX [--origin X Y]."""
    options = [
        click.option("--grid", default=None, help="Grid preset from config/grids.yaml (antares list grids)."),
        click.option("--crs", default=None, help="Grid CRS, e.g. EPSG:32634 (with --resolution and --tile-size)."),
        click.option("--resolution", type=float, default=None, help="Pixel size in CRS units."),
        click.option("--tile-size", type=int, default=None, help="Tile side in pixels."),
        click.option("--origin", nargs=2, type=float, default=None, metavar="X Y", help="Grid origin (default 0 0)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


FIRST_DATE, LAST_DATE = dt.date(1678, 1, 1), dt.date(2261, 12, 31)  # whole days inside datetime64[ns]


class _Date(click.ParamType):
    """A date (YYYY-MM-DD, or ISO 8601 with a time), checked when the command line is read and passed on as given."""

    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        try:
            when = _parse_date(value)
        except ValueError as exc:
            self.fail(f"{value!r} is not a date YYYY-MM-DD ({exc}).", param, ctx)
        if not FIRST_DATE <= when.date() <= LAST_DATE:
            self.fail(f"{value} is outside the dates antares handles, {FIRST_DATE} to {LAST_DATE} (the range of "
                      "numpy's datetime64[ns], in which ODC and xarray keep times).", param, ctx)
        return value


def _parse_date(value):
    return dt.datetime.fromisoformat(str(value)).replace(tzinfo=None)


DATE = _Date()


class _Name(click.ParamType):
    """The name of a result to create, checked by the one name rule (antares.names) when the command line is read."""

    name = "NAME"

    def convert(self, value, param, ctx):
        from antares.names import name_problem

        problem = name_problem(value)
        if problem:
            self.fail(problem, param, ctx)
        return value


NAME = _Name()


def period(begin: str | None, end: str | None, both: bool = True) -> tuple | None:
    """``(begin, end)`` of the -b/-e options (dates already checked by ``DATE``), or None when neither is given.

    Raises UsageError when only one is given (unless ``both`` is False) or -e is before -b.
    """
    from antares.errors import UsageError

    if begin is None and end is None:
        return None
    if both and (begin is None) != (end is None):
        raise UsageError("-b and -e go together: give both dates of the product's period.")
    if begin is not None and end is not None and _parse_date(end) < _parse_date(begin):
        raise UsageError(f"-e {end} is before -b {begin}; give the first date of the period with -b and the last with -e.")
    return begin, end


trust_pickle_option = click.option(
    "--trust-pickle", is_flag=True,
    help="Load a model that an earlier antares stored as a pickle and re-save it in the safe skops format. "
         "A pickle runs any code written into the database: only for a database no one else can write to.")

SETTING_FLAGS = "antares.setting_flags"  # ctx.meta key: settings given as options, read by CliState.settings()
DASK_COMMAND = "antares.dask_command"  # ctx.meta key: the command runs tasks on dask (its TLS settings are checked)


def _setting_flag(ctx, param, value):
    """Keep a cluster option for :meth:`antares.cli.main.CliState.settings` (a flag > env > config file)."""
    if param.name == "scheduler":
        ctx.meta[DASK_COMMAND] = True
    if value is not None and value is not False:
        ctx.meta.setdefault(SETTING_FLAGS, {})[param.name] = value
    return value


def scheduler_option(fn):
    """-sc SCHEDULER, --dashboard and --tls-ca/--tls-cert/--tls-key (settings ``dashboard``, ``tls_*``)."""
    options = [
        click.option("-sc", "--scheduler", default=None, callback=_setting_flag,
                     help="dask scheduler: tls://HOST:PORT (or tcp://, unencrypted) or a scheduler file; 'sync' runs in "
                          "this process. Default: a local cluster over TLS with a certificate made for the run."),
        click.option("--dashboard", is_flag=True, default=False, expose_value=False, callback=_setting_flag,
                     help="Keep the dask dashboard (off by default) and print its address."),
        click.option("--tls-ca", "tls_ca", default=None, metavar="PEM", expose_value=False, callback=_setting_flag,
                     help="CA certificate of a tls:// scheduler's cluster."),
        click.option("--tls-cert", "tls_cert", default=None, metavar="PEM", expose_value=False, callback=_setting_flag,
                     help="Certificate of this client, signed by that CA."),
        click.option("--tls-key", "tls_key", default=None, metavar="PEM", expose_value=False, callback=_setting_flag,
                     help="Private key of the certificate (mode 0600)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


workers_option = click.option("--workers", type=int, default=None, help="Worker processes of the local cluster.")


class GreedyOption(click.Option):
    """A repeatable option that also takes the values following it: ``-extra a=1 b=2 -extra c=3`` gives
    ``("a=1", "b=2", "c=3")`` (antares3's ``nargs='*'`` options).

    After the flag's own value, the next arguments are taken while ``takes(argument)`` holds (by default: it does
    not start with ``-``), so give a predicate that a positional argument cannot satisfy (``"=" in argument``)
    when the command has positional arguments.

    Example
    -------
    >>> @click.command()
    ... @click.option("-extra", "--extra", cls=GreedyOption, takes=lambda a: "=" in a)
    ... def show(extra):
    ...     click.echo(extra)
    """

    def __init__(self, *args, takes=None, **kwargs):
        kwargs["multiple"] = True
        super().__init__(*args, **kwargs)
        self.takes = takes or (lambda argument: not argument.startswith("-"))

    def add_to_parser(self, parser, ctx):
        super().add_to_parser(parser, ctx)
        wrapped = set()
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is None or id(option) in wrapped:
                continue
            wrapped.add(id(option))
            process = option.process

            def greedy(value, state, process=process):
                process(value, state)
                while state.rargs and self.takes(state.rargs[0]):
                    process(state.rargs.pop(0), state)

            option.process = greedy


def _takes_aggregation(argument: str) -> bool:
    from antares.models.samples import SHAPE, is_aggregation, is_glcm

    return argument == SHAPE or is_aggregation(argument) or is_glcm(argument) or argument.startswith("glcm:")


def aggregation_option(default, help_text: str):
    """``-sp NAME [NAME ...]`` (repeatable): the per-object statistics and ``shape``, given to the request as one
    space-separated string (:func:`antares.models.samples.parse_aggregation`); None when not given and no default."""
    def joined(ctx, param, value):
        return " ".join(value) if value else default

    return click.option("-sp", "--spatial-aggregation", "aggregation", cls=GreedyOption, takes=_takes_aggregation,
                        callback=joined, metavar="mean|median|min|max|std|pNN|glcm|glcm_F|glcm:M|shape ...", help=help_text)


def extra_option(help_text: str):
    """``-extra KEY=VALUE [KEY=VALUE ...]`` (repeatable): a plugin's parameters, parsed by :func:`parse_extra_params`."""
    return click.option("-extra", "--extra", cls=GreedyOption, takes=lambda a: "=" in a and not a.startswith("-"),
                        metavar="KEY=VALUE ...", help=help_text)


def parse_extra_params(params, owner: str, pairs) -> dict:
    """``-extra k=v`` values converted by the type each of ``params`` (:class:`antares.params.Param`) declares.

    bool: true/false/1/0; a union (``antares.params.any_of``): by its form; list: comma-separated
    floats or ``none``; int: a whole number or ``none``; other types: the type's constructor.
    Validation against the constraints comes after (the plugin's constructor).

    Raises
    ------
    antares.errors.UsageError
        Not ``KEY=VALUE``, an unknown key (the valid ones listed) or a value of another type.
    """
    from antares.errors import UsageError
    from antares.params import invalid_message, parse_value

    declared = {p.name: p for p in params}
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-extra takes KEY=VALUE. Got {pair!r}.")
        if key not in declared:
            raise UsageError(f"unknown parameter '{key}' for {owner}; valid parameters: {', '.join(declared)}.")
        param = declared[key]
        try:
            if param.type is bool:
                value = {"true": True, "false": False, "1": True, "0": False}[text.lower()]
            elif param.type is object:  # a union (antares.params.any_of): by its form
                value = parse_value(text)
            elif param.type is list:
                value = None if text.lower() == "none" else [float(v) for v in text.split(",")]
            elif param.type is int and text.lower() == "none":
                value = None
            else:
                value = param.type(text)
        except (KeyError, ValueError):
            raise UsageError(invalid_message(owner, param, text)) from None
        out[key] = value
    return out
# request field -> the flag that sets it, per command: the library names fields, the CLI names flags
RECIPE_FLAGS = {"recipe": "-recipe", "begin": "-b", "end": "-e", "name": "--name", "product": "-p",
                "terrain_product": "--terrain-product", "tile_size": "--tile-size", "outdir": "--outdir"}
SEGMENT_FLAGS = {"product": "-p", "name": "--name", "algorithm": "--algorithm", "params": "-extra", "bands": "-b",
                 "tile_size": "--tile-size", "margin": "--margin", "time": "--time", "outdir": "--outdir"}
FIT_FLAGS = {"kind": "-model", "product": "-p", "training_set": "-t", "name": "--name", "aggregation": "-sp",
             "unit": "--unit", "sample": "-sample", "per_class": "--per-class", "seed": "--seed", "cv": "--cv",
             "cv_spatial": "--cv-spatial", "grid_specs": "--grid", "extra": "-extra", "tile_size": "--tile-size",
             "time": "-b/-e", "categorical": "-categorical_variables", "remove_outliers": "--remove-outliers",
             "contamination": "--contamination", "table_file": "-filename",
             "segmentation": "-s"}
INGEST_FLAGS = {"source": "-p", "name": "--name", "gridspec": "--grid", "time": "-b/-e", "resampling": "--resampling",
                "outdir": "--outdir"}
SAMPLE_FILE_FLAGS = {"path": "FILE", "field_name": "--field", "name": "--dataset", "scheme": "--scheme",
                     "legend_file": "--legend", "layer": "--layer", "where": "--where", "year": "--year",
                     "every": "--filter"}
RASTER_SAMPLE_FLAGS = {"raster": "RASTER", "name": "--dataset", "scheme": "--scheme", "legend_file": "--legend",
                       "per_class": "--per-class", "fraction": "--fraction", "classes": "--classes", "seed": "--seed",
                       "patch": "--min-patch", "bins": "--bins", "band": "--band", "holdout": "--holdout",
                       "holdout_name": "--holdout-dataset"}
MONITOR_FLAGS = {"product": "-p", "name": "--name", "index": "--index", "history": "--history",
                 "monitoring": "--monitor", "method": "--method", "params": "-extra", "scl_keep": "--scl-keep",
                 "dilate": "--dilate", "tile_size": "--tile-size", "segmentation": "-s", "table": "--table",
                 "outdir": "--outdir"}
TIMESERIES_FIT_FLAGS = {"name": "--name", "path": "--timeseries", "label": "--label", "kind": "-model",
                        "sensors": "--sensors", "fusion": "--fusion", "interpolate": "--interpolate",
                        "device": "--device", "extra": "-extra", "seed": "--seed", "min_samples": "--min-samples",
                        "scheme": "--scheme", "mapping": "--mapping", "training": "-t"}
SERIES_SET_FLAGS = {"name": "--dataset", "path": "--timeseries", "label": "--field", "mapping": "--mapping",
                    "scheme": "--scheme", "legend_file": "--legend"}
VIEW_FLAGS = {"names": "NAME", "path": "-f", "basemap": "--basemap", "cmap": "--cmap"}
PREDICT_FLAGS = {"product": "-p", "model": "-m", "segmentation": "-s", "name": "--name", "aggregation": "-sp",
                 "time": "-b/-e", "outdir": "--outdir"}


CHANGE_FLAGS = {"algorithm": "-a", "name": "-n", "pre_product": "-p_pre", "post_product": "-p_post", "bands": "-b",
                "params": "-extra", "pre_year": "-y_pre", "post_year": "-y_post", "lc_pre": "-lc_pre",
                "lc_post": "-lc_post", "mmu": "-mmu", "tile_size": "--tile-size",
                "workers": "--workers"}


def in_flags(message: str, fields, flags: dict) -> str:
    """``message`` with each request field of ``fields`` (a whole word, not a quoted value) written as its flag.

    Only a field's first mention is its name: ``name must be a name of ...`` becomes
    ``--dataset must be a name of ...``, not ``--dataset must be a --dataset of ...``.

    Examples
    --------
    >>> in_flags("tile_size must be larger than twice margin. Got 64 and 32.", ("tile_size", "margin"),
    ...          {"tile_size": "--tile-size", "margin": "--margin"})
    '--tile-size must be larger than twice --margin. Got 64 and 32.'
    >>> in_flags("aggregation must be one of mean, median. Got 'aggregation'.", ("aggregation",), {"aggregation": "-sp"})
    "-sp must be one of mean, median. Got 'aggregation'."
    """
    import re

    for name in fields:
        if name in flags:
            message = re.sub(rf"(?<![\w'\"-]){re.escape(name)}(?![\w'\"-])", lambda _: flags[name], message, count=1)
    return message


@contextmanager
def flag_names(flags: dict):
    """Rewrite the request fields named by an antares error raised in the block (``exc.fields``,
    :func:`antares.pipeline.requests.refusal`) into the flags of ``flags``; other errors pass unchanged."""
    from antares.errors import AntaresError

    try:
        yield
    except AntaresError as exc:
        fields = getattr(exc, "fields", ())
        if fields and exc.args:
            exc.args = (in_flags(str(exc.args[0]), fields, flags), *exc.args[1:])
        raise
