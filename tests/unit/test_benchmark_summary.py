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


def _predict_entry(objects_per_s: float, seconds: float, date: str) -> dict:
    return {"date": date, "machine": {"cpus": 2},
            "features": {"objects": 1000, "antares": {"tiled_objects_per_s": objects_per_s},
                         "exactextract": {"objects_per_s": 100.0}, "goal": {"value": objects_per_s / 100.0, "met": True}},
            "prediction": {"objects": 1000, "predict_and_write_s": seconds, "median_s": {"floor": 1.0},
                           "ratio_predict_features_vs_floor": 1.0, "goal": {"met": True}}}


def test_predict_summary_shows_only_the_entry_of_the_size_measured():
    run = _runner()
    doc = {"runs": {"default": _predict_entry(23915.0, 17.3, "2026-11-21"), "quick": _predict_entry(777.0, 4.2, "2026-12-03")}}
    quick = run.table(run.summarise_predict(doc, "quick"))
    assert "777 objects/s" in quick and "4.2 s" in quick
    assert "23,915" not in quick and "17.3" not in quick  # the stored default entry is not shown as measured
    assert run.summarise_predict({"runs": {"quick": doc["runs"]["quick"]}}, "default") == []
    assert "23,915 objects/s" in run.table(run.summarise_predict(doc))  # the stored entry, for --summary-only


def test_a_quick_run_never_prints_the_stored_default_predict_numbers(tmp_path, monkeypatch, capsys):
    """benchmarks/run.py --stage predict --quick with a stored default entry: only the quick numbers come out."""
    run = _runner()
    bench = tmp_path / "benchmarks"
    (bench / "results").mkdir(parents=True)
    stored = {"benchmark": "predict", "runs": {"default": _predict_entry(23915.0, 17.3, "2026-11-21")}}
    (bench / "results" / "predict.json").write_text(json.dumps(stored))
    # predict.py's way: the entry of the size it measured replaces that entry only
    fresh = _predict_entry(777.0, 4.2, "2026-12-03")
    (bench / "predict.py").write_text(
        "import json, pathlib, sys\n"
        "out = pathlib.Path(__file__).parent / 'results' / 'predict.json'\n"
        "doc = json.loads(out.read_text())\n"
        f"doc['runs']['quick' if '--quick' in sys.argv else 'default'] = {fresh!r}\n"
        "out.write_text(json.dumps(doc))\n")
    monkeypatch.setattr(run, "HERE", bench)
    monkeypatch.setattr(run, "RESULTS", bench / "results")
    monkeypatch.setattr(run, "DOC", tmp_path / "performance.md")
    monkeypatch.setitem(run.BASELINES, "predict", [])  # the stub needs no exactextract
    monkeypatch.setattr(sys, "argv", ["run.py", "--stage", "predict", "--quick"])
    assert run.main() == 0
    out = capsys.readouterr().out
    assert "777 objects/s" in out and "4.2 s" in out
    assert "23,915" not in out and "17.3" not in out and "NOT MEASURED" not in out

    (bench / "predict.py").write_text("pass\n")  # runs, exits 0, stores nothing of the default size
    monkeypatch.setattr(sys, "argv", ["run.py", "--stage", "predict"])
    assert run.main() == 0
    out = capsys.readouterr().out
    assert "NOT MEASURED (benchmarks/predict.py wrote no result)" in out and "23,915" not in out

    # rewrites its file but with no default entry (here: the stored default entry dropped)
    (bench / "predict.py").write_text(
        "import json, pathlib\n"
        "out = pathlib.Path(__file__).parent / 'results' / 'predict.json'\n"
        "doc = json.loads(out.read_text())\n"
        "doc['runs'].pop('default', None)\n"
        "out.write_text(json.dumps(doc))\n")
    assert run.main() == 0
    out = capsys.readouterr().out
    assert "NOT MEASURED (benchmarks/predict.py stored no result of the default size)" in out
    assert "777" not in out  # nor the quick entry: another size


def test_recipe_sizes_of_an_earlier_run_carry_its_date_and_machine(tmp_path):
    run = _runner()
    spec = importlib.util.spec_from_file_location("bench_recipe", ROOT / "benchmarks" / "recipe.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    median = {"floor": {"wall_s": 2.0}, "recipe": {"wall_s": 1.8, "peak_rss_gb": 1.5}}
    old = {"dates": 36, "block": 512, "date": "2026-11-21", "machine": {"cpus": 2},
           "sizes": [{"size": 2048, "dates": 36, "ratio": 0.9, "median": median}]}
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(old))
    import argparse

    kept = recipe.earlier_sizes(path, argparse.Namespace(dates=36, block=512, size=[1024]))
    assert [(e["size"], e["measured"], e["machine"]) for e in kept] == [(2048, "2026-11-21", {"cpus": 2})]
    rows = run.summarise_recipe({"sizes": [], "earlier_sizes": kept})
    assert [r["what"] for r in rows] == ["apply_recipe 2048² x 36 dates [stored result of 2026-11-21, cpus 2]",
                                         "peak RSS 2048² [stored result of 2026-11-21, cpus 2]"]
    assert [r["met"] for r in rows] == [True, True]  # at the goal's size: judged, with its date and machine beside it
