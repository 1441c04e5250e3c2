"""The antares command turns numpy's transparent-huge-page advice off before numpy is imported (a 2048²
time-series benchmark run spent 26 s of system time in the kernel's synchronous compaction with it,
7.7 s without: docs/timeseries.md), and leaves a user's explicit NUMPY_MADVISE_HUGEPAGE alone."""

import os
import subprocess
import sys

import pytest

PROBE = ("import antares.cli.main, numpy, os; "
         "print(numpy._core.multiarray._get_madvise_hugepage(), os.environ['NUMPY_MADVISE_HUGEPAGE'])")


@pytest.mark.parametrize("given, expected", [(None, "False 0"), ("1", "True 1"), ("0", "False 0")])
def test_the_cli_sets_numpys_hugepage_advice_before_numpy_is_imported(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if given is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = given
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == expected.split()


def test_numpy_alone_advises_huge_pages_so_the_setting_matters():
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    probe = "import numpy; print(numpy._core.multiarray._get_madvise_hugepage())"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    with open("/proc/sys/kernel/osrelease") as f:  # numpy advises on Linux kernels >= 4.6
        major, minor = (int(x) for x in f.read().split(".")[:2])
    assert out.stdout.strip() == str((major, minor) >= (4, 6))
