"""antares3 command lines, read as antares reads its own.

antares3 (CONABIO's Django management commands, argparse) wrote single-dash long options
(``-name foo``, ``-res 30``, ``-p_pre P``), underscore long options (``--spatial_aggregation``,
``--extra_kwargs``) and several values after one flag (``-b B1 B2 B3``,
``-extra t=40 s=0.5``). click reads ``-name foo`` as ``-n ame`` plus a stray ``foo``; this module
rewrites an antares3 argument list into the antares form *before* click parses it, so that
years of antares3 shell scripts run unchanged and mean what they meant.

The rewriting is done per command, from the options the command declares:

1. a token that is one of the command's own options is never rewritten, and the value after
   an option that takes one is never touched (``--where "-x"`` stays);
2. an antares3 option renamed in antares (:data:`RENAMED`, e.g. ``db_to_raster -res`` ->
   ``--resolution``, ``ingest_validation -name`` -> ``--dataset``) becomes the antares option;
3. any other single-dash long option (``-name``) or underscore long option
   (``--spatial_aggregation``) becomes the double-dash, hyphenated option when the command
   has it;
4. an antares3 option that antares does not have is refused with one line naming it (exit 2),
   rather than read as a cluster of short options;
5. after an option that may be repeated, further plain values (up to the next option) are
   more values of it: ``-b B1 B2`` -> ``-b B1 -b B2``. In a command with positional arguments
   only ``key=value`` tokens are taken this way, so a positional argument is never swallowed.

See ``docs/antares3.md`` for the table of antares3 commands and flags.
"""

from __future__ import annotations

import re

import click

# antares3 option -> antares option, per command (only where the name changed).
RENAMED: dict[str, dict[str, str]] = {
    "segment": {"--bands": "--band", "-r": "--region", "--extra_kwargs": "--extra"},
    "model_fit": {"--extra_kwargs": "--extra", "--spatial_aggregation": "--spatial-aggregation"},
    "model_predict_object": {"-r": "--region", "--spatial_aggregation": "--spatial-aggregation"},
    "db_to_vector": {"--filename": "--file", "-filename": "--file", "-p": "--crs"},
    "db_to_raster": {"--filename": "--file", "-filename": "--file", "-res": "--resolution", "-p": "--crs"},
    "validate": {"-r": "--region"},
    "ingest_training": {"--shape": "FILE", "--interpret": "--field"},
    "ingest_validation": {"-name": "--dataset", "--name": "--dataset"},
    "prepare_metadata": {"-p": "--path", "-d": "--dataset_name", "-o": "--outfile"},
    "detect_change": {"--product_pre": "-p_pre", "--product_post": "-p_post", "--year_pre": "-y_pre",
                      "--year_post": "-y_post", "--extra_kwargs": "--extra"},
}

# antares3 options that antares does not take (with the reason given to the user).
DROPPED: dict[str, dict[str, str]] = {
    "model_fit": {"--load-dataset": "it read a pickle back, and antares loads no pickles; read the -filename Parquet "
                                    "table with pandas.read_parquet and fit it with antares.models.fitting.fit_model"},
    "ingest_training": {"--predict": "antares stores one class field per sample set (--field); ingest the predicted "
                                    "field as a second set with --field PREDICT"},
    "prepare_metadata": {"-b": "reading from an S3 bucket is not supported; copy the files and give --path",
                         "--bucket": "reading from an S3 bucket is not supported; copy the files and give --path",
                         "-multi": "antares indexes files one by one, --multi has no effect; leave it out",
                         "--multi": "antares indexes files one by one, --multi has no effect; leave it out"},
}

# antares3's single-dash long options (all commands): one of these that a command neither has nor
# renames is refused, never read as a cluster of short options (``-name`` as ``-n ame``).
ANTARES3_LONG = frozenset({
    "name", "res", "scheme", "field", "year", "pattern", "multi", "id", "dir", "mmu", "filename",
    "categorical_variables", "p_pre", "p_post", "lc_pre", "lc_post", "y_pre", "y_post", "recipe", "region", "lat",
    "long", "sample", "model", "extra", "val", "sp", "sc",
})

_SINGLE_DASH_LONG = re.compile(r"^-[A-Za-z][A-Za-z0-9_]+$")
_DOUBLE_DASH_UNDERSCORE = re.compile(r"^--[A-Za-z][A-Za-z0-9-]*_[A-Za-z0-9_-]*$")


def _options(command: click.Command) -> dict[str, click.Option]:
    out = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in (*param.opts, *param.secondary_opts):
                out[opt] = param
    return out


def _takes_value(option: click.Option) -> bool:
    return not option.is_flag and not option.count


def _refuse(name: str, token: str, why: str | None = None) -> None:
    reason = f": {why}" if why else f"; see 'antares {name} --help' for its options"
    raise click.UsageError(f"antares {name} has no option {token} (an antares3 option){reason}.")


def _target(name: str, token: str, options: dict) -> str | None:
    """The antares option an antares3 ``token`` stands for, or None when it is not an antares3 form."""
    renamed = RENAMED.get(name, {}).get(token)
    if renamed is not None:
        return renamed
    if token in DROPPED.get(name, {}):
        _refuse(name, token, DROPPED[name][token])
    if _SINGLE_DASH_LONG.match(token) or _DOUBLE_DASH_UNDERSCORE.match(token):
        bare = token.lstrip("-")
        for candidate in (f"--{bare}", f"--{bare.replace('_', '-')}", f"-{bare.replace('_', '-')}"):
            if candidate in options:
                return candidate
        if token.startswith("-") and not token.startswith("--") and bare in ANTARES3_LONG:
            # e.g. ``-dir`` where the command has ``-d``: click would read ``-d ir``; refuse instead
            _refuse(name, token)
    return None


def antares3_args(name: str, command: click.Command, args: list[str]) -> list[str]:
    """``args`` of command ``name`` with antares3's option forms rewritten into antares'.

    Parameters
    ----------
    name : str
        The command's name (``segment``, ``db_to_raster``, ...).
    command : click.Command
        The command, whose declared options decide every rewrite.
    args : list of str
        The arguments after the command name, as typed.

    Returns
    -------
    list of str
        The arguments click is given. Arguments already in antares form come back unchanged.

    Raises
    ------
    click.UsageError
        An antares3 option that antares does not have (named, with the reason).
    """
    if isinstance(command, click.Group):
        return list(args)
    options = _options(command)
    positional = any(isinstance(p, click.Argument) for p in command.params)
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            out.extend(args[i:])
            break
        key, eq, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        if key not in options and key.startswith("-") and len(key) > 1 and not _is_number(key):
            target = _target(name, key, options)
            if target == "FILE":  # antares3's --shape FILE: the positional argument
                if i + 1 < len(args):
                    out.append(args[i + 1])
                i += 2
                continue
            if target is not None:
                key = target
        option = options.get(key)
        out.append(key + eq + inline if eq else key)
        i += 1
        if option is None or not _takes_value(option) or eq:
            continue
        for _ in range(option.nargs if option.nargs > 0 else 1):  # the option's own value(s)
            if i < len(args):
                out.append(args[i])
                i += 1
        if option.multiple and option.nargs == 1:
            while i < len(args) and not _looks_like_option(args[i]) and (not positional or "=" in args[i]):
                out.extend([key, args[i]])
                i += 1
    return out


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _looks_like_option(token: str) -> bool:
    return token.startswith("-") and len(token) > 1 and not _is_number(token)
