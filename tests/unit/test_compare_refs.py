"""benchmarks/compare_refs.py runs two trees' stage scripts interleaved and leaves their stored results alone."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STAGE = """
import json, os, sys
from pathlib import Path
here = Path(__file__).resolve().parent
with open(Path(os.environ["ANTARES_HOME"]).parent / "order.txt", "a") as fh:
    fh.write("{side}\\n")
calls = len((Path(os.environ["ANTARES_HOME"]).parent / "order.txt").read_text().split())
if {fail}:
    sys.exit(3)
(here / "results" / "index.json").write_text(json.dumps({{"median_seconds": {{"antares": {seconds} + calls / 1000}}}}))
"""


def _tree(root: Path, side: str, seconds: float, fail: bool = False) -> Path:
    (root / side / "benchmarks" / "results").mkdir(parents=True)
    (root / side / "benchmarks" / "index.py").write_text(STAGE.format(side=side, seconds=seconds, fail=fail))
    (root / side / "benchmarks" / "results" / "index.json").write_text('{"stored": "by run.py"}')
    return root / side


def _compare(tmp_path, old, new, *extra):
    out = tmp_path / "out.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compare_refs.py"), "--old", str(old), "--new",
                           str(new), "--stage", "index", "--quick", "--home", str(tmp_path / "homes"),
                           "--out", str(out), *extra], capture_output=True, text=True, timeout=120)
    return done, (json.loads(out.read_text()) if out.exists() else None)


def test_interleaved_rounds_ratios_and_stored_results_restored(tmp_path):
    old, new = _tree(tmp_path, "old", 2.0), _tree(tmp_path, "new", 3.0)
    done, doc = _compare(tmp_path, old, new, "--repeat", "3")
    assert done.returncode == 0, done.stderr
    order = (tmp_path / "homes" / "order.txt").read_text().split()
    assert order == ["old", "new", "new", "old", "old", "new"]  # ABBA: drift hits both alike
    for tree in (old, new):  # run.py's stored result is untouched
        assert (tree / "benchmarks" / "results" / "index.json").read_text() == '{"stored": "by run.py"}'
    row = next(r for r in doc["summary"] if r["metric"] == "add documents")
    # calls 1..6 add call/1000 s: old ran as calls 1, 4, 5 and new as 2, 3, 6
    old_times, new_times = [2.001, 2.004, 2.005], [3.002, 3.003, 3.006]
    assert row["rounds"] == 3
    assert abs(row["old_median_s"] - 2.004) < 1e-9 and abs(row["new_median_s"] - 3.003) < 1e-9
    assert abs(row["ratio_of_medians"] - 3.003 / 2.004) < 1e-9
    pairs = sorted(n / o for o, n in zip(old_times, new_times))
    assert abs(row["median_pair_ratio"] - pairs[1]) < 1e-9
    assert len(doc["runs"]["index"]) == 3 and all("load_1min_before" in r["old"] for r in doc["runs"]["index"])
    assert "| index | add documents | 3 |" in done.stdout


def test_a_failing_stage_is_reported_and_exits_1(tmp_path):
    old, new = _tree(tmp_path, "old", 2.0), _tree(tmp_path, "new", 3.0, fail=True)
    done, doc = _compare(tmp_path, old, new, "--repeat", "1")
    assert done.returncode == 1
    assert "1 run(s) failed: index new" in done.stderr
    assert doc["runs"]["index"][0]["new"]["error"].startswith("exited with 3")
    assert not [r for r in doc["summary"] if r["metric"] == "add documents"]  # no ratio from one side


def test_not_a_checkout_is_a_usage_error(tmp_path):
    done, _ = _compare(tmp_path, tmp_path / "nowhere", ROOT)
    assert done.returncode == 2 and "not a checkout of antares" in done.stderr
