"""benchmarks/run.py never shows an old number as new and judges a goal only at its stated size (issue 21)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _runner():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_baseline_is_named_with_the_fix(monkeypatch):
    run = _runner()
    monkeypatch.setitem(run.BASELINES, "predict", [("python", "no_such_baseline_pkg")])
    assert run.missing_baseline("predict") == "baseline Python package no_such_baseline_pkg not installed: run make bench"
    monkeypatch.setitem(run.BASELINES, "export", [("program", "no-such-program-xyz")])
    assert "baseline program no-such-program-xyz not on PATH" in run.missing_baseline("export")
    assert run.missing_baseline("segment") is None  # its baselines are in the project's own dependencies


def test_recipe_goal_judged_only_at_2048_x_36():
    run = _runner()
    doc = {"sizes": [{"size": size, "dates": 36, "ratio": 1.6,
                      "median": {"floor": {"wall_s": 1.0}, "recipe": {"wall_s": 1.6, "peak_rss_gb": 1.0}}}
                     for size in (1024, 2048)]}
    rows = run.summarise_recipe(doc)
    # per size: the ratio row, then the peak-RSS row; 1024² is not judged, 2048² is (ratio 1.6 missed, RSS met)
    assert [r["met"] for r in rows] == [None, None, False, True]


def test_stored_results_carry_their_date_and_machine():
    run = _runner()
    assert run.stored_note({"date": "2026-11-21", "machine": {"cpus": 2}}) == "stored result of 2026-11-21, cpus 2"
    assert run.stored_note({"runs": {"default": {"date": "2026-11-20", "machine": "m"}}}) == "stored result of 2026-11-20, m"
    assert run.stored_note({}) == "stored result of date not recorded, machine not recorded"


def test_a_stage_that_measured_nothing_prints_not_measured_not_the_stored_file(tmp_path):
    """A stage asked for whose script fails shows NOT MEASURED, though a stored result file exists."""
    bench = tmp_path / "benchmarks"
    (bench / "results").mkdir(parents=True)
    text = (ROOT / "benchmarks" / "run.py").read_text()
    (bench / "run.py").write_text(text)
    (bench / "segment.py").write_text("raise SystemExit(3)\n")  # measures nothing
    stored = {"sizes": [{"size": 512, "bands": 4, "mpix_per_s": {"bis": 9.99}}], "goals_met": {}}
    (bench / "results" / "segment.json").write_text(json.dumps(stored))
    (tmp_path / "docs").mkdir()
    out = subprocess.run([sys.executable, str(bench / "run.py"), "--stage", "segment"], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "NOT MEASURED (benchmarks/segment.py exited with 3)" in out.stdout
    assert "9.99" not in out.stdout
    assert not (tmp_path / "docs" / "performance.md").exists()  # the doc is not refreshed from a partial run


def test_recorded_command_never_holds_a_url_password():
    from antares import provenance

    provenance.set_command(["fetch", "--catalog", "https://user:secret@stac.example/api", "-p", "x"])
    try:
        assert provenance.command() == "antares fetch --catalog 'https://user:***@stac.example/api' -p x"
    finally:
        provenance.set_command(None)
    assert provenance.command() is None
