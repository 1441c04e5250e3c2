"""``antares segment_params``: the segmentation algorithms and their declared parameters."""

from __future__ import annotations

import click

from antares.cli.options import json_option
from antares.cli.output import echo_json, echo_table


@click.command(epilog="""\b
Examples:
  antares segment_params
  antares segment_params bis""")
@click.argument("algorithm", required=False)
@json_option
def segment_params(algorithm, as_json):
    """List the segmentation algorithms, or every parameter of ALGORITHM with its default and valid range.

    The list comes from each algorithm's own declaration, the same one that checks
    the -extra k=v values of 'antares segment'.
    """
    from antares.errors import UsageError
    from antares.segmentation import SEGMENTERS, list_segmenters

    if algorithm is None:
        rows = [{"algorithm": name, "description": description} for name, description in list_segmenters()]
        if as_json:
            echo_json(rows)
        else:
            echo_table(rows, ["algorithm", "description"])
        return
    if algorithm not in SEGMENTERS:
        raise UsageError(f"unknown algorithm '{algorithm}'; valid algorithms: {', '.join(SEGMENTERS)}.")
    cls = SEGMENTERS[algorithm]
    rows = [{"parameter": p.name, "type": p.type.__name__, "default": p.default, "valid": p.constraint,
             "description": p.description} for p in cls.params]
    if as_json:
        echo_json({"algorithm": algorithm, "description": cls.description,
                   "reference": getattr(cls, "reference", None), "parameters": rows})
        return
    click.echo(f"{algorithm}: {cls.description}")
    if getattr(cls, "reference", None):
        click.echo(f"reference: {cls.reference}")
    echo_table(rows, ["parameter", "type", "default", "valid", "description"])
