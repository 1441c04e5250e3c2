"""Write docs/reliability.md: the bad-input table from the cases recorded by test_bad_input.py, then the
idempotence matrix, database faults, crash/resume, concurrency and data-integrity sections (fixed text below,
kept in step with test_idempotence.py, test_database_fault.py, test_crash_resume.py, test_concurrency.py,
test_full_disk.py and tests/integration/test_model_fit.py).

    BAD_INPUT_RECORD=/tmp/cases.jsonl .venv/bin/pytest -q tests/reliability/test_bad_input.py
    .venv/bin/python tests/reliability/reliability_table.py /tmp/cases.jsonl > docs/reliability.md
"""

import json
import sys


INTRO = """Seven suites under `tests/reliability/` run with `make test` (`pytest -q tests`); at the end of any pytest run
that ran them, one line says what they exercised (only passing tests count):

```
reliability: {n_ok} bad inputs, 3 crash/resume, 10 concurrent runs, 17 idempotent commands, 1 database restart, 4 signals, 2 failed overwrites exercised
```

(printed by `tests/reliability/conftest.py`). The sections below: bad inputs, idempotence, database faults,
crash and resume, signals, runs with one name, overwrite, concurrency.
"""

SECTIONS = """## Stored models and the dask cluster

`tests/reliability/test_security_models.py` (8 tests, counted as "model-loading attacks and checks") plants a
pickle whose `__reduce__` writes a file into `antares.model.blob` and checks that `model_predict`,
`model_predict_object` and `load_model` refuse it in one line and the file is never written, and that
`model show` does not load it; loads a legacy joblib blob only with `--trust-pickle` and checks it is re-saved
with skops and gives the same pixel map and the same object predictions (read by a local cluster's workers); refuses a skops blob holding an untrusted type (`posix.system`), naming it; refuses a major and warns about
a minor scikit-learn/LightGBM version difference; round-trips rf and LightGBM models with equal probabilities.
`tests/reliability/test_security_dask.py` (4 tests, "dask cluster attacks") shows that a plain
`Client('tcp://127.0.0.1:PORT')` and a `tls://` client with its own certificate cannot run code on a stage's
local cluster, that user `nobody` gets a TLS handshake failure, that no port of the cluster answers HTTP unless
`--dashboard`, that `model_predict` gives the same map in process, on the local TLS cluster and on an external
TLS scheduler, and that bad TLS options (missing files, only some, a key readable by others) are refused before
any work. Two bad inputs join the table above: `-sc tls://...` without `--tls-*` and `--tls-*` with a `tcp://`
scheduler (both exit 2). Details: [security-models-dask.md](security-models-dask.md).

## Idempotence

`tests/reliability/test_idempotence.py` runs every command that writes, in the order of the workflow, on small real
data (the Brandenburg scene's 10 m bands, 256-px tiles over a 3.4 x 4.4 km box; a 2 x 2.2 km corner of the Romania L2A
cube for the recipe; names prefixed `idem_`), with `-sc sync`. Each command runs once, then again with the same
arguments, then (where it has the option) with `--overwrite`. It checks:

- the second run either does nothing and says so (exit 0, nothing on stderr) or refuses (exit 1, one
  `antares: error:` line naming the result and `--overwrite`); either way the row counts of every `antares` table,
  of `odc.dataset` and `odc.product`, the output files (names, sizes, times) and the result itself are unchanged;
- `--overwrite` replaces the result: the same row counts as after the first run plus one run row (and its tiles),
  the new run `done`, and an equal result (pixels, sample/segment/prediction rows, model metadata, exported files
  read back);
- for `ingest_training`, `segment` and `model_predict_object`, an `--overwrite` that fails at its last write (a
  PostgreSQL trigger raising on `antares.sample`, `antares.segment` or `antares.prediction`: a real database error,
  injected) ends with one error line and leaves the old result whole.

| command | second run, same arguments | `--overwrite` |
|---|---|---|
| `init` | nothing to do: `Nothing changed: the database was already initialised.` | (no option) |
| `register_region` | refused: `region NAME already registered; use --overwrite to replace or choose another name.` | region replaced |
| `product add` | nothing to do: `product NAME: unchanged` (a changed definition is updated when ODC allows it) | (no option) |
| `index` | nothing to do: `0 dataset(s) indexed into P, N already indexed, 0 failed` | (no option) |
| `ingest` | nothing to do: `0 dataset(s) written and indexed into P over N tile(s); N already done`; no run recorded | (no option: resume only) |
| `apply_recipe` | nothing to do: `0 tile(s) written and indexed into P (N in the area); N already done`; no run recorded | every tile computed again, re-indexed; equal pixels |
| `ingest_training` | refused: `training set 'NAME' exists; use --overwrite to replace it or choose another --dataset name.` | replaced in one transaction (samples and run row); atomic |
| `ingest_validation` | refused: `validation set 'NAME' exists; use --overwrite ...` | replaced in one transaction |
| `ingest_training_from_raster` | refused: `training set 'NAME' exists; use --overwrite ...` | replaced in one transaction |
| `model_fit` | refused: `model 'NAME' exists; use --overwrite to replace it or choose another --name.` | replaced (equal features, legend, CV metrics); classifications made with the old model are deleted with it |
| `segment` | refused: `segmentation 'NAME' exists; use --overwrite to replace it or choose another name.` | label COGs re-indexed, polygons replaced in one transaction; atomic for the polygons (see below); classifications of the old segmentation are deleted with it |
| `model_predict_object` | refused: `classification 'NAME' exists; use --overwrite to replace it or choose another --name.` | old classification deleted and new one written in one transaction; atomic |
| `model_predict` | nothing to do: `0 tile(s) of classified product P written, N already done`; no run recorded | every tile classified again; equal pixels |
| `db_to_vector` | refused: `FILE exists; use --overwrite to replace it or choose another -f.` | file written beside and renamed over the old one |
| `db_to_raster` | refused: `FILE exists; use --overwrite to replace it or choose another -f.` | file replaced (written beside, renamed) |
| `generate_style` | refused: `FILE exists; use --overwrite to replace it or choose another -f.` | file replaced |
| `validate --json F` | refused: `F exists; use --overwrite to replace it or choose another file.` | report replaced; `--log` alone replaces a stored report of the same name without `--overwrite` (same arguments, same report) |

A tiled stage re-run with every tile done records no run (it used to add a `done` run row with 0 tiles); runs of
that stage left `running` by a process that is gone are still marked `interrupted`.

`--overwrite` builds the new result completely before anything old goes (see Overwrite below).

## Database faults

`tests/reliability/test_database_fault.py` starts its own embedded cluster (`antares.db.local.LocalCluster`, so
the session's cluster is not disturbed), indexes the Romania L2A 10 m bands and runs `apply_recipe` (tiles of 50 px)
as a subprocess. When two tiles are recorded it stops the database (`pg_ctl stop -m fast`, which terminates
open connections), waits for the command, then starts the database again on the same port. It checks:

- the command ends within **60 s** of the stop (measured: 0.6 s), exit code 1, with one line on stderr and the URL
  without its password:
  `antares: error: lost the connection to the database postgresql+psycopg2://antares:***@127.0.0.1:PORT/antares (the server closed the connection); what was finished is kept: re-run the same command to resume once the database is back ('antares db status').`
- once the database is back, the same command exits 0, computes only the tiles not finished before the fault, and
  its product equals an uninterrupted run's pixel for pixel; the interrupted run is recorded `failed` or
  `interrupted`, the re-run `done`.

How: the tiled stages (`apply_recipe`, `ingest`, `model_predict`), `segment` and `model_predict_object` treat a
lost connection as the end of the command, not as a failed tile; they record the failed run if the database
answers, else the next run marks it `interrupted`. Any other command that loses its connection gets the same line
from the CLI (a psycopg2/SQLAlchemy `OperationalError` or `InterfaceError` is no longer an `unexpected` error).
Connections antares opens use `connect_timeout=10` (a refused or silent server fails a connection within 10 s) and
TCP keepalives (idle 30 s, 3 probes 10 s apart: a server that vanishes without closing the connection is noticed in
about a minute instead of never). Not covered: datacube's own connections (opened in `antares.cube`) have no
keepalives, so a silently vanished server (not a restart) can still hold a datacube query until the OS gives up.

## Crash and resume

`tests/reliability/test_crash_resume.py` kills (SIGKILL) `apply_recipe`, `segment` and `model_predict_object`
mid-run; the re-run completes, equals an uninterrupted run (pixels, segments, prediction rows), indexes or stores
nothing partial, and the killed run is recorded `interrupted`.

## Signals

Every command handles SIGINT (Ctrl-C) and SIGTERM (`kill`, a batch system's time limit) alike: the run is recorded
`interrupted`, temporary files and work directories are removed, one line is printed and the exit status is 130
(SIGINT) or 143 (SIGTERM):

`antares: error: interrupted (SIGTERM); run 12 of segment 'forest' is recorded as interrupted and its temporary files are removed: re-run the same command to resume.`

A second signal of the same kind during the clean-up ends the process at once. A local dask cluster's workers
start with SIGINT ignored, so a terminal's Ctrl-C (sent to the whole process group) stops the command without a
traceback from each worker; the command closes the cluster. `tests/reliability/test_signals.py` starts each command
as a subprocess and sends the signal when an event of the run is observed (a tile recorded, the run started, a
temporary file appearing): `apply_recipe` (SIGTERM), `segment` on a local dask cluster (SIGINT to the process
group), `model_predict_object` (SIGTERM) and `db_to_raster` (SIGINT). Each exits 130/143 with one line on stderr,
leaves no temporary file, work or staging directory, records the run `interrupted`, and a re-run completes (`done`).

## Runs with one name

A run takes its name when it starts: `recorded_run` (`antares/pipeline/run.py`) holds a PostgreSQL advisory lock on
(stage, name) on one connection for the whole run and records the run as `running` in the same transaction. A
second run of the same stage and name is refused at once, before any work, with one line and exit 1:

`antares: error: segment 'forest' is running already as run 12 (segment 'forest', pid 4711 on node3, started 2026-12-02 09:10:04 UTC); wait for it to end ('antares list runs') or choose another name.`

The lock goes with the connection, so a killed run never blocks its re-run (which marks it `interrupted`). A
prediction (`model_predict_object`, `model_predict`) holds its model's name shared: several predictions may read one
model, but `model_fit --overwrite` of that model is refused while they run (naming a prediction's run), and a
prediction is refused while its model is being fitted. The final writes also refuse to replace a result they were
not asked to replace. `tests/reliability/test_concurrency.py` checks two concurrent `model_fit --name same` (one
exits 0, the other is refused before the first ends and leaves no run row), a long and a short `segment -n X`, two
`apply_recipe --name X`, and a refit while a prediction reads the model (refused; the prediction is stored whole).

## Overwrite

`--overwrite` builds the new result completely, then swaps it in, then deletes the old one:

- `apply_recipe`, `model_predict`: the tiles go to a staging directory beside the output directory (beside its
  target if it is a symbolic link); only when every tile is written are the directories swapped and, in one index
  transaction, the old datasets purged and the new ones indexed; then the old files are deleted. A failed tile,
  a signal or a kill leaves the old product as it was (an interrupted overwrite starts over; a SIGKILL can leave
  its staging directory `.NAME.XXXXXXXX` behind, to delete by hand).
- `segment`: the polygons are copied into a segmentation row under a temporary name, the label COGs replace the old
  ones as above, and one transaction deletes the old segmentation and gives the new one its name.

`tests/reliability/test_overwrite.py` kills (SIGKILL) `apply_recipe --overwrite` once its first new tile is
recorded: the old product is intact (same datasets at the same locations, same pixels); the overwrite re-run
equals a fresh run of the new period. And `segment --overwrite` into an output directory that has become a symbolic
link (which used to purge the old labels, then fail on `rmtree` of the link): the new segmentation replaces the old
one whole, in the link's target.

## Concurrency

`tests/reliability/test_concurrency.py` runs four `model_predict_object` with different names in parallel against
one database, and two `apply_recipe` on different areas in parallel: each result equals its sequential run (and,
for the predictions, numpy). It also races runs with one name (above).

## Security

`tests/reliability/test_security.py` performs the attacks of issue 15 as another local user (`runuser -u nobody`)
and the password leaks, and shows each fails ([security.md](security.md) has the threat model):

| test | attack | result |
|---|---|---|
| `test_another_user_cannot_reach_the_embedded_database` | `psql -h $ANTARES_HOME/run ... -c "COPY (SELECT 1) TO PROGRAM 'id > FILE'"`; `psql -h 127.0.0.1` without a password, with a wrong one; root without a password on the socket | `Permission denied` (no file written); `no password supplied`; `password authentication failed`; `no password supplied`. Also checked: every `pg_hba.conf` rule is `scram-sha-256`, `run/` and the socket `0700`, `db.json`, `postgres.log`, `pg_hba.conf` `0600`, `listen_addresses = 127.0.0.1` |
| `test_secret_files_are_private_under_a_permissive_umask` | `db start` under `umask 000` | `db.json`, `postgres.log`, `.db.lock` `0600`, `run/` and `pgdata/` `0700`, no `.pwfile` left |
| `test_db_start_closes_a_cluster_left_open_by_an_older_antares` | a cluster as the old code left it (`trust` on the socket, `0755` `run/`, `0644` log, `0777` socket): `nobody` runs `id` as `postgres` through it; then `antares db start` | `already running`, one `upgraded the security ...` line; the attack and a password-less connection are refused; a second `db start` says nothing more |
| `test_db_start_upgrades_a_stopped_old_cluster_before_starting_it` | the same files, the server stopped; `antares db start` | `started`, one `upgraded ...` line; the attack and a password-less connection are refused |
| `test_db_to_raster_keeps_the_password_off_gdal_rasterize_argv` (URL password, `?password=`) | a `gdal_rasterize` wrapper on `PATH` records its argv | no argv holds the password; the map is complete (400 pixels of 2 classes) |
| `test_passwords_are_masked_in_config_show_db_status_and_errors` (`?password=`, `postgresql://:pw@host/db`, `%40`) | `config show`, `db status`, a failed connection | the password never appears, `***` does |

On the code before this change 7 of the 9 fail (the two that passed already: the URL's own password went in
`PGPASSWORD`, and a `%40` in the password was masked).

## Embedded database faults

`tests/reliability/test_embedded_db.py` starts its own clusters under `/tmp` with the code of `antares db start`:

| fault | before | now |
|---|---|---|
| the server died and its PID was reused: `postmaster.pid` (and the socket's lock file) name a live `sleep` of the user `nobody` | `db start`: `already running ... pid <sleep>`; every command `connection refused`; `db stop`: `Operation not permitted` | `db status`: not running (exit 1); `db start` removes the stale lock files (`removing the stale .../postmaster.pid: its PID N is now another process (sleep), not this cluster's server`) and starts; `db status`, `db url`, `db stop` work; the `sleep` is left alone |
| `PG_VERSION` of another major version than the server binaries | `the embedded database did not start: ... FATAL: database files are incompatible with server` (no versions) | `antares: error: the embedded database in .../pgdata was made by PostgreSQL 14, but the server binaries in /usr/lib/postgresql/15/bin are PostgreSQL 15. Set ANTARES_PG_BIN to PostgreSQL 14's binaries (e.g. /usr/lib/postgresql/14/bin), or upgrade the data directory with pg_upgrade (see docs/reliability.md).`; nothing in `pgdata/` changed |
| a read-only `ANTARES_HOME` (a tmpfs remounted read-only): the directory itself, a directory to be made in it, one holding a stopped cluster | `unexpected OSError: [Errno 30] Read-only file system: '.../run'` | `antares: error: cannot write .../run: Read-only file system. The embedded database keeps its data, socket and log in ANTARES_HOME (...): make it writable, or set ANTARES_HOME to a writable directory.`, exit 1, nothing written |
| two `db start` at once on a new home | one: `unexpected OSError: [Errno 39] Directory not empty: '.../.pgdata.XXXX' -> '.../pgdata'` | both exit 0: one `started`, one `already running` (the same pid); no half-made data directory left |
| three `init` at once on a new database | two: `unexpected IntegrityError: ... duplicate key value violates unique constraint "pg_extension_name_index"` | all exit 0: one creates PostGIS, the ODC index, the schema and the products, two print `Nothing changed` |

How: `db start` and `db stop` hold an exclusive `flock` on `$ANTARES_HOME/.db.lock` (created `0600`); `init` holds a
PostgreSQL advisory lock for its whole run. The server is recognised by its working directory
(`/proc/PID/cwd` is the data directory for a postmaster), or by its command line (`postgres -D PGDATA`) where that
link cannot be read; a live PID that is neither is stale. (PostgreSQL's own shared-memory interlock would still
refuse a second server on one data directory if that check were ever wrong.) To move a data directory to a newer
PostgreSQL, use `pg_upgrade` with both versions' binaries installed, or start it with the old binaries
(`ANTARES_PG_BIN`), `pg_dumpall` it, and restore the dump into a new cluster.

## Data integrity

**A full disk.** Every writer checks what it wrote and fails with one line, exit 1, naming the file and the free
space of its file system (measured with `shutil.disk_usage` before the partial files are removed), and leaves no
temporary file:

```
antares: error: cannot write /data/out/map.tif: gdal_rasterize could not write window 1 of 2 (ERROR 1: _tiffWriteProc:No space left on device ...); 0 B free of 200 KiB on /data/out. Nothing of it was kept: free some space or choose another -f, then re-run.
```

- COGs of `ingest`, `apply_recipe`, `segment` and `model_predict` (`antares.cube.write.write_cog`): GDAL's errors are
  raised, and the COG is re-read before it is renamed into place: its valid pixels (not nodata, not NaN) must equal
  the array's. odc-geo's writer left truncated tiles without an error on a full disk; the re-read costs about 15 ms
  of 85 ms for a 1024 x 1024 float32 tile. A tiled stage ends at the first tile that cannot be written (the
  other tiles would fail the same way): the run is recorded `failed`, finished tiles are kept and a re-run resumes.
- `db_to_raster`: `gdal_rasterize` exits 0 when it cannot write its window raster, so its stderr is read as well
  as its exit code (before, 78 % of the pixels went missing with exit 0); both COGs are re-read and their
  classified (finite) pixels compared with those written.
- `db_to_vector`: GDAL (pyogrio) and SQLite errors become the one line; the file is re-opened and its features
  counted against the rows written.
- `segment`'s work rasters (numpy memmaps in `$ANTARES_HOME/work`) are created with their blocks reserved
  (`os.posix_fallocate`), so a full disk fails at once, saying how much is needed, instead of killing the process
  with SIGBUS mid-run; eo3 documents, QML styles, `validate --json` and `prepare_metadata` files go through the
  same atomic writer, and `validate --plot` reports its PNG the same way (no report is stored with `--log` when
  a file failed).

`tests/reliability/test_full_disk.py` mounts small tmpfs file systems (`mount -t tmpfs -o size=64k|100k|200k`, as
root, as CI runs; no error is injected) and runs, on a real chain (the Brandenburg scene, OSM polygons, a random
forest, a slic segmentation and its classification): `db_to_raster`, `db_to_vector` to GPKG, FlatGeobuf and
Shapefile, `segment` with `--outdir` on the small disk, `segment` with `ANTARES_HOME` on it, `ingest`, and
`validate --json`/`--plot`. Each must exit 1 with the one line, leave nothing on the small disk, and store or
index nothing under its name. On the old code all 8 failed: exit 0 with a partial raster, `unexpected
DataSourceError` or `unexpected OSError`, one error line per tile, and a SIGBUS that killed pytest. The DEM
preparer's slope/aspect COGs (`index --dataset_name dem --outdir` on an 8k disk) are checked the same way (before:
`unexpected CPLE_AppDefinedError: TIFFWriteDirectoryTagData:IO error writing tag data`).

**Samples that share a pixel.** Polygons are burnt into label rasters (overlapping ones in separate layers),
but points are never burnt: each reads the pixel under it (the floor of its pixel coordinates), so points of
different classes in one pixel, or a point inside a polygon, each get that pixel's values. Before, later samples
overwrote earlier ones in a shared pixel: 40 pairs of points of two classes, one pair per 10 m pixel, gave a model
with one class, and the overwritten points were reported "without a valid pixel".
`tests/integration/test_model_fit.py::test_points_sharing_a_pixel_each_read_it` builds 40 such pairs (half at one
spot, half apart within the pixel) and two 5 x 5-pixel polygons of a third class around two pairs on the real
Brandenburg scene, and checks, with 1 and with many tiles, that each point's features equal the pixel rasterio
reads there and each polygon's the numpy mean of its pixels, and that `model_fit` uses all 82 samples (40, 40, 2).
"""


def main(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        rows = list({r["id"]: r for r in map(json.loads, fh)}.values())  # the last record of each case
    n, x = len(rows), sum(1 for r in rows if r["xfail"])
    cmds = sorted({r["command"] for r in rows})

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ⏎ ")

    out = []
    out.append("# Reliability\n")
    out.append(INTRO.format(n_ok=n - x))
    out.append("## Bad inputs\n")
    out.append("`tests/reliability/test_bad_input.py` runs every command below with one bad input against a small real chain "
               "(the Brandenburg Sentinel-2 scene indexed as `rel_b10`, OSM polygons as training set `rel_train` and validation "
               "set `rel_val`, random forest `rel_rf`, bis segmentation `rel_bis` in 512-px tiles, classification `rel_map`, the "
               "bands ingested onto a 20 m grid as `rel_b20`; broken files are copies made in a temporary directory). "
               "Each case checks:\n")
    out.append("- the exit code: 1 for a runtime failure, 2 for a usage error;")
    out.append("- exactly one line on stderr, `antares: error: ...`, that names the offending input; no traceback (without `-v`), "
               "no `unexpected ...` error, and nothing written to the process's stderr behind click's back (GDAL, LightGBM);")
    out.append("- nothing changed: the row count of every table of schema `antares` (listed from `information_schema`), "
               "of `odc.dataset` and of `odc.product`, and the files (names, sizes, times) under the directories the case reads "
               "or writes.\n")
    if x:
        out.append(f"**{n} bad inputs are exercised across {len(cmds)} commands: {n - x} are refused as specified; "
                   f"{x} are known bugs, marked `xfail(strict=True)` (below the table).**\n")
    else:
        out.append(f"**{n} bad inputs are exercised across {len(cmds)} commands: all {n} are refused as specified.**\n")
    out.append("Paths are shortened: `BAD/` is the directory of broken files, `OUT/` the output directory, `TMP/` the fixture's "
               "directory. The messages are copied from a test run: `BAD_INPUT_RECORD=cases.jsonl pytest "
               "tests/reliability/test_bad_input.py` records them, `python tests/reliability/reliability_table.py "
               "cases.jsonl` writes this page.\n")
    out.append("| # | command | bad input | exit | message antares prints |")
    out.append("|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        msg = r["stderr"] if r["stderr"] else "(nothing; exit 0)"
        mark = " **(xfail)**" if r["xfail"] else ""
        out.append(f"| {i} | `{r['command']}` | {esc(r['bad_input'])}{mark} | {r['exit_code']} | `{esc(msg)}` |")
    out.append("\n### Known bugs (xfail)\n")
    out.append("Cases marked `pytest.mark.xfail(strict=True)`: when the bug is fixed the test passes and the marker must "
               "go.\n")
    known = [r for r in rows if r["xfail"]]
    for r in known:
        out.append(f"- **{r['id']}** (exit {r['exit_code']} today, {r['expected_code']} expected): {r['xfail']}.")
    if not known:
        out.append("None: the last three (a LightGBM `-extra` value checked only inside fit, `index` without one error "
                   "line when every dataset failed, a truncated JPEG 2000 indexed as zeros) were fixed.")
    out.append("")
    out.append(SECTIONS)
    return "\n".join(out)


if __name__ == "__main__":
    print(main(sys.argv[1]))
