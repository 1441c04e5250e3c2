"""tests/unit runs without ../shared: the data_dir fixture fails here, and no unit module reaches the data by path."""

import re
from pathlib import Path

import pytest

# a path into the shared data, or the root conftest's DATA
REACHES_SHARED = re.compile(r"""["']shared["']|shared/data|\bDATA\b|\bdata_dir\b""")


def test_data_dir_fails_in_unit_tests(request):
    with pytest.raises(pytest.fail.Exception, match="tests/unit does not read the shared real data"):
        request.getfixturevalue("data_dir")


def test_no_unit_module_reaches_the_shared_data_by_path():
    here = Path(__file__).parent
    offenders = sorted(p.name for p in here.glob("*.py")
                       if p.name not in ("conftest.py", Path(__file__).name) and REACHES_SHARED.search(p.read_text()))
    assert offenders == []
