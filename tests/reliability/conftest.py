"""One summary line of what the reliability suite exercised, printed at the end of any pytest run that ran it:

    reliability: 105 bad inputs, 3 crash/resume, 10 concurrent runs, 17 idempotent commands, 1 database restart, 4 signals,
    2 failed overwrites exercised

Only tests that passed count (a bad input marked xfail counts as a known bug, not as exercised).
"""

from __future__ import annotations

import pytest

# module -> (words, test function counted); tests of several scenarios weigh more (WEIGHTS)
MODULES = {
    "test_bad_input.py": ("bad inputs", "test_bad_input_refused_with_one_line_and_nothing_changed"),
    "test_crash_resume.py": ("crash/resume", None),
    "test_concurrency.py": ("concurrent runs", None),
    "test_idempotence.py": ("idempotent commands", "test_second_run_is_a_noop_or_refused_and_overwrite_replaces"),
    "test_database_fault.py": ("database restart", None),
    "test_security.py": ("attacks and leaks refused", None),
    "test_embedded_db.py": ("embedded database faults", None),
    "test_security_models.py": ("model-loading attacks and checks", None),
    "test_security_dask.py": ("dask cluster attacks", None),
    "test_full_disk.py": ("full-disk writes", None),
    "test_signals.py": ("signals", None),
    "test_overwrite.py": ("failed overwrites", None),
    "test_delete_results.py": ("deletions (refused, dry run, cascade, crash)", None),
}
WEIGHTS = {  # scenarios in one test function
    "test_segment_and_predict_killed_then_resumed": 2,  # segment killed, model_predict_object killed
    "test_four_predictions_in_parallel": 4,
    "test_two_recipes_on_different_areas_in_parallel": 2,
    "test_predict_sigterm_then_resumed": 2,  # model_predict_object SIGTERM, db_to_raster SIGINT
}
_passed: dict = {}
_known: dict = {}
_failed: dict = {}


def _key(nodeid: str):
    path, _, name = nodeid.partition("::")
    module = path.rsplit("/", 1)[-1]
    if module not in MODULES:
        return None, None
    function = name.split("[", 1)[0]
    counted = MODULES[module][1]
    if counted is not None and function != counted:
        return None, None
    return module, function


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    module, function = _key(report.nodeid)
    if module is None:
        return
    weight = WEIGHTS.get(function, 1)
    if report.when == "call" and report.passed and not hasattr(report, "wasxfail"):
        _passed[module] = _passed.get(module, 0) + weight
    elif report.skipped and hasattr(report, "wasxfail"):
        _known[module] = _known.get(module, 0) + 1
    elif report.failed or (report.when == "call" and report.passed and hasattr(report, "wasxfail")):
        _failed[module] = _failed.get(module, 0) + weight


def pytest_terminal_summary(terminalreporter):
    seen = [m for m in MODULES if m in _passed or m in _known or m in _failed]
    if not seen:
        return
    parts = []
    for module in seen:
        words = MODULES[module][0]
        part = f"{_passed.get(module, 0)} {words}"
        extra = [f"{_known[module]} known bug(s) xfail"] if _known.get(module) else []
        extra += [f"{_failed[module]} FAILED"] if _failed.get(module) else []
        parts.append(part + (f" ({', '.join(extra)})" if extra else ""))
    terminalreporter.write_line(f"reliability: {', '.join(parts)} exercised")
