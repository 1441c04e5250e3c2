"""Seconds to start a throwaway cluster and run ``init_database`` on it, with the tree on ``PYTHONPATH``.

Prints ``START_S INIT_S``. Compare two checkouts by running it from each, interleaved:

    for i in 1 2 3; do for t in ../wt-old .; do PYTHONPATH=$t python benchmarks/init_database.py; done; done

Every stage benchmark that needs a database pays this once (docs/performance.md, "Stage times
against the pre-refactor main").
"""

import shutil
import tempfile
import time
from pathlib import Path

from antares.config import load_settings
from antares.db.local import LocalCluster
from antares.pipeline.database import init_database

home = Path(tempfile.mkdtemp(prefix="antares-bench-initdb-"))
cluster = LocalCluster(home)
t0 = time.monotonic()
cluster.start()
t1 = time.monotonic()
try:
    init_database(load_settings(flags={"db_url": cluster.url(), "home": str(home)}, environ={}))
    t2 = time.monotonic()
finally:
    cluster.stop()
    shutil.rmtree(home, ignore_errors=True)
print(f"{t1 - t0:.2f} {t2 - t1:.2f}")
