"""The antares command keeps freed memory in glibc's heap for reuse (MALLOC_* tuning through mallopt), so arrays
freed and allocated again are not faulted in from the kernel again; a user's explicit values are kept.

Checked by the process's own minor page-fault count (getrusage), in fresh interpreters: allocate and touch
200 MB in 20 MB arrays, free them, do it again. Without the tuning glibc returns the freed heap top to the
kernel (its trim threshold follows the mmap threshold, at most 64 MB) and the second round faults every page
again; with it the second round reuses the pages."""

import os
import platform
import subprocess
import sys

import pytest

ROUNDS = """
import resource, numpy as np
def touch():
    arrays = [np.ones(5 * 2**20, np.float32) for _ in range(10)]  # 10 x 20 MB, below the 32 MB mmap threshold
    del arrays
np.ones(1)
faults = []
for _ in range(2):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    touch()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
"""

PAGES = 200 * 2**20 // 4096

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt tuning applies to glibc only")


def _faults(prelude: str, env_extra: dict | None = None) -> list[int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(env_extra or {})
    env["NUMPY_MADVISE_HUGEPAGE"] = "0"
    out = subprocess.run([sys.executable, "-c", prelude + ROUNDS], env=env, capture_output=True, text=True, check=True)
    return [int(x) for x in out.stdout.split()]


@glibc
def test_without_the_tuning_freed_arrays_are_faulted_in_again():
    first, second = _faults("")
    assert first > 0.9 * PAGES
    assert second > 0.5 * PAGES


@glibc
def test_the_cli_keeps_freed_memory_for_reuse():
    first, second = _faults("import antares.cli.main\n")
    assert first > 0.9 * PAGES
    assert second < 0.05 * PAGES


@glibc
def test_the_cli_sets_the_variables_for_its_children_and_keeps_a_users_values():
    probe = ("import antares.cli.main as m, os; print(os.environ['MALLOC_MMAP_THRESHOLD_'], "
             "os.environ['MALLOC_TRIM_THRESHOLD_'], sorted(m.keep_freed_memory()))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[:2] == [str(32 * 2**20), str(2**30)]
    env["MALLOC_TRIM_THRESHOLD_"] = "131072"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[:2] == [str(32 * 2**20), "131072"]
    # a user's small trim threshold wins: freed memory goes back to the kernel again
    first, second = _faults("import antares.cli.main\n", {"MALLOC_TRIM_THRESHOLD_": "131072"})
    assert second > 0.5 * PAGES


def test_a_value_that_is_not_an_integer_leaves_malloc_alone():
    probe = "import antares.cli.main as m; print(m.keep_freed_memory())"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}, "MALLOC_TOP_PAD_": "lots"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "{}"
