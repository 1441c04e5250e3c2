"""Settings, resolved once: CLI flag > environment (``ANTARES_*``) > config file > default.

The config file is YAML::

    home: ~/.antares             # where the embedded database and caches live
    db:
      url: postgresql+psycopg2://user:password@host:5432/antares   # unset: embedded database
      pg_bin: /usr/lib/postgresql/15/bin                            # unset: found automatically
    dask:
      scheduler: tls://scheduler:8786   # unset: a local cluster (TLS, a certificate per run)
      workers: 2                         # processes of the local cluster
      dashboard: false                   # true: keep the dask dashboard and print its address
      tls_ca: /etc/antares/dask-ca.pem   # with a tls:// scheduler: the cluster's CA,
      tls_cert: /etc/antares/dask.pem    #   this client's certificate
      tls_key: /etc/antares/dask.key     #   and its private key (mode 0600)

It is looked for at ``--config FILE``, then ``$ANTARES_CONFIG``, then
``~/.config/antares/antares.yaml``. An explicitly named file that does not exist is an
error; the default location is optional.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

from antares.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("~/.config/antares/antares.yaml")


@dataclasses.dataclass(frozen=True)
class _Key:
    name: str  # attribute of Settings
    file_key: tuple[str, ...]  # path in the YAML file
    env: str  # environment variable
    default: Any
    kind: type


_KEYS = (
    _Key("home", ("home",), "ANTARES_HOME", "~/.antares", Path),
    _Key("db_url", ("db", "url"), "ANTARES_DB_URL", None, str),
    _Key("pg_bin", ("db", "pg_bin"), "ANTARES_PG_BIN", None, Path),
    _Key("scheduler", ("dask", "scheduler"), "ANTARES_SCHEDULER", None, str),
    _Key("workers", ("dask", "workers"), "ANTARES_WORKERS", 2, int),
    _Key("dashboard", ("dask", "dashboard"), "ANTARES_DASHBOARD", False, bool),
    _Key("tls_ca", ("dask", "tls_ca"), "ANTARES_TLS_CA", None, Path),
    _Key("tls_cert", ("dask", "tls_cert"), "ANTARES_TLS_CERT", None, Path),
    _Key("tls_key", ("dask", "tls_key"), "ANTARES_TLS_KEY", None, Path),
)
KEY_NAMES = tuple(k.name for k in _KEYS)
_BOOLEANS = {"true": True, "yes": True, "1": True, "on": True, "false": False, "no": False, "0": False, "off": False}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved settings of one antares invocation (immutable).

    Attributes
    ----------
    home : pathlib.Path
        Directory of the embedded database (``home/pgdata``) and other state.
    db_url : str or None
        SQLAlchemy URL of an external PostgreSQL + PostGIS server
        (``postgresql+psycopg2://...``). ``None`` means the embedded database.
    pg_bin : pathlib.Path or None
        Directory holding ``pg_ctl`` and ``initdb``; ``None`` finds them.
    scheduler : str or None
        Address of a ``dask.distributed`` scheduler (``tcp://host:8786``) or a
        scheduler file; ``None`` starts a local cluster.
    workers : int
        Number of worker processes of the local cluster.
    dashboard : bool
        Keep the dask dashboard (off by default) and print its address.
    tls_ca, tls_cert, tls_key : pathlib.Path or None
        PEM files of the CA, the client certificate and its key with which to reach a
        ``tls://`` scheduler (:func:`antares.pipeline.executor.cluster_security`).
    config_file : pathlib.Path or None
        The config file that was read, if any.
    sources : dict
        For each attribute, where its value came from: ``"flag"``,
        ``"env ANTARES_..."``, ``"file PATH"`` or ``"default"``.
    """

    home: Path
    db_url: str | None
    pg_bin: Path | None
    scheduler: str | None
    workers: int
    dashboard: bool = False
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    config_file: Path | None = None
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        """True when antares uses its embedded database (no ``db_url`` set)."""
        return self.db_url is None


def _read_file(path: Path) -> dict:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}.") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping (key: value), got {type(data).__name__}.")
    known_top = {k.file_key[0] for k in _KEYS}
    unknown = sorted(set(data) - known_top)
    if unknown:
        raise ConfigError(
            f"config file {path} has unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(known_top))}."
        )
    return data


def _lookup(data: dict, path: tuple[str, ...]):
    node: Any = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _convert(key: _Key, value: Any, source: str):
    if value is None or value == "":
        return False if key.kind is bool else None
    try:
        if key.kind is bool:
            if isinstance(value, bool):
                return value
            if str(value).strip().lower() in _BOOLEANS:
                return _BOOLEANS[str(value).strip().lower()]
            raise ValueError
        if key.kind is Path:
            return Path(str(value)).expanduser()
        if key.kind is int:
            out = int(value)
            if out < 1:
                raise ValueError
            return out
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"setting '{key.name}' from {source} must be "
            f"{ {int: 'an integer >= 1', bool: 'true or false'}.get(key.kind, 'a string')}. Got {value!r}."
        ) from None


def load_settings(
    flags: Mapping[str, Any] | None = None,
    config_file: str | os.PathLike | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve the settings from flags, environment, config file and defaults.

    Parameters
    ----------
    flags : mapping, optional
        Values given on the command line, by attribute name (``db_url``,
        ``scheduler``, ...). ``None`` values are ignored.
    config_file : path, optional
        Config file named by ``--config``. Falls back to ``$ANTARES_CONFIG``,
        then ``~/.config/antares/antares.yaml`` (optional).
    environ : mapping, optional
        The environment; defaults to ``os.environ``.

    Returns
    -------
    Settings

    Raises
    ------
    ConfigError
        A named config file is missing or invalid, or a value has the wrong type.
    """
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    unknown = set(flags) - set(KEY_NAMES)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(sorted(unknown))}; valid: {', '.join(KEY_NAMES)}.")

    path: Path | None
    if config_file is not None:
        path, required = Path(config_file).expanduser(), True
    elif environ.get("ANTARES_CONFIG"):
        path, required = Path(environ["ANTARES_CONFIG"]).expanduser(), True
    else:
        path, required = DEFAULT_CONFIG_PATH.expanduser(), False
    data: dict = {}
    if path.is_file():
        data = _read_file(path)
    elif required:
        raise ConfigError(f"config file {path} does not exist. Create it (see config/antares.example.yaml) or drop --config/ANTARES_CONFIG.")
    else:
        path = None

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in _KEYS:
        file_value = _lookup(data, key.file_key)
        if key.name in flags:
            raw, source = flags[key.name], "flag"
        elif environ.get(key.env):
            raw, source = environ[key.env], f"env {key.env}"
        elif file_value is not None:
            raw, source = file_value, f"file {path}"
        else:
            raw, source = key.default, "default"
        values[key.name] = _convert(key, raw, source)
        sources[key.name] = source
    return Settings(**values, config_file=path, sources=sources)


# libpq parameters that hold a secret when given in a URL's query (``?password=...``)
SECRET_QUERY_KEYS = ("password", "sslpassword")

# libpq parameters of every connection antares opens (SQLAlchemy's, ODC's, GDAL's): a refused or silent
# server fails a connection within 10 s; a server that vanishes under an open connection is noticed by
# TCP keepalives within about a minute instead of never
CONNECT_ARGS = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                "keepalives_count": 3}


def mask_password(url: str | None) -> str | None:
    """Return ``url`` with every password it holds replaced by ``***``.

    The URL is parsed and rendered by SQLAlchemy (``URL.render_as_string(hide_password=True)``),
    so the password of the authority is hidden whatever it contains (``%40`` for ``@``, an empty
    user name as in ``postgresql://:pw@host/db``), and so are the libpq parameters of the query
    that hold a secret (:data:`SECRET_QUERY_KEYS`). An unescaped ``@`` in a password makes
    the host part of the URL ambiguous: everything before its last ``@`` is hidden then. A
    string that does not parse as a URL is not shown at all.

    Parameters
    ----------
    url : str or None
        An SQLAlchemy/libpq URL such as ``postgresql+psycopg2://user:pw@host:5432/db``.

    Returns
    -------
    str or None
        The URL safe to print; None for None.
    """
    if url is None:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "(not shown: it does not parse as a URL and may hold a password)"
    secrets = {key: "***" for key in SECRET_QUERY_KEYS if key in parsed.query}
    if secrets:
        parsed = parsed.update_query_dict(secrets)
    if parsed.host and "@" in parsed.host:  # user:p@ss@host: the part before the last @ may hold a password
        parsed = parsed.set(username=parsed.username or "", password="***", host=parsed.host.rsplit("@", 1)[1])
    rendered = parsed.render_as_string(hide_password=True)
    return rendered.replace("=%2A%2A%2A", "=***") if secrets else rendered
