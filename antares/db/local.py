"""The embedded PostgreSQL + PostGIS cluster that antares uses by default.

The cluster lives in ``$ANTARES_HOME/pgdata``, listens on a unix socket in
``$ANTARES_HOME/run`` and on a free TCP port of 127.0.0.1, and is started and
stopped with ``pg_ctl``. PostgreSQL refuses to run as root, so when antares runs as
root the server commands run as the ``postgres`` user (``runuser -u postgres``),
which then owns ``pgdata`` and must be able to traverse the directories above it:
antares adds the search (``x``) bit for others on those that lack it.

Least privilege (docs/security.md): no connection is trusted. ``pg_hba.conf`` asks for the
password (``scram-sha-256``) on the unix socket and on 127.0.0.1 alike; the server listens
on 127.0.0.1 only; the socket directory is 0700 and the socket itself 0700, so only the
cluster owner and root reach it; the random password lives in ``$ANTARES_HOME/db.json`` and
every file holding a secret or the server's log is created 0600 (``os.open(..., 0o600)``,
never written first and restricted afterwards). ``start`` upgrades a cluster made by an older
antares (``trust`` in ``pg_hba.conf``, a 0755 socket directory) and says so once.

``start`` and ``stop`` hold an exclusive lock (``$ANTARES_HOME/.db.lock``), so that two
at once are safe. A ``postmaster.pid`` whose PID now belongs to another process (the
server died and the PID was reused) is recognised as stale and removed by ``start``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
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

from antares.db.host import alive, grant_traverse, is_postmaster_of, process_name, write_private
from antares.errors import DatabaseError

log = logging.getLogger(__name__)

DB_NAME = "antares"
DB_USER = "antares"
SERVER_USER = "postgres"  # the account that runs the server when antares runs as root
AUTH_METHOD = "scram-sha-256"
PG_HBA = f"""\
# Written by antares (docs/security.md): every connection needs the password; nothing is trusted.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  {AUTH_METHOD}
host    all       all   127.0.0.1/32   {AUTH_METHOD}
"""


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
        write_private(self.state_file, json.dumps(state, indent=1))

    @property
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists() and self.state_file.exists()

    def _pid_file(self) -> tuple[int, int] | None:
        """(pid, port) written in postmaster.pid, whether or not that process still runs."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            return int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None

    def _postmaster(self) -> tuple[int, int] | None:
        """(pid, port) from postmaster.pid when that process is this cluster's server."""
        entry = self._pid_file()
        if entry is None or not is_postmaster_of(entry[0], self.pgdata):
            return None
        return entry

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
    def _server_owner(self) -> tuple[int, int] | None:
        """(uid, gid) to give the server's files when antares runs as root, else None (they are ours)."""
        return _server_ids() if os.geteuid() == 0 else None

    @contextlib.contextmanager
    def _exclusive(self):
        """Hold ``$ANTARES_HOME/.db.lock`` (created 0600): one start or stop at a time."""
        try:
            self.home.mkdir(parents=True, exist_ok=True, mode=0o711 if os.geteuid() == 0 else 0o700)
            fd = os.open(self.home / ".db.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._home_error(exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _home_error(self, exc: OSError) -> DatabaseError:
        return DatabaseError(
            f"cannot write {exc.filename or self.home}: {exc.strerror}. The embedded database keeps its data, socket "
            f"and log in ANTARES_HOME ({self.home}): make it writable, or set ANTARES_HOME to a writable directory."
        )

    def _prepare_dirs(self) -> None:
        """The socket directory (0700) and the log file (0600), owned by the server's user."""
        owner = self._server_owner()
        try:
            if owner is not None:
                grant_traverse(self.home)
            with contextlib.suppress(FileExistsError):
                self.socket_dir.mkdir(mode=0o700)
            if owner is not None:
                os.chown(self.socket_dir, *owner)
            os.close(os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            if owner is not None:
                os.chown(self.log_file, *owner)
        except OSError as exc:
            raise self._home_error(exc) from exc

    def _secure(self, running: bool) -> list[str]:
        """Bring a cluster made by an older antares to the current rules; the changes made, if any.

        ``pg_hba.conf`` is rewritten unless every rule in it is ``scram-sha-256`` (or ``reject``),
        the socket directory made 0700 and the log and state files 0600; a running server
        reloads its ``pg_hba.conf`` at once.
        """
        changes = []
        hba = self.pgdata / "pg_hba.conf"
        if not _hba_is_strict(hba.read_text()):
            write_private(hba, PG_HBA, self._server_owner())
            changes.append(f"pg_hba.conf asks every connection for the password ({AUTH_METHOD}; no 'trust')")
        for path, mode in ((self.socket_dir, 0o700), (self.log_file, 0o600), (self.state_file, 0o600)):
            if path.exists() and stat.S_IMODE(path.stat().st_mode) != mode:
                os.chmod(path, mode)
                changes.append(f"{path.name} is now {mode:o}")
        if changes and running:
            self._run([str(self.pg_bin / "pg_ctl"), "-D", str(self.pgdata), "reload"])
        return changes

    def _initdb(self) -> None:
        """Create the cluster in a temporary directory, then rename it into place."""
        password = secrets.token_urlsafe(24)
        owner = self._server_owner()
        tmpdir = Path(tempfile.mkdtemp(dir=self.home, prefix=".pgdata."))
        pwfile = self.home / ".pwfile"
        try:
            write_private(pwfile, password + "\n", owner)
            if owner is not None:
                os.chown(tmpdir, *owner)
            self._run(
                [
                    str(self.pg_bin / "initdb"),
                    "-D", str(tmpdir),
                    "-U", DB_USER,
                    f"--pwfile={pwfile}",
                    f"--auth-local={AUTH_METHOD}",
                    f"--auth-host={AUTH_METHOD}",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                timeout=300,
            )
            write_private(tmpdir / "pg_hba.conf", PG_HBA, owner)  # initdb's also allows ::1 and replication
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

        Two calls at once are safe: the second waits for the first and finds the server running.

        Raises
        ------
        DatabaseError
            ANTARES_HOME is not writable; the data directory was made by another PostgreSQL
            major version (both are named) or not by antares; initdb or pg_ctl failed (the
            last line of the server log is given); PostGIS is not installed for this
            PostgreSQL version.
        """
        with self._exclusive():
            return self._start()

    def _start(self) -> tuple[ClusterInfo, bool]:
        running = self._postmaster() is not None
        if (self.pgdata / "PG_VERSION").exists() and not self.state_file.exists():
            raise DatabaseError(
                f"{self.pgdata} holds a PostgreSQL cluster that antares did not create (no {self.state_file}). "
                "Move it away or set ANTARES_HOME to another directory."
            )
        self._prepare_dirs()
        if self.initialised:
            changes = self._secure(running)
            if changes:
                log.warning("upgraded the security of the embedded database in %s: %s", self.pgdata, "; ".join(changes))
        if running:
            return self.info(), False
        if not self.initialised:
            self._initdb()
        self._check_version()
        self._remove_stale_pid_file()
        state = self._read_state()
        port = state.get("port")
        if not port or not _port_free(port):
            port = _free_port()
        options = f"-p {port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c unix_socket_permissions=0700"
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
        with self._exclusive():
            if self._postmaster() is None:
                return False
            self._run([str(self.pg_bin / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop"])
            return True

    def _check_version(self) -> None:
        """Refuse a data directory made by another PostgreSQL major version than the server binaries."""
        data_major = (self.pgdata / "PG_VERSION").read_text().strip()
        proc = subprocess.run([str(self.pg_bin / "postgres"), "--version"], capture_output=True, text=True, timeout=60)
        match = re.search(r"\(PostgreSQL\) (\d+)", proc.stdout)
        if match and match.group(1) != data_major:
            raise DatabaseError(
                f"the embedded database in {self.pgdata} was made by PostgreSQL {data_major}, but the server binaries "
                f"in {self.pg_bin} are PostgreSQL {match.group(1)}. Set ANTARES_PG_BIN to PostgreSQL {data_major}'s "
                f"binaries (e.g. /usr/lib/postgresql/{data_major}/bin), or upgrade the data directory with "
                f"pg_upgrade (see docs/reliability.md)."
            )

    def _remove_stale_pid_file(self) -> None:
        """Remove postmaster.pid (and the socket's lock file) when its PID is a live process that is not our server.

        PostgreSQL refuses to start while the PID of its lock files is alive: after a crash and
        a reboot, that PID may belong to any process. (A really running server of this data
        directory is recognised by :func:`is_postmaster_of`; PostgreSQL's shared-memory
        interlock would refuse to start a second one anyway.)
        """
        entry = self._pid_file()
        if entry is None or not alive(entry[0]):
            return  # none, or a dead PID: PostgreSQL removes the file itself
        pid = entry[0]
        log.warning("removing the stale %s: its PID %d is now another process (%s), not this cluster's server",
                    self.pgdata / "postmaster.pid", pid, process_name(pid))
        (self.pgdata / "postmaster.pid").unlink()
        for lock in self.socket_dir.glob(".s.PGSQL.*.lock"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int(lock.read_text().splitlines()[0]) == pid:
                    lock.unlink()

    def connect(self, database: str = "postgres"):
        """A psycopg2 connection (autocommit) to ``database`` over the unix socket, with the password.

        Raises
        ------
        DatabaseError
            The cluster is not running.
        """
        import psycopg2

        pm = self._postmaster()
        if pm is None:
            raise DatabaseError(f"the embedded database ({self.pgdata}) is not running. Start it with 'antares db start'.")
        conn = psycopg2.connect(host=str(self.socket_dir), port=pm[1], user=DB_USER, dbname=database,
                                password=self._read_state().get("password"))
        conn.autocommit = True
        return conn

    def _ensure_database(self) -> None:
        from psycopg2 import sql

        conn = self.connect("postgres")
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


def _hba_is_strict(text: str) -> bool:
    """True if every rule of a ``pg_hba.conf`` asks for the password (scram-sha-256) or rejects."""
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and not {AUTH_METHOD, "reject"} & set(fields[3:]):
            return False
    return True


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
