"""``antares run show ID``: a recorded run, what it read and the command that re-runs it."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import json_option
from antares.cli.output import echo_json


@click.group(epilog="""\b
Examples:
  antares list runs --kind apply_recipe
  antares run show 42
  antares run show 42 --json | jq -r .inputs.command
  antares run lineage romania_2018_features""")
def run():
    """Recorded runs (every stage records one: antares list runs)."""


@run.command(epilog="Example:\n\n  antares run show 42")
@click.argument("run_id", type=int)
@json_option
@click.pass_obj
def show(state: CliState, run_id, as_json):
    """Run RUN_ID: stage, name, status, timing, parameters, the datasets it read (ids), what it made
    (dataset ids, regions, files with size and SHA-256), the software that made it (antares version and
    git commit, GDAL, libraries) and the command line that re-runs it."""
    from antares.db.engine import open_database, session_scope
    from antares.db.runs import run_row
    from antares.errors import NotFoundError

    settings = state.settings()
    open_database(settings)
    with session_scope(settings) as session:
        row = run_row(session, run_id)
    if row is None:
        raise NotFoundError(f"no run {run_id}; see 'antares list runs'.")
    if as_json:
        echo_json(row)
        return
    inputs = dict(row["inputs"] or {})
    env = inputs.pop("environment", {}) or {}
    datasets = inputs.pop("datasets", None)
    command = inputs.pop("command", None)
    seconds = f"{row['seconds']:.1f} s" if row["seconds"] is not None else "-"
    click.echo(f"run {row['id']}: {row['kind']} {row['name']} — {row['status']}, started {row['started_at']:%Y-%m-%d %H:%M:%S}, "
               f"{seconds}" + (f"; error: {row['error']}" if row["error"] else ""))
    click.echo("parameters: " + ", ".join(f"{k}={v}" for k, v in (row["params"] or {}).items()))
    if inputs:
        click.echo("inputs: " + ", ".join(f"{k}={v}" for k, v in inputs.items()))
    if datasets is not None:
        click.echo(f"datasets read: {len(datasets)}")
        for ident in datasets:
            click.echo(f"  {ident}")
    outputs = dict(row.get("outputs") or {})
    made = outputs.pop("datasets", None)
    files = outputs.pop("files", None)
    if outputs:
        click.echo("outputs: " + ", ".join(f"{k}={v}" for k, v in outputs.items()))
    if made is not None:
        click.echo(f"datasets made: {len(made)}")
        for ident in made:
            click.echo(f"  {ident}")
    if files:
        click.echo(f"files written: {len(files)}")
        for path, about in files.items():
            click.echo(f"  {path} ({about.get('bytes')} bytes, sha256 {about.get('sha256')})")
    if env:
        libs = ", ".join(f"{k} {v}" for k, v in (env.get("libraries") or {}).items() if v)
        click.echo(f"software: antares {env.get('antares')} (git {env.get('git_commit') or 'not from a checkout'}), "
                   f"GDAL {env.get('gdal')}; {libs}")
    click.echo(f"re-run: {command}" if command else "re-run: (made from Python, no command line recorded)")


@run.command(epilog="Example:\n\n  antares run lineage romania_2018_features --json")
@click.argument("product")
@json_option
@click.pass_obj
def lineage(state: CliState, product, as_json):
    """The source datasets of every dataset of PRODUCT, to any depth (ODC lineage; also
    ``datacube dataset info --show-sources ID`` on antares' database)."""
    from antares.cube.index import connect
    from antares.cube.lineage import product_sources
    from antares.db.engine import database_url, open_database

    settings = state.settings()
    open_database(settings)
    dc = connect(database_url(settings))
    try:
        rows = product_sources(dc, product)
    finally:
        dc.close()
    if as_json:
        echo_json(rows)
        return
    every = {s["id"]: s for row in rows for s in row["sources"]}
    by_product: dict = {}
    for source in every.values():
        by_product.setdefault((source["depth"], source["product"]), []).append(source["id"])
    click.echo(f"product {product}: {len(rows)} dataset(s) from {len(every)} source dataset(s)")
    for (depth, name), ids in sorted(by_product.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        click.echo(f"  depth {depth}: {name or '(not indexed)'}: {len(ids)} dataset(s)")
        for ident in sorted(ids):
            click.echo(f"    {ident}")
