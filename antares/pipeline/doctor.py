"""``antares doctor``: is this machine ready to run antares? Each check says OK or FAIL, and the fix.

The system packages antares needs but pip cannot install (``make install`` installs them on Debian):
the PostgreSQL server binaries and PostGIS for that server, GDAL's ``gdal_rasterize`` and ``gdaldem``;
then the Python side (GDAL and rasterio versions), the room under ``$ANTARES_HOME``, a writable
numba cache (the bis segmenter's compiled kernels), and the configured database.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from antares.config import Settings

#: Oldest versions tested (setup.py's ranges; GDAL is rasterio's own build).
MIN_GDAL = (3, 6)
MIN_RASTERIO = (1, 3, 9)
#: Free space under ANTARES_HOME below which the check fails (bytes).
MIN_FREE = 2 * 1024**3


@dataclass
class Check:
    """One line of the report: ``name``, ``ok``, what was found (``detail``) and how to fix a failure (``fix``)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{'OK  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text} -> {self.fix}"


def _version(text: str) -> tuple:
    parts = []
    for piece in text.split("."):
        digits = "".join(c for c in piece if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
        if not piece.isdigit():
            break
    return tuple(parts)


def check_postgres(pg_bin=None) -> tuple[Check, Path | None, str | None]:
    """PostgreSQL server binaries (initdb, pg_ctl, postgres): the check, their directory and major version."""
    from antares.db.local import find_pg_bin
    from antares.errors import DatabaseError

    fix = "sudo apt-get install postgresql (or 'make install'), or set ANTARES_PG_BIN to their directory"
    try:
        folder = Path(pg_bin) if pg_bin else find_pg_bin()
    except DatabaseError:
        return Check("PostgreSQL server", False, "initdb and pg_ctl not found", fix), None, None
    missing = [t for t in ("initdb", "pg_ctl", "postgres") if not (folder / t).exists()]
    if missing:
        return Check("PostgreSQL server", False, f"{', '.join(missing)} missing in {folder}", fix), None, None
    try:
        out = subprocess.run([str(folder / "postgres"), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("PostgreSQL server", False, f"{folder}/postgres does not run ({exc})", fix), None, None
    found = re.search(r"\(PostgreSQL\) (\S+)", out)
    version = found.group(1) if found else "?"
    return Check("PostgreSQL server", True, f"{version} in {folder}"), folder, version.split(".")[0]


def check_postgis(folder: Path | None, major: str | None) -> Check:
    """``postgis.control`` in the extension directory of that server (``pg_config --sharedir``, else Debian's)."""
    fix = f"sudo apt-get install postgresql-{major or 'MAJOR'}-postgis-3 (or 'make install')"
    if folder is None:
        return Check("PostGIS extension", False, "no PostgreSQL server to check it for", fix)
    shares = []
    if (folder / "pg_config").exists():
        try:
            shares.append(Path(subprocess.run([str(folder / "pg_config"), "--sharedir"], capture_output=True, text=True,
                                              timeout=30).stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    shares.append(Path(f"/usr/share/postgresql/{major}"))
    for share in shares:
        control = share / "extension" / "postgis.control"
        if control.is_file():
            default = next((line.split("=", 1)[1].strip().strip("'") for line in control.read_text().splitlines()
                            if line.startswith("default_version")), "?")
            return Check("PostGIS extension", True, f"{default} ({control})")
    return Check("PostGIS extension", False, f"postgis.control not in {' or '.join(str(s / 'extension') for s in shares)}",
                 fix)


def check_gdal_tools() -> list[Check]:
    """``gdal_rasterize`` and ``gdaldem`` on PATH (db_to_raster, the dem preparer)."""
    checks = []
    for tool in ("gdal_rasterize", "gdaldem"):
        path = shutil.which(tool)
        checks.append(Check(tool, path is not None, path or "not on PATH",
                            "sudo apt-get install gdal-bin (or 'make install')"))
    return checks


def check_python_gdal() -> list[Check]:
    """rasterio and the GDAL it is built with, against :data:`MIN_RASTERIO` and :data:`MIN_GDAL`."""
    import rasterio

    gdal = rasterio.__gdal_version__
    return [
        Check("rasterio", _version(rasterio.__version__) >= MIN_RASTERIO, rasterio.__version__,
              f"pip install 'rasterio>={'.'.join(map(str, MIN_RASTERIO))}'"),
        Check("GDAL (rasterio's)", _version(gdal) >= MIN_GDAL, gdal,
              f"pip install --upgrade rasterio (its wheels bundle GDAL >= {'.'.join(map(str, MIN_GDAL))})"),
    ]


def check_disk(home: Path, minimum: int = MIN_FREE) -> Check:
    """Free space on the file system of ``home`` (or of its nearest existing parent)."""
    place = Path(home).expanduser().absolute()
    while not place.exists() and place != place.parent:
        place = place.parent
    free = shutil.disk_usage(place).free
    return Check("disk space of ANTARES_HOME", free >= minimum, f"{free / 1024**3:.1f} GiB free at {place}",
                 f"free space there or point ANTARES_HOME elsewhere (at least {minimum / 1024**3:.0f} GiB)")


def numba_cache_dir() -> Path:
    """Where numba writes the bis kernels' cache: ``NUMBA_CACHE_DIR``, else ``__pycache__`` beside the module."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    import importlib.util

    spec = importlib.util.find_spec("antares.segmentation._bis_core")
    return Path(spec.origin).parent / "__pycache__"


def check_numba_cache(folder: Path | None = None) -> Check:
    """A file can be created in the numba cache directory (else every process compiles the kernels again)."""
    folder = Path(folder) if folder is not None else numba_cache_dir()
    fix = "export NUMBA_CACHE_DIR=/a/writable/dir (e.g. $ANTARES_HOME/numba)"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".antares-doctor-"):
            pass
    except OSError as exc:
        return Check("numba cache writable", False, f"{folder}: {exc.strerror or exc}", fix)
    return Check("numba cache writable", True, str(folder))


def check_database(settings: Settings) -> Check:
    """The configured database answers and holds the current antares schema."""
    from antares.db.engine import open_database
    from antares.errors import AntaresError

    try:
        open_database(settings)
    except AntaresError as exc:
        return Check("database", False, str(exc).splitlines()[0])  # antares' database errors name their fix
    from antares.db.engine import database_url

    url = database_url(settings)
    shown = url.split("@")[-1] if "@" in url else url
    return Check("database", True, f"reachable, schema current ({shown})")


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order printed by ``antares doctor``."""
    postgres, folder, major = check_postgres(settings.pg_bin)
    return [postgres, check_postgis(folder, major), *check_gdal_tools(), *check_python_gdal(),
            check_disk(settings.home), check_numba_cache(), check_database(settings)]
