"""antares.models.store imports skops.io without torch and dask, and skops then trusts the same estimator types."""

import json
import subprocess
import sys

PLAIN = """
import json, sys
import skops.io
from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES as names
print(json.dumps({"names": sorted(names), "torch": "torch" in sys.modules}))
"""

MASKED = """
import json, sys
from antares.models import store
sio = store._skops_io()
from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES as names
loaded = sorted(m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("torch", "dask"))
marks = [n for n in store.SKLEARN_ARRAY_ADAPTERS if n in sys.modules]
# a round trip of a fitted forest through the masked skops
import numpy as np
from sklearn.ensemble import RandomForestClassifier
rng = np.random.default_rng(0)
X, y = rng.normal(size=(60, 3)), rng.integers(0, 3, 60)
forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
back = store.deserialize(store.serialize(forest))
same = bool(np.array_equal(back.predict_proba(X), forest.predict_proba(X)))
from sklearn.externals.array_api_compat import torch as adapter  # the marks are gone: importable again
print(json.dumps({"names": sorted(names), "loaded": sorted(set(loaded)), "marks": marks, "same": same,
                  "adapter": adapter.__name__}))
"""


def _run(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_skops_without_torch_trusts_the_same_estimators():
    plain, masked = _run(PLAIN), _run(MASKED)
    assert plain["torch"]  # the plain import does pull torch in (else this test shows nothing)
    assert len(plain["names"]) > 100 and masked["names"] == plain["names"]
    assert masked["loaded"] == [] and masked["marks"] == []
    assert masked["same"]
    assert masked["adapter"] == "sklearn.externals.array_api_compat.torch"
