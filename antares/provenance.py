"""What a run records about the software that made it: antares' version and git commit, and library versions."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

#: The command line of this process, as the CLI parsed it (``["apply_recipe", "-recipe", ...]``), or None.
_COMMAND: list[str] | None = None


def set_command(args) -> None:
    """Remember the command line this process runs (by the CLI, after antares3 forms are rewritten; None forgets it
    when the command ends, so that Python calls later in the same process record no command)."""
    global _COMMAND
    _COMMAND = None if args is None else [str(a) for a in args]


def command() -> str | None:
    """The command that re-runs this process's stage (``antares apply_recipe ...``, shell-quoted), or None
    when antares is used from Python."""
    import re
    import shlex

    if _COMMAND is None:
        return None
    # a URL's password (e.g. --catalog https://user:secret@host/...) is never stored in a run
    return "antares " + shlex.join(re.sub(r"(//[^/:@\s]+):[^/@\s]*@", r"\1:***@", a) for a in _COMMAND)


#: Distributions whose versions every run records (absent ones are recorded as None).
LIBRARIES = ("datacube", "numpy", "scikit-learn", "lightgbm", "torch", "rasterio", "xarray", "odc-geo")


def git_commit(root: Path | None = None) -> str | None:
    """The commit of the checkout antares runs from (with ``-dirty`` when files differ from it), else None.

    None when antares is installed from a wheel, when ``git`` is missing or the folder is not a repository.
    """
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():  # a directory, or a file in a git worktree
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "diff", "--quiet", "HEAD", "--", "antares"],
                               capture_output=True, timeout=30).returncode == 1
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty else "")


@functools.lru_cache(maxsize=1)
def environment() -> dict:
    """``{"antares": version, "git_commit": str|None, "gdal": version, "libraries": {name: version|None}}``.

    Computed once per process. GDAL is the one rasterio is built with (the one that reads and writes
    antares' rasters); torch and the others are looked up by distribution metadata, not imported.
    """
    import rasterio

    from antares import __version__

    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"antares": __version__, "git_commit": git_commit(), "gdal": rasterio.__gdal_version__,
            "libraries": versions}


def file_sha256(path) -> str | None:
    """The SHA-256 (hex) of the file at ``path``, or None for a folder, a URL or a missing file.

    A run records it for the files it read (a vector file of regions) and wrote (an export), so that a
    reviewer can tell whether a file is the one the run made.
    """
    import hashlib

    path = Path(path)
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def written_files(*paths) -> dict:
    """``{path: {"bytes": size, "sha256": hex}}`` of the files among ``paths`` that exist (what a run wrote)."""
    out = {}
    for path in paths:
        path = Path(path)
        if path.is_file():
            out[str(path)] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    return out
