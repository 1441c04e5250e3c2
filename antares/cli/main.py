"""The ``antares`` click group: global options, logging, command loading and exit codes.

Exit codes: 0 success, 1 runtime failure, 2 usage error. An :class:`AntaresError`
becomes one line on stderr (``antares: error: ...``); the traceback is shown only
with ``-v``.
"""

from __future__ import annotations

import logging
import os
import traceback
from dataclasses import dataclass

# numpy asks the kernel for transparent huge pages on its arrays of 4 MB and more (madvise). Where the
# kernel's THP defrag is "madvise" (a common default), every first touch of such memory may compact memory
# synchronously: a 2048² time-series benchmark run (one tile and its read floor) spent 26 s of system time,
# 7.7 s without it (docs/timeseries.md). Off for antares' processes, and for the dask workers they start,
# before numpy is first imported; NUMPY_MADVISE_HUGEPAGE=1 in the environment keeps numpy's default.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

# glibc's malloc gives every array above its mmap threshold fresh pages from the kernel and returns them when
# the array is freed, so a tile's per-block arrays, GDAL's write buffers and their temporaries are faulted in
# again and again (4 KB minor faults, system time). Keeping freed memory in the heap for reuse: the 2048²
# time-series recipe took 24 % fewer minor faults (1.02 M -> 0.77 M) and 8 % less CPU, 0.13 GB more peak RSS
# (docs/timeseries.md). Values already in the environment win; the dask workers an antares process starts
# inherit them.
MALLOC_TUNING = {"MALLOC_MMAP_THRESHOLD_": 32 * 2**20, "MALLOC_TRIM_THRESHOLD_": 1 * 2**30,
                 "MALLOC_TOP_PAD_": 64 * 2**20}
_MALLOPT = {"MALLOC_MMAP_THRESHOLD_": -3, "MALLOC_TRIM_THRESHOLD_": -1, "MALLOC_TOP_PAD_": -2}  # glibc's M_* numbers


def keep_freed_memory() -> dict:
    """Apply :data:`MALLOC_TUNING` (or the ``MALLOC_*_`` values already in the environment) to this process.

    glibc reads ``MALLOC_*_`` variables only when a process starts, so this process gets them through
    ``mallopt``; processes it starts inherit the variables. Returns the values set (variable -> bytes), empty
    where the C library has no ``mallopt`` (musl, macOS) or a value in the environment is not an integer.
    """
    import ctypes

    values = {}
    for name, default in MALLOC_TUNING.items():
        os.environ.setdefault(name, str(default))
        try:
            values[name] = int(os.environ[name])
        except ValueError:
            return {}
        if not 0 <= values[name] < 2**31:  # mallopt takes a C int
            return {}
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return {}
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return {name: value for name, value in values.items() if mallopt(_MALLOPT[name], value) == 1}


keep_freed_memory()

import click  # noqa: E402

from antares import __version__  # noqa: E402
from antares.errors import AntaresError, clip_message  # noqa: E402

# command name -> "module:attribute"; modules are imported only when the command runs
COMMANDS = {
    "bi_change_params": ("antares.cli.change:bi_change_params", "List bitemporal change methods and their parameters."),
    "apply_recipe": ("antares.cli.recipe:apply_recipe", "Compute a recipe's temporal features as an indexed product."),
    "change_matrix": ("antares.cli.change:change_matrix", "Transition matrix (ha) of a change detection or two classifications."),
    "config": ("antares.cli.config_cmd:config", "Show the resolved settings and where each comes from."),
    "delete": ("antares.cli.results:delete", "Delete a product, segmentation, classification, model, sample set, region, change or PCA."),
    "detect_change": ("antares.cli.change:detect_change", "Change objects between two dates (distance, iMAD/MAF) in PostGIS."),
    "demo": ("antares.cli.demo:demo", "Run the whole chain on real Sentinel-2 sample data (make demo)."),
    "dataset": ("antares.cli.dataset:dataset", "Archive, restore or purge indexed datasets."),
    "db": ("antares.cli.db:db", "Start, stop and locate the embedded PostgreSQL + PostGIS database."),
    "db_to_raster": ("antares.cli.export:db_to_raster", "Rasterise a classification into a COG with a colour table."),
    "db_to_vector": ("antares.cli.export:db_to_vector", "Write a classification's objects to GPKG, SHP, FGB or GeoJSON."),
    "generate_style": ("antares.cli.export:generate_style", "Write the QGIS style (QML) of a class scheme."),
    "ingest_training": ("antares.cli.training:ingest_training", "Ingest labelled polygons as a training set."),
    "ingest_training_from_raster": ("antares.cli.training:ingest_training_from_raster",
                                    "Sample training pixels from a reference raster, stratified by class."),
    "ingest_validation": ("antares.cli.training:ingest_validation", "Ingest labelled polygons as a validation set."),
    "doctor": ("antares.cli.doctor:doctor", "Check PostgreSQL, PostGIS, GDAL, disk, numba cache and the database."),
    "index": ("antares.cli.index:index", "Prepare and index datasets from files (S2 bands, ...)."),
    "ingest": ("antares.cli.ingest:ingest", "Reproject a product onto a tile grid (COG + eo3, indexed)."),
    "fetch": ("antares.cli.stac:fetch", "Search a STAC API, download the chosen assets and index them."),
    "init": ("antares.cli.init:init", "Create the ODC index, the antares schema and the built-in products."),
    "list": ("antares.cli.listing:list_", "List products, datasets, segmentations, classifications, models, sample sets, regions, runs."),
    "load": ("antares.cli.load:load", "Load a product on its native grid and summarise it."),
    "model": ("antares.cli.model:model", "Show stored models."),
    "model_fit": ("antares.cli.model:model_fit", "Fit a classifier (rf, lightgbm) on training samples and a product."),
    "model_predict": ("antares.cli.predict:model_predict", "Classify every pixel of a product (indexed COG product)."),
    "model_predict_object": ("antares.cli.predict:model_predict_object",
                             "Classify every object of a segmentation with a stored model."),
    "model_fit_timeseries": ("antares.cli.deep:model_fit_timeseries",
                             "Fit a temporal deep model (pse_tae, ltae, tempcnn) on a sample time-series table."),
    "model_params": ("antares.cli.model:model_params", "List classifiers and their parameters."),
    "monitor": ("antares.cli.monitor:monitor", "Detect breaks in a product's index time series (nrt: EWMA, CuSum, ...)."),
    "monitor_params": ("antares.cli.monitor:monitor_params", "List monitoring methods and their parameters."),
    "object_timeseries": ("antares.cli.objects:object_timeseries",
                          "Write every object's mean series of a time-series product to a Parquet table."),
    "pca_fit": ("antares.cli.pca:pca_fit", "Fit a PCA of a product's measurements on a stratified pixel sample."),
    "plot": ("antares.cli.plot:plot", "Plot a pixel's time series with its masked observations."),
    "prepare_metadata": ("antares.cli.index:prepare_metadata", "Write eo3 dataset documents for files."),
    "product": ("antares.cli.index:product", "Add or delete product definitions."),
    "quicklook": ("antares.cli.plot:quicklook", "Draw a classification, change or product as a map figure (legend, scale bar, credits)."),
    "run": ("antares.cli.run_cmd:run", "Show a recorded run: inputs (dataset ids), environment and the command to re-run it."),
    "recipe": ("antares.cli.recipe:recipe", "Show a recipe's inputs, masks and outputs."),
    "rename": ("antares.cli.results:rename", "Rename a classification, model, sample set or region."),
    "scheme": ("antares.cli.training:scheme", "Show class schemes (legends)."),
    "search": ("antares.cli.stac:search", "Search a STAC API for items (id, date, cloud cover, tile)."),
    "segment": ("antares.cli.segment:segment", "Segment a product into objects (label raster + polygons in PostGIS)."),
    "segment_params": ("antares.cli.segment:segment_params", "List segmentation algorithms and their parameters."),
    "validate": ("antares.cli.validate:validate", "Accuracy of a classification against a validation set."),
    "register_region": ("antares.cli.regions:register_region", "Register region polygons from a vector file."),
    "view": ("antares.cli.view:view", "Draw results and product quicklooks on a self-contained HTML map."),
}


@dataclass(frozen=True)
class CliState:
    """What the group callback resolved once for every command."""

    verbose: int
    quiet: bool
    config_file: str | None

    def settings(self, **flags):
        """Resolve the settings, with command-line ``flags`` taking precedence."""
        from antares.cli.options import DASK_COMMAND, SETTING_FLAGS
        from antares.config import load_settings

        context = click.get_current_context(silent=True)
        meta = context.meta if context is not None else {}
        settings = load_settings(flags={**meta.get(SETTING_FLAGS, {}), **flags}, config_file=self.config_file)
        scheduler = settings.scheduler or ""
        if meta.get(DASK_COMMAND) and (scheduler.startswith("tls://") or (
                scheduler and scheduler != "sync" and (settings.tls_ca or settings.tls_cert or settings.tls_key))):
            from antares.pipeline.executor import cluster_security

            cluster_security(settings, scheduler)  # TLS files checked before any work
        return settings


class CliError(click.ClickException):
    """A one-line error with an exit code, printed as ``antares: error: ...``; values it echoes are cut to 200
    characters (:func:`antares.errors.clip_message`)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(clip_message(message))
        self.exit_code = exit_code

    def show(self, file=None):
        click.echo(f"antares: error: {self.format_message()}", err=True)


class _ClickHandler(logging.Handler):
    """Log records to the current stderr (works under click's CliRunner too)."""

    def emit(self, record):
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


class _Silent(logging.NullHandler):
    """Marks the handler antares puts on the root logger without -v (see :func:`_configure_logging`)."""


def _configure_logging(verbose: int, quiet: bool) -> None:
    """antares's own log to stderr; libraries' log records and Python warnings only with -v.

    Without -v the root logger gets a null handler, so that a library's error record (ODC's
    "Error opening source dataset" before the error antares reports) or warning (antimeridian's
    ``FixWindingWarning``, routed to logging by ``logging.captureWarnings``) is not printed by
    Python's last-resort handler; with -v they are shown, prefixed by their logger's name.
    """
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    own = logging.getLogger("antares")
    top = logging.getLogger()
    for logger in (own, top):
        for handler in list(logger.handlers):
            if isinstance(handler, (_ClickHandler, _Silent)):
                logger.removeHandler(handler)
    handler = _ClickHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s" if verbose else "%(message)s"))
    own.addHandler(handler)
    own.setLevel(level)
    own.propagate = False
    logging.captureWarnings(True)
    if verbose:
        libraries = _ClickHandler(level=logging.WARNING)
        libraries.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        top.addHandler(libraries)
    else:
        top.addHandler(_Silent())


def _is_command(name: str, plugin) -> bool:
    return isinstance(plugin, click.Command)


class AntaresGroup(click.Group):
    """A click group that loads commands lazily and turns errors into one line.

    The commands are a :class:`~antares.registry.Registry`: the built-in ``lazy`` ones
    (name -> ("module:attribute", short help)), then the click commands of ``antares.commands``
    entry points (read only to list the commands or to find one that is not built in).
    """

    def __init__(self, *args, lazy: dict | None = None, **kwargs):
        from antares.registry import Registry

        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}
        builtins = {name: target for name, (target, _) in self.lazy.items()}
        self.registry = Registry("antares.commands", "command", builtins, accepts=_is_command)

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.registry))

    def get_command(self, ctx, name):
        if name in self.registry:
            return self.registry[name]
        return super().get_command(ctx, name)

    def resolve_command(self, ctx, args):
        """The command and its arguments, antares3's option forms rewritten (:mod:`antares.cli.compat`)."""
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not ctx.resilient_parsing:
            from antares.cli.compat import antares3_args

            rest = antares3_args(name, command, rest)
            from antares.provenance import set_command

            set_command([name, *rest])  # recorded by the run this command makes (antares run show: re-run it)
        return name, command, rest

    def format_commands(self, ctx, formatter):
        rows = [(name, self.lazy[name][1]) if name in self.lazy else (name, self.get_command(ctx, name).get_short_help_str())
                for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return self._invoke(ctx)
        finally:
            from antares.provenance import set_command

            set_command(None)

    def _invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, CliError):
            raise
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "antares"
            raise CliError(f"{exc.format_message().rstrip('.')} (see '{command} --help').", 2) from exc
        except click.ClickException:
            raise
        except AntaresError as exc:
            _maybe_traceback(ctx)
            raise CliError(str(exc), exc.exit_code) from exc
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGINT/SIGTERM turned into Interrupted by _handle_signals
            raise CliError(_interrupted(exc), getattr(exc, "exit_code", 130)) from None
        except BrokenPipeError:  # output piped into `head` and the like
            import os
            import sys

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(141) from None
        except Exception as exc:
            _maybe_traceback(ctx)
            lost = _connection_lost(ctx, exc)
            if lost is not None:
                raise CliError(str(lost), lost.exit_code) from exc
            hint = "" if _verbose(ctx) else " (run with -v for the traceback)"
            raise CliError(f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}{hint}", 1) from exc


def _connection_lost(ctx, exc: Exception):
    """The one-line ConnectionLostError for a psycopg2/SQLAlchemy connection error, else None."""
    if not type(exc).__module__.startswith(("sqlalchemy", "psycopg2")):
        return None
    from antares.db.engine import connection_lost, is_connection_error

    if not is_connection_error(exc):
        return None
    state = ctx.find_object(CliState)
    try:
        settings = state.settings() if state else None
    except AntaresError:
        settings = None
    if settings is None:
        from antares.errors import ConnectionLostError

        return ConnectionLostError(f"lost the connection to the database: {' '.join(str(exc).split())[:200]}; "
                                   "re-run the same command to resume once the database is back.")
    return connection_lost(settings, exc)


def _interrupted(exc: KeyboardInterrupt) -> str:
    """The one line for a command stopped by a signal, naming the run it marked interrupted."""
    from antares.errors import Interrupted

    signame = str(exc) if isinstance(exc, Interrupted) else "SIGINT"
    run = getattr(exc, "run", None)
    if run is None:
        return f"interrupted ({signame})."
    return (f"interrupted ({signame}); run {run.id} of {run.kind} '{run.name}' is recorded as interrupted and its "
            "temporary files are removed: re-run the same command to resume.")


def _handle_signals(ctx) -> None:
    """SIGINT and SIGTERM raise :class:`~antares.errors.Interrupted` in the main thread (once: a second one
    of the same signal ends the process at once); the previous handlers come back when the command ends."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    from antares.errors import Interrupted

    def interrupted(signum, frame):
        signal.signal(signum, signal.SIG_DFL if signum == signal.SIGTERM else signal.default_int_handler)
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, interrupted) for signum in (signal.SIGINT, signal.SIGTERM)}
    ctx.call_on_close(lambda: [signal.signal(signum, handler) for signum, handler in previous.items()])


def _verbose(ctx) -> int:
    obj = ctx.find_object(CliState)
    return obj.verbose if obj else 0


def _maybe_traceback(ctx) -> None:
    if _verbose(ctx):
        click.echo(traceback.format_exc().rstrip(), err=True)


@click.group(
    name="antares",
    cls=AntaresGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Example (a first session):
  antares db start
  antares init
  antares register_region brandenburg area.gpkg
  antares list regions""",
)
@click.option("-v", "--verbose", count=True, help="More output; -v also shows tracebacks.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Config file (default: $ANTARES_CONFIG or ~/.config/antares/antares.yaml).")
@click.version_option(__version__, "--version", prog_name="antares")
@click.pass_context
def cli(ctx, verbose, quiet, config_file):
    """antares: object-based land-cover maps from Sentinel data on the Open Data Cube."""
    _configure_logging(verbose, quiet)
    _handle_signals(ctx)
    ctx.obj = CliState(verbose=verbose, quiet=quiet, config_file=config_file)


def main(argv=None):
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="antares")
