"""Settings resolution: flag > env > file > default, with sources; bad config files."""

from pathlib import Path

import pytest

from antares.config import load_settings, mask_password
from antares.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "antares.yaml"
    path.write_text(text)
    return path


def test_defaults():
    s = load_settings(environ={})
    assert s.home == Path("~/.antares").expanduser()
    assert s.db_url is None and s.embedded
    assert s.workers == 2
    assert set(s.sources.values()) == {"default"}
    assert s.config_file is None


def test_precedence_flag_env_file_default(tmp_path):
    cfg = write(tmp_path, "home: /from/file\ndb:\n  url: postgresql+psycopg2://f@h/db\ndask:\n  workers: 3\n  scheduler: tcp://file:8786\n")
    env = {"ANTARES_DB_URL": "postgresql+psycopg2://e@h/db", "ANTARES_WORKERS": "5"}
    s = load_settings(flags={"workers": 7}, config_file=cfg, environ=env)
    assert s.workers == 7 and s.sources["workers"] == "flag"
    assert s.db_url == "postgresql+psycopg2://e@h/db" and s.sources["db_url"] == "env ANTARES_DB_URL"
    assert s.scheduler == "tcp://file:8786" and s.sources["scheduler"] == f"file {cfg}"
    assert s.home == Path("/from/file")
    assert s.pg_bin is None and s.sources["pg_bin"] == "default"
    assert not s.embedded


def test_config_from_env_variable(tmp_path):
    cfg = write(tmp_path, "dask:\n  workers: 4\n")
    s = load_settings(environ={"ANTARES_CONFIG": str(cfg)})
    assert s.workers == 4 and s.config_file == cfg


def test_settings_are_frozen():
    s = load_settings(environ={})
    with pytest.raises(Exception):
        s.workers = 3


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("db: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "must hold a mapping"),
        ("datbase:\n  url: x\n", "unknown key(s) datbase"),
        ("dask:\n  workers: many\n", "must be an integer >= 1"),
        ("dask:\n  workers: 0\n", "must be an integer >= 1"),
    ],
)
def test_bad_config_file(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=None) as info:
        load_settings(config_file=write(tmp_path, text), environ={})
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_named_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "nope.yaml", environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(environ={"ANTARES_CONFIG": str(tmp_path / "nope.yaml")})


def test_unknown_flag():
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(flags={"colour": "red"}, environ={})


@pytest.mark.parametrize(
    "url, masked",
    [
        ("postgresql+psycopg2://u:secret@h:5432/d", "postgresql+psycopg2://u:***@h:5432/d"),
        ("postgresql+psycopg2://u@h:5432/d", "postgresql+psycopg2://u@h:5432/d"),
        ("postgresql://:pw@host/db", "postgresql://:***@host/db"),  # no user name
        ("postgresql+psycopg2://u@h/d?sslmode=require&password=pw", "postgresql+psycopg2://u@h/d?password=***&sslmode=require"),
        ("postgresql+psycopg2://u:p%40ss@h:5432/d", "postgresql+psycopg2://u:***@h:5432/d"),  # @ percent-encoded
        ("postgresql+psycopg2://u:p@ss@h:5432/d", "postgresql+psycopg2://u:***@h:5432/d"),  # @ not encoded
        ("host=h password=pw", "(not shown: it does not parse as a URL and may hold a password)"),
        (None, None),
    ],
)
def test_mask_password(url, masked):
    assert mask_password(url) == masked


def test_example_config_file_is_valid():
    example = Path(__file__).resolve().parents[2] / "config" / "antares.example.yaml"
    s = load_settings(config_file=example, environ={})
    assert all(src.startswith("file") or src == "default" for src in s.sources.values())


@pytest.mark.parametrize("raw, expected", [("yes", True), ("1", True), ("false", False), ("OFF", False)])
def test_dashboard_setting_is_a_boolean(raw, expected):
    assert load_settings(environ={"ANTARES_DASHBOARD": raw}).dashboard is expected


def test_dashboard_setting_refuses_other_words():
    with pytest.raises(ConfigError, match="setting 'dashboard' from env ANTARES_DASHBOARD must be true or false. Got 'maybe'"):
        load_settings(environ={"ANTARES_DASHBOARD": "maybe"})


def test_tls_files_from_the_config_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dask:\n  scheduler: tls://10.0.0.5:8786\n  tls_ca: ~/tls/ca.pem\n  tls_cert: /etc/c.pem\n"
                   "  tls_key: /etc/c.key\n")
    s = load_settings(config_file=cfg, environ={})
    assert s.tls_ca == Path("~/tls/ca.pem").expanduser() and s.tls_cert == Path("/etc/c.pem")
    assert s.tls_key == Path("/etc/c.key") and s.sources["tls_key"] == f"file {cfg}" and s.dashboard is False
