"""Write docs/reliability.md from the cases recorded by test_bad_input.py.

    BAD_INPUT_RECORD=/tmp/cases.jsonl .venv/bin/pytest -q tests/reliability/test_bad_input.py
    .venv/bin/python tests/reliability/reliability_table.py /tmp/cases.jsonl > docs/reliability.md
"""

import json
import sys


def main(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        rows = list({r["id"]: r for r in map(json.loads, fh)}.values())  # the last record of each case
    n, x = len(rows), sum(1 for r in rows if r["xfail"])
    cmds = sorted({r["command"] for r in rows})

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ⏎ ")

    out = []
    out.append("# Reliability: bad inputs\n")
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
    out.append(f"**{n} bad inputs are exercised across {len(cmds)} commands: {n - x} are refused as specified; "
               f"{x} are known bugs, marked `xfail(strict=True)` (below the table).**\n")
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
    out.append("\n## Known bugs (xfail)\n")
    out.append("These cases are marked `pytest.mark.xfail(strict=True)`: when the bug is fixed the test passes and the "
               "marker must go.\n")
    for r in rows:
        if r["xfail"]:
            out.append(f"- **{r['id']}** (exit {r['exit_code']} today, {r['expected_code']} expected): {r['xfail']}.")
    return "\n".join(out)


if __name__ == "__main__":
    print(main(sys.argv[1]))
