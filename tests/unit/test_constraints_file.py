"""constraints.txt, written by `make lock`: exact pins of public versions, sorted, covering every dependency."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _requirements() -> list[str]:
    """install_requires and the ``test`` extra of setup.py, read from its source (nothing is run)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            found += ast.literal_eval(node.value)
        if isinstance(node, ast.keyword) and node.arg == "extras_require":
            found += ast.literal_eval(node.value)["test"]
    return found


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_constraints_are_sorted_public_pins_of_every_dependency():
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    assert lines[0].startswith("# ") and "make lock" in lines[0]
    pins = lines[1:]
    assert pins == sorted(pins, key=str.upper)  # LC_ALL=C sort -f folds to upper case
    names = []
    for line in pins:
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.!-]*)", line)
        assert match, f"not a public exact pin: {line!r}"  # no +cpu/+cu121 local labels, no URLs, no -e
        names.append(_canonical(match.group(1)))
    assert len(names) == len(set(names))
    assert "antares" not in names
    assert not [n for n in names if n.startswith("nvidia-") or n == "triton"]  # torch must not pull a CUDA runtime
    required = {_canonical(re.split(r"[\[<>=!~;\s]", r, maxsplit=1)[0]) for r in _requirements()}
    unpinned = required - set(names) - {"pip", "setuptools", "wheel"}  # pip freeze leaves the installers out
    assert unpinned == set(), "run 'make lock' after installing the new dependencies"
