"""CLI conventions: help with examples, exit codes, one-line errors, tracebacks only with -v."""

import pytest

from antares.cli.main import COMMANDS, cli

REFUSED = "postgresql+psycopg2://odc@127.0.0.1:5999/antares"


def test_help_lists_commands_with_example(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output
    assert "Example" in result.output


def _leaf_commands(group, prefix=()):
    import click

    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, prefix + (name,))
        else:
            yield prefix + (name,)


@pytest.mark.parametrize("path", list(_leaf_commands(cli)), ids=" ".join)
def test_every_command_help_shows_an_example(runner, path):
    result = runner.invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


def test_unknown_command_is_usage_error(runner):
    result = runner.invoke(cli, ["segmnt"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "No such command 'segmnt'" in result.output


def test_bad_option_is_usage_error_one_line(runner):
    result = runner.invoke(cli, ["init", "--frobnicate"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--frobnicate" in lines[0] and "antares init --help" in lines[0]


def test_unreachable_database_message(runner):
    result = runner.invoke(cli, ["init"], env={"ANTARES_DB_URL": REFUSED})
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"antares: error: cannot connect to {REFUSED}: connection refused. "
        "Start the embedded database with 'antares db start' or set ANTARES_DB_URL."
    )
    assert "Traceback" not in result.output


def test_traceback_only_with_verbose(runner):
    result = runner.invoke(cli, ["-v", "init"], env={"ANTARES_DB_URL": REFUSED})
    assert result.exit_code == 1
    assert "Traceback" in result.output
    assert result.output.strip().splitlines()[-1].startswith("antares: error: cannot connect to")


def test_embedded_database_not_running(runner, tmp_path):
    result = runner.invoke(cli, ["list", "regions"], env={"ANTARES_HOME": str(tmp_path)})
    assert result.exit_code == 1
    assert "is not running" in result.output and "antares db start" in result.output


def test_non_postgres_url_is_config_error(runner):
    result = runner.invoke(cli, ["init"], env={"ANTARES_DB_URL": "sqlite:///x.db"})
    assert result.exit_code == 2
    assert "not a PostgreSQL URL" in result.output


def test_bad_config_file_is_usage_error(runner, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dask: {workers: -1}\n")
    result = runner.invoke(cli, ["--config", str(cfg), "config", "show"])
    assert result.exit_code == 2
    assert "workers" in result.output and len(result.output.strip().splitlines()) == 1


def test_config_show_sources_and_masking(runner, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dask:\n  workers: 3\n")
    env = {"ANTARES_DB_URL": "postgresql+psycopg2://u:topsecret@db:5432/antares"}
    result = runner.invoke(cli, ["--config", str(cfg), "config", "show", "--json"], env=env)
    assert result.exit_code == 0, result.output
    import json

    rows = {r["key"]: r for r in json.loads(result.output)}
    assert rows["db_url"]["value"] == "postgresql+psycopg2://u:***@db:5432/antares"
    assert rows["db_url"]["source"] == "env ANTARES_DB_URL"
    assert rows["workers"]["value"] == "3" and rows["workers"]["source"] == f"file {cfg}"
    assert rows["home"]["source"] == "default"
    assert "topsecret" not in result.output


def test_db_commands_with_external_url_say_so(runner, tmp_path):
    env = {"ANTARES_DB_URL": "postgresql+psycopg2://u:pw@db:5432/antares", "ANTARES_HOME": str(tmp_path)}
    for sub in ("start", "stop", "status"):
        result = runner.invoke(cli, ["db", sub], env=env)
        assert result.exit_code == 0
        assert "antares uses the database at postgresql+psycopg2://u:***@db:5432/antares (from env ANTARES_DB_URL)" in result.output
    assert not (tmp_path / "pgdata").exists()
