"""The embedded PostgreSQL + PostGIS cluster that antares uses by default.

The cluster lives in ``$ANTARES_HOME/pgdata``, listens on a unix socket in
``$ANTARES_HOME/run`` and on a free TCP port of 127.0.0.1, and is started and
stopped with ``pg_ctl``. PostgreSQL refuses to run as root, so when antares runs as
root the server commands run as the ``postgres`` user (``runuser -u postgres``),
which then owns ``pgdata`` and must be able to traverse the directories above it:
antares adds the search (``x``) bit for others on those that lack it.

Authentication: local socket connections are trusted (the socket directory is
private to the cluster owner); TCP connections on 127.0.0.1 use SCRAM with a
random password kept in ``$ANTARES_HOME/db.json`` (mode 0600).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

from antares.errors import DatabaseError

log = logging.getLogger(__name__)

DB_NAME = "antares"
DB_USER = "antares"
SERVER_USER = "postgres"  # the account that runs the server when antares runs as root


@dataclasses.dataclass(frozen=True)
class ClusterInfo:
    """Where an embedded cluster lives and, when it runs, where it listens."""

    pgdata: Path
    socket_dir: Path
    log_file: Path
    running: bool
    port: int | None
    pid: int | None
    url: str | None
    server_version: str | None

    def describe(self) -> str:
        """One line for ``antares db status``."""
        if not self.running:
            state = "initialised, not running" if (self.pgdata / "PG_VERSION").exists() else "not initialised"
            return f"embedded database {state} (data directory {self.pgdata})"
        return (
            f"embedded database running (PostgreSQL {self.server_version}, pid {self.pid}) on 127.0.0.1:{self.port} "
            f"and socket {self.socket_dir}, data directory {self.pgdata}"
        )


class LocalCluster:
    """An embedded PostgreSQL + PostGIS cluster under ``home``.

    Parameters
    ----------
    home : path
        ``$ANTARES_HOME``: holds ``pgdata/``, ``run/``, ``postgres.log`` and ``db.json``.
    pg_bin : path, optional
        Directory of ``initdb`` and ``pg_ctl``. By default the newest
        ``/usr/lib/postgresql/<major>/bin``, else the directory of ``initdb`` on PATH.

    Raises
    ------
    DatabaseError
        The PostgreSQL server binaries cannot be found.
    """

    def __init__(self, home: str | os.PathLike, pg_bin: str | os.PathLike | None = None):
        self.home = Path(home).expanduser().absolute()
        self.pgdata = self.home / "pgdata"
        self.socket_dir = self.home / "run"
        self.log_file = self.home / "postgres.log"
        self.state_file = self.home / "db.json"
        self._pg_bin = Path(pg_bin) if pg_bin else None

    # ------------------------------------------------------------------ binaries
    @property
    def pg_bin(self) -> Path:
        if self._pg_bin is None:
            self._pg_bin = find_pg_bin()
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not (self._pg_bin / tool).exists():
                raise DatabaseError(
                    f"'{tool}' not found in {self._pg_bin}. Point ANTARES_PG_BIN at the directory of the PostgreSQL "
                    "server binaries (e.g. /usr/lib/postgresql/15/bin) or run 'make install'."
                )
        return self._pg_bin

    def _as_server_user(self, args: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", SERVER_USER, "--", *args]
        return args

    def _run(self, args: list[str], check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = self._as_server_user(args)
        log.debug("running %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise DatabaseError(f"{Path(args[0]).name} failed: {detail[-1] if detail else 'exit code ' + str(proc.returncode)}")
        return proc

    # ------------------------------------------------------------------ state
    def _read_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _write_state(self, state: dict) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.home, prefix=".db.json.")
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh, indent=1)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.state_file)

    @property
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists() and self.state_file.exists()

    def _postmaster(self) -> tuple[int, int] | None:
        """(pid, port) from postmaster.pid when the server process is alive."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, owned by another user
        return pid, port

    def url(self, port: int | None = None) -> str:
        """The SQLAlchemy URL of the cluster's ``antares`` database over TCP."""
        state = self._read_state()
        port = port or (self._postmaster() or (None, state.get("port")))[1]
        if not state or port is None:
            raise DatabaseError(
                f"the embedded database in {self.pgdata} is not initialised. Start it with 'antares db start' or set ANTARES_DB_URL."
            )
        return f"postgresql+psycopg2://{DB_USER}:{state['password']}@127.0.0.1:{port}/{DB_NAME}"

    def info(self) -> ClusterInfo:
        pm = self._postmaster()
        running = pm is not None
        return ClusterInfo(
            pgdata=self.pgdata,
            socket_dir=self.socket_dir,
            log_file=self.log_file,
            running=running,
            port=pm[1] if pm else None,
            pid=pm[0] if pm else None,
            url=self.url(pm[1]) if pm and self.state_file.exists() else None,
            server_version=(self.pgdata / "PG_VERSION").read_text().strip() if running else None,
        )

    # ------------------------------------------------------------------ lifecycle
    def _prepare_dirs(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            uid, gid = _server_ids()
            _grant_traverse(self.home)
            os.chown(self.socket_dir, uid, gid)
            if not self.log_file.exists():
                self.log_file.touch()
            os.chown(self.log_file, uid, gid)

    def _initdb(self) -> None:
        """Create the cluster in a temporary directory, then rename it into place."""
        password = secrets.token_urlsafe(24)
        tmpdir = Path(tempfile.mkdtemp(dir=self.home, prefix=".pgdata."))
        pwfile = self.home / ".pwfile"
        try:
            pwfile.write_text(password + "\n")
            if os.geteuid() == 0:
                uid, gid = _server_ids()
                os.chown(tmpdir, uid, gid)
                os.chown(pwfile, uid, gid)
            os.chmod(pwfile, 0o600)
            self._run(
                [
                    str(self.pg_bin / "initdb"),
                    "-D", str(tmpdir),
                    "-U", DB_USER,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                timeout=300,
            )
            os.replace(tmpdir, self.pgdata)
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_state({"password": password, "port": None})
        log.info("initialised an embedded PostgreSQL cluster in %s", self.pgdata)

    def start(self) -> tuple[ClusterInfo, bool]:
        """Start the cluster, creating it first if needed.

        Returns
        -------
        (ClusterInfo, bool)
            Where it runs, and whether this call started it (False: it was running).

        Raises
        ------
        DatabaseError
            initdb or pg_ctl failed (the last line of the server log is given), or
            PostGIS is not installed for this PostgreSQL version.
        """
        if self._postmaster() is not None:
            return self.info(), False
        self._prepare_dirs()
        if (self.pgdata / "PG_VERSION").exists() and not self.state_file.exists():
            raise DatabaseError(
                f"{self.pgdata} holds a PostgreSQL cluster that antares did not create (no {self.state_file}). "
                "Move it away or set ANTARES_HOME to another directory."
            )
        if not self.initialised:
            self._initdb()
        state = self._read_state()
        port = state.get("port")
        if not port or not _port_free(port):
            port = _free_port()
        options = f"-p {port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
        proc = self._run(
            [str(self.pg_bin / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log_file), "-w", "-t", "60",
             "-o", options, "start"],
            check=False,
        )
        if proc.returncode != 0:
            raise DatabaseError(f"the embedded database did not start: {_last_log_line(self.log_file)} (log: {self.log_file})")
        self._write_state({**state, "port": port})
        self._ensure_database()
        return self.info(), True

    def stop(self) -> bool:
        """Stop the cluster (fast shutdown). Returns False when it was not running."""
        if self._postmaster() is None:
            return False
        self._run([str(self.pg_bin / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop"])
        return True

    def _connect(self, database: str):
        import psycopg2

        conn = psycopg2.connect(host=str(self.socket_dir), port=self._postmaster()[1], user=DB_USER, dbname=database)
        conn.autocommit = True
        return conn

    def _ensure_database(self) -> None:
        from psycopg2 import sql

        conn = self._connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
                cur.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")
                available = cur.fetchone()[0]
        finally:
            conn.close()
        if not available:
            major = (self.pgdata / "PG_VERSION").read_text().strip()
            raise DatabaseError(
                f"PostGIS is not installed for PostgreSQL {major}: install it with "
                f"'apt-get install postgresql-{major}-postgis-3' (or run 'make install')."
            )


def find_pg_bin() -> Path:
    """The directory of the PostgreSQL server binaries (newest major under /usr/lib/postgresql)."""
    candidates = []
    for path in Path("/usr/lib/postgresql").glob("*/bin"):
        if (path / "initdb").exists() and path.parent.name.split(".")[0].isdigit():
            candidates.append((int(path.parent.name.split(".")[0]), path))
    if candidates:
        return max(candidates)[1]
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise DatabaseError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them with "
        "'apt-get install postgresql postgresql-15-postgis-3' (or 'make install'), or set ANTARES_PG_BIN."
    )


def _server_ids() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise DatabaseError(
            f"antares runs as root, so PostgreSQL must run as the '{SERVER_USER}' user, which does not exist. "
            "Install the 'postgresql' package or run antares as a normal user."
        ) from None
    return entry.pw_uid, entry.pw_gid


def _grant_traverse(path: Path) -> None:
    """Let the server user traverse ``path`` and its ancestors (adds o+x where missing)."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.info("adding search permission for others to %s so that PostgreSQL can reach its data", directory)
            os.chmod(directory, mode | stat.S_IXOTH)


def _port_free(port: int) -> bool:
    """True if PostgreSQL could listen on 127.0.0.1:port (it sets SO_REUSEADDR, so TIME_WAIT is fine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _last_log_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no server log"
    for line in reversed(lines):
        if re.search(r"(FATAL|ERROR|PANIC)", line):
            return line.strip()
    return lines[-1].strip() if lines else "the server log is empty"
