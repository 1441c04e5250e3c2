"""What the embedded PostgreSQL cluster needs from the host: private files, its server process, directory access.

Used by :mod:`antares.db.local`; no database code here.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)


def write_private(path: Path, text: str, owner: tuple[int, int] | None = None) -> None:
    """Write ``text`` to ``path`` atomically through a temporary file created 0600 (never readable by others).

    Parameters
    ----------
    path : Path
        The file to create or replace.
    text : str
        Its new content.
    owner : (uid, gid), optional
        Give the file to this user (root only), e.g. the ``postgres`` user that runs the server.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            if owner is not None:
                os.fchown(fh.fileno(), *owner)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def alive(pid: int) -> bool:
    """True if a process ``pid`` exists (of any user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    return True


def process_name(pid: int) -> str:
    """The program of process ``pid`` (``argv[0]`` from ``/proc/PID/cmdline``), ``?`` when unknown."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace") or "?"
    except OSError:
        return "?"


def is_postmaster_of(pid: int, pgdata: Path) -> bool:
    """True if process ``pid`` is the PostgreSQL server (postmaster) of the data directory ``pgdata``.

    The postmaster's working directory is its data directory (read from ``/proc/PID/cwd``);
    where that link is not readable (a process of another user when antares is not root),
    its command line (``postgres -D PGDATA ...``) is compared. Without ``/proc``, a live
    PID is taken for the server.

    Parameters
    ----------
    pid : int
        The PID read from ``postmaster.pid``.
    pgdata : Path
        The data directory.

    Returns
    -------
    bool
        False for a dead PID and for a live process that is something else (the PID was reused).
    """
    if not alive(pid):
        return False
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").is_dir():
        return True
    try:
        return os.path.samestat(os.stat(proc / "cwd"), os.stat(pgdata))
    except FileNotFoundError:
        return False
    except PermissionError:
        pass
    try:
        args = (proc / "cmdline").read_bytes().split(b"\0")
        return os.path.basename(args[0]) in (b"postgres", b"postmaster") and \
            os.path.samefile(args[args.index(b"-D") + 1], pgdata)
    except (OSError, ValueError, IndexError):
        return False


def grant_traverse(path: Path) -> None:
    """Let the server user traverse ``path`` and its ancestors (adds o+x where missing)."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.info("adding search permission for others to %s so that PostgreSQL can reach its data", directory)
            os.chmod(directory, mode | stat.S_IXOTH)
